/**
 * The operator's view of the topology, shared by `/v1/cluster` (this node's view) and the
 * admin routes: the version, whether a move is under way, the move's transfers with their
 * progress, and how much each node owns (primaries: lists it heads; replicas: lists it is
 * among the first n of, n the largest replica count).
 */

import type { Ring } from '../../ring/ring.js'
import type { Topology } from '../../ring/topology.js'
import { type NodeOwnership, ownershipOf } from '../../ring/topology-plan.js'
import type { TransferStatus } from './view.js'

export interface TransferProgress {
  readonly total: number
  readonly done: number
  readonly failed: number
  readonly keysMoved: number
  readonly bytesMoved: number
}

export interface TopologyStatus {
  readonly version: number
  readonly moving: boolean
  readonly transfers: readonly TransferStatus[]
  readonly progress: TransferProgress
  readonly ownership: Record<string, NodeOwnership>
  /** Ownership once the move finishes; only while moving. */
  readonly nextOwnership?: Record<string, NodeOwnership>
}

/** Ownership per node id as a plain object, keys in id order. */
export function ownershipView(ring: Ring, replicasMax: number): Record<string, NodeOwnership> {
  return Object.fromEntries(ownershipOf(ring, replicasMax))
}

export function progressOf(transfers: readonly TransferStatus[]): TransferProgress {
  let done = 0
  let failed = 0
  let keysMoved = 0
  let bytesMoved = 0
  for (const transfer of transfers) {
    if (transfer.state === 'done') done++
    if (transfer.state === 'failed') failed++
    keysMoved += transfer.keysMoved
    bytesMoved += transfer.bytesMoved
  }
  return { total: transfers.length, done, failed, keysMoved, bytesMoved }
}

/** The status of `source`'s topology as this node sees it. */
export function topologyStatus(
  source: { topology(): Topology; transfers(): TransferStatus[] },
  replicasMax: number,
): TopologyStatus {
  const topology = source.topology()
  const transfers = source.transfers()
  const status = {
    version: topology.version,
    moving: topology.next !== undefined,
    transfers,
    progress: progressOf(transfers),
    ownership: ownershipView(topology.current, replicasMax),
  }
  if (topology.next === undefined) return status
  return { ...status, nextOwnership: ownershipView(topology.next, replicasMax) }
}
