/**
 * Replica plans: which nodes a request for one key talks to. The key's partition has N
 * primaries, the first N nodes of its preference list. Each usable primary is a target; for
 * each primary that is down, the next usable node of the ring's fallback order that is not yet
 * used stands in, tagged with the primary it holds a hint for (Dynamo's sloppy quorum). The
 * fallbacks not used yet are kept in order as spares, to replace targets that fail during the
 * request. Liveness comes from membership: alive or suspect is usable, dead or left is not.
 *
 * Pure: the ring and a liveness view in, a plan out.
 */

import { assert } from '../env/assert.js'
import { fallbackOrder, preferenceList, type Ring } from '../ring/index.js'

/** Which nodes can take part in requests now. */
export interface Liveness {
  isUsable(nodeId: string): boolean
}

export interface ReplicaTarget {
  readonly node: string
  /** The primary this fallback stands in for; undefined for a primary itself. */
  readonly hintFor: string | undefined
}

export interface ReplicaPlan {
  readonly partition: number
  /** The partition's first N nodes, in preference order, usable or not. */
  readonly primaries: readonly string[]
  /** One per primary, in preference order: the primary if usable, else its stand-in. */
  readonly targets: readonly ReplicaTarget[]
  /** Usable fallbacks not among the targets, in fallback order. */
  readonly spares: readonly string[]
}

/** A partition's primaries and the order its fallbacks stand in; fixed for a ring. */
export interface PartitionOrder {
  readonly partition: number
  readonly primaries: readonly string[]
  readonly fallbacks: readonly string[]
}

/** The order of one partition of a keyspace with `replicas` replicas (callers may cache it). */
export function partitionOrder(ring: Ring, partition: number, replicas: number): PartitionOrder {
  assert(replicas >= 1 && replicas <= ring.replicaSlots, `replica count ${replicas} out of range`)
  return {
    partition,
    primaries: preferenceList(ring, partition, replicas),
    fallbacks: fallbackOrder(ring, partition, replicas),
  }
}

/** The plan for a partition's order under the current liveness. */
export function planFromOrder(order: PartitionOrder, liveness: Liveness): ReplicaPlan {
  const usableFallbacks = order.fallbacks.filter((node) => liveness.isUsable(node))
  const targets: ReplicaTarget[] = []
  let nextFallback = 0
  for (const primary of order.primaries) {
    if (liveness.isUsable(primary)) {
      targets.push({ node: primary, hintFor: undefined })
      continue
    }
    const fallback = usableFallbacks[nextFallback]
    if (fallback === undefined) continue
    nextFallback++
    targets.push({ node: fallback, hintFor: primary })
  }
  return {
    partition: order.partition,
    primaries: order.primaries,
    targets,
    spares: usableFallbacks.slice(nextFallback),
  }
}

/** The plan for one partition of a keyspace with `replicas` replicas. */
export function planReplicas(
  ring: Ring,
  partition: number,
  replicas: number,
  liveness: Liveness,
): ReplicaPlan {
  return planFromOrder(partitionOrder(ring, partition, replicas), liveness)
}

export type CoordinatorChoice =
  | { readonly kind: 'local' }
  /** Ask these usable primaries in order; the first that answers coordinates. */
  | { readonly kind: 'forward'; readonly candidates: readonly string[] }

/**
 * Who mints the dot of a write: this node when it is a usable primary, otherwise the usable
 * primaries in preference order. When every primary is down this node coordinates as a
 * fallback, as Dynamo does, so a sloppy quorum can still accept the write.
 */
export function chooseCoordinator(
  plan: ReplicaPlan,
  selfId: string,
  liveness: Liveness,
): CoordinatorChoice {
  if (plan.primaries.includes(selfId)) return { kind: 'local' }
  const candidates = plan.primaries.filter((node) => liveness.isUsable(node))
  return candidates.length === 0 ? { kind: 'local' } : { kind: 'forward', candidates }
}

/** Whether `nodeId` is one of the plan's primaries. */
export function isPrimary(plan: ReplicaPlan, nodeId: string): boolean {
  return plan.primaries.includes(nodeId)
}
