/**
 * The data structures of the linearizability search (src/check/linearizability.ts), built
 * from typed arrays so that the hot loop allocates little and memory grows with what the
 * search visits, never with a fixed cost per step:
 * - `EventList`: call and return events in time order, from which linearized operations are
 *   lifted and to which they are restored (dancing links);
 * - `Bitset`: the set of linearized operations with an incremental hash and a window that
 *   keeps memo entries small in long histories;
 * - `StateCache`: the memo of visited search nodes, with pruning by dominance;
 * - `SearchStack`: the path of the search, and the longest linearization it has seen.
 */

import { assert } from '../env/assert.js'
import type { Operation } from './history.js'
import { avalanche, type Model } from './models.js'

/** The absent index: no entry, no operation. */
export const NONE = -1

export interface BitLayout {
  /** The bit of each operation in the linearized set. */
  readonly bitOf: Int32Array
  readonly bitsCount: number
  readonly fixedWordsCount: number
}

/** Pending operations take the fixed words; completed ones follow in call-time order. */
export function layoutBits(operations: readonly Operation<unknown, unknown>[]): BitLayout {
  const pendingCount = operations.filter((operation) => operation.status === 'pending').length
  const fixedWordsCount = Math.ceil(pendingCount / 32)
  const bitOf = new Int32Array(operations.length)
  const completed: number[] = []
  let pendingBit = 0
  operations.forEach((operation, index) => {
    if (operation.status === 'pending') bitOf[index] = pendingBit++
    else completed.push(index)
  })
  completed.sort(
    (left, right) =>
      (operations[left]?.callTime ?? 0) - (operations[right]?.callTime ?? 0) || left - right,
  )
  completed.forEach((operation, rank) => {
    bitOf[operation] = fixedWordsCount * 32 + rank
  })
  return { bitOf, bitsCount: fixedWordsCount * 32 + completed.length, fixedWordsCount }
}

export function callEntry(operation: number): number {
  return operation << 1
}

export function isCall(entry: number): boolean {
  return (entry & 1) === 0
}

/**
 * The call and return events of a partition, in time order, as a doubly linked list over
 * typed arrays. Entry `2i` is operation i's call and `2i + 1` its return; pending operations
 * have no return in the list. At equal times calls come first, so intervals are closed.
 */
export class EventList {
  private readonly nextEntry: Int32Array
  private readonly previousEntry: Int32Array
  private readonly head: number
  private readonly completed: Uint8Array

  constructor(operations: readonly Operation<unknown, unknown>[]) {
    const entries: { entry: number; time: number }[] = []
    this.completed = new Uint8Array(operations.length)
    operations.forEach((operation, index) => {
      entries.push({ entry: callEntry(index), time: operation.callTime })
      if (operation.status === 'completed') {
        this.completed[index] = 1
        entries.push({ entry: callEntry(index) + 1, time: operation.returnTime })
      }
    })
    entries.sort(
      (left, right) => left.time - right.time || byKindThenIndex(left.entry, right.entry),
    )
    this.head = operations.length * 2
    this.nextEntry = new Int32Array(this.head + 1).fill(NONE)
    this.previousEntry = new Int32Array(this.head + 1).fill(NONE)
    let previous = this.head
    for (const { entry } of entries) {
      this.nextEntry[previous] = entry
      this.previousEntry[entry] = previous
      previous = entry
    }
  }

  first(): number {
    return this.at(this.nextEntry, this.head)
  }

  next(entry: number): number {
    return this.at(this.nextEntry, entry)
  }

  isCompleted(operation: number): boolean {
    return this.completed[operation] === 1
  }

  /** Removes the operation's events; `unlift` must undo lifts in reverse order. */
  lift(operation: number): void {
    this.unlink(callEntry(operation))
    if (this.isCompleted(operation)) this.unlink(callEntry(operation) + 1)
  }

  unlift(operation: number): void {
    if (this.isCompleted(operation)) this.relink(callEntry(operation) + 1)
    this.relink(callEntry(operation))
  }

  private unlink(entry: number): void {
    const previous = this.at(this.previousEntry, entry)
    const next = this.at(this.nextEntry, entry)
    this.nextEntry[previous] = next
    if (next !== NONE) this.previousEntry[next] = previous
  }

  private relink(entry: number): void {
    const previous = this.at(this.previousEntry, entry)
    const next = this.at(this.nextEntry, entry)
    this.nextEntry[previous] = entry
    if (next !== NONE) this.previousEntry[next] = entry
  }

  private at(links: Int32Array, entry: number): number {
    return links[entry] ?? NONE
  }
}

function byKindThenIndex(left: number, right: number): number {
  return (left & 1) - (right & 1) || left - right
}

const FULL_WORD = 0xffffffff

/**
 * A fixed-size bitset of linearized operations. Words before `fixedWordsCount` hold pending
 * operations: the memo compares them by inclusion, so they are left out of the Zobrist `hash`,
 * and are stored whole. The other words hold completed operations numbered by call time; in a
 * long history they are all ones up to a narrow window of concurrent operations and all zeros
 * after it, so the memo stores only the window [`low`, `end`) and an entry costs the window,
 * not the history.
 */
export class Bitset {
  readonly words: Uint32Array
  readonly fixedWordsCount: number
  hash = 0
  /** The first unfixed word that is not full; every unfixed word before it is full. */
  low: number
  /** One past the last nonzero unfixed word (at least `low`); every word from it on is zero. */
  end: number

  constructor(
    readonly bitsCount: number,
    fixedWordsCount = 0,
  ) {
    assert(bitsCount >= fixedWordsCount * 32, 'fixed words exceed the bitset')
    this.words = new Uint32Array(Math.max(1, Math.ceil(bitsCount / 32)))
    this.fixedWordsCount = fixedWordsCount
    this.low = fixedWordsCount
    this.end = fixedWordsCount
  }

  /** Flips one bit, keeping the hash, `low` and `end` current in amortized constant time. */
  toggle(bit: number): void {
    assert(bit >= 0 && bit < this.bitsCount, 'bit out of range')
    const word = bit >>> 5
    const before = this.words[word] ?? 0
    const after = (before ^ (1 << (bit & 31))) >>> 0
    this.words[word] = after
    if (word < this.fixedWordsCount) return
    this.hash = (this.hash ^ zobrist(bit)) >>> 0
    if (after === FULL_WORD && word === this.low) {
      while (this.low < this.words.length && this.words[this.low] === FULL_WORD) this.low++
    } else if (before === FULL_WORD && word < this.low) {
      this.low = word
    }
    if (after !== 0 && word >= this.end) {
      this.end = word + 1
    } else if (after === 0 && word === this.end - 1) {
      while (this.end > this.fixedWordsCount && this.words[this.end - 1] === 0) this.end--
    }
    assert(this.end >= this.low, 'bitset window out of order')
  }
}

/** A fixed pseudo-random 32-bit value per bit. */
function zobrist(bit: number): number {
  return avalanche(Math.imul(bit + 1, 0x9e3779b9))
}

/** Entries the memo starts with; it doubles as needed (the step budget bounds it). */
const cacheEntriesCountInitial = 1024

/**
 * The memo of visited search nodes, as a chained hash table whose entries live in flat typed
 * arrays, so a search of millions of steps allocates a few large arrays instead of millions of
 * small ones and keeps the garbage collector idle. An entry's bitset is stored in `data` as
 * [low, end, fixed words..., words low..end).
 *
 * A node (linearized set, model state) is pruned when a finished node had the same completed
 * operations and state and a subset of its pending operations. Pending operations are optional,
 * so every continuation of the pruned node was open to the finished one, whose subtree held no
 * linearization. With equal sets this is Lowe's memoization; with smaller ones it keeps crashed
 * operations from multiplying the search. A node still on the search stack never prunes: it is
 * an ancestor whose subtree is not exhausted yet.
 */
export class StateCache<S> {
  private data: Uint32Array = new Uint32Array(cacheEntriesCountInitial * 4)
  private dataUsed = 0
  private offsets: Int32Array = new Int32Array(cacheEntriesCountInitial)
  private hashes: Int32Array = new Int32Array(cacheEntriesCountInitial)
  /** 1 once the entry's node has left the search stack. */
  private finished: Uint8Array = new Uint8Array(cacheEntriesCountInitial)
  /** Next entry in the same slot's chain, or NONE. */
  private chain: Int32Array = new Int32Array(cacheEntriesCountInitial)
  /** First entry of each slot's chain, or NONE; the slot count is a power of two. */
  private slots: Int32Array = new Int32Array(cacheEntriesCountInitial).fill(NONE)
  private readonly states: S[] = []
  private count = 0

  constructor(private readonly model: Model<S, unknown, unknown>) {}

  /** Records a node the search enters and returns its entry, or NONE when it is pruned. */
  visit(linearized: Bitset, state: S): number {
    // The hash leaves out pending operations, which are matched by inclusion.
    const hash = (linearized.hash ^ Math.imul(this.model.hash(state), 0x9e3779b1)) | 0
    let slot = hash & (this.slots.length - 1)
    for (let entry = this.slots[slot] ?? NONE; entry !== NONE; entry = this.chain[entry] ?? NONE) {
      if (
        this.hashes[entry] === hash &&
        this.finished[entry] === 1 &&
        this.covers(entry, linearized) &&
        this.model.equal(this.states[entry] as S, state)
      ) {
        return NONE
      }
    }
    if (this.count === this.hashes.length) {
      this.grow()
      slot = hash & (this.slots.length - 1)
    }
    const entry = this.count++
    this.store(entry, linearized)
    this.hashes[entry] = hash
    this.states[entry] = state
    this.chain[entry] = this.slots[slot] ?? NONE
    this.slots[slot] = entry
    return entry
  }

  /** Marks the entry's node as left: its subtree was searched without success. */
  leave(entry: number): void {
    assert(entry >= 0 && entry < this.count && this.finished[entry] === 0, 'leave of a bad entry')
    this.finished[entry] = 1
  }

  /** Same completed operations, and a subset of the pending ones. */
  private covers(entry: number, linearized: Bitset): boolean {
    const { words, low, end, fixedWordsCount } = linearized
    const offset = this.offsets[entry] ?? 0
    if (this.data[offset] !== low || this.data[offset + 1] !== end) return false
    for (let index = 0; index < fixedWordsCount; index++) {
      if (((this.data[offset + 2 + index] ?? 0) & ~(words[index] ?? 0)) !== 0) return false
    }
    const spanOffset = offset + 2 + fixedWordsCount - low
    for (let index = low; index < end; index++) {
      if (this.data[spanOffset + index] !== words[index]) return false
    }
    return true
  }

  private store(entry: number, linearized: Bitset): void {
    const { words, low, end, fixedWordsCount } = linearized
    const length = 2 + fixedWordsCount + end - low
    if (this.dataUsed + length > this.data.length) {
      const data = new Uint32Array(Math.max(this.data.length * 2, this.dataUsed + length))
      data.set(this.data)
      this.data = data
    }
    const offset = this.dataUsed
    this.data[offset] = low
    this.data[offset + 1] = end
    this.data.set(words.subarray(0, fixedWordsCount), offset + 2)
    this.data.set(words.subarray(low, end), offset + 2 + fixedWordsCount)
    this.offsets[entry] = offset
    this.dataUsed += length
  }

  /** Doubles the per-entry arrays and the slot table, then rechains every entry. */
  private grow(): void {
    const capacity = this.hashes.length * 2
    this.offsets = copyInto(new Int32Array(capacity), this.offsets)
    this.hashes = copyInto(new Int32Array(capacity), this.hashes)
    this.finished = copyInto(new Uint8Array(capacity), this.finished)
    this.chain = new Int32Array(capacity)
    this.slots = new Int32Array(capacity).fill(NONE)
    for (let entry = 0; entry < this.count; entry++) {
      const slot = (this.hashes[entry] ?? 0) & (capacity - 1)
      this.chain[entry] = this.slots[slot] ?? NONE
      this.slots[slot] = entry
    }
  }
}

function copyInto<T extends Int32Array | Uint8Array>(target: T, source: T): T {
  target.set(source)
  return target
}

/** One linearized operation on the search path, with what to restore when it is undone. */
export interface StackFrame<S> {
  readonly operation: number
  readonly stateBefore: S
  readonly cacheEntry: number
}

/**
 * The path of the search, plus a copy of the deepest path seen. The copy is refreshed only
 * from the lowest depth popped since the last refresh, so keeping it costs amortized constant
 * time per push.
 */
export class SearchStack<S> {
  private readonly frames: StackFrame<S>[] = []
  private readonly deepestOperations: number[] = []
  private unchangedDepth = 0

  constructor(private readonly capacity: number) {}

  get depth(): number {
    return this.frames.length
  }

  push(frame: StackFrame<S>): void {
    assert(this.frames.length < this.capacity, 'search stack overflow')
    this.frames.push(frame)
    if (this.frames.length > this.deepestOperations.length) this.snapshot()
  }

  pop(): StackFrame<S> {
    const frame = this.frames.pop()
    assert(frame !== undefined, 'search stack underflow')
    this.unchangedDepth = Math.min(this.unchangedDepth, this.frames.length)
    return frame
  }

  /** The deepest linearization seen, as operation indexes in order. */
  longest(): readonly number[] {
    return this.deepestOperations
  }

  private snapshot(): void {
    for (let index = this.unchangedDepth; index < this.frames.length; index++) {
      this.deepestOperations[index] = this.frames[index]?.operation ?? NONE
    }
    this.deepestOperations.length = this.frames.length
    this.unchangedDepth = this.frames.length
  }
}
