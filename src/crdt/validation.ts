/**
 * Input rules shared by the CRDT cores: what a valid actor, amount and set element is, and the
 * helpers every `decode` uses to turn untrusted msgpack (a peer message or a stored record)
 * into a typed state. Arguments that the API layer has already validated are asserted here
 * (a failure is a bug); decoded input is checked and refused with a MurmurError carrying the
 * caller's code, never with an assertion.
 */

import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import { ACTOR_BYTES_MAX, type Actor } from '../versioning/version-vector.js'
import { utf8ByteLength } from './msgpack-size.js'

/** The codes a decoder may throw: peer input is a bad request, disk input a corrupt record. */
export type DecodeErrorCode = 'invalid_request' | 'corrupt_record'

/**
 * Longest set element in UTF-8 bytes that a decoder accepts. It is the ceiling of the
 * configurable `limits.setElementBytesMax`; admission enforces the configured value.
 */
export const ELEMENT_BYTES_MAX = 65_536

/**
 * Most elements a decoded set may hold. The configurable `limits.setElementsMax` goes up to
 * ten million; concurrent adds admitted at different coordinators can merge past the
 * configured bound, so decoding leaves headroom above it rather than refusing a merged state.
 */
export const ELEMENTS_COUNT_MAX = 16_777_216

// A lone surrogate does not survive a UTF-8 round trip, so such a string cannot be an element.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/** True when `value` is a string a set may hold: well-formed Unicode within the byte bound. */
export function isValidElement(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= ELEMENT_BYTES_MAX &&
    utf8ByteLength(value) <= ELEMENT_BYTES_MAX &&
    !LONE_SURROGATE.test(value)
  )
}

export function assertElement(element: string): void {
  assert(isValidElement(element), 'set element must be well-formed and within the byte bound')
}

export function assertActor(actor: Actor): void {
  assert(
    actor.length > 0 && actor.length <= ACTOR_BYTES_MAX,
    `actor must be 1..${ACTOR_BYTES_MAX} characters, got ${actor.length}`,
  )
}

/** Counter amounts are positive safe integers; the API refuses anything else up front. */
export function assertAmount(amount: number): void {
  assert(
    Number.isSafeInteger(amount) && amount > 0,
    `amount must be a positive safe integer, got ${amount}`,
  )
}

export function failDecode(code: DecodeErrorCode, message: string): never {
  throw new MurmurError(code, message)
}

/** `value` as an array of at most `lengthMax` items, or a MurmurError naming `what`. */
export function arrayFromUntrusted(
  value: unknown,
  lengthMax: number,
  code: DecodeErrorCode,
  what: string,
): readonly unknown[] {
  if (!Array.isArray(value)) failDecode(code, `${what} must be an array`)
  if (value.length > lengthMax) {
    failDecode(code, `${what} has ${value.length} items, more than ${lengthMax}`)
  }
  return value
}

/** `value` as an array of exactly `length` items, or a MurmurError naming `what`. */
export function tupleFromUntrusted(
  value: unknown,
  length: number,
  code: DecodeErrorCode,
  what: string,
): readonly unknown[] {
  if (!Array.isArray(value) || value.length !== length) {
    failDecode(code, `${what} must be an array of ${length} items`)
  }
  return value
}

export function elementFromUntrusted(value: unknown, code: DecodeErrorCode): string {
  if (!isValidElement(value)) {
    failDecode(
      code,
      `set element must be a well-formed string of at most ${ELEMENT_BYTES_MAX} bytes`,
    )
  }
  return value
}

/** Total order on strings by UTF-16 code units, the order of every canonical encoding. */
export function compareStrings(left: string, right: string): number {
  if (left < right) return -1
  if (left > right) return 1
  return 0
}

/** True when `items` is strictly increasing, i.e. sorted and free of duplicates. */
export function isStrictlySorted(items: readonly string[]): boolean {
  for (let index = 1; index < items.length; index++) {
    if (compareStrings(items[index - 1] as string, items[index] as string) >= 0) return false
  }
  return true
}
