/**
 * Goal: counters count every acknowledged update exactly once after quiescence, their deltas
 * (and the G-Set's) tolerate any order and duplication, actors must be unique per replica,
 * and no update silently loses precision near the limits of safe integers.
 *
 * Method: fast-check worlds (worlds.ts) provide random updates at random replicas with random
 * merges and delta deliveries; the sum law compares the converged value with the sum of the
 * updates the types accepted, and the delta laws join shuffled, duplicated deltas from empty.
 * Overflow and actor-sharing cases are examples built right at the boundaries.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as GCounter from '../../../src/crdt/g-counter.js'
import * as PnCounter from '../../../src/crdt/pn-counter.js'
import { AssertionError } from '../../../src/env/assert.js'
import { SeededRandom, shuffle } from '../../../src/env/random.js'
import { expectMurmurError } from './assertions.js'
import {
  ACTORS,
  gCounterType,
  gSetType,
  pnCounterType,
  quiesce,
  type TypeUnderTest,
  worldArbitrary,
} from './worlds.js'

const RUNS = 200
const MAX = Number.MAX_SAFE_INTEGER
const [alice, bob] = ACTORS

describe('counter sum law', () => {
  it('a converged PN-Counter equals the acknowledged increments minus decrements', () => {
    fc.assert(
      fc.property(worldArbitrary(pnCounterType, 60), (world) => {
        let expected = 0
        for (const { operation } of world.applied) {
          expected += operation.direction === 'increment' ? operation.amount : -operation.amount
        }
        for (const replica of quiesce(PnCounter, world.replicas)) {
          expect(PnCounter.value(replica)).toBe(expected)
          expect(PnCounter.exactValue(replica)).toBe(BigInt(expected))
        }
      }),
      { numRuns: RUNS },
    )
  })

  it('a converged G-Counter equals the acknowledged increments', () => {
    fc.assert(
      fc.property(worldArbitrary(gCounterType, 60), (world) => {
        const expected = world.applied.reduce((sum, { operation }) => sum + operation, 0)
        for (const replica of quiesce(GCounter, world.replicas)) {
          expect(GCounter.value(replica)).toBe(expected)
        }
      }),
      { numRuns: RUNS },
    )
  })
})

function describeDeltaRobustness<S, Operation>(type: TypeUnderTest<S, Operation>): void {
  it(`${type.name} deltas joined in any order, with duplicates, equal the converged state`, () => {
    fc.assert(
      fc.property(
        worldArbitrary(type, 60),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        (world, duplicates, seed) => {
          const { module } = type
          const deliveries = [...world.deltas]
          for (const index of duplicates) {
            if (world.deltas.length > 0)
              deliveries.push(world.deltas[index % world.deltas.length] as S)
          }
          shuffle(new SeededRandom(seed), deliveries)
          const joined = deliveries.reduce(
            (state, delta) => module.merge(state, delta),
            module.empty(),
          )
          const converged = quiesce(module, world.replicas)[0] as S
          expect(module.equals(joined, converged)).toBe(true)
        },
      ),
      { numRuns: RUNS },
    )
  })
}

describe('delta robustness of the non-causal types', () => {
  describeDeltaRobustness(gCounterType)
  describeDeltaRobustness(pnCounterType)
  describeDeltaRobustness(gSetType)
})

describe('actor uniqueness', () => {
  it('unique actors count concurrent increments; a shared actor loses one (negative control)', () => {
    const unique = PnCounter.merge(
      PnCounter.increment(PnCounter.empty(), alice, 1),
      PnCounter.increment(PnCounter.empty(), bob, 1),
    )
    expect(PnCounter.value(unique)).toBe(2)
    // Two replicas minting under one actor both claim "alice's total is 1": the maximum keeps
    // one of them, which is why every data-directory incarnation gets a fresh actor.
    const shared = PnCounter.merge(
      PnCounter.increment(PnCounter.empty(), alice, 1),
      PnCounter.increment(PnCounter.empty(), alice, 1),
    )
    expect(PnCounter.value(shared)).toBe(1)
  })
})

describe('counter overflow', () => {
  it('refuses a G-Counter increment past the safe range, per actor and in the value', () => {
    const nearMax = GCounter.increment(GCounter.empty(), alice, MAX - 1)
    expect(GCounter.value(GCounter.increment(nearMax, alice, 1))).toBe(MAX)
    expectMurmurError(() => GCounter.increment(nearMax, alice, 2), 'invalid_request')
    expectMurmurError(() => GCounter.incrementDelta(nearMax, alice, 2), 'invalid_request')
    // Bob's own total would be tiny, but the value would pass 2^53 - 1.
    expectMurmurError(() => GCounter.increment(nearMax, bob, 2), 'invalid_request')
  })

  it('refuses PN-Counter updates that would take the value past ±(2^53 - 1)', () => {
    const high = PnCounter.increment(PnCounter.empty(), alice, MAX)
    expectMurmurError(() => PnCounter.increment(high, bob, 1), 'invalid_request')
    expectMurmurError(() => PnCounter.incrementDelta(high, bob, 1), 'invalid_request')
    const low = PnCounter.decrement(PnCounter.empty(), alice, MAX)
    expect(PnCounter.value(low)).toBe(-MAX)
    expectMurmurError(() => PnCounter.decrement(low, bob, 1), 'invalid_request')
    expectMurmurError(() => PnCounter.decrementDelta(low, bob, 1), 'invalid_request')
    expect(PnCounter.value(PnCounter.increment(low, bob, MAX))).toBe(0)
  })

  it('refuses a PN-Counter update past an actor total even when the value stays in range', () => {
    const balanced = PnCounter.decrement(
      PnCounter.increment(PnCounter.empty(), alice, MAX),
      bob,
      MAX,
    )
    expect(PnCounter.value(balanced)).toBe(0)
    expectMurmurError(() => PnCounter.decrement(balanced, bob, 1), 'invalid_request')
    expect(PnCounter.value(PnCounter.decrement(balanced, alice, 1))).toBe(-1)
  })

  it('reports a merged value beyond the safe range exactly and lets updates move it back', () => {
    const left = PnCounter.increment(PnCounter.empty(), alice, MAX - 5)
    const right = PnCounter.increment(PnCounter.empty(), bob, MAX - 5)
    const merged = PnCounter.merge(left, right)
    expect(PnCounter.exactValue(merged)).toBe(2n * BigInt(MAX) - 10n)
    expectMurmurError(() => PnCounter.value(merged), 'value_too_large')
    expectMurmurError(() => PnCounter.increment(merged, alice, 1), 'invalid_request')
    const back = PnCounter.decrement(merged, alice, MAX)
    expect(PnCounter.value(back)).toBe(MAX - 10)
  })

  it('asserts that amounts are positive safe integers', () => {
    for (const amount of [0, -1, 1.5, MAX + 1, Number.NaN]) {
      expect(() => PnCounter.increment(PnCounter.empty(), alice, amount)).toThrow(AssertionError)
      expect(() => GCounter.increment(GCounter.empty(), alice, amount)).toThrow(AssertionError)
    }
  })
})
