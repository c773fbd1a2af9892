/**
 * Read-only questions about a ring: who replicates a partition, who stands in when replicas are
 * down, what a node owns, how even the ownership is, and what changes between two rings.
 *
 * `n` is a keyspace's replica count. Functions about one ring require 1 ≤ n ≤ replicaSlots
 * (callers clamp a keyspace's N to the ring before asking). `ringTransfers` compares rings of
 * different sizes and so reads min(n, replicaSlots) entries of each.
 */

import { assert } from '../env/assert.js'
import { hashString } from './hash.js'
import { placementRank } from './placement.js'
import { REPLICA_SLOTS_MAX, type Ring } from './ring.js'

function assertPartition(ring: Ring, partition: number): void {
  assert(
    Number.isSafeInteger(partition) && partition >= 0 && partition < ring.partitionCount,
    `partition ${partition} outside 0..${ring.partitionCount - 1}`,
  )
}

function assertReplicaCount(ring: Ring, n: number): void {
  assert(
    Number.isSafeInteger(n) && n >= 1 && n <= ring.replicaSlots,
    `replica count ${n} outside 1..${ring.replicaSlots}`,
  )
}

function listOf(ring: Ring, partition: number): readonly string[] {
  const list = ring.preferences[partition]
  assert(list !== undefined, `ring has no list for partition ${partition}`)
  return list
}

/** The first `n` nodes of the partition's preference list: its replicas, in order. */
export function preferenceList(ring: Ring, partition: number, n: number): readonly string[] {
  assertPartition(ring, partition)
  assertReplicaCount(ring, n)
  return listOf(ring, partition).slice(0, n)
}

/**
 * Every node that is not among the first `n`, each once, in the order in which they stand in
 * for unavailable replicas (sloppy quorum): the rest of the partition's own list, then the
 * lists of the following partitions in ring order (wrapping), skipping nodes already named,
 * then any node still missing, by the (partition, node) hash rank. Walking the following
 * partitions is Dynamo's "next nodes on the ring"; it spreads the stand-in load of one down
 * node across many nodes.
 */
export function fallbackOrder(ring: Ring, partition: number, n: number): readonly string[] {
  assertPartition(ring, partition)
  assertReplicaCount(ring, n)
  const named = new Set(listOf(ring, partition).slice(0, n))
  const order: string[] = []
  const add = (id: string): void => {
    if (named.has(id)) return
    named.add(id)
    order.push(id)
  }
  for (const id of listOf(ring, partition).slice(n)) add(id)
  for (let step = 1; step < ring.partitionCount; step++) {
    if (named.size === ring.nodes.length) break
    for (const id of listOf(ring, (partition + step) % ring.partitionCount)) add(id)
  }
  if (named.size < ring.nodes.length) {
    const missing = ring.nodes.filter((node) => !named.has(node.id))
    const rank = (id: string): number => placementRank(hashString(id), partition)
    missing.sort((a, b) => rank(a.id) - rank(b.id) || (a.id < b.id ? -1 : 1))
    for (const node of missing) add(node.id)
  }
  return order
}

export interface ReplicaRoles {
  /** Replicas that store values. */
  full: readonly string[]
  /** Replicas that store metadata only: the last `witnesses` of the first n. */
  witnesses: readonly string[]
}

/** Splits the first `n` nodes into full replicas and the trailing `witnesses` witnesses. */
export function replicaRoles(
  ring: Ring,
  partition: number,
  n: number,
  witnesses: number,
): ReplicaRoles {
  const replicas = preferenceList(ring, partition, n)
  assert(
    Number.isSafeInteger(witnesses) && witnesses >= 0 && witnesses < n,
    `witness count ${witnesses} must leave at least one full replica of ${n}`,
  )
  return { full: replicas.slice(0, n - witnesses), witnesses: replicas.slice(n - witnesses) }
}

export interface PartitionPlace {
  partition: number
  /** 0 for the first node of the list. */
  position: number
}

/** The partitions where `nodeId` is among the first `n`, ascending, with its position. */
export function partitionsOf(ring: Ring, nodeId: string, n: number): readonly PartitionPlace[] {
  assertReplicaCount(ring, n)
  const places: PartitionPlace[] = []
  for (let partition = 0; partition < ring.partitionCount; partition++) {
    const position = listOf(ring, partition).indexOf(nodeId)
    if (position >= 0 && position < n) places.push({ partition, position })
  }
  return places
}

export interface OwnershipStats {
  /** Places among the first n of all lists, for every node (sorted by id), zeros included. */
  counts: ReadonlyMap<string, number>
  countMin: number
  countMax: number
  /** n·P / node count: what every node would hold if the split were exact. */
  countIdeal: number
  /** countMax / countMin; Infinity when some node holds nothing. */
  ratio: number
}

/** How evenly the first `n` places of all lists are spread over the nodes. */
export function ownershipStats(ring: Ring, n: number): OwnershipStats {
  assertReplicaCount(ring, n)
  const counts = new Map(ring.nodes.map((node) => [node.id, 0]))
  for (const list of ring.preferences) {
    for (const id of list.slice(0, n)) counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  const values = [...counts.values()]
  const countMin = Math.min(...values)
  const countMax = Math.max(...values)
  return {
    counts,
    countMin,
    countMax,
    countIdeal: (n * ring.partitionCount) / ring.nodes.length,
    ratio: countMin === 0 ? Number.POSITIVE_INFINITY : countMax / countMin,
  }
}

export interface PartitionTransfer {
  partition: number
  /** Nodes that are among the first n after but not before, in their new list order. */
  gained: readonly string[]
  /** Nodes that were among the first n before but not after, in their old list order. */
  lost: readonly string[]
}

/**
 * For each partition whose first `n` nodes differ between `before` and `after` (ascending;
 * unchanged partitions are left out), the nodes that gain and lose a place. Each ring
 * contributes its first min(n, replicaSlots) nodes, so a ring that grew from two nodes to
 * three shows the third replica as gained. This drives partition handoff.
 */
export function ringTransfers(before: Ring, after: Ring, n: number): readonly PartitionTransfer[] {
  assert(before.partitionCount === after.partitionCount, 'rings differ in partition count')
  assert(
    Number.isSafeInteger(n) && n >= 1 && n <= REPLICA_SLOTS_MAX,
    `replica count ${n} outside 1..${REPLICA_SLOTS_MAX}`,
  )
  const transfers: PartitionTransfer[] = []
  for (let partition = 0; partition < after.partitionCount; partition++) {
    const old = listOf(before, partition).slice(0, n)
    const fresh = listOf(after, partition).slice(0, n)
    const gained = fresh.filter((id) => !old.includes(id))
    const lost = old.filter((id) => !fresh.includes(id))
    if (gained.length > 0 || lost.length > 0) transfers.push({ partition, gained, lost })
  }
  return transfers
}
