/**
 * Goal: decoding untrusted input (a peer's message or a record read from disk) either yields
 * a canonical state or throws a MurmurError with the caller's code; it never throws anything
 * else, never asserts, and never accepts a state that breaks the types' invariants.
 *
 * Method: fast-check feeds every decoder arbitrary values and valid encodings with one node
 * replaced by an arbitrary value; whatever decodes must re-encode and decode to an equal
 * state. Hand-made encodings pin each structural fault the ORSWOT decoder must refuse.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as GCounter from '../../../src/crdt/g-counter.js'
import * as GSet from '../../../src/crdt/g-set.js'
import { crdtEquals, decodeCrdt, encodeCrdt } from '../../../src/crdt/index.js'
import * as Orswot from '../../../src/crdt/orswot.js'
import * as PnCounter from '../../../src/crdt/pn-counter.js'
import type { DecodeErrorCode } from '../../../src/crdt/validation.js'
import { isMurmurError } from '../../../src/env/errors.js'
import { expectMurmurError } from './assertions.js'
import {
  ACTORS,
  type CrdtModule,
  gCounterType,
  gSetType,
  orswotType,
  pnCounterType,
  type TypeUnderTest,
  worldArbitrary,
} from './worlds.js'

const RUNS = 300
const CODES: readonly DecodeErrorCode[] = ['invalid_request', 'corrupt_record']

/** Decodes `raw`; a success must round-trip, a failure must be a MurmurError with `code`. */
function expectDecodesSafely<S>(module: CrdtModule<S>, raw: unknown, code: DecodeErrorCode): void {
  let state: S
  try {
    state = module.decode(raw, code)
  } catch (error) {
    expect(isMurmurError(error, code)).toBe(true)
    return
  }
  const again = module.decode(module.encode(state), code)
  expect(module.equals(again, state)).toBe(true)
  expect(module.encode(again)).toEqual(module.encode(state))
}

/** `value` with the node at `path` (indexes into nested arrays, taken modulo) replaced. */
function replaceNode(value: unknown, path: readonly number[], replacement: unknown): unknown {
  const [head, ...rest] = path
  if (head === undefined || !Array.isArray(value) || value.length === 0) return replacement
  const index = head % value.length
  const copy = [...value]
  copy[index] = replaceNode(value[index], rest, replacement)
  return copy
}

const crdtModule: CrdtModule<ReturnType<typeof decodeCrdt>> = {
  empty: () => ({ type: 'counter', state: PnCounter.empty() }),
  merge: (left) => left,
  equals: crdtEquals,
  lessOrEqual: crdtEquals,
  encode: encodeCrdt,
  decode: decodeCrdt,
  byteSize: () => 0,
}

function describeDecoder<S, Operation>(type: TypeUnderTest<S, Operation>): void {
  const { module } = type
  describe(`${type.name} decode`, () => {
    it('refuses arbitrary values with the given code or decodes them canonically', () => {
      fc.assert(
        fc.property(fc.anything(), fc.constantFrom(...CODES), (raw, code) => {
          expectDecodesSafely(module, raw, code)
        }),
        { numRuns: RUNS },
      )
    })

    it('refuses corrupted encodings with the given code or decodes them canonically', () => {
      fc.assert(
        fc.property(
          worldArbitrary(type, 20),
          fc.nat(),
          fc.array(fc.nat(), { minLength: 1, maxLength: 5 }),
          fc.oneof(fc.anything(), fc.integer(), fc.string(), fc.constant([])),
          fc.constantFrom(...CODES),
          (world, stateIndex, path, replacement, code) => {
            const state = world.history[stateIndex % world.history.length] as S
            const corrupted = replaceNode(module.encode(state), path, replacement)
            expectDecodesSafely(module, corrupted, code)
            expectDecodesSafely(crdtModule, [2, corrupted], code)
            expectDecodesSafely(crdtModule, [1, corrupted], code)
          },
        ),
        { numRuns: RUNS },
      )
    })
  })
}

describeDecoder(gCounterType)
describeDecoder(pnCounterType)
describeDecoder(gSetType)
describeDecoder(orswotType)

describe('decode refusals', () => {
  const [alice, bob] = ACTORS
  const clock = [[[alice, 2]], []]

  const faults: Array<[string, unknown]> = [
    ['a dot the clock has not seen', [clock, [['x', 0, 3]], []]],
    [
      'a dot named by two elements',
      [
        clock,
        [
          ['x', 0, 1],
          ['y', 0, 1],
        ],
        [],
      ],
    ],
    ['a dot named twice by one element', [clock, [['x', 0, 1, 0, 1]], []]],
    ['an element without dots', [clock, [['x']], []]],
    [
      'an element listed twice',
      [
        clock,
        [
          ['x', 0, 1],
          ['x', 0, 2],
        ],
        [],
      ],
    ],
    ['an actor index out of range', [clock, [['x', 1, 1]], []]],
    ['a fractional actor index', [clock, [['x', 0.5, 1]], []]],
    ['a zero counter', [clock, [['x', 0, 0]], []]],
    ['a lone surrogate element', [clock, [['\ud800', 0, 1]], []]],
    ['an element beyond the byte bound', [clock, [['é'.repeat(40_000), 0, 1]], []]],
    [
      'a deferred element listed twice',
      [
        clock,
        [],
        [
          ['x', [[bob, 1]]],
          ['x', [[bob, 2]]],
        ],
      ],
    ],
    ['a deferred remove without a context', [clock, [], [['x']]]],
    [
      'a repeated clock actor',
      [
        [
          [
            [alice, 1],
            [alice, 2],
          ],
          [],
        ],
        [],
        [],
      ],
    ],
    ['a four-part state', [clock, [], [], []]],
  ]

  for (const [fault, raw] of faults) {
    it(`refuses a set with ${fault}`, () => {
      for (const code of CODES) expectMurmurError(() => Orswot.decode(raw, code), code)
    })
  }

  it('accepts a non-compact clock and a covered deferred remove by normalizing them', () => {
    const raw = [[[[alice, 1]], [[alice, 2]]], [['x', 0, 2]], [['x', [[alice, 2]]]]]
    const state = Orswot.decode(raw, 'invalid_request')
    expect(Orswot.value(state)).toEqual([])
    expect(state.deferred.size).toBe(0)
    expect(state.clock.cloud).toEqual([])
  })

  it('refuses malformed counters and grow-only sets', () => {
    const counterFaults = [
      [[alice, -1]],
      [[alice, 1.5]],
      [[alice, 2 ** 53]],
      [
        [alice, 1],
        [alice, 2],
      ],
    ]
    for (const raw of counterFaults) {
      expectMurmurError(() => GCounter.decode(raw, 'corrupt_record'), 'corrupt_record')
      expectMurmurError(() => PnCounter.decode([[], raw], 'corrupt_record'), 'corrupt_record')
    }
    expectMurmurError(() => PnCounter.decode([[]], 'invalid_request'), 'invalid_request')
    expectMurmurError(() => GSet.decode(['a', 'a'], 'invalid_request'), 'invalid_request')
    expectMurmurError(() => decodeCrdt([3, []], 'invalid_request'), 'invalid_request')
  })
})
