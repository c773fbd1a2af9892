/**
 * The key layout: one ordered keyspace per node, split into sublevels by a leading tag byte.
 *
 *   data         tag | partition u16 | keyspace (u8 length + UTF-8) | user key (UTF-8, rest)
 *   hints        tag | target node id (u8 length + UTF-8) | the data key of the hinted record
 *                (legacy form: tag | target node id | sequence u64; see `hintKey`)
 *   meta         tag | name (UTF-8, rest)
 *   raft         tag | group id (u8 length + UTF-8) | kind u8 | index u64
 *   trees        tag | partition u16 | keyspace (u8 length + UTF-8) | level u8 | position u32
 *   idempotency  tag | id (UTF-8, rest)
 *
 * Every integer is big-endian, so byte order is numeric order. Contract on order: keys sort by
 * sublevel, then data keys by partition, then each (partition, keyspace) forms one contiguous
 * run in which user keys sort byte-wise; hints of one target form one run, sorted as data
 * keys, and one data key has at most one hint per target, so repeated writes to a key merge
 * into one hint instead of piling up; raft entries of one group and kind sort by index. The
 * byte after a hint's target tells the two hint forms apart: a data key starts with the data
 * tag (0x02), a sequence with 0x00 (safe integers stay below 2^53). Keyspaces inside a partition are grouped, ordered by name
 * length then name, which no caller relies on. Tag 0x00 is reserved for the engine itself.
 *
 * Encoders assert their argument limits (programmer errors: the API validates user input
 * first); decoders return undefined for bytes of another shape, since a scan may meet anything.
 */

import { assert, assertNonNegativeInteger } from '../env/assert.js'
import { utf8Length } from '../wire/utf8.js'
import type { Bytes, KeyRange } from './engine.js'
import { bytesToHex, copyBytes } from './engine-support.js'

export const SUBLEVEL_TAGS = {
  meta: 0x01,
  data: 0x02,
  hints: 0x03,
  raft: 0x04,
  trees: 0x05,
  idempotency: 0x06,
} as const

export type Sublevel = keyof typeof SUBLEVEL_TAGS

/** Written only by engines (see rocksdb.ts `flush`); no sublevel ever uses this tag. */
export const ENGINE_RESERVED_TAG = 0x00

/** Partitions are numbered 0..PARTITIONS_MAX-1 (a u16). */
export const PARTITIONS_MAX = 65_536
export const KEYSPACE_BYTES_MAX = 64
export const USER_KEY_BYTES_MAX = 1024
/** Node ids, raft group ids, meta names and idempotency ids: one length byte at most. */
export const NAME_BYTES_MAX = 255

export const RAFT_KEY_KINDS = ['state', 'log', 'snapshot'] as const
export type RaftKeyKind = (typeof RAFT_KEY_KINDS)[number]

export interface DataKey {
  readonly partition: number
  readonly keyspace: string
  readonly key: string
}

export interface HintKey {
  readonly targetNodeId: string
  readonly sequence: number
}

export interface RaftKey {
  readonly groupId: string
  readonly kind: RaftKeyKind
  readonly index: number
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
const TWO_TO_32 = 0x1_0000_0000

/** A string accepted for the layout, with its UTF-8 length measured; KeyWriter encodes it. */
interface Utf8Text {
  readonly text: string
  readonly length: number
}

const EMPTY_TEXT: Utf8Text = { text: '', length: 0 }

/** A well-formed string whose UTF-8 length lies in [1, bytesMax]. */
function utf8Bytes(text: string, bytesMax: number, what: string): Utf8Text {
  assert(typeof text === 'string', `${what} must be a string`)
  const length = utf8Length(text)
  assert(length !== -1, `${what} must be well-formed UTF-16 (no lone surrogates)`)
  assert(
    length >= 1 && length <= bytesMax,
    `${what} must be 1..${bytesMax} UTF-8 bytes, got ${length}`,
  )
  return { text, length }
}

function assertPartition(partition: number): void {
  assertNonNegativeInteger(partition, 'partition')
  assert(partition < PARTITIONS_MAX, `partition must be below ${PARTITIONS_MAX}, got ${partition}`)
}

/**
 * Fixed-size big-endian key assembly; `finish` asserts the size was computed correctly. Bytes
 * are written by hand because a DataView per key costs more than the rest of the encoding.
 */
class KeyWriter {
  private readonly bytes: Uint8Array
  private offset = 0

  constructor(length: number) {
    this.bytes = new Uint8Array(length)
  }

  u8(value: number): this {
    this.bytes[this.offset++] = value
    return this
  }

  u16(value: number): this {
    return this.u8(value >>> 8).u8(value & 0xff)
  }

  u32(value: number): this {
    return this.u16(value >>> 16).u16(value & 0xffff)
  }

  /** A non-negative safe integer as 8 big-endian bytes. */
  u64(value: number): this {
    return this.u32(Math.floor(value / TWO_TO_32)).u32(value % TWO_TO_32)
  }

  /** A length byte, then the text. */
  sized(value: Utf8Text): this {
    assert(value.length <= 0xff, 'a sized field holds at most 255 bytes')
    return this.u8(value.length).text(value)
  }

  /**
   * The UTF-8 encoding of a measured text, written in place: TextEncoder would allocate an
   * array per field and costs more than the whole key otherwise.
   */
  text(value: Utf8Text): this {
    const { text } = value
    for (let index = 0; index < text.length; index++) {
      let point = text.charCodeAt(index)
      if (point >= 0xd800 && point <= 0xdbff) {
        point = 0x10000 + ((point - 0xd800) << 10) + (text.charCodeAt(++index) - 0xdc00)
      }
      if (point < 0x80) {
        this.u8(point)
      } else if (point < 0x800) {
        this.u8(0xc0 | (point >> 6)).u8(0x80 | (point & 0x3f))
      } else if (point < 0x10000) {
        this.u8(0xe0 | (point >> 12))
          .u8(0x80 | ((point >> 6) & 0x3f))
          .u8(0x80 | (point & 0x3f))
      } else {
        this.u8(0xf0 | (point >> 18))
          .u8(0x80 | ((point >> 12) & 0x3f))
          .u8(0x80 | ((point >> 6) & 0x3f))
          .u8(0x80 | (point & 0x3f))
      }
    }
    return this
  }

  /** Bytes copied as they are, such as a complete key embedded in another. */
  raw(value: Bytes): this {
    this.bytes.set(value, this.offset)
    this.offset += value.length
    return this
  }

  finish(): Uint8Array {
    assert(this.offset === this.bytes.length, 'key length was miscomputed')
    return this.bytes
  }
}

/** Sequential big-endian key parsing that reports a short or malformed key as undefined. */
class KeyReader {
  private offset = 0

  constructor(private readonly bytes: Bytes) {}

  get remaining(): number {
    return this.bytes.length - this.offset
  }

  /** The next `count` bytes (1..4) as an unsigned big-endian integer. */
  private unsigned(count: number): number | undefined {
    if (this.remaining < count) return undefined
    let value = 0
    for (let index = 0; index < count; index++) {
      value = value * 256 + (this.bytes[this.offset++] as number)
    }
    return value
  }

  u8(): number | undefined {
    return this.unsigned(1)
  }

  u16(): number | undefined {
    return this.unsigned(2)
  }

  u64(): number | undefined {
    const high = this.unsigned(4)
    const low = this.unsigned(4)
    if (high === undefined || low === undefined) return undefined
    const value = high * TWO_TO_32 + low
    return Number.isSafeInteger(value) ? value : undefined
  }

  /** `length` bytes as strict UTF-8 (all remaining bytes when omitted); empty is malformed. */
  text(length: number = this.remaining): string | undefined {
    if (length < 1 || this.remaining < length) return undefined
    const slice = this.bytes.subarray(this.offset, this.offset + length)
    this.offset += length
    try {
      return utf8Decoder.decode(slice)
    } catch {
      return undefined
    }
  }

  sizedText(): string | undefined {
    const length = this.u8()
    return length === undefined ? undefined : this.text(length)
  }
}

/** The range of every key that starts with `prefix`. */
export function prefixRange(prefix: Bytes): KeyRange {
  assert(prefix.length > 0, 'a prefix range needs a non-empty prefix')
  // The upper bound is the prefix with its last non-0xff byte incremented and the rest cut.
  let end = prefix.length
  while (end > 0 && prefix[end - 1] === 0xff) end--
  if (end === 0) return { gte: prefix }
  const upper = copyBytes(prefix.subarray(0, end))
  upper[end - 1] = (upper[end - 1] as number) + 1
  return { gte: prefix, lt: upper }
}

/** Every key of one sublevel. */
export function sublevelRange(sublevel: Sublevel): KeyRange {
  return prefixRange(Uint8Array.of(SUBLEVEL_TAGS[sublevel]))
}

function partitionKeyspaceWriter(
  tag: number,
  partition: number,
  keyspace: string,
  suffixBytes: number,
): KeyWriter {
  assertPartition(partition)
  const keyspaceBytes = utf8Bytes(keyspace, KEYSPACE_BYTES_MAX, 'keyspace')
  return new KeyWriter(1 + 2 + 1 + keyspaceBytes.length + suffixBytes)
    .u8(tag)
    .u16(partition)
    .sized(keyspaceBytes)
}

export function dataKey(partition: number, keyspace: string, key: string): Bytes {
  const keyBytes = utf8Bytes(key, USER_KEY_BYTES_MAX, 'user key')
  return partitionKeyspaceWriter(SUBLEVEL_TAGS.data, partition, keyspace, keyBytes.length)
    .text(keyBytes)
    .finish()
}

/** The parts of a data key, or undefined for bytes that are not a well-formed data key. */
export function decodeDataKey(bytes: Bytes): DataKey | undefined {
  const reader = new KeyReader(bytes)
  if (reader.u8() !== SUBLEVEL_TAGS.data) return undefined
  const partition = reader.u16()
  const keyspace = reader.sizedText()
  if (partition === undefined || keyspace === undefined) return undefined
  if (reader.remaining > USER_KEY_BYTES_MAX) return undefined
  const key = reader.text()
  if (key === undefined) return undefined
  return { partition, keyspace, key }
}

/** Every data key of one partition, all keyspaces. */
export function partitionRange(partition: number): KeyRange {
  assertPartition(partition)
  return prefixRange(new KeyWriter(3).u8(SUBLEVEL_TAGS.data).u16(partition).finish())
}

/** Every data key of one keyspace in one partition, optionally only user keys with a prefix. */
export function keyspaceRange(partition: number, keyspace: string, keyPrefix = ''): KeyRange {
  const prefixBytes =
    keyPrefix === '' ? EMPTY_TEXT : utf8Bytes(keyPrefix, USER_KEY_BYTES_MAX, 'key prefix')
  return prefixRange(
    partitionKeyspaceWriter(SUBLEVEL_TAGS.data, partition, keyspace, prefixBytes.length)
      .text(prefixBytes)
      .finish(),
  )
}

function hintPrefixWriter(targetNodeId: string, suffixBytes: number): KeyWriter {
  const nodeBytes = utf8Bytes(targetNodeId, NAME_BYTES_MAX, 'target node id')
  return new KeyWriter(1 + 1 + nodeBytes.length + suffixBytes)
    .u8(SUBLEVEL_TAGS.hints)
    .sized(nodeBytes)
}

/** The parts of a hint key: whom the hint is for, and which record it holds. */
export interface HintedKey {
  readonly targetNodeId: string
  readonly data: DataKey
}

/** The key of the hint held for `targetNodeId` of the record under one data key. */
export function hintedKey(
  targetNodeId: string,
  partition: number,
  keyspace: string,
  key: string,
): Bytes {
  const data = dataKey(partition, keyspace, key)
  return hintPrefixWriter(targetNodeId, data.length).raw(data).finish()
}

/** The parts of a hint key in the data-key form, or undefined for any other bytes. */
export function decodeHintedKey(bytes: Bytes): HintedKey | undefined {
  const reader = new KeyReader(bytes)
  if (reader.u8() !== SUBLEVEL_TAGS.hints) return undefined
  const targetNodeId = reader.sizedText()
  if (targetNodeId === undefined) return undefined
  const data = decodeDataKey(bytes.subarray(bytes.length - reader.remaining))
  return data === undefined ? undefined : { targetNodeId, data }
}

/**
 * The legacy hint form: one hint per write, ordered by a sequence number. Replication keys
 * hints by data key (`hintedKey`); this form stays readable so old tooling keeps working.
 */
export function hintKey(targetNodeId: string, sequence: number): Bytes {
  assertNonNegativeInteger(sequence, 'hint sequence')
  return hintPrefixWriter(targetNodeId, 8).u64(sequence).finish()
}

export function decodeHintKey(bytes: Bytes): HintKey | undefined {
  const reader = new KeyReader(bytes)
  if (reader.u8() !== SUBLEVEL_TAGS.hints) return undefined
  const targetNodeId = reader.sizedText()
  const sequence = reader.u64()
  if (targetNodeId === undefined || sequence === undefined || reader.remaining !== 0) {
    return undefined
  }
  return { targetNodeId, sequence }
}

/** Every hint held for one target node, in sequence order. */
export function hintRange(targetNodeId: string): KeyRange {
  return prefixRange(hintPrefixWriter(targetNodeId, 0).finish())
}

export function metaKey(name: string): Bytes {
  const nameBytes = utf8Bytes(name, NAME_BYTES_MAX, 'meta name')
  return new KeyWriter(1 + nameBytes.length).u8(SUBLEVEL_TAGS.meta).text(nameBytes).finish()
}

function raftPrefixWriter(
  groupId: string,
  kind: RaftKeyKind | undefined,
  suffixBytes: number,
): KeyWriter {
  const groupBytes = utf8Bytes(groupId, NAME_BYTES_MAX, 'raft group id')
  const kindBytes = kind === undefined ? 0 : 1
  const writer = new KeyWriter(1 + 1 + groupBytes.length + kindBytes + suffixBytes)
    .u8(SUBLEVEL_TAGS.raft)
    .sized(groupBytes)
  return kind === undefined ? writer : writer.u8(RAFT_KEY_KINDS.indexOf(kind) + 1)
}

/** A raft key; singletons (state, snapshot metadata) use index 0. */
export function raftKey(groupId: string, kind: RaftKeyKind, index: number): Bytes {
  assert(RAFT_KEY_KINDS.includes(kind), `unknown raft key kind ${kind}`)
  assertNonNegativeInteger(index, 'raft index')
  return raftPrefixWriter(groupId, kind, 8).u64(index).finish()
}

export function decodeRaftKey(bytes: Bytes): RaftKey | undefined {
  const reader = new KeyReader(bytes)
  if (reader.u8() !== SUBLEVEL_TAGS.raft) return undefined
  const groupId = reader.sizedText()
  const kindByte = reader.u8()
  const index = reader.u64()
  if (groupId === undefined || kindByte === undefined || index === undefined) return undefined
  const kind = RAFT_KEY_KINDS[kindByte - 1]
  if (kind === undefined || reader.remaining !== 0) return undefined
  return { groupId, kind, index }
}

/** Every key of one raft group, or of one kind in it. */
export function raftRange(groupId: string, kind?: RaftKeyKind): KeyRange {
  return prefixRange(raftPrefixWriter(groupId, kind, 0).finish())
}

/** Log entries of one group with fromIndex <= index < toIndexExclusive (to the end if omitted). */
export function raftLogRange(
  groupId: string,
  fromIndex: number,
  toIndexExclusive?: number,
): KeyRange {
  const gte = raftKey(groupId, 'log', fromIndex)
  if (toIndexExclusive === undefined) return { ...raftRange(groupId, 'log'), gte }
  assert(toIndexExclusive >= fromIndex, 'raft log range must not be inverted')
  return { gte, lt: raftKey(groupId, 'log', toIndexExclusive) }
}

/** One node of an anti-entropy (Merkle) tree of one keyspace in one partition. */
export function treeKey(
  partition: number,
  keyspace: string,
  level: number,
  position: number,
): Bytes {
  assert(Number.isInteger(level) && level >= 0 && level <= 0xff, `bad tree level ${level}`)
  assertNonNegativeInteger(position, 'tree position')
  assert(position < TWO_TO_32, `tree position must fit in 32 bits, got ${position}`)
  return partitionKeyspaceWriter(SUBLEVEL_TAGS.trees, partition, keyspace, 5)
    .u8(level)
    .u32(position)
    .finish()
}

/** Every tree node of one keyspace in one partition. */
export function treeRange(partition: number, keyspace: string): KeyRange {
  return prefixRange(partitionKeyspaceWriter(SUBLEVEL_TAGS.trees, partition, keyspace, 0).finish())
}

export function idempotencyKey(id: string): Bytes {
  const idBytes = utf8Bytes(id, NAME_BYTES_MAX, 'idempotency id')
  return new KeyWriter(1 + idBytes.length).u8(SUBLEVEL_TAGS.idempotency).text(idBytes).finish()
}

/** A readable form of any key for messages: decoded where the layout allows, else hex. */
export function describeKey(bytes: Bytes): string {
  const data = decodeDataKey(bytes)
  if (data !== undefined) {
    return `data/${data.partition}/${data.keyspace}/${JSON.stringify(data.key)}`
  }
  const hinted = decodeHintedKey(bytes)
  if (hinted !== undefined) {
    const { partition, keyspace, key } = hinted.data
    return `hint/${hinted.targetNodeId}/${partition}/${keyspace}/${JSON.stringify(key)}`
  }
  const hint = decodeHintKey(bytes)
  if (hint !== undefined) return `hint/${hint.targetNodeId}/${hint.sequence}`
  const raft = decodeRaftKey(bytes)
  if (raft !== undefined) return `raft/${raft.groupId}/${raft.kind}/${raft.index}`
  return `key 0x${bytesToHex(bytes)}`
}
