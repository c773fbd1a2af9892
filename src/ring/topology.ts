/**
 * A topology: the committed, versioned ring a node acts on, and while ownership moves, the ring
 * it moves to. Versions are totally ordered and assigned only by the cluster's metadata log (the
 * Raft group), except version 1, which every node derives identically from cluster.yml; so two
 * nodes holding the same version hold the same topology.
 *
 * During a move (`next` present) reads are answered by the owners in `current` (they hold
 * everything acknowledged so far) and writes go to the owners in both rings and need their
 * level in each (a joint quorum), so when the move finishes and `next` becomes `current`, the
 * new owners hold every write acknowledged during the move as well as the data streamed to
 * them. These helpers are the one place that rule is spelled out.
 */

import { assert } from '../env/assert.js'
import { preferenceList } from './queries.js'
import type { Ring } from './ring.js'

export interface Topology {
  /** Strictly increasing; 1 is the ring built from cluster.yml's founding nodes. */
  readonly version: number
  /** The ring whose owners answer reads. */
  readonly current: Ring
  /** The ring ownership moves to; writes go to the owners of both. Absent when settled. */
  readonly next: Ring | undefined
}

export function isMoving(topology: Topology): boolean {
  return topology.next !== undefined
}

/** The owners that answer reads for a partition: the first n of the current ring's list. */
export function readOwners(topology: Topology, partition: number, n: number): readonly string[] {
  return preferenceList(topology.current, partition, n)
}

/**
 * The owner sets a write must reach its level in: one set when settled, two while moving (the
 * current owners, then the next owners). Sets may share nodes; an acknowledgement from a shared
 * node counts in both.
 */
export function writeOwnerSets(
  topology: Topology,
  partition: number,
  n: number,
): readonly (readonly string[])[] {
  const current = preferenceList(topology.current, partition, n)
  if (topology.next === undefined) return [current]
  assert(
    topology.next.partitionCount === topology.current.partitionCount,
    'a move keeps the partition count',
  )
  const next = preferenceList(topology.next, partition, n)
  if (next.length === current.length && next.every((id, index) => current[index] === id)) {
    return [current]
  }
  return [current, next]
}

/** Every node that owns a partition in either ring: the nodes that keep its data for now. */
export function holders(topology: Topology, partition: number, n: number): readonly string[] {
  const result: string[] = []
  for (const set of writeOwnerSets(topology, partition, n)) {
    for (const id of set) if (!result.includes(id)) result.push(id)
  }
  return result
}
