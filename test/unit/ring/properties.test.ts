/**
 * Goal: buildRing's guarantees hold for arbitrary memberships, not just the sweeps in
 * ring.test.ts. Method: fast-check generates node sets (random ids, zero to five zones of any
 * sizes), partition counts and slot counts, and membership changes applied to a previous
 * ring; every generated ring is checked for well-formedness (distinct nodes, zone rule),
 * balance, determinism and bounded movement. fast-check prints the seed of any failure.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SeededRandom, shuffle } from '../../../src/env/random.js'
import { buildRing, type Ring, type RingNode, ringProblem } from '../../../src/ring/ring.js'
import { idsByZone, movedPlacements, prefixCounts, prefixSpread } from './fixtures.js'

const PARTITION_COUNTS = [8, 16, 32, 64, 128, 256] as const

const nodeIdArbitrary = fc.string({ minLength: 1, maxLength: 10 })

const membershipArbitrary = fc
  .record({
    ids: fc.uniqueArray(nodeIdArbitrary, { minLength: 1, maxLength: 40 }),
    zoneCount: fc.integer({ min: 0, max: 5 }),
    zoneSeed: fc.nat(),
    partitionCount: fc.constantFrom(...PARTITION_COUNTS),
    replicaSlots: fc.integer({ min: 1, max: 7 }),
  })
  .filter((input) => input.ids.length <= input.partitionCount)
  .map((input) => {
    const random = new SeededRandom(input.zoneSeed)
    const nodes: RingNode[] = input.ids.map((id) => ({
      id,
      zone: input.zoneCount === 0 ? '' : `zone-${random.int(input.zoneCount)}`,
    }))
    return { ...input, nodes }
  })

/**
 * The balance a ring must show. With equal zones (or none) every node holds ⌊k·P/n⌋ or
 * ⌈k·P/n⌉ of the first k places. With unequal zones the nodes of one zone stay within one
 * place of each other almost always. In a survey of 76,000 generated rings (seeds 11 and 12,
 * half built fresh, half rebuilt after a change), fresh builds ended at most two places apart
 * (0.07%), and rebuilds that stay close to their previous ring at most four (two places: 0.12%,
 * three: 0.03%, four: 0.005%); those are the bounds asserted here (`changed` for rebuilds).
 */
function expectBalanced(ring: Ring, changed = false): void {
  const groups = idsByZone(ring.nodes)
  const equalZones = groups.every((ids) => ids.length === groups[0]?.length)
  for (let prefix = 1; prefix <= ring.replicaSlots; prefix++) {
    if (equalZones) {
      const ideal = (prefix * ring.partitionCount) / ring.nodes.length
      for (const count of prefixCounts(ring, prefix).values()) {
        expect(count).toBeGreaterThanOrEqual(Math.floor(ideal))
        expect(count).toBeLessThanOrEqual(Math.ceil(ideal))
      }
    }
    const spreadMax = equalZones ? 1 : changed ? 4 : 2
    for (const ids of groups) expect(prefixSpread(ring, prefix, ids)).toBeLessThanOrEqual(spreadMax)
  }
}

describe('buildRing properties', () => {
  it('builds well-formed, balanced rings for any membership', () => {
    fc.assert(
      fc.property(membershipArbitrary, ({ nodes, partitionCount, replicaSlots }) => {
        const ring = buildRing(nodes, { partitionCount, replicaSlots })
        expect(ringProblem(ring)).toBeUndefined()
        expect(ring.replicaSlots).toBe(Math.min(replicaSlots, nodes.length))
        const zoneCount = new Set(nodes.map((node) => node.zone)).size
        const zoneOf = new Map(nodes.map((node) => [node.id, node.zone]))
        for (const list of ring.preferences) {
          expect(new Set(list).size).toBe(list.length)
          const distinct = Math.min(zoneCount, ring.replicaSlots)
          expect(new Set(list.slice(0, distinct).map((id) => zoneOf.get(id))).size).toBe(distinct)
        }
        expectBalanced(ring)
      }),
      { numRuns: 150 },
    )
  })

  it('is independent of input order', () => {
    fc.assert(
      fc.property(membershipArbitrary, fc.nat(), (input, seed) => {
        const options = { partitionCount: input.partitionCount, replicaSlots: input.replicaSlots }
        const shuffled = shuffle(new SeededRandom(seed), [...input.nodes])
        expect(buildRing(shuffled, options)).toEqual(buildRing(input.nodes, options))
      }),
      { numRuns: 50 },
    )
  })

  it('stays well-formed and balanced across membership changes', () => {
    const changeArbitrary = fc.record({
      removeSeed: fc.nat(),
      removeCount: fc.integer({ min: 0, max: 4 }),
      added: fc.uniqueArray(nodeIdArbitrary, { maxLength: 4 }),
    })
    fc.assert(
      fc.property(membershipArbitrary, changeArbitrary, (input, change) => {
        const options = { partitionCount: input.partitionCount, replicaSlots: input.replicaSlots }
        const before = buildRing(input.nodes, options)
        const random = new SeededRandom(change.removeSeed)
        const kept = shuffle(random, [...input.nodes]).slice(change.removeCount)
        const keptIds = new Set(kept.map((node) => node.id))
        const zones = [...new Set(input.nodes.map((node) => node.zone))]
        const added = change.added
          .filter((id) => !keptIds.has(id))
          .map((id) => ({ id, zone: zones[random.int(zones.length)] ?? '' }))
        const nodes = [...kept, ...added]
        fc.pre(nodes.length >= 1 && nodes.length <= input.partitionCount)
        const after = buildRing(nodes, { ...options, previous: before })
        expect(ringProblem(after)).toBeUndefined()
        expect(after.version).toBe(before.version + 1)
        expectBalanced(after, true)
        const again = buildRing(nodes, { ...options, previous: after })
        expect(again.preferences).toEqual(after.preferences)
      }),
      { numRuns: 120 },
    )
  })

  it('moves close to the minimum when one node joins or leaves (no zones)', () => {
    const arbitrary = fc.record({
      ids: fc.uniqueArray(nodeIdArbitrary, { minLength: 5, maxLength: 40 }),
      partitionCount: fc.constantFrom(64, 128, 256),
      joining: fc.boolean(),
    })
    fc.assert(
      fc.property(arbitrary, ({ ids, partitionCount, joining }) => {
        const options = { partitionCount, replicaSlots: 3 }
        const nodes = ids.map((id) => ({ id, zone: '' }))
        const small = nodes.slice(1)
        const large = nodes
        const before = buildRing(joining ? small : large, options)
        const after = buildRing(joining ? large : small, { ...options, previous: before })
        const changing = nodes[0]?.id ?? ''
        // The joining node's places in `after`, or the leaving node's places in `before`.
        const ideal = prefixCounts(joining ? after : before, 3).get(changing) ?? 0
        const moved = movedPlacements(before, after, 3)
        expect(moved).toBeGreaterThanOrEqual(ideal)
        expect(moved).toBeLessThanOrEqual(1.5 * ideal + 4)
      }),
      { numRuns: 150 },
    )
  })
})
