/**
 * Watching a move: which transfers it needs, how far each one is, and finishing it.
 *
 * A move (version v, `next` present) needs one transfer per partition and node that gains it
 * (what src/replication/handoff.ts `receivedTransfers` gives each receiver). While a move is under way every node asks
 * each receiver (`topology.transfers`) for its report on every check, so `/v1/cluster` and
 * `murmur status` show progress from any node; a transfer no receiver reported yet shows as
 * `waiting`. The node that leads the Raft group also finishes the move: once every needed
 * transfer of version v is `done`, it proposes `topology.cas` v → v+1 with the next ring as
 * current. The CAS makes a late or duplicate finish harmless: only the first one applies.
 */

import { errorMessage } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { NodeId, PeerTransport } from '../../env/transport.js'
import { type HandoffKeyspace, receivedTransfers } from '../../replication/handoff.js'
import type { Topology } from '../../ring/topology.js'
import { finishRecord, topologyToRecord } from '../../ring/topology-plan.js'
import type { MetadataGroup } from './group.js'
import { parseTransfersAnswer, TOPOLOGY_TRANSFERS_TYPE } from './messages.js'
import type { TransferReport, TransferStatus } from './view.js'

/** One partition gained by one node: what a move must complete. */
export interface NeededTransfer {
  readonly partition: number
  readonly receiver: NodeId
  /** The node it most likely streams from (the receiver's first choice). */
  readonly source: NodeId
}

/**
 * The transfers a move needs, by partition then receiver; none when settled. They are exactly
 * the transfers the receivers start (`receivedTransfers`: a place gained among a keyspace's
 * first n, or a witness becoming a full replica), so the move finishes only when all of those
 * are done.
 */
export function neededTransfers(
  topology: Topology,
  keyspaces: readonly HandoffKeyspace[],
): NeededTransfer[] {
  const next = topology.next
  if (next === undefined) return []
  const needed: NeededTransfer[] = []
  for (const node of next.nodes) {
    for (const transfer of receivedTransfers(topology, node.id, keyspaces)) {
      needed.push({
        partition: transfer.partition,
        receiver: transfer.receiver,
        source: transfer.sources[0] ?? '',
      })
    }
  }
  return needed.sort(
    (a, b) =>
      a.partition - b.partition || (a.receiver < b.receiver ? -1 : a.receiver > b.receiver ? 1 : 0),
  )
}

export interface MoveWatcherOptions {
  readonly selfId: NodeId
  readonly peers: PeerTransport
  readonly group: MetadataGroup
  readonly log: Logger
  /** The eventual keyspaces: what transfers move. */
  readonly keyspaces: readonly HandoffKeyspace[]
  readonly fetchTimeoutMs: number
  readonly commandTimeoutMs: number
  /** This node's own report (it receives transfers too); read at every check. */
  readonly report: () => TransferReport
}

function pairKey(partition: number, receiver: string): string {
  return `${partition}/${receiver}`
}

export class MoveWatcher {
  /** The latest status per needed transfer of `watchedVersion`. */
  private statuses = new Map<string, TransferStatus>()
  private watchedVersion = 0
  private finishing = false
  private needed: { readonly version: number; readonly transfers: NeededTransfer[] } | undefined

  constructor(private readonly options: MoveWatcherOptions) {}

  /** Every transfer the move of `topology` needs, with its latest known status. */
  transfers(topology: Topology): TransferStatus[] {
    return this.neededFor(topology).map((needed) => {
      const known =
        topology.version === this.watchedVersion
          ? this.statuses.get(pairKey(needed.partition, needed.receiver))
          : undefined
      return known ?? waiting(topology.version, needed)
    })
  }

  /** Asks the receivers for their reports; the Raft leader finishes a completed move. */
  async check(topology: Topology): Promise<void> {
    if (topology.next === undefined) {
      this.statuses.clear()
      this.watchedVersion = topology.version
      return
    }
    const needed = this.neededFor(topology)
    await this.poll(topology.version, needed)
    const done = needed.every(
      (transfer) =>
        this.statuses.get(pairKey(transfer.partition, transfer.receiver))?.state === 'done',
    )
    if (done && this.options.group.isLeader()) await this.finish(topology)
  }

  /** The needed transfers of `topology`, computed once per version (status pages ask often). */
  private neededFor(topology: Topology): readonly NeededTransfer[] {
    if (this.needed?.version !== topology.version) {
      this.needed = {
        version: topology.version,
        transfers: neededTransfers(topology, this.options.keyspaces),
      }
    }
    return this.needed.transfers
  }

  private async poll(version: number, needed: readonly NeededTransfer[]): Promise<void> {
    const receivers = [...new Set(needed.map((transfer) => transfer.receiver))].sort()
    const wanted = new Set(needed.map((transfer) => pairKey(transfer.partition, transfer.receiver)))
    const reports = await Promise.all(receivers.map((receiver) => this.reportOf(receiver)))
    const statuses = new Map<string, TransferStatus>()
    if (this.watchedVersion === version) {
      // A receiver that did not answer this time keeps its last known statuses.
      for (const [key, status] of this.statuses) statuses.set(key, status)
    }
    for (const report of reports) {
      for (const status of report ?? []) {
        const key = pairKey(status.partition, status.receiver)
        if (status.version === version && wanted.has(key)) statuses.set(key, status)
      }
    }
    this.statuses = statuses
    this.watchedVersion = version
  }

  private async reportOf(receiver: NodeId): Promise<readonly TransferStatus[] | undefined> {
    if (receiver === this.options.selfId) return this.options.report().transfers()
    try {
      const answer = await this.options.peers.request(
        receiver,
        { type: TOPOLOGY_TRANSFERS_TYPE },
        this.options.fetchTimeoutMs,
      )
      return parseTransfersAnswer(answer)
    } catch (error) {
      this.options.log.debug('no transfer report', { from: receiver, error: errorMessage(error) })
      return undefined
    }
  }

  private async finish(topology: Topology): Promise<void> {
    const applied = this.options.group.topologyState()?.record?.version ?? 1
    if (this.finishing || applied !== topology.version) return
    this.finishing = true
    try {
      const record = topologyToRecord(finishRecord(topology))
      const command = { type: 'topology.cas', expectedVersion: topology.version, record } as const
      const result = await this.options.group.command(
        command,
        undefined,
        this.options.commandTimeoutMs,
      )
      this.options.log.info('move finished', { version: record.version, result })
    } catch (error) {
      this.options.log.warn('finishing the move failed; retrying at the next check', {
        version: topology.version,
        error: errorMessage(error),
      })
    } finally {
      this.finishing = false
    }
  }
}

function waiting(version: number, needed: NeededTransfer): TransferStatus {
  return {
    version,
    partition: needed.partition,
    receiver: needed.receiver,
    source: needed.source,
    state: 'waiting',
    keysMoved: 0,
    bytesMoved: 0,
    startedAt: undefined,
    finishedAt: undefined,
    error: undefined,
  }
}
