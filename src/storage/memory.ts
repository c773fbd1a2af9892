/**
 * An in-memory StorageEngine for unit tests and the deterministic simulator, with the
 * durability semantics of RocksDB's write-ahead log.
 *
 * A MemoryDisk holds the state that survives a crash and outlives engines; `new
 * MemoryEngine(disk)` opens it, and at most one engine has a disk open at a time (as RocksDB's
 * LOCK file allows one process). A write is visible at once. It becomes durable when a later
 * (or its own) write has `sync: true`, when `flush()` is called, when the engine closes cleanly,
 * or when the unsynced tail grows past `unsyncedOpsMax` (a memtable flush). Because the log is
 * sequential, a synced batch makes every earlier batch durable too. `disk.crash()` is a power
 * loss: the unsynced tail is discarded and the open engine dies (every later call on it
 * rejects), so a reopened engine sees exactly the durable writes.
 *
 * Every accepted write lives in one SortedTable (byte-wise order); the unsynced tail is kept as
 * an undo log (each op's previous value), which a crash replays backwards, so syncing costs
 * nothing and a crash costs only the lost ops. Values are copied in and out, so callers can
 * never alias stored bytes. No timers, clocks or randomness: every result is deterministic, and
 * every promise settles in the microtask queue of the call that created it.
 */

import { assert, assertNonNegativeInteger } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import type {
  Bytes,
  KeyRange,
  StorageEngine,
  StorageStats,
  WriteOp,
  WriteOptions,
} from './engine.js'
import {
  assertKeyRange,
  assertWriteOps,
  copyBytes,
  engineClosedError,
  rangeContains,
} from './engine-support.js'
import { SortedTable } from './sorted-table.js'

export interface MemoryDiskOptions {
  /**
   * Unsynced ops after which the tail becomes durable on its own, as a RocksDB memtable flush
   * would make it. It also bounds the memory held by the undo log. Default 100000.
   */
  readonly unsyncedOpsMax?: number
}

/** How to take back one unsynced op: the value its key held before (undefined: absent). */
interface UndoEntry {
  readonly key: Bytes
  readonly previous: Bytes | undefined
}

/** What an engine reads and writes; kept out of MemoryDisk's public surface. */
interface DiskState {
  /** Every accepted write, durable or not: what reads see. */
  readonly table: SortedTable
  /** One entry per unsynced op, oldest first; undone newest first on a crash. */
  undo: UndoEntry[]
  readonly unsyncedOpsMax: number
  /** The engine that has the disk open, by the hook that kills it on a crash. */
  owner: { readonly kill: (reason: string) => void } | undefined
}

const diskStates = new WeakMap<MemoryDisk, DiskState>()

function stateOf(disk: MemoryDisk): DiskState {
  const state = diskStates.get(disk)
  assert(state !== undefined, 'memory disk state is missing')
  return state
}

function makeDurable(state: DiskState): void {
  state.undo = []
}

/** The durable state of one simulated node's disk; it outlives engines and crashes. */
export class MemoryDisk {
  constructor(options: MemoryDiskOptions = {}) {
    const unsyncedOpsMax = options.unsyncedOpsMax ?? 100_000
    assertNonNegativeInteger(unsyncedOpsMax, 'unsyncedOpsMax')
    diskStates.set(this, { table: new SortedTable(), undo: [], unsyncedOpsMax, owner: undefined })
  }

  /** Ops written but not yet durable: what a crash now would lose. */
  get unsyncedOps(): number {
    return stateOf(this).undo.length
  }

  /** Whether an engine has this disk open. */
  get inUse(): boolean {
    return stateOf(this).owner !== undefined
  }

  /**
   * A power loss: the unsynced tail is undone, newest op first, and the engine that had the
   * disk open dies. Returns the number of ops lost.
   */
  crash(): number {
    const state = stateOf(this)
    const lostOps = state.undo.length
    state.owner?.kill('lost in a simulated crash')
    state.owner = undefined
    for (let index = state.undo.length - 1; index >= 0; index--) {
      const { key, previous } = state.undo[index] as UndoEntry
      if (previous === undefined) state.table.del(key)
      else state.table.put(key, previous)
    }
    state.undo = []
    return lostOps
  }

  /**
   * Test hook: flips bit `bitIndex` (0 = most significant bit of the first byte) of the latest
   * value stored under `key`, as a bad sector would. Returns false when the key is absent. If
   * that value is unsynced, a crash takes it back together with its corruption.
   */
  corruptValue(key: Bytes, bitIndex = 0): boolean {
    const state = stateOf(this)
    const current = state.table.get(key)
    if (current === undefined) return false
    assertNonNegativeInteger(bitIndex, 'bitIndex')
    assert(
      bitIndex < current.length * 8,
      `bit ${bitIndex} is outside a ${current.length}-byte value`,
    )
    const flipped = copyBytes(current)
    const byteIndex = bitIndex >>> 3
    flipped[byteIndex] = (flipped[byteIndex] as number) ^ (0x80 >>> (bitIndex & 7))
    state.table.put(key, flipped)
    return true
  }
}

export class MemoryEngine implements StorageEngine {
  readonly kind = 'memory'
  readonly disk: MemoryDisk
  private readonly owner: { readonly kill: (reason: string) => void }
  private closedReason: string | undefined

  /** Opens `disk` (a fresh one by default); throws config_invalid if it is already open. */
  constructor(disk: MemoryDisk = new MemoryDisk()) {
    const state = stateOf(disk)
    if (state.owner !== undefined) {
      throw new MurmurError('config_invalid', 'memory disk is already open in another engine')
    }
    // A crash kills the engine as it would kill the process: it stops serving at once.
    this.owner = {
      kill: (reason) => {
        this.closedReason ??= reason
      },
    }
    state.owner = this.owner
    this.disk = disk
  }

  private open(operation: string): DiskState {
    if (this.closedReason !== undefined) {
      throw engineClosedError(`memory engine (${this.closedReason})`, operation)
    }
    const state = stateOf(this.disk)
    assert(state.owner === this.owner, 'an open memory engine must own its disk')
    return state
  }

  async get(key: Bytes): Promise<Bytes | undefined> {
    const value = this.open('get').table.get(key)
    return value === undefined ? undefined : copyBytes(value)
  }

  async getMany(keys: readonly Bytes[]): Promise<(Bytes | undefined)[]> {
    const state = this.open('getMany')
    return keys.map((key) => {
      const value = state.table.get(key)
      return value === undefined ? undefined : copyBytes(value)
    })
  }

  async write(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    const state = this.open('write')
    assertWriteOps(ops)
    for (const op of ops) {
      const key = copyBytes(op.key)
      const previous =
        op.type === 'put' ? state.table.put(key, copyBytes(op.value)) : state.table.del(key)
      state.undo.push({ key, previous })
    }
    if (options.sync || state.undo.length > state.unsyncedOpsMax) makeDurable(state)
  }

  async *iterate(range: KeyRange): AsyncIterable<readonly [Bytes, Bytes]> {
    assertKeyRange(range)
    const entries = this.open('iterate').table.select(range)
    for (const [key, value] of entries) {
      assert(rangeContains(range, key), 'a selected key must lie inside its range')
      yield [copyBytes(key), copyBytes(value)]
      this.open('iterate')
    }
  }

  async stats(): Promise<StorageStats> {
    const state = this.open('stats')
    return { liveDataBytes: state.table.liveDataBytes, keysEstimate: state.table.size }
  }

  async flush(): Promise<void> {
    makeDurable(this.open('flush'))
  }

  /** A clean shutdown: the tail becomes durable and the disk is free to open again. */
  async close(): Promise<void> {
    if (this.closedReason !== undefined) return
    const state = this.open('close')
    makeDurable(state)
    state.owner = undefined
    this.closedReason = 'closed'
  }
}
