/**
 * G-Set: a grow-only set of strings. Merge is union, so the state only grows; deltas are the
 * newly added elements and tolerate any delivery order and duplication. Elements must be
 * well-formed strings within ELEMENT_BYTES_MAX (see validation.ts); the API layer bounds their
 * size and count more tightly.
 */

import { arrayHeaderSize, stringSize } from './msgpack-size.js'
import {
  arrayFromUntrusted,
  assertElement,
  compareStrings,
  type DecodeErrorCode,
  ELEMENTS_COUNT_MAX,
  elementFromUntrusted,
  failDecode,
} from './validation.js'

export type GSet = ReadonlySet<string>

/** Compact wire form: the elements, sorted. */
export type GSetWire = string[]

const EMPTY_SET: GSet = Object.freeze(new Set<string>())

export function empty(): GSet {
  return EMPTY_SET
}

export function add(state: GSet, element: string): GSet {
  return addAll(state, [element])
}

export function addAll(state: GSet, elements: readonly string[]): GSet {
  const next = new Set(state)
  for (const element of elements) {
    assertElement(element)
    next.add(element)
  }
  return next
}

/** The delta of `add`: the element, or nothing when the state already holds it. */
export function addDelta(state: GSet, element: string): GSet {
  return addAllDelta(state, [element])
}

/** The delta of `addAll`: the elements the state does not hold yet. */
export function addAllDelta(state: GSet, elements: readonly string[]): GSet {
  const delta = new Set<string>()
  for (const element of elements) {
    assertElement(element)
    if (!state.has(element)) delta.add(element)
  }
  return delta
}

export function merge(left: GSet, right: GSet): GSet {
  if (lessOrEqual(right, left)) return left
  if (lessOrEqual(left, right)) return right
  const union = new Set(left)
  for (const element of right) union.add(element)
  return union
}

/** The elements in code-unit order. */
export function value(state: GSet): string[] {
  return [...state].sort(compareStrings)
}

export function contains(state: GSet, element: string): boolean {
  return state.has(element)
}

export function size(state: GSet): number {
  return state.size
}

export function equals(left: GSet, right: GSet): boolean {
  return left.size === right.size && lessOrEqual(left, right)
}

/** The lattice order: set inclusion. */
export function lessOrEqual(left: GSet, right: GSet): boolean {
  if (left.size > right.size) return false
  for (const element of left) {
    if (!right.has(element)) return false
  }
  return true
}

export function encode(state: GSet): GSetWire {
  return value(state)
}

export function decode(raw: unknown, code: DecodeErrorCode): GSet {
  const items = arrayFromUntrusted(raw, ELEMENTS_COUNT_MAX, code, 'grow-only set')
  const state = new Set<string>()
  for (const item of items) {
    const element = elementFromUntrusted(item, code)
    if (state.has(element)) failDecode(code, 'grow-only set repeats an element')
    state.add(element)
  }
  return state
}

/** The exact byte length of `encode(state)` as msgpack. */
export function byteSize(state: GSet): number {
  let bytes = arrayHeaderSize(state.size)
  for (const element of state) bytes += stringSize(element)
  return bytes
}
