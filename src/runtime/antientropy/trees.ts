/**
 * This node's anti-entropy trees: one HashTree per (eventual keyspace, partition) the node
 * holds in the topology it acts on (an owner in the current ring or, while ownership moves, the
 * next; src/replication/antientropy/tree.ts), kept current by the store's change listener and
 * rebuilt from storage at start and on a schedule.
 *
 * The topology changes under the trees (`sync`): a partition gained gets an empty tree at once,
 * so the records it receives (writes, transfer pages) update it, and is marked drifted so it is
 * rebuilt from storage before its first exchange; the peers and witnesses of every tree follow
 * the new holders. A partition no longer held keeps its tree, out of `slots` (no exchange, no
 * answers), until cleanup deletes its data and `drop`s it.
 *
 * Rebuilds stream the partition's records in key order (bounded memory: one fresh tree and
 * one record at a time) and log their progress. A rebuild that runs while the node serves
 * cannot tell whether it read a key before or after a concurrent write, so it marks dirty the
 * segment of every key that was being written when it started or was written while it ran,
 * and keeps the live (incrementally maintained, hence exact) hashes of those segments; every
 * other segment is replaced by the fresh scan, which is what repairs drift. A tree that lost
 * track of a key (a corrupt record was rewritten, so what it held is unknown) is marked
 * `drifted` and rebuilt before its next exchange.
 *
 * `scanSegments` lists this node's keys of some segments with their record hashes, in key
 * order after a key, bounded in entries and in records looked at: the key lists an exchange
 * compares. It reads the partition's run of records, decoding only keys of those segments.
 */

import { assert } from '../../env/assert.js'
import type { Clock } from '../../env/clock.js'
import { MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { KeyEntry } from '../../replication/antientropy/exchange.js'
import { HashTree, recordHash, segmentOf } from '../../replication/antientropy/tree.js'
import { keyspaceHolders, roleOf } from '../../replication/handoff.js'
import { compareKeys } from '../../replication/names.js'
import type { KeyRecord } from '../../replication/record.js'
import type { Topology } from '../../ring/topology.js'
import type { KeyRange, StorageEngine } from '../../storage/engine.js'
import { type DataKey, dataKey, decodeDataKey, keyspaceRange } from '../../storage/layout.js'
import { decodeStoredRecord } from '../../storage/records.js'
import { KEY_RECORD_TYPE } from '../kv/store.js'
import type { RecordChangeListener } from './observed-store.js'

/** Records a key scan looks at per call, so one request never reads a whole large partition. */
export const SCAN_RECORDS_MAX = 65_536
/** Records between two progress lines of a rebuild. */
const REBUILD_PROGRESS_RECORDS = 100_000

export interface TreeKeyspace {
  readonly name: string
  readonly replicas: number
  readonly witnesses: number
  readonly durability: 'sync' | 'async'
}

/**
 * One tree and what an exchange needs to know about its replicas. The replica fields follow
 * the topology (`PartitionTrees.sync`); the tree stays the same object for the slot's life.
 */
export interface TreeSlot {
  readonly keyspace: TreeKeyspace
  readonly partition: number
  readonly tree: HashTree
  /** The partition's other holders, in preference order (current ring first). */
  peers: readonly string[]
  /** Holders that keep the witness form (a witness in every ring that names them). */
  witnesses: readonly string[]
  /** False once this node no longer holds the partition: kept for cleanup only. */
  held: boolean
}

export interface PartitionTreesOptions {
  readonly selfId: string
  readonly topology: Topology
  readonly keyspaces: readonly TreeKeyspace[]
  readonly depth: number
  readonly engine: StorageEngine
  readonly clock: Clock
  readonly log: Logger
}

export class PartitionTrees implements RecordChangeListener {
  private slotsHeld: readonly TreeSlot[] = []
  private readonly byKeyspace = new Map<string, Map<number, TreeSlot>>()
  private readonly keyspaces: readonly TreeKeyspace[]
  /** Writes in progress, per data key, so a rebuild starting meanwhile knows its dirty segments. */
  private readonly inflight = new Map<string, { address: DataKey; count: number }>()
  /** Dirty segments of the rebuild in progress, per slot. */
  private readonly dirty = new Map<TreeSlot, Set<number>>()
  /**
   * Trees that lost track of a key (a corrupt record was rewritten, and the hash of what it
   * held before is unknown) or were created while serving. Each is rebuilt before its next
   * exchange.
   */
  readonly drifted = new Set<TreeSlot>()
  rebuilds = 0

  constructor(private readonly options: PartitionTreesOptions) {
    this.keyspaces = [...options.keyspaces].sort((left, right) =>
      compareKeys(left.name, right.name),
    )
    for (const keyspace of this.keyspaces) this.byKeyspace.set(keyspace.name, new Map())
    this.sync(options.topology, false)
  }

  /** The trees of the partitions this node holds, by keyspace name then partition. */
  get slots(): readonly TreeSlot[] {
    return this.slotsHeld
  }

  /**
   * Follows a topology: creates a tree for every partition gained (drifted when `serving`, so
   * it is rebuilt from storage before its first exchange), updates every tree's replicas, and
   * sets aside the trees of partitions no longer held.
   */
  sync(topology: Topology, serving: boolean): void {
    const { selfId } = this.options
    const held: TreeSlot[] = []
    for (const keyspace of this.keyspaces) {
      const partitions = this.byKeyspace.get(keyspace.name) as Map<number, TreeSlot>
      for (let partition = 0; partition < topology.current.partitionCount; partition++) {
        const role = roleOf(topology, partition, keyspace, selfId)
        const existing = partitions.get(partition)
        if (role === undefined) {
          if (existing !== undefined) existing.held = false
          continue
        }
        const holders = keyspaceHolders(topology, partition, keyspace)
        const slot = existing ?? this.create(keyspace, partition, serving)
        // A tree set aside may have missed a cleanup's deletes: rebuild it before it is used.
        if (existing !== undefined && !existing.held) this.drifted.add(existing)
        slot.peers = holders.filter((node) => node !== selfId)
        slot.witnesses = holders.filter(
          (node) => roleOf(topology, partition, keyspace, node) === 'witness',
        )
        slot.held = true
        partitions.set(partition, slot)
        held.push(slot)
      }
    }
    this.slotsHeld = held
  }

  private create(keyspace: TreeKeyspace, partition: number, serving: boolean): TreeSlot {
    const slot: TreeSlot = {
      keyspace,
      partition,
      tree: new HashTree(this.options.depth),
      peers: [],
      witnesses: [],
      held: true,
    }
    if (serving) this.drifted.add(slot)
    return slot
  }

  /**
   * Forgets the tree of a partition this node no longer holds, once its data is deleted; a
   * tree held again meanwhile (a newer topology) stays. True when a tree was dropped.
   */
  drop(keyspace: string, partition: number): boolean {
    const slot = this.byKeyspace.get(keyspace)?.get(partition)
    if (slot === undefined || slot.held) return false
    this.byKeyspace.get(keyspace)?.delete(partition)
    this.drifted.delete(slot)
    return true
  }

  /** The tree of a keyspace's partition, held or set aside for cleanup. */
  slot(keyspace: string, partition: number): TreeSlot | undefined {
    return this.byKeyspace.get(keyspace)?.get(partition)
  }

  /** The slot a peer names, or invalid_request when this node holds no such tree. */
  slotFor(keyspace: string, partition: number, depth: number): TreeSlot {
    const slot = this.slot(keyspace, partition)
    if (slot === undefined || !slot.held) {
      throw new MurmurError('invalid_request', `no tree of ${keyspace} partition ${partition} here`)
    }
    if (slot.tree.depth !== depth) {
      throw new MurmurError('invalid_request', `trees here have depth ${slot.tree.depth}`)
    }
    return slot
  }

  /** Keys tracked by every tree. */
  keyCount(): number {
    return this.slots.reduce((sum, slot) => sum + slot.tree.keyCount, 0)
  }

  willChange(address: DataKey): void {
    const name = inflightName(address)
    const entry = this.inflight.get(name)
    if (entry === undefined) this.inflight.set(name, { address, count: 1 })
    else entry.count++
    this.markDirty(address)
  }

  changed(
    address: DataKey,
    before: KeyRecord | undefined,
    after: KeyRecord | undefined,
    corrupt: boolean,
  ): void {
    const slot = this.slot(address.keyspace, address.partition)
    if (slot === undefined) return
    if (corrupt) this.drifted.add(slot)
    slot.tree.update(address.key, recordHash(address.key, before), recordHash(address.key, after))
  }

  settled(address: DataKey): void {
    const name = inflightName(address)
    const entry = this.inflight.get(name)
    assert(entry !== undefined && entry.count > 0, 'a settled write was announced')
    entry.count--
    if (entry.count === 0) this.inflight.delete(name)
  }

  /** Rebuilds every tree from storage, one after the other. */
  async rebuildAll(stopped: () => boolean): Promise<void> {
    const startedMs = this.options.clock.nowMs()
    let records = 0
    for (const slot of this.slots) {
      if (stopped()) return
      records += await this.rebuild(slot)
    }
    this.rebuilds++
    this.options.log.info('anti-entropy trees rebuilt', {
      trees: this.slots.length,
      records,
      keys: this.keyCount(),
      elapsedMs: Math.round(this.options.clock.nowMs() - startedMs),
    })
  }

  /** Rebuilds one tree from a scan of its records; returns the records read. */
  async rebuild(slot: TreeSlot): Promise<number> {
    this.drifted.delete(slot)
    const dirty = new Set<number>()
    for (const { address } of this.inflight.values()) {
      if (address.keyspace === slot.keyspace.name && address.partition === slot.partition) {
        dirty.add(segmentOf(address.key, slot.tree.segments))
      }
    }
    this.dirty.set(slot, dirty)
    try {
      const fresh = new HashTree(slot.tree.depth)
      let records = 0
      const range = keyspaceRange(slot.partition, slot.keyspace.name)
      for await (const [key, stored] of this.options.engine.iterate(range)) {
        const parts = decodeDataKey(key)
        assert(parts !== undefined, 'a keyspace range holds data keys only')
        fresh.update(parts.key, undefined, recordHash(parts.key, decodeOrSkip(key, stored)))
        records++
        if (records % REBUILD_PROGRESS_RECORDS === 0) {
          this.options.log.info('anti-entropy tree rebuild in progress', {
            keyspace: slot.keyspace.name,
            partition: slot.partition,
            records,
          })
        }
      }
      slot.tree.adoptSegments(fresh, dirty)
      return records
    } finally {
      this.dirty.delete(slot)
    }
  }

  /**
   * This node's keys of `segments` after `after`, with their hashes: at most `limit` entries,
   * looking at most SCAN_RECORDS_MAX records. `frontier` is the last key looked at when the
   * scan stopped early, undefined when it reached the end of the partition.
   */
  async scanSegments(
    slot: TreeSlot,
    segments: ReadonlySet<number>,
    after: string,
    limit: number,
  ): Promise<{ entries: KeyEntry[]; frontier: string | undefined }> {
    assert(Number.isSafeInteger(limit) && limit >= 1, `bad scan limit ${limit}`)
    const entries: KeyEntry[] = []
    let looked = 0
    for await (const [key, stored] of this.options.engine.iterate(this.rangeAfter(slot, after))) {
      const parts = decodeDataKey(key)
      assert(parts !== undefined, 'a keyspace range holds data keys only')
      looked++
      if (segments.has(segmentOf(parts.key, slot.tree.segments))) {
        const hash = recordHash(parts.key, decodeOrSkip(key, stored))
        if (hash !== undefined) entries.push({ key: parts.key, hash })
      }
      if (entries.length >= limit || looked >= SCAN_RECORDS_MAX) {
        return { entries, frontier: parts.key }
      }
    }
    return { entries, frontier: undefined }
  }

  private rangeAfter(slot: TreeSlot, after: string): KeyRange {
    const range = keyspaceRange(slot.partition, slot.keyspace.name)
    if (after === '') return range
    return {
      gt: dataKey(slot.partition, slot.keyspace.name, after),
      ...(range.lt === undefined ? {} : { lt: range.lt }),
    }
  }

  private markDirty(address: DataKey): void {
    if (this.dirty.size === 0) return
    const slot = this.slot(address.keyspace, address.partition)
    if (slot === undefined) return
    this.dirty.get(slot)?.add(segmentOf(address.key, slot.tree.segments))
  }
}

function inflightName(address: DataKey): string {
  return `${address.partition}\u0000${address.keyspace}\u0000${address.key}`
}

/** A stored record, or undefined when it is corrupt: a corrupt record counts as missing. */
function decodeOrSkip(key: Uint8Array, stored: Uint8Array): KeyRecord | undefined {
  try {
    return decodeStoredRecord(KEY_RECORD_TYPE, key, stored)
  } catch (error) {
    if (error instanceof MurmurError && error.code === 'corrupt_record') return undefined
    throw error
  }
}
