/**
 * The anti-entropy hash tree of one (keyspace, partition): a fixed-shape tree whose leaves
 * (segments) each summarize the keys that hash into them, so two replicas find the keys they
 * disagree on by comparing a few hashes top-down instead of every record.
 *
 * Shape: `TREE_FANOUT` (16) children per node and `depth` levels below the root, so a tree has
 * 16^depth segments (depth 3: 4096). Level 0 is the root; node `index` at level `l` covers
 * nodes `index * 16 .. index * 16 + 15` at level `l + 1`. A key's segment depends on the key
 * alone (`segmentOf`), never on its record, so a key stays in one segment for ever.
 *
 * What is hashed (`recordHash`): the key and the record's causal summary, i.e. the DVV clock,
 * each sibling's dot with a tombstone marker, and the CRDT sub-states. A value and its digest
 * hash alike, so a witness (digests) and a full replica (values) that hold the same writes
 * compare equal, and tombstones are covered: a replica that missed a delete differs. Value
 * bytes are left out on purpose: a dot names one write, so equal dots mean equal values.
 *
 * Every node's hash is the XOR of the 64-bit hashes of all keys below it (two 32-bit words,
 * no BigInt). XOR makes a write's update O(depth): XOR out the key's old hash and XOR in the
 * new one along its path, in any order, so concurrent updates of one key need no ordering.
 * Two different key sets collide only with probability 2^-64 per node.
 *
 * Contract: `update(key, before, after)` must be told every change of a key's hash (undefined:
 * absent); then the tree equals one built from scratch from the current records (the property
 * tests check this). Pure: no IO, no clock.
 */

import { assert } from '../../env/assert.js'
import { hashString, murmurHash3 } from '../../ring/hash.js'
import { compareDots } from '../../versioning/dvv.js'
import { encode } from '../../wire/codec.js'
import { encodeKeyRecord, isEmptyRecord, type KeyRecord, kvState } from '../record.js'

export const TREE_FANOUT = 16
const FANOUT_BITS = 4
/** Deepest tree: 16^5 (about one million) segments, Riak's size. */
export const TREE_DEPTH_MAX = 5
/** Bytes of one node hash on the wire: two big-endian 32-bit words. */
export const NODE_HASH_BYTES = 8

const SEGMENT_SEED = 0x5e6d_e47f
const HASH_SEED_HIGH = 0x9e37_79b9
const HASH_SEED_LOW = 0x85eb_ca6b

/** A key's 64-bit hash as two unsigned 32-bit words. */
export interface KeyHash {
  readonly high: number
  readonly low: number
}

/** The segment of `key` in a tree of `segments` segments (a power of two). */
export function segmentOf(key: string, segments: number): number {
  assert(segments >= 1 && (segments & (segments - 1)) === 0, `bad segment count ${segments}`)
  return (hashString(key, SEGMENT_SEED) & (segments - 1)) >>> 0
}

/**
 * The causal summary that a key's hash covers, as text: the key, the clock sorted by actor,
 * and each sibling's dot with `+` for a live write (value or digest) or `-` for a tombstone,
 * sorted by dot. Every variable-length part carries its length, so no two summaries share a
 * text. Text hashing costs about a microsecond; a msgpack encoding cost ten.
 */
function causalText(key: string, record: KeyRecord): string {
  const kv = kvState(record)
  let text = `${key.length}:${key}|`
  const vector = kv.clock.vector
  const actors = [...vector.keys()].sort()
  for (const actor of actors) text += `${actor.length}:${actor}=${vector.get(actor)};`
  // Cloud dots (rare, and gone once replicas converge) only when present, so a clock without
  // them hashes as it always has.
  for (const dot of kv.clock.cloud) text += `${dot.actor.length}:${dot.actor}@${dot.counter};`
  text += '|'
  const siblings =
    kv.siblings.length > 1
      ? [...kv.siblings].sort((left, right) => compareDots(left.dot, right.dot))
      : kv.siblings
  for (const { dot, payload } of siblings) {
    text += `${dot.actor.length}:${dot.actor}@${dot.counter}${payload.kind === 'tombstone' ? '-' : '+'};`
  }
  return text
}

/** The hash of a key and its record; undefined when the record is absent or empty. */
export function recordHash(key: string, record: KeyRecord | undefined): KeyHash | undefined {
  if (record === undefined || isEmptyRecord(record)) return undefined
  const text = causalText(key, record)
  let high = hashString(text, HASH_SEED_HIGH)
  let low = hashString(text, HASH_SEED_LOW)
  if (record.counter !== undefined || record.set !== undefined) {
    // CRDT sub-states hash in their canonical (sorted) wire form, chained onto the text's hash.
    const wire = encodeKeyRecord({
      ...(record.counter === undefined ? {} : { counter: record.counter }),
      ...(record.set === undefined ? {} : { set: record.set }),
    })
    const bytes = encode([wire.c ?? null, wire.s ?? null])
    high = murmurHash3(bytes, high)
    low = murmurHash3(bytes, low)
  }
  return { high: high >>> 0, low: low >>> 0 }
}

export function keyHashesEqual(left: KeyHash | undefined, right: KeyHash | undefined): boolean {
  if (left === undefined || right === undefined) return left === right
  return left.high === right.high && left.low === right.low
}

/** The 8 wire bytes of a hash. */
export function keyHashBytes(hash: KeyHash): Uint8Array {
  const bytes = new Uint8Array(NODE_HASH_BYTES)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, hash.high)
  view.setUint32(4, hash.low)
  return bytes
}

/** The hash in 8 wire bytes at `offset` of `bytes`. */
export function keyHashFromBytes(bytes: Uint8Array, offset = 0): KeyHash {
  assert(offset >= 0 && offset + NODE_HASH_BYTES <= bytes.length, 'hash bytes out of range')
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, NODE_HASH_BYTES)
  return { high: view.getUint32(0), low: view.getUint32(4) }
}

export class HashTree {
  readonly depth: number
  readonly segments: number
  /** Level l holds 16^l nodes, each two words (high, low). */
  private readonly levels: Uint32Array[]
  /** Keys per segment, so a rebuild can keep some segments and still count keys exactly. */
  private readonly segmentKeys: Uint32Array
  /** Keys with a record in the tree, for status and checks. */
  private keys = 0

  constructor(depth: number) {
    assert(Number.isSafeInteger(depth) && depth >= 1 && depth <= TREE_DEPTH_MAX, `depth ${depth}`)
    this.depth = depth
    this.segments = TREE_FANOUT ** depth
    this.levels = []
    for (let level = 0; level <= depth; level++) {
      this.levels.push(new Uint32Array(2 * TREE_FANOUT ** level))
    }
    this.segmentKeys = new Uint32Array(this.segments)
  }

  get keyCount(): number {
    return this.keys
  }

  /** Nodes at `level`: 16^level. */
  width(level: number): number {
    assert(Number.isSafeInteger(level) && level >= 0 && level <= this.depth, `level ${level}`)
    return TREE_FANOUT ** level
  }

  /** Records that `key`'s hash changed from `before` to `after` (undefined: absent). */
  update(key: string, before: KeyHash | undefined, after: KeyHash | undefined): void {
    if (keyHashesEqual(before, after)) return
    const segment = segmentOf(key, this.segments)
    if (before !== undefined) this.toggle(segment, before)
    if (after !== undefined) this.toggle(segment, after)
    const delta = (before === undefined ? 1 : 0) - (after === undefined ? 1 : 0)
    const count = (this.segmentKeys[segment] as number) + delta
    assert(count >= 0, 'a segment never holds fewer than zero keys')
    this.segmentKeys[segment] = count
    this.keys += delta
  }

  /** The hash of node `index` at `level`. */
  node(level: number, index: number): KeyHash {
    assert(Number.isSafeInteger(index) && index >= 0 && index < this.width(level), 'node index')
    const words = this.levels[level] as Uint32Array
    return { high: words[2 * index] as number, low: words[2 * index + 1] as number }
  }

  /** The hashes of nodes `indices` at `level`, 8 bytes each, for an exchange message. */
  nodeBytes(level: number, indices: readonly number[]): Uint8Array {
    const bytes = new Uint8Array(indices.length * NODE_HASH_BYTES)
    const view = new DataView(bytes.buffer)
    indices.forEach((index, position) => {
      const hash = this.node(level, index)
      view.setUint32(position * NODE_HASH_BYTES, hash.high)
      view.setUint32(position * NODE_HASH_BYTES + 4, hash.low)
    })
    return bytes
  }

  /** True when both trees have the same shape and every node hash. */
  equals(other: HashTree): boolean {
    if (other.depth !== this.depth) return false
    return this.levels.every((words, level) => {
      const others = other.levels[level] as Uint32Array
      return words.every((word, index) => word === others[index])
    })
  }

  /**
   * Takes `source`'s segments (hashes and key counts) except those in `keep`, whose live
   * values stay, and recomputes the inner nodes. A scheduled rebuild uses it: it cannot vouch
   * for segments written while it scanned, and the live tree is exact for those.
   */
  adoptSegments(source: HashTree, keep: ReadonlySet<number>): void {
    assert(source.depth === this.depth, 'trees of one shape')
    const leaves = this.levels[this.depth] as Uint32Array
    const fresh = source.levels[this.depth] as Uint32Array
    let keys = 0
    for (let segment = 0; segment < this.segments; segment++) {
      if (!keep.has(segment)) {
        leaves[2 * segment] = fresh[2 * segment] as number
        leaves[2 * segment + 1] = fresh[2 * segment + 1] as number
        this.segmentKeys[segment] = source.segmentKeys[segment] as number
      }
      keys += this.segmentKeys[segment] as number
    }
    for (let level = this.depth - 1; level >= 0; level--) this.recomputeLevel(level)
    this.keys = keys
  }

  private recomputeLevel(level: number): void {
    const parents = this.levels[level] as Uint32Array
    const children = this.levels[level + 1] as Uint32Array
    parents.fill(0)
    for (let child = 0; child < children.length / 2; child++) {
      const parent = child >>> FANOUT_BITS
      parents[2 * parent] =
        ((parents[2 * parent] as number) ^ (children[2 * child] as number)) >>> 0
      parents[2 * parent + 1] =
        ((parents[2 * parent + 1] as number) ^ (children[2 * child + 1] as number)) >>> 0
    }
  }

  private toggle(segment: number, hash: KeyHash): void {
    for (let level = this.depth; level >= 0; level--) {
      const index = segment >>> (FANOUT_BITS * (this.depth - level))
      const words = this.levels[level] as Uint32Array
      words[2 * index] = ((words[2 * index] as number) ^ hash.high) >>> 0
      words[2 * index + 1] = ((words[2 * index + 1] as number) ^ hash.low) >>> 0
    }
  }
}
