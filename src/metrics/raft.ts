/**
 * Consensus metrics for the strong keyspaces' Raft group, after the list the SRE book asks a
 * consensus system to expose: members and their replication state, lagging replicas (match
 * index behind the commit index), whether a leader exists, leader changes, term, committed
 * and applied index, proposals received against committed, and commit latency (a histogram
 * observed as proposals apply; throughput is the rate of the committed counter). Everything
 * but the latency is pulled from the Raft runtime's view at scrape time. Replication progress
 * is known only to the leader, so the per-replica series exist on the leader alone.
 */

import { NO_NODE } from '../raft/index.js'
import type { RaftView } from '../runtime/strong/raft-runtime.js'
import type { PulledMetric, Sample } from './pulled.js'

export const RAFT_ROLES = ['follower', 'pre_candidate', 'candidate', 'leader'] as const
const PROGRESS_STATES = ['probe', 'replicate', 'snapshot'] as const

/** Bucket upper bounds of the commit latency histogram, in seconds. */
export const COMMIT_LATENCY_BUCKETS_SECONDS = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
] as const

export interface RaftSource {
  readonly selfId: string
  /** The group's voters, from the configuration. */
  readonly members: readonly string[]
  /** The runtime's view; undefined when this node runs no replica of the group. */
  raftView(): (RaftView & { readonly applied: number }) | undefined
}

type View = RaftView & { readonly applied: number }

export function raftMetrics(source: RaftSource): PulledMetric[] {
  return [
    ...leadershipMetrics(source),
    ...logMetrics(source),
    ...proposalMetrics(source),
    ...replicaMetrics(source),
  ]
}

function viewGauge(
  source: RaftSource,
  name: string,
  help: string,
  read: (view: View) => number,
): PulledMetric {
  return { name, help, type: 'gauge', read: () => withView(source, read) }
}

function viewCounter(
  source: RaftSource,
  name: string,
  help: string,
  field: keyof RaftView['counters'],
): PulledMetric {
  return {
    name,
    help,
    type: 'counter',
    read: () => withView(source, (view) => view.counters[field]),
  }
}

function leadershipMetrics(source: RaftSource): PulledMetric[] {
  return [
    {
      name: 'murmur_raft_members',
      help: 'Voters of the Raft group, from the configuration.',
      type: 'gauge',
      read: () => source.members.length,
    },
    {
      name: 'murmur_raft_role',
      help: "1 for this node's current Raft role.",
      type: 'gauge',
      labelNames: ['role'],
      read: () => {
        const view = source.raftView()
        if (view === undefined) return []
        return RAFT_ROLES.map((role): Sample => [{ role }, view.status.role === role ? 1 : 0])
      },
    },
    viewGauge(
      source,
      'murmur_raft_has_leader',
      '1 when this node knows a leader of the group.',
      (view) => (view.status.leader === NO_NODE ? 0 : 1),
    ),
    viewGauge(source, 'murmur_raft_is_leader', '1 when this node is the leader.', (view) =>
      view.status.role === 'leader' ? 1 : 0,
    ),
    viewCounter(
      source,
      'murmur_raft_leader_changes_total',
      'Times this node saw a new leader take over.',
      'leaderChanges',
    ),
    viewCounter(
      source,
      'murmur_raft_commit_notices_replaced_total',
      'Commit notices (appends without entries) this leader held and replaced by the next append to the same follower.',
      'emptyAppendsReplaced',
    ),
    viewGauge(source, 'murmur_raft_term', 'Current Raft term.', (view) => view.status.term),
    viewGauge(
      source,
      'murmur_raft_failed',
      '1 when a storage failure stopped the group on this node.',
      (view) => (view.failed ? 1 : 0),
    ),
  ]
}

function logMetrics(source: RaftSource): PulledMetric[] {
  return [
    viewGauge(
      source,
      'murmur_raft_commit_index',
      'Highest log index known committed.',
      (view) => view.status.commit,
    ),
    viewGauge(
      source,
      'murmur_raft_applied_index',
      'Highest log index applied to the state machine.',
      (view) => view.applied,
    ),
    viewGauge(
      source,
      'murmur_raft_last_index',
      'Last index of the local log.',
      (view) => view.status.lastIndex,
    ),
    viewGauge(
      source,
      'murmur_raft_snapshot_index',
      'Log index of the latest snapshot.',
      (view) => view.snapshotIndex,
    ),
    viewGauge(
      source,
      'murmur_raft_log_bytes',
      'Bytes of log entries held.',
      (view) => view.logBytes,
    ),
    viewCounter(
      source,
      'murmur_raft_snapshots_sent_total',
      'Snapshots streamed to lagging followers.',
      'snapshotsSent',
    ),
    viewCounter(
      source,
      'murmur_raft_snapshots_received_total',
      'Snapshots received from a leader.',
      'snapshotsReceived',
    ),
  ]
}

function proposalMetrics(source: RaftSource): PulledMetric[] {
  return [
    viewCounter(
      source,
      'murmur_raft_proposals_received_total',
      'Proposals (writes, lock operations) submitted to this node.',
      'proposalsReceived',
    ),
    viewCounter(
      source,
      'murmur_raft_proposals_committed_total',
      'Proposals committed and applied; its rate is the proposal throughput.',
      'proposalsApplied',
    ),
    viewCounter(
      source,
      'murmur_raft_proposals_failed_total',
      'Proposals overwritten by a new leader (definitely not applied).',
      'proposalsOverwritten',
    ),
    viewGauge(
      source,
      'murmur_raft_proposals_pending',
      'Proposals waiting to commit.',
      (view) => view.proposalsPending,
    ),
    viewCounter(
      source,
      'murmur_raft_reads_served_total',
      'Linearizable reads served.',
      'readsServed',
    ),
  ]
}

/** The leader's view of each replica: match index, lag behind the commit, replication state. */
function replicaMetrics(source: RaftSource): PulledMetric[] {
  const perReplica = (read: (view: View, match: number) => number) => (): Sample[] => {
    const view = source.raftView()
    if (view === undefined) return []
    return [...view.progress]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([member, progress]) => [{ member }, read(view, progress.match)])
  }
  return [
    {
      name: 'murmur_raft_replica_match_index',
      help: 'Highest log index known replicated on each member (leader only).',
      type: 'gauge',
      labelNames: ['member'],
      read: perReplica((_view, match) => match),
    },
    {
      name: 'murmur_raft_replica_lag_entries',
      help: "Entries each member's log is behind the commit index (leader only).",
      type: 'gauge',
      labelNames: ['member'],
      read: perReplica((view, match) => Math.max(0, view.status.commit - match)),
    },
    {
      name: 'murmur_raft_replica_state',
      help: "1 for each member's replication state: probe, replicate or snapshot (leader only).",
      type: 'gauge',
      labelNames: ['member', 'state'],
      read: () => {
        const view = source.raftView()
        if (view === undefined) return []
        return [...view.progress].flatMap(([member, progress]) =>
          PROGRESS_STATES.map(
            (state): Sample => [{ member, state }, progress.state === state ? 1 : 0],
          ),
        )
      },
    },
    {
      name: 'murmur_raft_lagging_replicas',
      help: 'Members whose match index is behind the commit index (leader only; 0 elsewhere).',
      type: 'gauge',
      read: () => {
        const view = source.raftView()
        if (view === undefined) return 0
        let lagging = 0
        for (const [member, progress] of view.progress) {
          if (member !== source.selfId && progress.match < view.status.commit) lagging++
        }
        return lagging
      },
    },
  ]
}

function withView(source: RaftSource, read: (view: View) => number): number {
  const view = source.raftView()
  return view === undefined ? 0 : read(view)
}
