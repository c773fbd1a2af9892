/**
 * Helpers shared by every storage engine, so that all of them agree on key order, on what a
 * valid batch and a valid range are, and on the error a closed engine gives. Keys compare
 * byte-wise (unsigned, shorter prefix first), which is RocksDB's default comparator.
 */

import { assert, assertNonNegativeInteger } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import type { Bytes, KeyRange, WriteOp } from './engine.js'

/** Byte-wise comparison: negative, zero or positive, as RocksDB's BytewiseComparator orders. */
export function compareBytes(left: Bytes, right: Bytes): number {
  const length = Math.min(left.length, right.length)
  for (let index = 0; index < length; index++) {
    const difference = (left[index] as number) - (right[index] as number)
    if (difference !== 0) return difference
  }
  return left.length - right.length
}

/** Lower-case hex, for keys in error messages and logs. */
export function bytesToHex(bytes: Bytes): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/**
 * A copy of `bytes` in fresh memory. Not `bytes.slice()`: on a Buffer that is a view sharing
 * memory, and callers hand engines Buffers as often as plain Uint8Arrays.
 */
export function copyBytes(bytes: Bytes): Uint8Array {
  return new Uint8Array(bytes)
}

/** A Buffer view of the same memory (no copy), for bindings that want Buffers. */
export function asBuffer(bytes: Bytes): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The sum of key and value lengths of a batch: the unit of the group-commit byte limit. */
export function writeOpsBytes(ops: readonly WriteOp[]): number {
  let total = 0
  for (const op of ops) total += op.key.length + (op.type === 'put' ? op.value.length : 0)
  return total
}

/** Asserts that a batch is well-formed: keys are non-empty byte arrays, values are byte arrays. */
export function assertWriteOps(ops: readonly WriteOp[]): void {
  assert(Array.isArray(ops), 'write ops must be an array')
  for (const op of ops) {
    assert(
      op.key instanceof Uint8Array && op.key.length > 0,
      'write op key must be non-empty bytes',
    )
    if (op.type === 'put') {
      assert(op.value instanceof Uint8Array, 'put value must be bytes')
    } else {
      assert(op.type === 'del', `unknown write op type ${String((op as { type: unknown }).type)}`)
    }
  }
}

/** Asserts that a range has at most one lower and one upper bound and a sane limit. */
export function assertKeyRange(range: KeyRange): void {
  assert(range.gt === undefined || range.gte === undefined, 'a key range takes gt or gte, not both')
  assert(range.lt === undefined || range.lte === undefined, 'a key range takes lt or lte, not both')
  if (range.limit !== undefined) assertNonNegativeInteger(range.limit, 'range limit')
}

/** Whether `key` lies inside the bounds of `range` (the limit is not considered). */
export function rangeContains(range: KeyRange, key: Bytes): boolean {
  if (range.gte !== undefined && compareBytes(key, range.gte) < 0) return false
  if (range.gt !== undefined && compareBytes(key, range.gt) <= 0) return false
  if (range.lte !== undefined && compareBytes(key, range.lte) > 0) return false
  if (range.lt !== undefined && compareBytes(key, range.lt) >= 0) return false
  return true
}

/**
 * The error every operation on a closed engine rejects with. `unavailable` because the node is
 * shutting down or lost its disk: the request may be retried elsewhere, and a write that got
 * this error certainly did not happen.
 */
export function engineClosedError(description: string, operation: string): MurmurError {
  return new MurmurError('unavailable', `storage ${description} is closed (${operation})`, {
    definite: true,
  })
}
