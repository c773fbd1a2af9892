/**
 * Sequential specifications for the linearizability checker, as pure step functions.
 *
 * A model says what one operation does to the object's state when it takes effect at one
 * instant: `step(state, input, output)` answers whether `output` is a legal result in `state`
 * and, if so, the state afterwards. A pending operation has no output (`undefined`): any
 * outcome consistent with its input is legal. `partition` splits a history into independent
 * sub-histories (P-compositionality: a history of a key-value store is linearizable exactly
 * when the sub-history of every key is), `dropUnobservable` removes pending operations that
 * cannot matter, and `equal`/`hash` let the search memoize states.
 *
 * Models never mutate a state they were given; states are compared with `equal`, never by
 * identity.
 *
 * Two models are provided:
 * - `casRegisterModel`: a family of registers, one per key, with read, write and
 *   compare-and-set. A register starts absent (`null`), so a read may return nil until the
 *   first write. A completed CAS reports whether it swapped, so a CAS that found another value
 *   is an observation too.
 * - `keyValueModel`: a string per key with get, put and append; an absent key reads as "".
 *   Its state carries an incrementally maintained hash, since appended strings grow long.
 */

import { assert, unreachable } from '../env/assert.js'
import type { History, Operation } from './history.js'

export type StepResult<S> = { readonly ok: true; readonly state: S } | { readonly ok: false }

export interface Model<S, I, O> {
  readonly name: string
  /** The state of a fresh object (of every key, for keyed models). */
  init(): S
  /** Applies one operation; `output` is undefined for a pending operation. */
  step(state: S, input: I, output: O | undefined): StepResult<S>
  /** Independent sub-histories; every operation lands in exactly one of them. */
  partition(operations: History<I, O>): History<I, O>[]
  /**
   * The operations of one partition without the pending ones that no linearization needs,
   * because no other operation there could ever observe their effect; leaving those out
   * changes no verdict and spares the search their placements. Completed operations all stay.
   */
  dropUnobservable(operations: History<I, O>): History<I, O>
  equal(left: S, right: S): boolean
  /** A 32-bit hash consistent with `equal`. */
  hash(state: S): number
  describeOperation(input: I, output: O | undefined): string
  describeState(state: S): string
}

const rejected: StepResult<never> = { ok: false }

/** Splits operations by key, keeping each key's operations in history order. */
export function partitionByKey<I extends { readonly key: string }, O>(
  operations: History<I, O>,
): History<I, O>[] {
  const partitions = new Map<string, Operation<I, O>[]>()
  for (const operation of operations) {
    const partition = partitions.get(operation.input.key)
    if (partition === undefined) partitions.set(operation.input.key, [operation])
    else partition.push(operation)
  }
  return [...partitions.values()]
}

/** FNV-1a over UTF-16 code units, then a final avalanche so nearby strings spread out. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193)
  }
  return avalanche(hash)
}

/** The murmur3 finalizer: every input bit affects every output bit. */
export function avalanche(value: number): number {
  let hash = value ^ (value >>> 16)
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  return (hash ^ (hash >>> 16)) >>> 0
}

// ---------------------------------------------------------------------------------------------
// CAS register

export type RegisterValue = number | string

/** A register's state: its value, or null while it was never written. */
export type RegisterState = RegisterValue | null

export type RegisterInput =
  | { readonly kind: 'read'; readonly key: string }
  | { readonly kind: 'write'; readonly key: string; readonly value: RegisterValue }
  | {
      readonly kind: 'cas'
      readonly key: string
      readonly expected: RegisterValue
      readonly value: RegisterValue
    }

export type RegisterOutput =
  | { readonly kind: 'read'; readonly value: RegisterState }
  | { readonly kind: 'write' }
  | { readonly kind: 'cas'; readonly swapped: boolean }

function stepRegister(
  state: RegisterState,
  input: RegisterInput,
  output: RegisterOutput | undefined,
): StepResult<RegisterState> {
  assert(output === undefined || output.kind === input.kind, 'output kind differs from input')
  switch (input.kind) {
    case 'read':
      if (output === undefined) return { ok: true, state }
      assert(output.kind === 'read')
      return output.value === state ? { ok: true, state } : rejected
    case 'write':
      return { ok: true, state: input.value }
    case 'cas': {
      const matches = state === input.expected
      if (output !== undefined) {
        assert(output.kind === 'cas')
        if (output.swapped !== matches) return rejected
      }
      return { ok: true, state: matches ? input.value : state }
    }
    default:
      return unreachable(input)
  }
}

/** Marks an operation that never answered. */
function unanswered(output: unknown): string {
  return output === undefined ? ' -> ?' : ''
}

function describeRegisterValue(value: RegisterState): string {
  if (value === null) return 'nil'
  return typeof value === 'number' ? String(value) : JSON.stringify(value)
}

function describeRegisterOperation(
  input: RegisterInput,
  output: RegisterOutput | undefined,
): string {
  const prefix = input.key === '' ? '' : `${JSON.stringify(input.key)} `
  switch (input.kind) {
    case 'read': {
      const result = output?.kind === 'read' ? describeRegisterValue(output.value) : '?'
      return `${prefix}read() -> ${result}`
    }
    case 'write':
      return `${prefix}write(${describeRegisterValue(input.value)})${unanswered(output)}`
    case 'cas': {
      const result = output?.kind === 'cas' ? (output.swapped ? 'ok' : 'mismatch') : '?'
      const expected = describeRegisterValue(input.expected)
      return `${prefix}cas(${expected}, ${describeRegisterValue(input.value)}) -> ${result}`
    }
    default:
      return unreachable(input)
  }
}

/**
 * Drops pending reads, and pending writes and CASes whose new value no read returned and no
 * CAS expects. After such a write took effect, the only operations that could run before the
 * value is overwritten are writes and pending CASes that found another value, so the write and
 * those CASes can be left out of any linearization. A completed CAS that found another value
 * observes every value but the expected one, so when there is one, every write stays.
 */
function dropUnobservableRegisterOperations(
  operations: History<RegisterInput, RegisterOutput>,
): History<RegisterInput, RegisterOutput> {
  const observed = new Set<RegisterValue>()
  let anyCompareFailed = false
  for (const operation of operations) {
    if (operation.input.kind === 'cas') observed.add(operation.input.expected)
    if (operation.status !== 'completed') continue
    const { output } = operation
    if (output.kind === 'read' && output.value !== null) observed.add(output.value)
    if (output.kind === 'cas' && !output.swapped) anyCompareFailed = true
  }
  return operations.filter(
    ({ status, input }) =>
      status === 'completed' ||
      (input.kind !== 'read' && (anyCompareFailed || observed.has(input.value))),
  )
}

const NULL_HASH = 0x6e756c6c

export const casRegisterModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  name: 'cas-register',
  init: () => null,
  step: stepRegister,
  dropUnobservable: dropUnobservableRegisterOperations,
  partition: partitionByKey,
  equal: (left, right) => left === right,
  hash: (state) => {
    if (state === null) return NULL_HASH
    if (typeof state === 'string') return hashString(state)
    // Small integers, the common case, skip the string conversion.
    return state === (state | 0) ? avalanche(state) : hashString(String(state))
  },
  describeOperation: describeRegisterOperation,
  describeState: describeRegisterValue,
}

// ---------------------------------------------------------------------------------------------
// Key-value store with append

export type KeyValueInput =
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'append'; readonly key: string; readonly value: string }

export type KeyValueOutput =
  | { readonly kind: 'get'; readonly value: string }
  | { readonly kind: 'put' }
  | { readonly kind: 'append' }

/**
 * A key's string together with a polynomial hash of it. The hash is extended as text is
 * appended, so an append costs the length of the appended text rather than of the whole
 * string, which grows with every append in a long history.
 */
export interface KeyValueState {
  readonly value: string
  readonly polynomialHash: number
}

const POLYNOMIAL_BASE = 0x01000193

function extendHash(hash: number, text: string): number {
  let result = hash
  for (let index = 0; index < text.length; index++) {
    result = (Math.imul(result, POLYNOMIAL_BASE) + text.charCodeAt(index)) | 0
  }
  return result
}

const emptyKeyValueState: KeyValueState = { value: '', polynomialHash: 0 }

function stepKeyValue(
  state: KeyValueState,
  input: KeyValueInput,
  output: KeyValueOutput | undefined,
): StepResult<KeyValueState> {
  assert(output === undefined || output.kind === input.kind, 'output kind differs from input')
  switch (input.kind) {
    case 'get':
      if (output === undefined) return { ok: true, state }
      assert(output.kind === 'get')
      return output.value === state.value ? { ok: true, state } : rejected
    case 'put':
      return { ok: true, state: { value: input.value, polynomialHash: extendHash(0, input.value) } }
    case 'append': {
      const value = state.value + input.value
      return {
        ok: true,
        state: { value, polynomialHash: extendHash(state.polynomialHash, input.value) },
      }
    }
    default:
      return unreachable(input)
  }
}

function describeKeyValueOperation(
  input: KeyValueInput,
  output: KeyValueOutput | undefined,
): string {
  const key = JSON.stringify(input.key)
  switch (input.kind) {
    case 'get':
      return `get(${key}) -> ${output?.kind === 'get' ? JSON.stringify(output.value) : '?'}`
    case 'put':
    case 'append':
      return `${input.kind}(${key}, ${JSON.stringify(input.value)})${unanswered(output)}`
    default:
      return unreachable(input)
  }
}

/**
 * Drops pending gets, and pending puts and appends whose text no get returned as part of its
 * value: until the next put, every later value contains that text, so no get can run in between
 * and the operation can be left out of any linearization.
 */
function dropUnobservableKeyValueOperations(
  operations: History<KeyValueInput, KeyValueOutput>,
): History<KeyValueInput, KeyValueOutput> {
  const values: string[] = []
  for (const operation of operations) {
    if (operation.status === 'completed' && operation.output.kind === 'get') {
      values.push(operation.output.value)
    }
  }
  return operations.filter(
    ({ status, input }) =>
      status === 'completed' ||
      (input.kind !== 'get' && values.some((value) => value.includes(input.value))),
  )
}

export const keyValueModel: Model<KeyValueState, KeyValueInput, KeyValueOutput> = {
  name: 'key-value',
  init: () => emptyKeyValueState,
  step: stepKeyValue,
  dropUnobservable: dropUnobservableKeyValueOperations,
  partition: partitionByKey,
  equal: (left, right) =>
    left.polynomialHash === right.polynomialHash && left.value === right.value,
  hash: (state) => avalanche(state.polynomialHash),
  describeOperation: describeKeyValueOperation,
  describeState: (state) => JSON.stringify(state.value),
}
