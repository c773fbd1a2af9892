/**
 * Goal: the models' contracts that the search relies on beyond `step`: equal states hash
 * equally however they were reached, partitions keep every operation, and `dropUnobservable`
 * removes exactly the pending operations whose effect nothing could observe.
 *
 * Method: fast-check builds key-value states along random operation sequences and compares
 * them with states built by one put of the same text; hand-written histories pin down what
 * `dropUnobservable` keeps for each model.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Operation } from '../../../src/check/history.js'
import {
  casRegisterModel,
  type KeyValueInput,
  type KeyValueOutput,
  type KeyValueState,
  keyValueModel,
} from '../../../src/check/models.js'
import { cas, pending, read, write } from './builders.js'

function apply(state: KeyValueState, input: KeyValueInput): KeyValueState {
  const next = keyValueModel.step(state, input, undefined)
  if (!next.ok) throw new Error('a pending put or append is always legal')
  return next.state
}

describe('keyValueModel', () => {
  it('hashes equal strings equally, however they were built', () => {
    const piece = fc.string({ maxLength: 4 })
    const step = fc.record({ append: fc.boolean(), value: piece })
    fc.assert(
      fc.property(fc.array(step, { maxLength: 12 }), (steps) => {
        let state = keyValueModel.init()
        for (const { append, value } of steps) {
          state = apply(state, { kind: append ? 'append' : 'put', key: 'k', value })
        }
        const direct = apply(keyValueModel.init(), { kind: 'put', key: 'k', value: state.value })
        expect(keyValueModel.equal(state, direct)).toBe(true)
        expect(keyValueModel.hash(state)).toBe(keyValueModel.hash(direct))
      }),
      { numRuns: 500 },
    )
  })

  it('drops pending gets and writes whose text no get returned', () => {
    const operation = (
      input: KeyValueInput,
      output: KeyValueOutput | undefined,
    ): Operation<KeyValueInput, KeyValueOutput> =>
      output === undefined
        ? { status: 'pending', clientId: 0, input, callTime: 0 }
        : { status: 'completed', clientId: 1, input, output, callTime: 0, returnTime: 1 }
    const seen = operation({ kind: 'append', key: 'k', value: 'x1' }, undefined)
    const unseen = operation({ kind: 'append', key: 'k', value: 'x2' }, undefined)
    const unseenPut = operation({ kind: 'put', key: 'k', value: 'p' }, undefined)
    const pendingGet = operation({ kind: 'get', key: 'k' }, undefined)
    const get = operation({ kind: 'get', key: 'k' }, { kind: 'get', value: 'ax1b' })
    const kept = keyValueModel.dropUnobservable([seen, unseen, unseenPut, pendingGet, get])
    expect(kept).toEqual([seen, get])
  })
})

describe('casRegisterModel.dropUnobservable', () => {
  const readOne = read(1, 10, 20, 1)
  const pendingWrites = [
    pending(0, 0, { kind: 'write', key: '', value: 1 }),
    pending(0, 0, { kind: 'write', key: '', value: 2 }),
    pending(0, 0, { kind: 'cas', key: '', expected: 7, value: 3 }),
    pending(0, 0, { kind: 'read', key: '' }),
  ]

  it('keeps pending writes whose value is read or expected, and every completed operation', () => {
    const history = [...pendingWrites, readOne, write(2, 0, 5, 3), cas(3, 0, 5, [7, 8], true)]
    const kept = casRegisterModel.dropUnobservable(history)
    // Value 1 is read. Values 2 and 3 are neither read nor expected by a CAS (a completed
    // write of 3 does not observe the pending CAS that would write 3).
    expect(kept).toEqual([pendingWrites[0], readOne, history[5], history[6]])
  })

  it('keeps every pending write once some CAS found another value', () => {
    const failed = cas(3, 0, 5, [7, 8], false)
    const kept = casRegisterModel.dropUnobservable([...pendingWrites, readOne, failed])
    expect(kept).toEqual([...pendingWrites.slice(0, 3), readOne, failed])
  })
})
