/**
 * Typed record access over any StorageEngine. Every value is stored sealed (src/wire/codec.ts
 * `encodeRecord`: a CRC-32 of the msgpack payload, then the payload) and verified on every
 * read. A record whose checksum fails, whose payload is not msgpack, or whose decoded value
 * does not have the shape its RecordType expects is corrupt: a single-key read throws
 * MurmurError('corrupt_record') naming the key, and multi-key reads and scans report it to a
 * callback and go on, so higher layers can count it, treat it as missing and repair it from
 * other replicas without losing the healthy records around it.
 */

import { AssertionError } from '../env/assert.js'
import { errorMessage, isMurmurError, MurmurError } from '../env/errors.js'
import { decodeRecord, encodeRecord } from '../wire/codec.js'
import type { Bytes, KeyRange, StorageEngine, WriteOp } from './engine.js'
import { bytesToHex } from './engine-support.js'
import { describeKey } from './layout.js'

/** How a stored msgpack value becomes a typed one. */
export interface RecordType<T> {
  /** Names the kind of record in messages, e.g. 'data record'. */
  readonly name: string
  /** Returns the typed value; throws on a value of the wrong shape (it is then corrupt). */
  parse(value: unknown): T
}

/** A RecordType that accepts any decoded value, for raw access and tests. */
export const ANY_RECORD: RecordType<unknown> = { name: 'record', parse: (value) => value }

/** Receives each corrupt record met by a multi-key read or a scan. */
export type CorruptRecordHandler = (key: Bytes, error: MurmurError) => void

export interface RecordEntry<T> {
  readonly key: Bytes
  readonly value: T
}

/** A put op that stores `value` sealed; batch it with others or hand it to a GroupCommitter. */
export function putRecordOp<T>(key: Bytes, value: T): WriteOp {
  return { type: 'put', key, value: encodeRecord(value) }
}

/** Verifies and parses the stored bytes of `key`; throws MurmurError('corrupt_record'). */
export function decodeStoredRecord<T>(type: RecordType<T>, key: Bytes, stored: Bytes): T {
  let decoded: unknown
  try {
    decoded = decodeRecord(stored)
  } catch (error) {
    throw corruptRecord(type, key, error)
  }
  try {
    return type.parse(decoded)
  } catch (error) {
    // A failed assertion inside `parse` is a bug in murmur, not a bad record: let it crash.
    if (error instanceof AssertionError) throw error
    throw corruptRecord(type, key, error)
  }
}

function corruptRecord<T>(type: RecordType<T>, key: Bytes, cause: unknown): MurmurError {
  return new MurmurError(
    'corrupt_record',
    `corrupt ${type.name} at ${describeKey(key)}: ${errorMessage(cause)}`,
    { details: { key: bytesToHex(key) }, cause },
  )
}

/** The record stored under `key`, or undefined; throws MurmurError('corrupt_record'). */
export async function getRecord<T>(
  engine: StorageEngine,
  type: RecordType<T>,
  key: Bytes,
): Promise<T | undefined> {
  const stored = await engine.get(key)
  return stored === undefined ? undefined : decodeStoredRecord(type, key, stored)
}

/** The records of `keys` in order; a corrupt one goes to `onCorrupt` and reads as undefined. */
export async function getRecords<T>(
  engine: StorageEngine,
  type: RecordType<T>,
  keys: readonly Bytes[],
  onCorrupt: CorruptRecordHandler,
): Promise<(T | undefined)[]> {
  const stored = await engine.getMany(keys)
  return stored.map((bytes, index) => {
    if (bytes === undefined) return undefined
    const decoded = decodeOrReport(type, keys[index] as Bytes, bytes, onCorrupt)
    return decoded === CORRUPT ? undefined : decoded
  })
}

/** The records of `range` in key order; corrupt ones go to `onCorrupt` and are skipped. */
export async function* scanRecords<T>(
  engine: StorageEngine,
  type: RecordType<T>,
  range: KeyRange,
  onCorrupt: CorruptRecordHandler,
): AsyncGenerator<RecordEntry<T>> {
  for await (const [key, bytes] of engine.iterate(range)) {
    const value = decodeOrReport(type, key, bytes, onCorrupt)
    if (value !== CORRUPT) yield { key, value }
  }
}

/** Marks a record reported as corrupt; distinct from any value `parse` may return. */
const CORRUPT: unique symbol = Symbol('corrupt')

function decodeOrReport<T>(
  type: RecordType<T>,
  key: Bytes,
  bytes: Bytes,
  onCorrupt: CorruptRecordHandler,
): T | typeof CORRUPT {
  try {
    return decodeStoredRecord(type, key, bytes)
  } catch (error) {
    if (!isMurmurError(error, 'corrupt_record')) throw error
    onCorrupt(key, error)
    return CORRUPT
  }
}
