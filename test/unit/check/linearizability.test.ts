/**
 * Goal: the checker's verdicts on small histories whose answer is known by hand, its handling
 * of pending and failed operations, CAS semantics, per-key partitioning, the step budget, and
 * the explanation it gives for a violation.
 *
 * Method: hand-written timelines (times are arbitrary integers), checked against the CAS
 * register and key-value models with a generous budget unless the budget itself is tested.
 */

import { describe, expect, it } from 'vitest'
import { HistoryRecorder } from '../../../src/check/history.js'
import { checkLinearizability } from '../../../src/check/linearizability.js'
import {
  casRegisterModel,
  type KeyValueInput,
  type KeyValueOutput,
  keyValueModel,
  type RegisterInput,
  type RegisterOutput,
} from '../../../src/check/models.js'
import { SeededRandom } from '../../../src/env/random.js'
import { cas, pending, type RegisterOperation, read, simulateClients, write } from './builders.js'

const options = { stepsMax: 1_000_000 }

function verdictOf(history: readonly RegisterOperation[]): string {
  return checkLinearizability(casRegisterModel, history, options).verdict
}

describe('checkLinearizability on a register', () => {
  it('accepts the empty history', () => {
    expect(verdictOf([])).toBe('linearizable')
  })

  it('rejects a stale read after a completed write', () => {
    expect(verdictOf([write(0, 0, 10, 1), read(1, 20, 30, null)])).toBe('not-linearizable')
    const history = [write(0, 0, 1, 1), write(0, 2, 3, 2), read(1, 4, 5, 1)]
    expect(verdictOf(history)).toBe('not-linearizable')
  })

  it('accepts a read that sees the latest completed write', () => {
    expect(verdictOf([write(0, 0, 1, 1), write(0, 2, 3, 2), read(1, 4, 5, 2)])).toBe('linearizable')
  })

  it('linearizes concurrent operations in either order', () => {
    expect(verdictOf([write(0, 0, 10, 1), read(1, 5, 15, null)])).toBe('linearizable')
    expect(verdictOf([write(0, 0, 10, 1), read(1, 5, 15, 1)])).toBe('linearizable')
    // Two concurrent writes, then reads that agree on either winner.
    const writes = [write(0, 0, 10, 1), write(1, 0, 10, 2)]
    expect(verdictOf([...writes, read(2, 20, 30, 1), read(2, 40, 50, 1)])).toBe('linearizable')
    expect(verdictOf([...writes, read(2, 20, 30, 2), read(2, 40, 50, 2)])).toBe('linearizable')
    // But not both: the register cannot flip back without a write.
    expect(verdictOf([...writes, read(2, 20, 30, 1), read(2, 40, 50, 2)])).toBe('not-linearizable')
  })

  it('treats intervals as closed: touching operations are concurrent', () => {
    expect(verdictOf([write(0, 0, 10, 1), read(1, 10, 20, null)])).toBe('linearizable')
    expect(verdictOf([write(0, 0, 10, 1), read(1, 11, 20, null)])).toBe('not-linearizable')
  })

  it('lets a pending write take effect or not, but only after its call', () => {
    const lost = pending(0, 0, { kind: 'write', key: '', value: 1 })
    expect(verdictOf([lost, read(1, 10, 20, 1)])).toBe('linearizable')
    expect(verdictOf([lost, read(1, 10, 20, null)])).toBe('linearizable')
    expect(verdictOf([lost, read(1, 10, 20, null), read(1, 30, 40, 1)])).toBe('linearizable')
    // Once it has taken effect it cannot be undone.
    expect(verdictOf([lost, read(1, 10, 20, 1), read(1, 30, 40, null)])).toBe('not-linearizable')
    // It cannot take effect before it was called.
    const late = pending(0, 50, { kind: 'write', key: '', value: 1 })
    expect(verdictOf([late, read(1, 10, 20, 1)])).toBe('not-linearizable')
  })

  it('ignores a failed operation', () => {
    const recorder = new HistoryRecorder<RegisterInput, RegisterOutput>()
    recorder.invoke(0, { kind: 'write', key: '', value: 1 }, 0)
    recorder.fail(0, 10)
    recorder.invoke(1, { kind: 'read', key: '' }, 20)
    recorder.ok(1, { kind: 'read', value: null }, 30)
    const { operations, failedCount } = recorder.finish()
    expect(failedCount).toBe(1)
    expect(operations).toHaveLength(1)
    expect(verdictOf(operations)).toBe('linearizable')
  })

  it('applies compare-and-set semantics', () => {
    const written = write(0, 0, 10, 1)
    expect(verdictOf([written, cas(1, 20, 30, [1, 2], true), read(2, 40, 50, 2)])).toBe(
      'linearizable',
    )
    // A successful CAS must find its expected value, and a failed one must not.
    expect(verdictOf([written, cas(1, 20, 30, [3, 2], true)])).toBe('not-linearizable')
    expect(verdictOf([written, cas(1, 20, 30, [1, 2], false)])).toBe('not-linearizable')
    expect(verdictOf([written, cas(1, 20, 30, [3, 2], false), read(2, 40, 50, 1)])).toBe(
      'linearizable',
    )
    // A CAS never matches a register that was never written.
    expect(verdictOf([cas(1, 20, 30, [1, 2], true)])).toBe('not-linearizable')
    // A read after a successful CAS cannot see the old value.
    expect(verdictOf([written, cas(1, 20, 30, [1, 2], true), read(2, 40, 50, 1)])).toBe(
      'not-linearizable',
    )
  })

  it('applies a pending CAS only when its expected value is there', () => {
    const swap = pending(1, 20, { kind: 'cas', key: '', expected: 1, value: 2 })
    expect(verdictOf([write(0, 0, 10, 1), swap, read(2, 40, 50, 2)])).toBe('linearizable')
    expect(verdictOf([write(0, 0, 10, 3), swap, read(2, 40, 50, 2)])).toBe('not-linearizable')
  })
})

describe('checkLinearizability results', () => {
  it('explains a violation with the longest prefix and the operation left out', () => {
    const history = [write(0, 0, 10, 1), write(0, 20, 30, 2), read(1, 40, 50, 1)]
    const result = checkLinearizability(casRegisterModel, history, options)
    expect(result.verdict).toBe('not-linearizable')
    const violation = result.violation
    expect(violation?.partitionIndex).toBe(0)
    expect(violation?.partition).toHaveLength(3)
    expect(violation?.longestPrefix).toEqual([history[0], history[1]])
    expect(violation?.stateAfterPrefix).toBe('2')
    expect(violation?.blockingOperation).toBe(history[2])
    expect(violation?.description).toContain('read() -> 1')
    expect(violation?.description).toContain('state after the prefix: 2')
  })

  it('answers unknown when the budget runs out, and counts its steps', () => {
    const history: RegisterOperation[] = []
    for (let index = 0; index < 12; index++) history.push(write(index, 0, 100, index))
    history.push(read(99, 200, 300, 'never written'))
    const small = checkLinearizability(casRegisterModel, history, { stepsMax: 50 })
    expect(small.verdict).toBe('unknown')
    expect(small.stepsCount).toBe(50)
    expect(small.unknownPartitionIndexes).toEqual([0])
    expect(small.violation).toBeUndefined()
    const large = checkLinearizability(casRegisterModel, history, { stepsMax: 10_000_000 })
    expect(large.verdict).toBe('not-linearizable')
    expect(large.stepsCount).toBeGreaterThan(50)
  })

  it('reports a violation in one partition even when another is unknown', () => {
    const history: RegisterOperation[] = []
    for (let index = 0; index < 12; index++) history.push(write(index, 0, 100, index, 'wide'))
    history.push(read(99, 200, 300, 'never written', 'wide'))
    history.push(write(0, 400, 410, 1, 'small'), read(1, 420, 430, null, 'small'))
    const result = checkLinearizability(casRegisterModel, history, { stepsMax: 50 })
    expect(result.partitionsCount).toBe(2)
    expect(result.verdict).toBe('not-linearizable')
    expect(result.violation?.partitionIndex).toBe(1)
  })
})

describe('checkLinearizability on long histories', () => {
  // Concurrency is bounded by the clients, so the search should need a few steps per operation
  // and its memo should hold only the window of concurrent operations per entry. Pending
  // operations stay candidates forever, which is what makes long histories hard.
  const operationsCount = 20_000
  const history = simulateClients(new SeededRandom(7), {
    operationsCount,
    clientsCount: 5,
    pendingProbability: 0.02,
  })

  it('checks a 20,000-operation history in steps linear in its length', () => {
    const result = checkLinearizability(casRegisterModel, history, options)
    expect(result.verdict).toBe('linearizable')
    expect(result.stepsCount).toBeLessThan(operationsCount * 10)
  })

  it('refutes it once a read near the end returns a value never written', () => {
    const index = history.findLastIndex(
      (operation) => operation.status === 'completed' && operation.input.kind === 'read',
    )
    const original = history[index]
    if (original?.status !== 'completed') throw new Error('the history has a completed read')
    const mutated = history.with(index, { ...original, output: { kind: 'read', value: 'never' } })
    const result = checkLinearizability(casRegisterModel, mutated, { stepsMax: 10_000_000 })
    expect(result.verdict).toBe('not-linearizable')
    expect(result.violation?.blockingOperation).toBe(mutated[index])
  })
})

describe('checkLinearizability on the key-value model', () => {
  type KeyValueOperation = {
    status: 'completed'
    clientId: number
    input: KeyValueInput
    output: KeyValueOutput
    callTime: number
    returnTime: number
  }
  function operation(
    input: KeyValueInput,
    output: KeyValueOutput,
    callTime: number,
    returnTime: number,
  ): KeyValueOperation {
    return { status: 'completed', clientId: callTime, input, output, callTime, returnTime }
  }

  it('combines several pending appends, in any order, to explain a read', () => {
    const pendingAppend = (clientId: number, value: string) => ({
      status: 'pending' as const,
      clientId,
      input: { kind: 'append' as const, key: 'k', value },
      callTime: 0,
    })
    const get = (value: string) =>
      operation({ kind: 'get', key: 'k' }, { kind: 'get', value }, 10, 20)
    const appends = [pendingAppend(0, 'a'), pendingAppend(1, 'a'), pendingAppend(2, 'b')]
    for (const value of ['aa', 'aab', 'aba', 'baa', 'ab', 'b', '']) {
      expect(checkLinearizability(keyValueModel, [...appends, get(value)], options).verdict).toBe(
        'linearizable',
      )
    }
    for (const value of ['aaa', 'bb', 'aabb']) {
      expect(checkLinearizability(keyValueModel, [...appends, get(value)], options).verdict).toBe(
        'not-linearizable',
      )
    }
  })

  it('splits the history per key and checks appends and puts', () => {
    const history = [
      operation({ kind: 'append', key: 'a', value: 'x' }, { kind: 'append' }, 0, 10),
      operation({ kind: 'put', key: 'b', value: 'p' }, { kind: 'put' }, 0, 10),
      operation({ kind: 'append', key: 'a', value: 'y' }, { kind: 'append' }, 20, 30),
      operation({ kind: 'get', key: 'a' }, { kind: 'get', value: 'xy' }, 40, 50),
      operation({ kind: 'get', key: 'b' }, { kind: 'get', value: 'p' }, 40, 50),
      operation({ kind: 'get', key: 'c' }, { kind: 'get', value: '' }, 40, 50),
    ]
    const result = checkLinearizability(keyValueModel, history, options)
    expect(result.verdict).toBe('linearizable')
    expect(result.partitionsCount).toBe(3)
    const reordered = history.with(
      3,
      operation({ kind: 'get', key: 'a' }, { kind: 'get', value: 'yx' }, 40, 50),
    )
    const violation = checkLinearizability(keyValueModel, reordered, options).violation
    expect(violation?.partitionIndex).toBe(0)
    expect(violation?.description).toContain('get("a") -> "yx"')
  })
})
