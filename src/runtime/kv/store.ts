/**
 * This node's replica store: the records of the keys it holds (data sublevel) and the hints it
 * keeps for nodes that were down (hints sublevel, one hint per target and data key).
 *
 * Contract:
 * - Read-modify-write of one record is serialized per key on this node (KeyedMutex), so a
 *   mutation always sees the latest record and two concurrent merges cannot lose each other.
 * - A mutation's record is written through the node's GroupCommitter; the promise resolves only
 *   after the commit, so callers acknowledge only durable state (synced when asked).
 * - A corrupt record is counted and read as missing: the next merge re-creates it from the
 *   replica that sent it, and read repair or hint replay supply the rest.
 * - Hints are merged like records, so repeated writes to one key leave one hint per target.
 *   A mutation may merge a hint in the same atomic write as its record (a coordinating
 *   witness keeps its record in witness form and the value in a hint, never one without the
 *   other); the record lock is then held while the hint lock is taken, never the reverse.
 *   Each target holds at most `hintsPerTargetMax` hints; a new one beyond is refused as
 *   overloaded. A hint is deleted only if it still equals what the target acknowledged.
 */

import { assert } from '../../env/assert.js'
import { errorMessage, MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { ListPart } from '../../replication/listing.js'
import {
  decodeKeyRecord,
  EMPTY_RECORD,
  encodeKeyRecord,
  isEmptyRecord,
  type KeyRecord,
  kvAbsent,
  mergeRecords,
  recordsEqual,
} from '../../replication/record.js'
import type { Bytes, KeyRange, StorageEngine, WriteOp } from '../../storage/engine.js'
import { compareBytes } from '../../storage/engine-support.js'
import type { GroupCommitter } from '../../storage/group-commit.js'
import {
  type DataKey,
  dataKey,
  decodeDataKey,
  decodeHintedKey,
  hintedKey,
  hintRange,
  keyspaceRange,
  sublevelRange,
} from '../../storage/layout.js'
import {
  type CorruptRecordHandler,
  decodeStoredRecord,
  putRecordOp,
  type RecordType,
  scanRecords,
} from '../../storage/records.js'
import { KeyedMutex } from './keyed-mutex.js'

export const KEY_RECORD_TYPE: RecordType<KeyRecord> = {
  name: 'key record',
  parse: (value) => decodeKeyRecord(value, 'corrupt_record'),
}

/** Work waiting for record locks, node-wide. */
const LOCK_WAITERS_MAX = 16_384

export interface StoreOptions {
  readonly hintsPerTargetMax: number
}

export interface StoreCounters {
  corruptRecords: number
  hintsStored: number
  hintsDeleted: number
  hintsRefused: number
}

/**
 * A mutation's verdict: the record to write (undefined: write nothing), the caller's result,
 * and optionally a record to merge into a hint in the same atomic write.
 */
export interface Mutation<R> {
  readonly record: KeyRecord | undefined
  readonly result: R
  readonly hint?: HintMerge | undefined
}

/** A record to merge into the hint this node holds for `target`. */
export interface HintMerge {
  readonly target: string
  readonly record: KeyRecord
}

/** A hint's new content, written by the caller, and whether the hint is new. */
interface HintChange {
  readonly op: WriteOp
  readonly fresh: boolean
}

export interface HintEntry {
  /** The hint's own key, to resume a scan after it. */
  readonly key: Bytes
  readonly address: DataKey
  readonly record: KeyRecord
}

function lockName(address: DataKey): string {
  return `${address.keyspace}\u0000${address.key}`
}

function hintLockName(target: string, address: DataKey): string {
  return `${target}\u0001${address.keyspace}\u0000${address.key}`
}

export class ReplicaStore {
  readonly counters: StoreCounters = {
    corruptRecords: 0,
    hintsStored: 0,
    hintsDeleted: 0,
    hintsRefused: 0,
  }
  private readonly locks = new KeyedMutex(LOCK_WAITERS_MAX)
  private readonly hintCounts = new Map<string, number>()
  private readonly onCorrupt: CorruptRecordHandler

  constructor(
    private readonly engine: StorageEngine,
    private readonly commits: GroupCommitter,
    private readonly options: StoreOptions,
    private readonly log: Logger,
  ) {
    this.onCorrupt = (key, error) => this.reportCorrupt(key, error)
  }

  /** Counts the hints on disk per target; call once before serving. */
  async open(): Promise<void> {
    for await (const [key] of this.engine.iterate(sublevelRange('hints'))) {
      const hinted = decodeHintedKey(key)
      if (hinted === undefined) continue
      this.hintCounts.set(hinted.targetNodeId, (this.hintCounts.get(hinted.targetNodeId) ?? 0) + 1)
    }
  }

  /** The record of a key, or undefined when absent or corrupt (a corrupt one is counted). */
  read(address: DataKey): Promise<KeyRecord | undefined> {
    return this.readAt(dataKey(address.partition, address.keyspace, address.key))
  }

  /**
   * Runs `mutate` on the current record (EMPTY_RECORD when absent or corrupt; `corrupt` tells
   * which) under the key's lock and writes the record it returns, and the hint it asks for, in
   * one atomic write; resolves with its result once the write is committed. A hint beyond the
   * bound is refused as overloaded before anything is written.
   */
  update<R>(
    address: DataKey,
    mutate: (current: KeyRecord, corrupt: boolean) => Mutation<R>,
    sync: boolean,
  ): Promise<R> {
    const key = dataKey(address.partition, address.keyspace, address.key)
    return this.locks.run(lockName(address), async () => {
      const stored = await this.readStored(key)
      const mutation = mutate(stored.record ?? EMPTY_RECORD, stored.corrupt)
      const { hint } = mutation
      if (hint === undefined) {
        if (mutation.record !== undefined) await this.put(key, mutation.record, sync)
        return mutation.result
      }
      const record = mutation.record === undefined ? [] : [recordOp(key, mutation.record)]
      // The record lock is always taken before a hint lock, never the other way round.
      await this.locks.run(hintLockName(hint.target, address), async () => {
        const change = await this.hintChange(hint.target, address, hint.record)
        const ops = change === undefined ? record : [...record, change.op]
        if (ops.length > 0) await this.commits.write(ops, { sync })
        this.countHint(hint.target, change)
      })
      return mutation.result
    })
  }

  /** Merges `incoming` into the record; resolves with the merged record once committed. */
  merge(address: DataKey, incoming: KeyRecord, sync: boolean): Promise<KeyRecord> {
    return this.update(
      address,
      (current) => {
        const merged = mergeRecords(current, incoming)
        return { record: recordsEqual(merged, current) ? undefined : merged, result: merged }
      },
      sync,
    )
  }

  /** Deletes the record if it still equals `expected`; true when it did. */
  deleteIfEqual(address: DataKey, expected: KeyRecord, sync: boolean): Promise<boolean> {
    const key = dataKey(address.partition, address.keyspace, address.key)
    return this.locks.run(lockName(address), async () => {
      const current = await this.readAt(key)
      if (current === undefined || !recordsEqual(current, expected)) return false
      await this.commits.write([{ type: 'del', key }], { sync })
      return true
    })
  }

  /** The hint held for `target` of one key, if any. */
  readHint(target: string, address: DataKey): Promise<KeyRecord | undefined> {
    return this.readAt(hintedKey(target, address.partition, address.keyspace, address.key))
  }

  /** Whether any target has a hint of this key here. */
  async hasHint(address: DataKey, targets: readonly string[]): Promise<boolean> {
    const keys = targets.map((target) =>
      hintedKey(target, address.partition, address.keyspace, address.key),
    )
    const stored = await this.engine.getMany(keys)
    return stored.some((bytes) => bytes !== undefined)
  }

  /** Merges `incoming` into the hint for `target`; refuses a new hint beyond the bound. */
  mergeHint(target: string, address: DataKey, incoming: KeyRecord, sync: boolean): Promise<void> {
    return this.locks.run(hintLockName(target, address), async () => {
      const change = await this.hintChange(target, address, incoming)
      if (change === undefined) return
      await this.commits.write([change.op], { sync })
      this.countHint(target, change)
    })
  }

  /**
   * The write that merges `incoming` into the hint for `target` (undefined: nothing changes);
   * throws overloaded when the hint would be new and the target already holds the bound.
   * Call under the hint's lock.
   */
  private async hintChange(
    target: string,
    address: DataKey,
    incoming: KeyRecord,
  ): Promise<HintChange | undefined> {
    const key = hintedKey(target, address.partition, address.keyspace, address.key)
    const current = await this.readAt(key)
    if (current === undefined) {
      const count = this.hintCounts.get(target) ?? 0
      if (count >= this.options.hintsPerTargetMax) {
        this.counters.hintsRefused++
        throw new MurmurError('overloaded', `this node holds ${count} hints for ${target}`, {
          definite: true,
        })
      }
    }
    const merged = current === undefined ? incoming : mergeRecords(current, incoming)
    if (current !== undefined && recordsEqual(merged, current)) return undefined
    return { op: recordOp(key, merged), fresh: current === undefined }
  }

  /** Counts a hint change once it is committed. */
  private countHint(target: string, change: HintChange | undefined): void {
    if (change?.fresh !== true) return
    this.hintCounts.set(target, (this.hintCounts.get(target) ?? 0) + 1)
    this.counters.hintsStored++
  }

  /** Deletes the hint if it still equals what was handed off; true when it did. */
  deleteHintIfEqual(target: string, address: DataKey, delivered: KeyRecord): Promise<boolean> {
    const key = hintedKey(target, address.partition, address.keyspace, address.key)
    return this.locks.run(hintLockName(target, address), async () => {
      const current = await this.readAt(key)
      if (current === undefined || !recordsEqual(current, delivered)) return false
      // Not synced: a hint that reappears after a crash is handed off again, harmlessly.
      await this.commits.write([{ type: 'del', key }], { sync: false })
      this.hintCounts.set(target, Math.max(0, (this.hintCounts.get(target) ?? 0) - 1))
      this.counters.hintsDeleted++
      return true
    })
  }

  /** Up to `limit` hints for `target`, in key order, after the hint key `after`. */
  async hintsAfter(target: string, after: Bytes | undefined, limit: number): Promise<HintEntry[]> {
    const range = hintRange(target)
    const upper = range.lt === undefined ? {} : { lt: range.lt }
    const bounded: KeyRange =
      after === undefined ? { ...range, limit } : { gt: after, ...upper, limit }
    const entries: HintEntry[] = []
    for await (const entry of scanRecords(this.engine, KEY_RECORD_TYPE, bounded, this.onCorrupt)) {
      const hinted = decodeHintedKey(entry.key)
      if (hinted === undefined || hinted.targetNodeId !== target) continue
      entries.push({ key: entry.key, address: hinted.data, record: entry.value })
    }
    return entries
  }

  /** Hints held per target (targets with none are left out), sorted by target. */
  hintCountsByTarget(): Map<string, number> {
    const sorted = [...this.hintCounts].filter(([, count]) => count > 0).sort()
    return new Map(sorted)
  }

  hintCount(target: string): number {
    return this.hintCounts.get(target) ?? 0
  }

  /**
   * Live keys of one keyspace in one partition after `after` (exclusive; '' for the start)
   * with `prefix`: at most `limit` keys, scanning at most `scanMax` records.
   */
  async listLive(
    address: { readonly partition: number; readonly keyspace: string },
    prefix: string,
    after: string,
    limit: number,
    scanMax: number,
  ): Promise<ListPart> {
    const range = this.listRange(address.partition, address.keyspace, prefix, after)
    const keys: string[] = []
    let scanned = 0
    let last: string | undefined
    for await (const entry of scanRecords(this.engine, KEY_RECORD_TYPE, range, this.onCorrupt)) {
      const parts = decodeDataKey(entry.key)
      assert(parts !== undefined, 'a keyspace range holds data keys only')
      last = parts.key
      scanned++
      if (!kvAbsent(entry.value)) keys.push(parts.key)
      if (keys.length >= limit || scanned >= scanMax) return { keys, frontier: last }
    }
    return { keys, frontier: undefined }
  }

  /** Up to `limit` records of one keyspace in one partition after `after`, in key order. */
  async recordsAfter(
    partition: number,
    keyspace: string,
    after: string,
    limit: number,
  ): Promise<{ key: string; record: KeyRecord }[]> {
    const range = this.listRange(partition, keyspace, '', after)
    const records: { key: string; record: KeyRecord }[] = []
    for await (const entry of scanRecords(this.engine, KEY_RECORD_TYPE, range, this.onCorrupt)) {
      const parts = decodeDataKey(entry.key)
      assert(parts !== undefined, 'a keyspace range holds data keys only')
      records.push({ key: parts.key, record: entry.value })
      if (records.length >= limit) break
    }
    return records
  }

  private listRange(partition: number, keyspace: string, prefix: string, after: string): KeyRange {
    const range = keyspaceRange(partition, keyspace, prefix)
    if (after === '') return range
    const afterKey = dataKey(partition, keyspace, after)
    const lower = range.gte
    if (lower !== undefined && compareBytes(afterKey, lower) < 0) return range
    return { gt: afterKey, ...(range.lt === undefined ? {} : { lt: range.lt }) }
  }

  private async readAt(key: Bytes): Promise<KeyRecord | undefined> {
    return (await this.readStored(key)).record
  }

  private async readStored(
    key: Bytes,
  ): Promise<{ readonly record: KeyRecord | undefined; readonly corrupt: boolean }> {
    const stored = await this.engine.get(key)
    if (stored === undefined) return { record: undefined, corrupt: false }
    try {
      const record = decodeStoredRecord(KEY_RECORD_TYPE, key, stored)
      return { record: isEmptyRecord(record) ? undefined : record, corrupt: false }
    } catch (error) {
      if (!(error instanceof MurmurError) || error.code !== 'corrupt_record') throw error
      this.reportCorrupt(key, error)
      return { record: undefined, corrupt: true }
    }
  }

  private put(key: Bytes, record: KeyRecord, sync: boolean): Promise<void> {
    return this.commits.write([recordOp(key, record)], { sync })
  }

  private reportCorrupt(key: Bytes, error: MurmurError): void {
    this.counters.corruptRecords++
    this.log.warn('corrupt record read as missing', { error: errorMessage(error), key: key.length })
  }
}

function recordOp(key: Bytes, record: KeyRecord): WriteOp {
  return putRecordOp(key, encodeKeyRecord(record))
}
