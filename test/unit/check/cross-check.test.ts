/**
 * Goal: the checker's verdict equals that of an exhaustive search, for both models, on small
 * histories full of concurrency and pending operations, where its pruning rules (memoization,
 * dominance between pending sets, and the order it imposes on pending operations) could go
 * wrong.
 *
 * Method: fast-check generates histories of up to seven operations over a tiny value domain,
 * with arbitrary outputs (so both verdicts are common) and one operation in three pending. The
 * reference tries every subset of the pending operations and every order of the chosen
 * operations that respects real time, stepping the same model.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Operation } from '../../../src/check/history.js'
import { checkLinearizability } from '../../../src/check/linearizability.js'
import {
  casRegisterModel,
  type KeyValueInput,
  type KeyValueOutput,
  keyValueModel,
  type Model,
  type RegisterInput,
  type RegisterOutput,
} from '../../../src/check/models.js'

const options = { stepsMax: 1_000_000 }

/** Whether `first` must precede `second`: it returned strictly before `second` was called. */
function precedes<I, O>(first: Operation<I, O>, second: Operation<I, O>): boolean {
  return first.status === 'completed' && first.returnTime < second.callTime
}

/** Tries every order of `remaining` that respects real time. */
function someOrder<S, I, O>(
  model: Model<S, I, O>,
  state: S,
  remaining: readonly Operation<I, O>[],
): boolean {
  if (remaining.length === 0) return true
  return remaining.some((candidate, index) => {
    const others = remaining.filter((_, other) => other !== index)
    if (others.some((other) => precedes(other, candidate))) return false
    const output = candidate.status === 'completed' ? candidate.output : undefined
    const next = model.step(state, candidate.input, output)
    return next.ok && someOrder(model, next.state, others)
  })
}

function bruteForce<S, I, O>(model: Model<S, I, O>, history: readonly Operation<I, O>[]): boolean {
  const completed = history.filter((operation) => operation.status === 'completed')
  const pendings = history.filter((operation) => operation.status === 'pending')
  for (let mask = 0; mask < 1 << pendings.length; mask++) {
    const included = pendings.filter((_, index) => (mask >> index) & 1)
    if (someOrder(model, model.init(), [...completed, ...included])) return true
  }
  return false
}

/** An operation over [callTime, callTime + length], pending one time in three. */
function operationArbitrary<I, O>(
  inputArbitrary: fc.Arbitrary<I>,
  outputArbitrary: (input: I) => fc.Arbitrary<O>,
): fc.Arbitrary<Operation<I, O>> {
  return fc
    .record({
      clientId: fc.nat({ max: 3 }),
      input: inputArbitrary,
      callTime: fc.integer({ min: 0, max: 20 }),
      length: fc.integer({ min: 0, max: 12 }),
      isPending: fc.integer({ min: 0, max: 2 }).map((draw) => draw === 0),
    })
    .chain(({ clientId, input, callTime, length, isPending }) =>
      outputArbitrary(input).map(
        (output): Operation<I, O> =>
          isPending
            ? { status: 'pending', clientId, input, callTime }
            : {
                status: 'completed',
                clientId,
                input,
                output,
                callTime,
                returnTime: callTime + length,
              },
      ),
    )
}

/** Checks many generated histories against the exhaustive search; both verdicts must occur. */
function crossCheck<S, I, O>(
  model: Model<S, I, O>,
  operation: fc.Arbitrary<Operation<I, O>>,
): void {
  const verdictCounts = { linearizable: 0, 'not-linearizable': 0 }
  fc.assert(
    fc.property(fc.array(operation, { minLength: 0, maxLength: 7 }), (history) => {
      const expected = bruteForce(model, history) ? 'linearizable' : 'not-linearizable'
      expect(checkLinearizability(model, history, options).verdict).toBe(expected)
      verdictCounts[expected]++
    }),
    { numRuns: 1500 },
  )
  expect(verdictCounts.linearizable).toBeGreaterThan(150)
  expect(verdictCounts['not-linearizable']).toBeGreaterThan(150)
}

const registerValue = fc.integer({ min: 1, max: 2 })

const registerOperation = operationArbitrary<RegisterInput, RegisterOutput>(
  fc.oneof(
    fc.constant<RegisterInput>({ kind: 'read', key: '' }),
    registerValue.map((value): RegisterInput => ({ kind: 'write', key: '', value })),
    fc
      .tuple(registerValue, registerValue)
      .map(([expected, value]): RegisterInput => ({ kind: 'cas', key: '', expected, value })),
  ),
  (input) => {
    switch (input.kind) {
      case 'read':
        return fc
          .option(registerValue, { nil: null })
          .map((value): RegisterOutput => ({ kind: 'read', value }))
      case 'write':
        return fc.constant<RegisterOutput>({ kind: 'write' })
      case 'cas':
        return fc.boolean().map((swapped): RegisterOutput => ({ kind: 'cas', swapped }))
    }
  },
)

const keyValueText = fc.constantFrom('a', 'b')

const keyValueOperation = operationArbitrary<KeyValueInput, KeyValueOutput>(
  fc.oneof(
    fc.constant<KeyValueInput>({ kind: 'get', key: 'k' }),
    keyValueText.map((value): KeyValueInput => ({ kind: 'put', key: 'k', value })),
    keyValueText.map((value): KeyValueInput => ({ kind: 'append', key: 'k', value })),
  ),
  (input) =>
    input.kind === 'get'
      ? fc
          .constantFrom('', 'a', 'b', 'ab', 'ba', 'aa', 'bab')
          .map((value): KeyValueOutput => ({ kind: 'get', value }))
      : fc.constant<KeyValueOutput>({ kind: input.kind }),
)

describe('cross-check against exhaustive search', () => {
  it('agrees on CAS register histories', () => {
    crossCheck(casRegisterModel, registerOperation)
  })

  it('agrees on key-value histories', () => {
    crossCheck(keyValueModel, keyValueOperation)
  })
})
