/**
 * Key hashing for placement: MurmurHash3 x86_32 (Austin Appleby's public-domain reference,
 * bit-for-bit) over UTF-8 bytes, and `partitionForKey`, which runs on every request.
 *
 * Contract: `partitionForKey(partitionCount, keyspace, key)` hashes the UTF-8 bytes of
 * `keyspace`, one 0x00 byte, then `key`, with seed 0, and returns the top log2(partitionCount)
 * bits of the hash. Every node computes the same partition for the same key, so this function
 * and its byte layout are part of the data format: changing them moves every key.
 *
 * Speed: strings are encoded into one module-level scratch buffer that grows by doubling and
 * is reused, so a call allocates nothing once the buffer has reached the largest key seen. The
 * buffer is private and every call fully overwrites what it reads, so sharing it is invisible
 * to callers (JavaScript runs one call at a time).
 */

import { assert } from '../env/assert.js'

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

/** Largest partition count `partitionForKey` accepts; ring.ts documents the full range. */
const PARTITION_COUNT_LIMIT = 1 << 16

function rotateLeft(value: number, shift: number): number {
  return (value << shift) | (value >>> (32 - shift))
}

/** The MurmurHash3 finalizer: a bijective avalanche of one 32-bit word. */
export function mixFinal32(value: number): number {
  let hash = value
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  hash ^= hash >>> 16
  return hash >>> 0
}

function scrambleBlock(block: number): number {
  return Math.imul(rotateLeft(Math.imul(block, C1), 15), C2)
}

/** MurmurHash3 x86_32 of the first `length` bytes of `bytes` (all of them by default). */
export function murmurHash3(bytes: Uint8Array, seed = 0, length = bytes.length): number {
  // The message is built only on failure: this runs on every request.
  if (length < 0 || length > bytes.length) assert(false, `length ${length} outside the byte array`)
  let hash = seed | 0
  const blocksEnd = length & ~3
  let index = 0
  for (; index < blocksEnd; index += 4) {
    const block =
      (bytes[index] as number) |
      ((bytes[index + 1] as number) << 8) |
      ((bytes[index + 2] as number) << 16) |
      ((bytes[index + 3] as number) << 24)
    hash ^= scrambleBlock(block)
    hash = rotateLeft(hash, 13)
    hash = (Math.imul(hash, 5) + 0xe6546b64) | 0
  }
  const tailLength = length & 3
  if (tailLength > 0) {
    let tail = bytes[index] as number
    if (tailLength > 1) tail |= (bytes[index + 1] as number) << 8
    if (tailLength > 2) tail |= (bytes[index + 2] as number) << 16
    hash ^= scrambleBlock(tail)
  }
  return mixFinal32(hash ^ length)
}

let scratch = new Uint8Array(256)

/** Makes the scratch buffer hold at least `bytesCount` bytes, keeping nothing. */
function reserveScratch(bytesCount: number): Uint8Array {
  if (scratch.length < bytesCount) {
    let size = scratch.length
    while (size < bytesCount) size *= 2
    scratch = new Uint8Array(size)
  }
  return scratch
}

/**
 * Writes the UTF-8 encoding of `text` at `offset` and returns the offset after it. Lone
 * surrogates become U+FFFD, exactly as TextEncoder does. `target` must have room for
 * 3 bytes per UTF-16 code unit, the worst case.
 */
function writeUtf8(target: Uint8Array, offset: number, text: string): number {
  let at = offset
  const length = text.length
  for (let index = 0; index < length; index++) {
    let code = text.charCodeAt(index)
    if (code < 0x80) {
      target[at++] = code
      continue
    }
    if (code < 0x800) {
      target[at++] = 0xc0 | (code >>> 6)
      target[at++] = 0x80 | (code & 0x3f)
      continue
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = index + 1 < length ? text.charCodeAt(index + 1) : 0
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00)
        index++
        target[at++] = 0xf0 | (code >>> 18)
        target[at++] = 0x80 | ((code >>> 12) & 0x3f)
        target[at++] = 0x80 | ((code >>> 6) & 0x3f)
        target[at++] = 0x80 | (code & 0x3f)
        continue
      }
      code = 0xfffd
    }
    target[at++] = 0xe0 | (code >>> 12)
    target[at++] = 0x80 | ((code >>> 6) & 0x3f)
    target[at++] = 0x80 | (code & 0x3f)
  }
  return at
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `text`. */
export function hashString(text: string, seed = 0): number {
  const buffer = reserveScratch(text.length * 3)
  return murmurHash3(buffer, seed, writeUtf8(buffer, 0, text))
}

/** The hash that places a key: MurmurHash3 of UTF-8 `keyspace`, 0x00, UTF-8 `key`. */
export function keyHash(keyspace: string, key: string): number {
  const buffer = reserveScratch((keyspace.length + key.length) * 3 + 1)
  let length = writeUtf8(buffer, 0, keyspace)
  buffer[length++] = 0
  length = writeUtf8(buffer, length, key)
  return murmurHash3(buffer, 0, length)
}

/**
 * The partition of `key` in `keyspace`: the top log2(partitionCount) bits of `keyHash`.
 * `partitionCount` must be a power of two of at least 2.
 */
export function partitionForKey(partitionCount: number, keyspace: string, key: string): number {
  if (
    partitionCount < 2 ||
    partitionCount > PARTITION_COUNT_LIMIT ||
    (partitionCount & (partitionCount - 1)) !== 0
  ) {
    assert(false, `partition count must be a power of two, got ${partitionCount}`)
  }
  // For a power of two 2^b, clz32 is 31 - b, so the shift keeps exactly the top b bits.
  return keyHash(keyspace, key) >>> (Math.clz32(partitionCount) + 1)
}
