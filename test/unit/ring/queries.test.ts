/**
 * Goal: the ring queries answer from the ring exactly as documented. Method: small rings whose
 * lists are checked entry by entry against the definitions, plus a hand-made ring for the
 * fallback walk and for transfers between two known rings.
 */

import { describe, expect, it } from 'vitest'
import {
  fallbackOrder,
  ownershipStats,
  partitionsOf,
  preferenceList,
  replicaRoles,
  ringTransfers,
} from '../../../src/ring/queries.js'
import { buildRing, type Ring } from '../../../src/ring/ring.js'
import { makeNodes, prefixCounts } from './fixtures.js'

/** A hand-made ring of 8 partitions over nodes a..e, two slots per list. */
function handRing(preferences: string[][]): Ring {
  const ids = [...new Set(preferences.flat())].sort()
  return {
    version: 1,
    partitionCount: 8,
    replicaSlots: 2,
    nodes: ids.map((id) => ({ id, zone: '' })),
    preferences,
  }
}

const hand = handRing([
  ['a', 'b'],
  ['c', 'a'],
  ['b', 'd'],
  ['a', 'b'],
  ['b', 'c'],
  ['c', 'a'],
  ['a', 'e'],
  ['d', 'c'],
])

describe('preferenceList', () => {
  it('returns the first n entries and asserts n and the partition', () => {
    expect(preferenceList(hand, 2, 1)).toEqual(['b'])
    expect(preferenceList(hand, 2, 2)).toEqual(['b', 'd'])
    expect(() => preferenceList(hand, 2, 3)).toThrow(/replica count/)
    expect(() => preferenceList(hand, 8, 1)).toThrow(/partition 8/)
    expect(() => preferenceList(hand, -1, 1)).toThrow(/partition -1/)
  })
})

describe('fallbackOrder', () => {
  it('walks the rest of the list, then the following lists, then missing nodes', () => {
    // Partition 0 with n = 1: its own 'b', then partition 1 gives 'c', partition 2 'd',
    // partition 6 'e'.
    expect(fallbackOrder(hand, 0, 1)).toEqual(['b', 'c', 'd', 'e'])
    // Partition 7 wraps to partition 0.
    expect(fallbackOrder(hand, 7, 2)).toEqual(['a', 'b', 'e'])
  })

  it('names every other node exactly once on built rings', () => {
    const ring = buildRing(makeNodes(12, 3), { partitionCount: 64, replicaSlots: 3 })
    for (let partition = 0; partition < 64; partition++) {
      for (let n = 1; n <= 3; n++) {
        const primaries = preferenceList(ring, partition, n)
        const fallbacks = fallbackOrder(ring, partition, n)
        expect(new Set(fallbacks).size).toBe(fallbacks.length)
        expect([...primaries, ...fallbacks].sort()).toEqual(ring.nodes.map((node) => node.id))
        expect(fallbacks.slice(0, 3 - n)).toEqual(ring.preferences[partition]?.slice(n))
      }
    }
  })

  it('appends nodes that no list reaches, in a fixed order', () => {
    const partial = { ...hand, nodes: [...hand.nodes, { id: 'z', zone: '' }] }
    const order = fallbackOrder(partial, 0, 1)
    expect(order).toEqual(['b', 'c', 'd', 'e', 'z'])
  })
})

describe('replicaRoles', () => {
  it('makes the last `witnesses` of the first n witnesses', () => {
    const ring = buildRing(makeNodes(5), { partitionCount: 8, replicaSlots: 3 })
    const list = ring.preferences[3] ?? []
    expect(replicaRoles(ring, 3, 3, 1)).toEqual({ full: list.slice(0, 2), witnesses: [list[2]] })
    expect(replicaRoles(ring, 3, 3, 0)).toEqual({ full: list, witnesses: [] })
    expect(replicaRoles(ring, 3, 2, 1)).toEqual({ full: [list[0]], witnesses: [list[1]] })
    expect(() => replicaRoles(ring, 3, 3, 3)).toThrow(/at least one full replica/)
  })
})

describe('partitionsOf', () => {
  it('lists partitions where the node is among the first n, with its position', () => {
    expect(partitionsOf(hand, 'a', 1)).toEqual([
      { partition: 0, position: 0 },
      { partition: 3, position: 0 },
      { partition: 6, position: 0 },
    ])
    expect(partitionsOf(hand, 'a', 2).map((place) => place.partition)).toEqual([0, 1, 3, 5, 6])
    expect(partitionsOf(hand, 'nobody', 2)).toEqual([])
  })

  it('agrees with ownershipStats on built rings', () => {
    const ring = buildRing(makeNodes(7), { partitionCount: 64, replicaSlots: 3 })
    const stats = ownershipStats(ring, 2)
    for (const node of ring.nodes) {
      expect(partitionsOf(ring, node.id, 2).length).toBe(stats.counts.get(node.id))
    }
  })
})

describe('ownershipStats', () => {
  it('counts places among the first n, including nodes with none', () => {
    const partial = { ...hand, nodes: [...hand.nodes, { id: 'z', zone: '' }] }
    const stats = ownershipStats(partial, 1)
    expect([...stats.counts]).toEqual([
      ['a', 3],
      ['b', 2],
      ['c', 2],
      ['d', 1],
      ['e', 0],
      ['z', 0],
    ])
    expect(stats.countMin).toBe(0)
    expect(stats.countMax).toBe(3)
    expect(stats.ratio).toBe(Number.POSITIVE_INFINITY)
    expect(stats.countIdeal).toBeCloseTo(8 / 6)
  })

  it('reports the max/min ratio', () => {
    const ring = buildRing(makeNodes(5), { partitionCount: 64, replicaSlots: 3 })
    const stats = ownershipStats(ring, 1)
    expect(stats.countMin).toBe(12)
    expect(stats.countMax).toBe(13)
    expect(stats.ratio).toBeCloseTo(13 / 12)
  })
})

describe('ringTransfers', () => {
  it('lists gained and lost nodes per changed partition', () => {
    const after = handRing([
      ['a', 'b'],
      ['c', 'e'],
      ['b', 'd'],
      ['b', 'a'],
      ['b', 'c'],
      ['c', 'a'],
      ['e', 'a'],
      ['d', 'c'],
    ])
    expect(ringTransfers(hand, after, 2)).toEqual([{ partition: 1, gained: ['e'], lost: ['a'] }])
    expect(ringTransfers(hand, after, 1)).toEqual([
      { partition: 3, gained: ['b'], lost: ['a'] },
      { partition: 6, gained: ['e'], lost: ['a'] },
    ])
    expect(ringTransfers(hand, hand, 2)).toEqual([])
  })

  it('accounts for every moved placement when a node joins', () => {
    const options = { partitionCount: 64, replicaSlots: 3 }
    const before = buildRing(makeNodes(6), options)
    const after = buildRing(makeNodes(7), { ...options, previous: before })
    const transfers = ringTransfers(before, after, 3)
    const gained = transfers.flatMap((transfer) => transfer.gained)
    const lost = transfers.flatMap((transfer) => transfer.lost)
    expect(gained.length).toBe(lost.length)
    expect(gained.filter((id) => id === 'node-06').length).toBe(
      prefixCounts(after, 3).get('node-06'),
    )
    for (const transfer of transfers) {
      const old = before.preferences[transfer.partition] ?? []
      const fresh = after.preferences[transfer.partition] ?? []
      for (const id of transfer.gained) expect(fresh).toContain(id)
      for (const id of transfer.gained) expect(old).not.toContain(id)
      for (const id of transfer.lost) expect(fresh).not.toContain(id)
    }
  })

  it('reads min(n, slots) entries of each ring when the lists grew', () => {
    const options = { partitionCount: 8, replicaSlots: 3 }
    const two = buildRing(makeNodes(2), options)
    const three = buildRing(makeNodes(3), { ...options, previous: two })
    const transfers = ringTransfers(two, three, 3)
    expect(transfers.length).toBe(8)
    expect(transfers.every((transfer) => transfer.gained.includes('node-02'))).toBe(true)
    const other = buildRing(makeNodes(3), { partitionCount: 16, replicaSlots: 3 })
    expect(() => ringTransfers(two, other, 3)).toThrow(/partition count/)
  })
})
