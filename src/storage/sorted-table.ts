/**
 * An ordered map from byte keys to byte values (byte-wise order, as RocksDB sorts), for the
 * in-memory engine. Entries live in blocks of at most `blockEntriesMax` sorted entries, and the
 * blocks are themselves sorted: a two-level B+tree. Lookups binary-search the blocks by their
 * first key, then the block; an insert moves at most one block's entries, so a node with 1e5
 * or 1e6 keys stays fast where one flat sorted array would move half the keys on every insert.
 *
 * Invariants: no block is empty; keys inside a block ascend strictly; the last key of a block
 * is below the first key of the next. The table stores the byte arrays it is given: callers
 * copy them first when they must not be aliased.
 */

import { assert } from '../env/assert.js'
import type { Bytes, KeyRange } from './engine.js'
import { compareBytes } from './engine-support.js'

/** Entries per block before it splits in two, unless the constructor says otherwise. */
const BLOCK_ENTRIES_MAX_DEFAULT = 512

interface Block {
  readonly keys: Bytes[]
  readonly values: Bytes[]
}

/** A position between entries: before entry `index` of block `block`. */
interface Cursor {
  readonly block: number
  readonly index: number
}

/** The first index of sorted `keys` holding a key >= `key` (> `key` when `strict`). */
function lowerBound(keys: readonly Bytes[], key: Bytes, strict: boolean): number {
  let low = 0
  let high = keys.length
  while (low < high) {
    const middle = (low + high) >>> 1
    const order = compareBytes(keys[middle] as Bytes, key)
    if (order < 0 || (strict && order === 0)) low = middle + 1
    else high = middle
  }
  return low
}

export class SortedTable {
  private readonly blocks: Block[] = []
  private entries = 0
  private dataBytes = 0

  /** `blockEntriesMax` is a parameter so that tests can force splits with a few keys. */
  constructor(private readonly blockEntriesMax = BLOCK_ENTRIES_MAX_DEFAULT) {
    assert(Number.isInteger(blockEntriesMax) && blockEntriesMax >= 2, 'blocks need room for 2')
  }

  get size(): number {
    return this.entries
  }

  /** Sum of key and value lengths. */
  get liveDataBytes(): number {
    return this.dataBytes
  }

  get(key: Bytes): Bytes | undefined {
    const block = this.blocks[this.blockFor(key)]
    if (block === undefined) return undefined
    const index = lowerBound(block.keys, key, false)
    return this.holds(block, index, key) ? block.values[index] : undefined
  }

  /** Stores `value` under `key`; returns the value it replaced, if any. */
  put(key: Bytes, value: Bytes): Bytes | undefined {
    const blockIndex = this.blockFor(key)
    const block = this.blocks[blockIndex]
    if (block === undefined) {
      this.blocks.push({ keys: [key], values: [value] })
      this.count(key, value, 1)
      return undefined
    }
    const index = lowerBound(block.keys, key, false)
    if (this.holds(block, index, key)) {
      const previous = block.values[index] as Bytes
      block.values[index] = value
      this.dataBytes += value.length - previous.length
      return previous
    }
    block.keys.splice(index, 0, key)
    block.values.splice(index, 0, value)
    this.count(key, value, 1)
    if (block.keys.length > this.blockEntriesMax) {
      const half = block.keys.length >>> 1
      const upper = { keys: block.keys.splice(half), values: block.values.splice(half) }
      this.blocks.splice(blockIndex + 1, 0, upper)
    }
    return undefined
  }

  /** Removes `key`; returns the value it held, if any. */
  del(key: Bytes): Bytes | undefined {
    const blockIndex = this.blockFor(key)
    const block = this.blocks[blockIndex]
    if (block === undefined) return undefined
    const index = lowerBound(block.keys, key, false)
    if (!this.holds(block, index, key)) return undefined
    const previous = block.values[index] as Bytes
    const [removed] = block.keys.splice(index, 1)
    block.values.splice(index, 1)
    this.count(removed as Bytes, previous, -1)
    if (block.keys.length === 0) this.blocks.splice(blockIndex, 1)
    return previous
  }

  /** The entries of `range` in iteration order (limit and reverse applied), as a snapshot. */
  select(range: KeyRange): [Bytes, Bytes][] {
    const lower = range.gte ?? range.gt
    const upper = range.lte ?? range.lt
    const start =
      lower === undefined ? { block: 0, index: 0 } : this.seek(lower, range.gt !== undefined)
    const end =
      upper === undefined
        ? { block: this.blocks.length, index: 0 }
        : this.seek(upper, range.lte !== undefined)
    const limit = range.limit ?? Number.POSITIVE_INFINITY
    return range.reverse === true
      ? this.walkBackward(start, end, limit)
      : this.walkForward(start, end, limit)
  }

  private walkForward(start: Cursor, end: Cursor, limit: number): [Bytes, Bytes][] {
    const selected: [Bytes, Bytes][] = []
    let { block, index } = start
    while (selected.length < limit && isBefore(block, index, end)) {
      const current = this.blocks[block] as Block
      selected.push([current.keys[index] as Bytes, current.values[index] as Bytes])
      index++
      if (index === current.keys.length) {
        block++
        index = 0
      }
    }
    return selected
  }

  private walkBackward(start: Cursor, end: Cursor, limit: number): [Bytes, Bytes][] {
    const selected: [Bytes, Bytes][] = []
    let { block, index } = end
    while (selected.length < limit) {
      if (index === 0) {
        if (block === 0) break
        block--
        index = (this.blocks[block] as Block).keys.length
      }
      index--
      if (isBefore(block, index, start)) break
      const current = this.blocks[block] as Block
      selected.push([current.keys[index] as Bytes, current.values[index] as Bytes])
    }
    return selected
  }

  /** The block that holds `key` or would receive it: the last whose first key is <= `key`. */
  private blockFor(key: Bytes): number {
    let low = 0
    let high = this.blocks.length
    while (low < high) {
      const middle = (low + high) >>> 1
      const first = (this.blocks[middle] as Block).keys[0] as Bytes
      if (compareBytes(first, key) <= 0) low = middle + 1
      else high = middle
    }
    return Math.max(0, low - 1)
  }

  /** The cursor before the first entry >= `key` (> `key` when `strict`). */
  private seek(key: Bytes, strict: boolean): Cursor {
    const block = this.blockFor(key)
    const current = this.blocks[block]
    if (current === undefined) return { block: this.blocks.length, index: 0 }
    const index = lowerBound(current.keys, key, strict)
    return index === current.keys.length ? { block: block + 1, index: 0 } : { block, index }
  }

  private holds(block: Block, index: number, key: Bytes): boolean {
    const found = block.keys[index]
    return found !== undefined && compareBytes(found, key) === 0
  }

  private count(key: Bytes, value: Bytes, sign: 1 | -1): void {
    this.entries += sign
    this.dataBytes += sign * (key.length + value.length)
    assert(this.entries >= 0 && this.dataBytes >= 0, 'table counts went negative')
  }
}

function isBefore(block: number, index: number, cursor: Cursor): boolean {
  return block < cursor.block || (block === cursor.block && index < cursor.index)
}
