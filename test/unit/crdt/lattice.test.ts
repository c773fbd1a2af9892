/**
 * Goal: every CRDT type is a join-semilattice whose updates are inflations and whose deltas
 * are exact, and every state survives the wire and disk formats.
 *
 * Method: fast-check builds worlds of three replicas that update, merge and exchange deltas at
 * random (worlds.ts); the laws are checked on pairs and triples of states drawn from one
 * world's history, on every recorded update step, and after quiescence. Equality is checked
 * both with the type's `equals` and on the canonical encodings, so a lenient `equals` cannot
 * hide a structural difference.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decode as decodeMsgpack, encode as encodeMsgpack } from '../../../src/wire/codec.js'
import {
  type CrdtModule,
  gCounterType,
  gSetType,
  orswotType,
  pnCounterType,
  quiesce,
  replicatedCounterType,
  replicatedSetType,
  type TypeUnderTest,
  worldArbitrary,
} from './worlds.js'

const RUNS = 100

function expectSame<S>(module: CrdtModule<S>, actual: S, expected: S): void {
  expect(module.encode(actual)).toEqual(module.encode(expected))
  expect(module.equals(actual, expected)).toBe(true)
}

function pick<S>(states: readonly S[], index: number): S {
  return states[index % states.length] as S
}

function describeLattice<S, Operation>(type: TypeUnderTest<S, Operation>): void {
  const { module } = type
  const worlds = worldArbitrary(type)

  describe(`${type.name} lattice laws`, () => {
    it('merge is commutative', () => {
      fc.assert(
        fc.property(worlds, fc.nat(), fc.nat(), (world, first, second) => {
          const left = pick(world.history, first)
          const right = pick(world.history, second)
          expectSame(module, module.merge(left, right), module.merge(right, left))
        }),
        { numRuns: RUNS },
      )
    })

    it('merge is associative', () => {
      fc.assert(
        fc.property(worlds, fc.nat(), fc.nat(), fc.nat(), (world, first, second, third) => {
          const [a, b, c] = [first, second, third].map((index) => pick(world.history, index)) as [
            S,
            S,
            S,
          ]
          expectSame(
            module,
            module.merge(module.merge(a, b), c),
            module.merge(a, module.merge(b, c)),
          )
        }),
        { numRuns: RUNS },
      )
    })

    it('merge is idempotent', () => {
      fc.assert(
        fc.property(worlds, fc.nat(), fc.nat(), (world, first, second) => {
          const a = pick(world.history, first)
          const joined = module.merge(a, pick(world.history, second))
          expectSame(module, module.merge(a, a), a)
          expectSame(module, module.merge(a, joined), joined)
        }),
        { numRuns: RUNS },
      )
    })

    it('merge is an upper bound and every update is an inflation', () => {
      fc.assert(
        fc.property(worlds, fc.nat(), fc.nat(), (world, first, second) => {
          const a = pick(world.history, first)
          const b = pick(world.history, second)
          const joined = module.merge(a, b)
          expect(module.lessOrEqual(a, joined)).toBe(true)
          expect(module.lessOrEqual(b, joined)).toBe(true)
          for (const step of world.steps) {
            expect(module.lessOrEqual(step.before, step.after)).toBe(true)
          }
        }),
        { numRuns: RUNS },
      )
    })

    it('every delta merged into its source equals the full update', () => {
      fc.assert(
        fc.property(worlds, (world) => {
          for (const step of world.steps) {
            expectSame(module, module.merge(step.before, step.delta), step.after)
            expect(module.lessOrEqual(step.delta, step.after)).toBe(true)
          }
        }),
        { numRuns: RUNS },
      )
    })

    it('encode and decode round-trip through msgpack, and byteSize is exact', () => {
      fc.assert(
        fc.property(worlds, (world) => {
          for (const state of [...world.history, ...world.deltas]) {
            const bytes = encodeMsgpack(module.encode(state))
            expect(module.byteSize(state)).toBe(bytes.length)
            for (const code of ['invalid_request', 'corrupt_record'] as const) {
              expectSame(module, module.decode(decodeMsgpack(bytes), code), state)
            }
          }
        }),
        { numRuns: RUNS },
      )
    })

    it('replicas converge after random interleavings and pairwise merges', () => {
      fc.assert(
        fc.property(worlds, fc.nat(), (world, rotation) => {
          const converged = quiesce(module, world.replicas)
          for (const replica of converged) expectSame(module, replica, converged[0] as S)
          // Joining in another order reaches the same state (riak_dt's prop_converge).
          const rotated = world.replicas.map((_, index) => pick(world.replicas, index + rotation))
          const joined = rotated.reduceRight((left, right) => module.merge(right, left))
          expectSame(module, joined, converged[0] as S)
        }),
        { numRuns: RUNS },
      )
    })
  })
}

describeLattice(gCounterType)
describeLattice(pnCounterType)
describeLattice(gSetType)
describeLattice(orswotType)
describeLattice(replicatedCounterType)
describeLattice(replicatedSetType)
