/**
 * Replica plans: which nodes a request for one key talks to. The key's partition has N
 * primaries, the first N nodes of its preference list. Each usable primary is a target; for
 * each primary that is down, the next usable node of the ring's fallback order that is not yet
 * used stands in, tagged with the primary it holds a hint for (Dynamo's sloppy quorum). The
 * fallbacks not used yet are kept in order as spares, to replace targets that fail during the
 * request. Liveness comes from membership: alive or suspect is usable, dead or left is not.
 *
 * Witnesses. In a keyspace with witnesses, the last `witnesses` primaries keep metadata only.
 * A target's role is the role of the primary it serves: a fallback for a witness is a witness
 * (it keeps the metadata as a hint), a fallback for a full primary is full (it keeps the
 * value). When a full primary is down and no fallback is left to stand in for it, a usable
 * witness of the partition is promoted: its target keeps the value as a hint for that primary
 * (and its own metadata), so the write still has a full copy beyond the coordinator's. Every
 * primary, witnesses included, coordinates the writes it receives (`chooseCoordinator`); a
 * coordinating witness keeps the value in custody until a full copy holds it
 * (`witnessCustody`).
 *
 * While ownership moves (src/ring/topology.ts) a write has one order per owner set: the
 * current ring's and the next ring's (`writeOrders`), each planned on its own, with its own
 * witnesses and fallbacks, and it must reach its level in each (src/replication/joint-quorum.ts).
 * A node's role for such a write is the one it has in the sets it belongs to: it keeps metadata
 * only when it is a witness in every one of them (`jointWitnesses`), so a node that is a
 * witness in one ring and a full replica in the other gets the value.
 *
 * Pure: the ring and a liveness view in, a plan out.
 */

import { assert } from '../env/assert.js'
import { fallbackOrder, preferenceList, type Ring, replicaRoles } from '../ring/index.js'
import { type Topology, writeOwnerSets } from '../ring/topology.js'

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
  /** The last `witnesses` of the primaries: they keep metadata only. */
  readonly witnesses: readonly string[]
  /** One per primary, in preference order: the primary if usable, else its stand-in. */
  readonly targets: readonly ReplicaTarget[]
  /** Usable fallbacks not among the targets, in fallback order. */
  readonly spares: readonly string[]
}

/** A partition's primaries and the order its fallbacks stand in; fixed for a ring. */
export interface PartitionOrder {
  readonly partition: number
  readonly primaries: readonly string[]
  readonly witnesses: readonly string[]
  readonly fallbacks: readonly string[]
}

/**
 * The order of one partition of a keyspace with `replicas` replicas, `witnesses` of them
 * witnesses (callers may cache it).
 */
export function partitionOrder(
  ring: Ring,
  partition: number,
  replicas: number,
  witnesses = 0,
): PartitionOrder {
  assert(replicas >= 1 && replicas <= ring.replicaSlots, `replica count ${replicas} out of range`)
  return {
    partition,
    primaries: preferenceList(ring, partition, replicas),
    witnesses: replicaRoles(ring, partition, replicas, witnesses).witnesses,
    fallbacks: fallbackOrder(ring, partition, replicas),
  }
}

/**
 * The orders of a write's owner sets (`writeOwnerSets`): the current ring's, then while moving
 * the next ring's when its owners differ.
 */
export function writeOrders(
  topology: Topology,
  partition: number,
  replicas: number,
  witnesses = 0,
): PartitionOrder[] {
  const sets = writeOwnerSets(topology, partition, replicas)
  const orders = [partitionOrder(topology.current, partition, replicas, witnesses)]
  if (sets.length > 1 && topology.next !== undefined) {
    orders.push(partitionOrder(topology.next, partition, replicas, witnesses))
  }
  assert(orders.length === sets.length, 'one order per write owner set')
  return orders
}

/**
 * The nodes that keep metadata only for a write planned over `sets`: those that are witnesses
 * in every set listing them among its primaries. A single set's witnesses are returned as they
 * are.
 */
export function jointWitnesses(
  sets: readonly Pick<PartitionOrder, 'primaries' | 'witnesses'>[],
): readonly string[] {
  const [only] = sets
  if (sets.length === 1 && only !== undefined) return only.witnesses
  const result: string[] = []
  for (const set of sets) {
    for (const node of set.witnesses) {
      if (result.includes(node)) continue
      const everywhere = sets.every(
        (other) => !other.primaries.includes(node) || other.witnesses.includes(node),
      )
      if (everywhere) result.push(node)
    }
  }
  return result
}

/**
 * Where a hint for `target` is handed off: to the target while it holds the partition (one of
 * `holders`), else to the partition's holders instead, as a merge of what the write stored. A
 * hint kept in witness form (`metadataOnly`) holds digests, which a full replica must never
 * take, so it goes only to holders that keep witness form (`witnesses`); when there are none
 * it has nowhere to go, and the full copies the write needed already hold its value.
 */
export function hintDestinations(
  target: string,
  holders: readonly string[],
  witnesses: readonly string[],
  metadataOnly: boolean,
): readonly string[] {
  if (holders.includes(target)) return [target]
  return metadataOnly ? holders.filter((node) => witnesses.includes(node)) : holders
}

/** The plan for a partition's order under the current liveness. */
export function planFromOrder(order: PartitionOrder, liveness: Liveness): ReplicaPlan {
  const usableFallbacks = order.fallbacks.filter((node) => liveness.isUsable(node))
  const targets: ReplicaTarget[] = []
  const uncovered: string[] = []
  let nextFallback = 0
  for (const primary of order.primaries) {
    if (liveness.isUsable(primary)) {
      targets.push({ node: primary, hintFor: undefined })
      continue
    }
    const fallback = usableFallbacks[nextFallback]
    if (fallback === undefined) {
      if (!order.witnesses.includes(primary)) uncovered.push(primary)
      continue
    }
    nextFallback++
    targets.push({ node: fallback, hintFor: primary })
  }
  promoteWitnesses(targets, order.witnesses, uncovered)
  return {
    partition: order.partition,
    primaries: order.primaries,
    witnesses: order.witnesses,
    targets,
    spares: usableFallbacks.slice(nextFallback),
  }
}

/**
 * Makes usable witnesses stand in for the down full primaries no fallback covers, in order:
 * each promoted witness target keeps the value as a hint for one of them.
 */
function promoteWitnesses(
  targets: ReplicaTarget[],
  witnesses: readonly string[],
  uncovered: readonly string[],
): void {
  let promoted = 0
  for (const primary of uncovered) {
    const index = targets.findIndex(
      (target) => target.hintFor === undefined && witnesses.includes(target.node),
    )
    const witness = targets[index]
    if (witness === undefined) break
    targets[index] = { node: witness.node, hintFor: primary }
    promoted++
  }
  assert(promoted <= witnesses.length, 'a witness is promoted at most once')
}

/**
 * True when `target` keeps metadata only: it is a witness, or a fallback for one. A promoted
 * witness (a witness holding a hint for a full primary) keeps the value, so it is full.
 */
export function isWitnessTarget(
  target: ReplicaTarget,
  witnesses: readonly string[] | undefined,
): boolean {
  if (witnesses === undefined || witnesses.length === 0) return false
  return witnesses.includes(target.hintFor ?? target.node)
}

/** Where a coordinating witness keeps the value of a write until a full copy holds it. */
export interface WitnessCustody {
  readonly hintFor: string
  /** True when this node is promoted for `hintFor`: the hint stays until handed off. */
  readonly promoted: boolean
}

/**
 * Where a witness that coordinates a write keeps the value until a full copy holds it: as a
 * hint for a full primary, written in one batch with its own record in witness form, so no
 * digest of a write is durable anywhere before its value is. `hintFor` is the full primary the
 * witness stands in for when the plan promoted it (the hint then stays until handed off, as a
 * promoted witness's always does), else the first full primary that is down, else the first
 * full primary; a hint that is not a promotion's is released once a full copy acknowledged
 * the write. Undefined when `selfId` is not one of the plan's witnesses.
 */
export function witnessCustody(
  plan: ReplicaPlan,
  selfId: string,
  liveness: Liveness,
): WitnessCustody | undefined {
  if (!plan.witnesses.includes(selfId)) return undefined
  const own = plan.targets.find((target) => target.node === selfId)
  if (own?.hintFor !== undefined && !plan.witnesses.includes(own.hintFor)) {
    return { hintFor: own.hintFor, promoted: true }
  }
  const full = plan.primaries.filter((node) => !plan.witnesses.includes(node))
  const hintFor = full.find((node) => !liveness.isUsable(node)) ?? full[0]
  assert(hintFor !== undefined, 'a keyspace keeps at least one full replica')
  return { hintFor, promoted: false }
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
 * Who mints the dot of a write: this node when it is one of the key's primaries, full or
 * witness (minting needs only the causal metadata a witness keeps; docs/ARCHITECTURE.md,
 * Witnesses); otherwise the usable full primaries in preference order, which also hold the
 * values a write's answer may show. When every full primary is down this node coordinates as
 * a fallback, as Dynamo does, so a sloppy quorum can still accept the write.
 */
export function chooseCoordinator(
  plan: ReplicaPlan,
  selfId: string,
  liveness: Liveness,
): CoordinatorChoice {
  if (plan.primaries.includes(selfId)) return { kind: 'local' }
  const full = plan.primaries.filter((node) => !plan.witnesses.includes(node))
  const candidates = full.filter((node) => liveness.isUsable(node))
  return candidates.length === 0 ? { kind: 'local' } : { kind: 'forward', candidates }
}

/** Whether `nodeId` is one of the plan's primaries. */
export function isPrimary(plan: ReplicaPlan, nodeId: string): boolean {
  return plan.primaries.includes(nodeId)
}
