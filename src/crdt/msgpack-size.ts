/**
 * Exact msgpack sizes of the scalars and headers the CRDT encodings use, so each type can
 * report the byte size of its encoded form without encoding it. The rules mirror
 * @msgpack/msgpack's encoder as configured in src/wire/codec.ts (smallest integer form, no
 * 64-bit bigints); the unit tests compare every estimate with a real encoding.
 */

import { assert } from '../env/assert.js'
import type { VersionVector } from '../versioning/version-vector.js'

/** Bytes of `text` in UTF-8, counting a lone surrogate as the 3 bytes the encoder writes. */
export function utf8ByteLength(text: string): number {
  let bytes = 0
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index)
    if (unit < 0x80) {
      bytes += 1
    } else if (unit < 0x800) {
      bytes += 2
    } else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(text.charCodeAt(index + 1))) {
      bytes += 4
      index += 1
    } else {
      bytes += 3
    }
  }
  return bytes
}

function isLowSurrogate(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff
}

/** Encoded size of a string: header plus UTF-8 bytes. */
export function stringSize(text: string): number {
  const bytes = utf8ByteLength(text)
  if (bytes < 32) return 1 + bytes
  if (bytes < 0x100) return 2 + bytes
  if (bytes < 0x1_0000) return 3 + bytes
  return 5 + bytes
}

/** Encoded size of a non-negative safe integer. */
export function uintSize(value: number): number {
  assert(Number.isSafeInteger(value) && value >= 0, `not a non-negative integer: ${value}`)
  if (value < 0x80) return 1
  if (value < 0x100) return 2
  if (value < 0x1_0000) return 3
  if (value < 0x1_0000_0000) return 5
  return 9
}

/** Encoded size of an array header for `length` items. */
export function arrayHeaderSize(length: number): number {
  assert(Number.isSafeInteger(length) && length >= 0, `not a length: ${length}`)
  if (length < 16) return 1
  if (length < 0x1_0000) return 3
  return 5
}

/** Encoded size of `vectorEntries(vector)`: an array of `[actor, counter]` pairs. */
export function vectorByteSize(vector: VersionVector): number {
  let bytes = arrayHeaderSize(vector.size)
  for (const [actor, counter] of vector) bytes += 1 + stringSize(actor) + uintSize(counter)
  return bytes
}
