/**
 * The replicated record of one user key: what a replica stores under the key's data key and
 * what replicas exchange. A record holds one optional sub-state per data type, so the type of
 * a key is known from one read, and a race that writes two types to one key keeps both
 * sub-states (nothing is lost; the API reports the conflict) instead of one overwriting the
 * other. Plain values live in `kv`, a dotted version vector container of `KvPayload`s; a
 * counter lives in `counter` (src/crdt/replicated-counter.ts) and a set in `set`
 * (src/crdt/replicated-set.ts), each merged as its own lattice. A witness holds the same
 * record with each value replaced by its digest (src/replication/witness.ts).
 *
 * Contract:
 * - Records are immutable values. The empty record `{}` is the same as no record at all.
 * - `mergeRecords` is the lattice join, field by field (DVV `sync` for `kv`), so replicas may
 *   merge records in any order and any number of times. A dot's payload has two forms, its
 *   value and the value's digest (a tombstone is its own digest); the merge keeps the value.
 * - `recordsEqual` compares causal states: two records are equal when every sub-state has the
 *   same clock and the same sibling dots, each in the same form. A dot names one write, so
 *   equal dots in equal forms mean equal payloads.
 * - The wire and disk form is a msgpack map with short field names (`kv`, `c` for the
 *   counter, `s` for the set); a payload is a small array tagged by kind: value
 *   `[0, bytes, contentType]`, tombstone `[1, deletedAtMs]`, digest `[2, digest, valueBytes]`.
 *   Decoding is strict: unknown fields, kinds or shapes are errors with the caller's code (peer
 *   input: invalid_request; disk: corrupt_record).
 */

import * as ReplicatedCounter from '../crdt/replicated-counter.js'
import * as ReplicatedSet from '../crdt/replicated-set.js'
import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import { contextEquals, isEmptyContext } from '../versioning/dot-context.js'
import {
  decodeVersioned,
  emptyVersioned,
  encodeVersioned,
  isTombstone,
  type Sibling,
  sync,
  type UntrustedErrorCode,
  type Versioned,
  type VersionedWire,
} from '../versioning/dvv.js'
import { dotEquals } from '../versioning/version-vector.js'

export interface ValuePayload {
  readonly kind: 'value'
  readonly value: Uint8Array
  readonly contentType: string
}

export interface TombstonePayload {
  readonly kind: 'tombstone'
  /** Wall-clock time of the delete, for the reaper's grace period. */
  readonly deletedAtMs: number
}

/**
 * What a witness keeps of a value: a digest of its bytes and content type, and its size. It
 * proves that the write exists and what it held, but cannot be served.
 */
export interface DigestPayload {
  readonly kind: 'digest'
  readonly digest: Uint8Array
  readonly valueBytes: number
}

export type KvPayload = ValuePayload | TombstonePayload | DigestPayload

export interface KeyRecord {
  readonly kv?: Versioned<KvPayload>
  readonly counter?: ReplicatedCounter.ReplicatedCounter
  readonly set?: ReplicatedSet.ReplicatedSet
}

export interface KeyRecordWire {
  kv?: VersionedWire
  c?: ReplicatedCounter.ReplicatedCounterWire
  s?: ReplicatedSet.ReplicatedSetWire
}

/** The data types a record can hold, in the order reads report them. */
export const RECORD_TYPES = ['kv', 'counter', 'set'] as const
export type RecordType = (typeof RECORD_TYPES)[number]

export const EMPTY_RECORD: KeyRecord = Object.freeze({})

/** Longest Content-Type kept with a value. */
export const CONTENT_TYPE_CHARS_MAX = 256
/** Largest value a decoder accepts; config limits are far lower (at most 64 MiB). */
export const VALUE_BYTES_DECODED_MAX = 64 * 1024 * 1024
/** The default Content-Type of a value written without one. */
export const DEFAULT_CONTENT_TYPE = 'application/octet-stream'

const PAYLOAD_VALUE = 0
const PAYLOAD_TOMBSTONE = 1
const PAYLOAD_DIGEST = 2
/** Bytes of a value digest (a truncated SHA-256). */
export const DIGEST_BYTES = 16

/** Printable ASCII without control characters, as a header value must be. */
const CONTENT_TYPE_PATTERN = /^[\x20-\x7e]+$/

export function isValidContentType(value: string): boolean {
  return value.length <= CONTENT_TYPE_CHARS_MAX && CONTENT_TYPE_PATTERN.test(value)
}

export function isDeleted(payload: KvPayload): boolean {
  return payload.kind === 'tombstone'
}

export function isEmptyRecord(record: KeyRecord): boolean {
  const kvEmpty =
    record.kv === undefined || (record.kv.siblings.length === 0 && isEmptyContext(record.kv.clock))
  return kvEmpty && record.counter === undefined && record.set === undefined
}

/**
 * The types the record holds live data of: `kv` unless the plain value is absent or deleted,
 * `counter` and `set` whenever present (a CRDT sub-state is never deleted).
 */
export function recordTypes(record: KeyRecord): RecordType[] {
  const types: RecordType[] = []
  if (!kvAbsent(record)) types.push('kv')
  if (record.counter !== undefined) types.push('counter')
  if (record.set !== undefined) types.push('set')
  return types
}

/** True when the plain value is absent or deleted: no sibling holds a value. */
export function kvAbsent(record: KeyRecord): boolean {
  const kv = record.kv
  return kv === undefined || kv.siblings.length === 0 || isTombstone(kv, isDeleted)
}

/** The plain-value state of a record, empty when it has none. */
export function kvState(record: KeyRecord): Versioned<KvPayload> {
  return record.kv ?? emptyVersioned()
}

/** The join of two records, field by field; a field absent on one side is the other's. */
export function mergeRecords(a: KeyRecord, b: KeyRecord): KeyRecord {
  if (a === b || isEmptyRecord(b)) return a
  if (isEmptyRecord(a)) return b
  const kv = mergeField(a.kv, b.kv, mergeKv)
  const counter = mergeField(a.counter, b.counter, ReplicatedCounter.merge)
  const set = mergeField(a.set, b.set, ReplicatedSet.merge)
  return {
    ...(kv === undefined ? {} : { kv }),
    ...(counter === undefined ? {} : { counter }),
    ...(set === undefined ? {} : { set }),
  }
}

/** Joins two plain-value states; of a dot held as a value and as a digest, keeps the value. */
export function mergeKv(a: Versioned<KvPayload>, b: Versioned<KvPayload>): Versioned<KvPayload> {
  return sync(a, b, preferValue)
}

function preferValue(left: KvPayload, right: KvPayload): KvPayload {
  return left.kind === 'digest' && right.kind === 'value' ? right : left
}

function mergeField<S>(a: S | undefined, b: S | undefined, join: (a: S, b: S) => S): S | undefined {
  if (a === undefined) return b
  if (b === undefined) return a
  return join(a, b)
}

export function recordsEqual(a: KeyRecord, b: KeyRecord): boolean {
  if (a === b) return true
  return (
    versionedEqual(kvState(a), kvState(b)) &&
    fieldEqual(a.counter, b.counter, ReplicatedCounter.equals) &&
    fieldEqual(a.set, b.set, ReplicatedSet.equals)
  )
}

function fieldEqual<S>(a: S | undefined, b: S | undefined, same: (a: S, b: S) => boolean): boolean {
  if (a === undefined || b === undefined) return a === b
  return same(a, b)
}

function versionedEqual(a: Versioned<KvPayload>, b: Versioned<KvPayload>): boolean {
  if (a === b) return true
  if (a.siblings.length !== b.siblings.length || !contextEquals(a.clock, b.clock)) return false
  return a.siblings.every((sibling, index) => {
    const other = b.siblings[index] as Sibling<KvPayload>
    return dotEquals(sibling.dot, other.dot) && sibling.payload.kind === other.payload.kind
  })
}

function encodePayload(payload: KvPayload): unknown {
  switch (payload.kind) {
    case 'value':
      return [PAYLOAD_VALUE, payload.value, payload.contentType]
    case 'tombstone':
      return [PAYLOAD_TOMBSTONE, payload.deletedAtMs]
    case 'digest':
      return [PAYLOAD_DIGEST, payload.digest, payload.valueBytes]
  }
}

export function encodeKeyRecord(record: KeyRecord): KeyRecordWire {
  const wire: KeyRecordWire = {}
  if (record.kv !== undefined) wire.kv = encodeVersioned(record.kv, encodePayload)
  if (record.counter !== undefined) wire.c = ReplicatedCounter.encode(record.counter)
  if (record.set !== undefined) wire.s = ReplicatedSet.encode(record.set)
  return wire
}

function payloadDecoder(code: UntrustedErrorCode): (raw: unknown) => KvPayload {
  return (raw) => {
    if (!Array.isArray(raw)) throw new MurmurError(code, 'a payload must be an array')
    if (raw[0] === PAYLOAD_VALUE && raw.length === 3) {
      const [, value, contentType] = raw as [number, unknown, unknown]
      if (!(value instanceof Uint8Array) || value.length > VALUE_BYTES_DECODED_MAX) {
        throw new MurmurError(code, 'a value payload must hold bytes')
      }
      if (typeof contentType !== 'string' || !isValidContentType(contentType)) {
        throw new MurmurError(code, 'a value payload must hold a valid content type')
      }
      return { kind: 'value', value, contentType }
    }
    if (raw[0] === PAYLOAD_TOMBSTONE && raw.length === 2) {
      const deletedAtMs: unknown = raw[1]
      if (
        typeof deletedAtMs !== 'number' ||
        !Number.isSafeInteger(deletedAtMs) ||
        deletedAtMs < 0
      ) {
        throw new MurmurError(code, 'a tombstone payload must hold a time')
      }
      return { kind: 'tombstone', deletedAtMs }
    }
    if (raw[0] === PAYLOAD_DIGEST && raw.length === 3) return decodeDigest(raw, code)
    throw new MurmurError(code, 'unknown payload kind')
  }
}

function decodeDigest(raw: readonly unknown[], code: UntrustedErrorCode): DigestPayload {
  const [, digest, valueBytes] = raw
  if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_BYTES) {
    throw new MurmurError(code, `a digest payload must hold ${DIGEST_BYTES} bytes`)
  }
  if (
    typeof valueBytes !== 'number' ||
    !Number.isSafeInteger(valueBytes) ||
    valueBytes < 0 ||
    valueBytes > VALUE_BYTES_DECODED_MAX
  ) {
    throw new MurmurError(code, 'a digest payload must hold the value size')
  }
  return { kind: 'digest', digest, valueBytes }
}

const PAYLOAD_DECODERS = {
  invalid_request: payloadDecoder('invalid_request'),
  invalid_context: payloadDecoder('invalid_context'),
  corrupt_record: payloadDecoder('corrupt_record'),
} as const

/** Decodes untrusted input produced by `encodeKeyRecord`; throws MurmurError with `code`. */
export function decodeKeyRecord(raw: unknown, code: UntrustedErrorCode): KeyRecord {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || raw instanceof Uint8Array) {
    throw new MurmurError(code, 'a record must be a map')
  }
  const fields = raw as Record<string, unknown>
  for (const name of Object.keys(fields)) {
    if (name !== 'kv' && name !== 'c' && name !== 's') {
      throw new MurmurError(code, `unknown record field ${name.slice(0, 32)}`)
    }
  }
  // CRDT decoders know two codes: a stored record is corrupt, anything else a bad request.
  const crdtCode = code === 'corrupt_record' ? 'corrupt_record' : 'invalid_request'
  const { kv, c: counter, s: set } = fields
  return {
    ...(kv === undefined ? {} : { kv: decodeVersioned(kv, PAYLOAD_DECODERS[code], code) }),
    ...(counter === undefined ? {} : { counter: ReplicatedCounter.decode(counter, crdtCode) }),
    ...(set === undefined ? {} : { set: ReplicatedSet.decode(set, crdtCode) }),
  }
}

/** The bytes of every value in the record, for limits and throttles. */
export function recordValueBytes(record: KeyRecord): number {
  let bytes = 0
  for (const sibling of kvState(record).siblings) {
    if (sibling.payload.kind === 'value') bytes += sibling.payload.value.length
  }
  assert(bytes >= 0, 'value bytes are never negative')
  return bytes
}

/**
 * The latest delete time of a record whose siblings are all tombstones and that holds nothing
 * else, else undefined.
 */
export function tombstoneTimeMs(record: KeyRecord): number | undefined {
  const kv = record.kv
  // A record that also holds a CRDT is never reaped: CRDT sub-states are never deleted.
  if (record.counter !== undefined || record.set !== undefined) return undefined
  if (kv === undefined || !isTombstone(kv, isDeleted)) return undefined
  let latest = 0
  for (const sibling of kv.siblings) {
    if (sibling.payload.kind === 'tombstone') latest = Math.max(latest, sibling.payload.deletedAtMs)
  }
  return latest
}
