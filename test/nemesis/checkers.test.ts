/**
 * Goal: the nemesis checkers flag exactly the losses they are meant to find, so a clean
 * nemesis run means something. Method: hand-written client records (registers, counters, set
 * elements) with final states that do and do not satisfy each rule.
 */

import { describe, expect, it } from 'vitest'
import {
  checkCounter,
  checkRegister,
  checkSetElement,
  expectedMembership,
  registerDecided,
} from './checkers.js'
import type { RegisterKey, RegisterWrite, SetElement, SetUpdate } from './workloads.js'

function register(writes: RegisterWrite[]): RegisterKey {
  const acknowledged = writes.filter((write) => write.outcome === 'ok')
  return {
    keyspace: 'ev',
    key: 'k',
    writes,
    context: undefined,
    lastAcknowledged: acknowledged.at(-1),
  }
}

const put = (value: string, outcome: RegisterWrite['outcome'] = 'ok'): RegisterWrite => ({
  kind: 'put',
  value,
  outcome,
})
const remove = (outcome: RegisterWrite['outcome'] = 'ok'): RegisterWrite => ({
  kind: 'delete',
  value: null,
  outcome,
})

function element(updates: SetUpdate[]): SetElement {
  return { key: 's', element: 'e', updates, addContext: undefined }
}

describe('register checker', () => {
  it('accepts the last acknowledged value and rejects its loss', () => {
    const state = register([put('a'), put('b')])
    expect(checkRegister(state, ['b'])).toEqual([])
    expect(checkRegister(state, [])[0]?.check).toBe('acknowledged-write-present')
    expect(checkRegister(state, ['a', 'b'])[0]?.check).toBe('no-resurrection')
  })

  it('rejects an overwritten value that comes back, also beside the last one', () => {
    const state = register([put('a'), put('b'), put('c')])
    expect(checkRegister(state, ['a', 'c'])[0]?.check).toBe('no-resurrection')
    expect(checkRegister(state, ['a'])[0]?.check).toBe('no-resurrection')
    expect(checkRegister(state, ['a', 'c'])[0]?.knownIssue).toBeUndefined()
  })

  it('keeps deleted keys deleted unless an unknown put may have landed', () => {
    expect(checkRegister(register([put('a'), remove()]), [])).toEqual([])
    expect(checkRegister(register([put('a'), remove()]), ['a'])[0]?.check).toBe(
      'deleted-stays-deleted',
    )
    expect(checkRegister(register([put('a'), remove(), put('c', 'unknown')]), ['c'])).toEqual([])
  })

  it('lets an unknown write after the last acknowledged one supersede it, never a failed one', () => {
    expect(checkRegister(register([put('a'), put('b', 'unknown')]), ['b'])).toEqual([])
    expect(checkRegister(register([put('a'), put('b', 'fail')]), ['b'])).toHaveLength(2)
  })
})

describe('register coverage', () => {
  it('counts a key as decided only when no unknown outcome leaves its final state open', () => {
    expect(registerDecided(register([put('a', 'unknown'), put('b')]))).toBe(true)
    expect(registerDecided(register([put('a'), put('b', 'unknown')]))).toBe(false)
    expect(registerDecided(register([put('a', 'unknown'), remove()]))).toBe(false)
    expect(registerDecided(register([put('a'), remove()]))).toBe(true)
    expect(registerDecided(register([put('a', 'fail')]))).toBe(false)
  })
})

describe('counter checker', () => {
  it('bounds the final value by the acknowledged sum and the unknown updates', () => {
    const tally = { key: 'k', acknowledged: 10, unknownIncrements: 3, unknownDecrements: 2 }
    expect(checkCounter(tally, 8)).toEqual([])
    expect(checkCounter(tally, 13)).toEqual([])
    expect(checkCounter(tally, 7)).toHaveLength(1)
    expect(checkCounter({ ...tally, unknownIncrements: 0, unknownDecrements: 0 }, 11)).toHaveLength(
      1,
    )
  })
})

describe('set checker', () => {
  it('demands acknowledged adds present and acknowledged removes absent', () => {
    const added = element([{ kind: 'add', outcome: 'ok' }])
    expect(checkSetElement(added, new Set(['e']))).toEqual([])
    expect(checkSetElement(added, new Set())[0]?.check).toBe('set-add-wins')
    const removed = element([
      { kind: 'add', outcome: 'ok' },
      { kind: 'remove', outcome: 'ok' },
    ])
    expect(checkSetElement(removed, new Set(['e']))[0]?.check).toBe('set-remove-holds')
  })

  it('holds a remove that saw a retried add like any other', () => {
    const retried = element([
      { kind: 'add', outcome: 'ok', retried: true },
      { kind: 'remove', outcome: 'ok' },
    ])
    const [violation] = checkSetElement(retried, new Set(['e']))
    expect(violation?.check).toBe('set-remove-holds')
    expect(violation?.knownIssue).toBeUndefined()
    expect(checkSetElement(retried, new Set())).toEqual([])
  })

  it('leaves elements with unknown outcomes that could explain either state undecided', () => {
    expect(expectedMembership(element([{ kind: 'add', outcome: 'unknown' }]))).toBeUndefined()
    expect(
      expectedMembership(
        element([
          { kind: 'add', outcome: 'ok' },
          { kind: 'remove', outcome: 'unknown' },
        ]),
      ),
    ).toBeUndefined()
    expect(expectedMembership(element([{ kind: 'add', outcome: 'fail' }]))).toBe(false)
  })
})
