/**
 * Shared helpers for the ring tests: node sets, placement counting and movement measures.
 */

import type { Ring, RingNode } from '../../../src/ring/ring.js'

/** `count` nodes named node-00..; with `zoneCount` > 0, node i is in zone z{i mod zoneCount}. */
export function makeNodes(count: number, zoneCount = 0, prefix = 'node'): RingNode[] {
  return Array.from({ length: count }, (_, index) => ({
    id: `${prefix}-${String(index).padStart(2, '0')}`,
    zone: zoneCount > 0 ? `z${index % zoneCount}` : '',
  }))
}

/** Places of each node among the first `prefix` entries of all lists (zeros included). */
export function prefixCounts(ring: Ring, prefix: number): Map<string, number> {
  const counts = new Map(ring.nodes.map((node) => [node.id, 0]))
  for (const list of ring.preferences) {
    for (const id of list.slice(0, prefix)) counts.set(id, (counts.get(id) ?? 0) + 1)
  }
  return counts
}

/** Largest minus smallest of the counts of `ids` among the first `prefix` entries. */
export function prefixSpread(ring: Ring, prefix: number, ids?: readonly string[]): number {
  const counts = prefixCounts(ring, prefix)
  const values = (ids ?? [...counts.keys()]).map((id) => counts.get(id) ?? 0)
  return Math.max(...values) - Math.min(...values)
}

/** (partition, node) pairs among the first `prefix` of `after` that `before` lacked there. */
export function movedPlacements(before: Ring, after: Ring, prefix: number): number {
  let moved = 0
  after.preferences.forEach((list, partition) => {
    const old = new Set(before.preferences[partition]?.slice(0, prefix))
    for (const id of list.slice(0, prefix)) if (!old.has(id)) moved++
  })
  return moved
}

/** Node ids grouped by zone, zones sorted. */
export function idsByZone(nodes: readonly RingNode[]): string[][] {
  const groups = new Map<string, string[]>()
  for (const node of nodes) groups.set(node.zone, [...(groups.get(node.zone) ?? []), node.id])
  return [...groups.keys()].sort().map((zone) => groups.get(zone) ?? [])
}
