/**
 * Per-node summaries of the whole cluster, gathered by whichever node the dashboard talks to:
 * it asks every other usable member (alive or suspect) for its summary over the peer transport
 * (`stats.summary`), in parallel, with a short timeout and at most CLUSTER_STATS_NODES_MAX
 * nodes, and answers with what arrived. A member that is down or slow shows as an error entry
 * instead of holding the page up. Answers from peers are validated like any peer input.
 * Callers share gatherings (ClusterStatsGatherer): however many dashboards poll a node, it
 * asks the cluster at most once per CLUSTER_STATS_FRESH_MS.
 */

import { errorMessage } from '../env/errors.js'
import type { NodeId, PeerTransport } from '../env/transport.js'
import type { MemberSnapshot } from '../membership/member.js'
import type { PeerRouter } from '../runtime/peer-router.js'
import { type NodeSummary, nodeSummarySchema } from './stats.js'

export const STATS_MESSAGE_TYPE = 'stats.summary'
/** How long a peer has to answer; the dashboard polls every second. */
export const CLUSTER_STATS_TIMEOUT_MS = 750
/** Nodes asked per request; a larger cluster shows its first members by id. */
export const CLUSTER_STATS_NODES_MAX = 64
/** How long one gathering answers every caller; the dashboard polls every second. */
export const CLUSTER_STATS_FRESH_MS = 500

export interface ClusterStatsEntry {
  readonly node: string
  readonly state: MemberSnapshot['state']
  readonly summary: NodeSummary | null
  /** Why there is no summary: the member is not usable, or asking it failed. */
  readonly error: string | null
}

export interface ClusterStatsSource {
  readonly selfId: NodeId
  readonly peers: PeerTransport
  summary(): Promise<NodeSummary>
  members(): readonly MemberSnapshot[]
}

/** Answers other nodes' `stats.summary` requests with this node's summary. */
export function registerStatsHandler(router: PeerRouter, source: ClusterStatsSource): void {
  router.register(STATS_MESSAGE_TYPE, () => source.summary())
}

/** Every member's summary (this node's included), sorted by node id. */
export async function clusterSummaries(source: ClusterStatsSource): Promise<ClusterStatsEntry[]> {
  const members = [...source.members()]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, CLUSTER_STATS_NODES_MAX)
  return Promise.all(members.map((member) => entryFor(source, member)))
}

async function entryFor(
  source: ClusterStatsSource,
  member: MemberSnapshot,
): Promise<ClusterStatsEntry> {
  const base = { node: member.id, state: member.state }
  if (member.id === source.selfId) return { ...base, summary: await source.summary(), error: null }
  if (member.state !== 'alive' && member.state !== 'suspect') {
    return { ...base, summary: null, error: `member is ${member.state}` }
  }
  try {
    const body = { type: STATS_MESSAGE_TYPE }
    const answer = await source.peers.request(member.id, body, CLUSTER_STATS_TIMEOUT_MS)
    const parsed = nodeSummarySchema.safeParse(answer)
    if (!parsed.success || parsed.data.node !== member.id) {
      return { ...base, summary: null, error: 'malformed summary' }
    }
    return { ...base, summary: parsed.data, error: null }
  } catch (error) {
    return { ...base, summary: null, error: errorMessage(error).slice(0, 200) }
  }
}

/**
 * Shares gatherings among callers: a call while one is in flight waits for it, and an answer
 * gathered less than CLUSTER_STATS_FRESH_MS ago is answered again, so the fan-out to every
 * member costs the cluster the same with one dashboard open or a hundred.
 */
export class ClusterStatsGatherer {
  private inFlight: Promise<ClusterStatsEntry[]> | undefined
  private last: { readonly startedAtMs: number; readonly entries: ClusterStatsEntry[] } | undefined
  /** Gatherings started, for tests and diagnostics. */
  gatherings = 0

  constructor(
    private readonly source: ClusterStatsSource,
    private readonly nowMs: () => number,
  ) {}

  gather(): Promise<ClusterStatsEntry[]> {
    const startedAtMs = this.nowMs()
    const last = this.last
    if (last !== undefined && startedAtMs - last.startedAtMs < CLUSTER_STATS_FRESH_MS) {
      return Promise.resolve(last.entries)
    }
    if (this.inFlight !== undefined) return this.inFlight
    this.gatherings++
    const gathering = clusterSummaries(this.source).then((entries) => {
      this.last = { startedAtMs, entries }
      return entries
    })
    this.inFlight = gathering.finally(() => {
      this.inFlight = undefined
    })
    return this.inFlight
  }
}
