/**
 * Merkle-tree anti-entropy between the replicas of each partition (docs/ARCHITECTURE.md,
 * Anti-entropy): keeps this node's trees (PartitionTrees), runs exchanges on a schedule and
 * answers the peers' `aae.*` messages.
 *
 * Schedule: every tree is exchanged once per `exchangeIntervalMs`, one tree per tick (ticks
 * are spread over the interval and jittered by ±10%), with the tree's other holders taken in
 * turn among those membership finds usable. One exchange runs at a time (explicit ones, such
 * as a partition transfer's reconciliation, wait their turn; a scheduled tick finding one
 * running skips). Every tree is rebuilt from storage at start (before the node serves) and
 * every `rebuildIntervalMs`.
 *
 * Topology: the trees follow the topology this node acts on (PartitionTrees.sync), so a
 * partition gained while ownership moves is exchanged with its other holders, old and new.
 * Every request carries this node's topology version (fenced-peers.ts) and the answering
 * side is fenced by the node's peer handlers (KvService), so an exchange only ever compares
 * trees of two nodes acting on one version.
 *
 * One exchange (the walk is the pure TreeExchange): compare hashes top-down, then list both
 * replicas' keys of the differing segments window by window, then for each differing key pull
 * the peer's record and merge it through the replica accept path (`accept`: a witness keeps
 * the witness form), and push this node's merged record where the peer's state differs, in
 * the form the peer's role asks for: witness form to a witness, and never a record holding
 * digests to a full replica (it would stand for values that replica cannot serve). Fetched
 * records are merged at once, never queued, so an exchange holds a record no longer than one
 * peer request, as read repair does; that keeps it within the reaper's in-flight argument
 * (src/replication/reaping.ts).
 *
 * Rate limits: records moved count against a keys-per-second bucket and every message's bytes
 * against a bytes-per-second bucket; an exchange waits for tokens before each batch, so a
 * repair of many keys spreads out instead of starving foreground requests.
 */

import type { Config } from '../../config/load.js'
import type { Clock, Timer } from '../../env/clock.js'
import { MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { Random } from '../../env/random.js'
import type { PeerTransport } from '../../env/transport.js'
import { diffKeys, type KeyEntry, TreeExchange } from '../../replication/antientropy/exchange.js'
import {
  AAE_MESSAGE_TYPES,
  decodeHashes,
  decodeHashesAnswer,
  decodeKeys,
  decodeKeysAnswer,
  decodeRecords,
  decodeRecordsAnswer,
  KEYS_PER_MESSAGE_MAX,
  NODES_PER_MESSAGE_MAX,
  RECORDS_PER_MESSAGE_MAX,
  SEGMENTS_PER_MESSAGE_MAX,
} from '../../replication/antientropy/messages.js'
import {
  type KeyHash,
  keyHashBytes,
  keyHashesEqual,
  recordHash,
  TREE_FANOUT,
} from '../../replication/antientropy/tree.js'
import type { MessageLimits } from '../../replication/messages.js'
import { KV_MESSAGE_TYPES } from '../../replication/messages.js'
import { compareKeys } from '../../replication/names.js'
import type { Liveness } from '../../replication/plan.js'
import { encodeKeyRecord, type KeyRecord } from '../../replication/record.js'
import { TokenBucket } from '../../replication/throttle.js'
import { holdsDigests, witnessForm } from '../../replication/witness.js'
import { partitionForKey } from '../../ring/index.js'
import type { StorageEngine } from '../../storage/engine.js'
import type { DataKey } from '../../storage/layout.js'
import { encode } from '../../wire/codec.js'
import type { ReplicaStore } from '../kv/store.js'
import type { TopologyView } from '../topology/view.js'
import { fencedRequest } from './fenced-peers.js'
import { PartitionTrees, type TreeKeyspace, type TreeSlot } from './trees.js'

export type AntiEntropySettings = Config['replication']['antiEntropy']

/** Shortest time between two exchange ticks, whatever the number of trees. */
const TICK_MS_MIN = 50
/** Windows of one exchange at most; each window advances by at least one key. */
const WINDOWS_MAX = 1_000_000
/** Explicit exchanges waiting for the running one (transfers reconcile a few at a time). */
const EXCHANGE_WAITERS_MAX = 64

export interface AntiEntropyOptions {
  readonly selfId: string
  readonly topology: TopologyView
  readonly keyspaces: readonly TreeKeyspace[]
  readonly store: ReplicaStore
  readonly engine: StorageEngine
  readonly peers: PeerTransport
  readonly liveness: Liveness
  readonly clock: Clock
  readonly random: Random
  readonly log: Logger
  readonly settings: AntiEntropySettings
  readonly peerTimeoutMs: number
  readonly limits: MessageLimits
  /** Merges a record into this node's own record of a key, as a replica accepts one. */
  readonly accept: (keyspace: TreeKeyspace, address: DataKey, record: KeyRecord) => Promise<void>
}

export interface AntiEntropyCounters {
  exchanges: number
  exchangesFailed: number
  keysCompared: number
  keysRepaired: number
  keysPulled: number
  keysPushed: number
  /** Differing keys left alone: a full replica never takes or gets a record holding digests. */
  keysSkipped: number
  bytesSent: number
  bytesReceived: number
}

/** What one exchange did. */
export interface ExchangeReport {
  readonly keyspace: string
  readonly partition: number
  readonly peer: string
  segmentsDiffering: number
  hashRounds: number
  keysCompared: number
  keysPulled: number
  keysPushed: number
  keysRepaired: number
  keysSkipped: number
  bytesSent: number
  bytesReceived: number
}

interface TreeStatus {
  readonly report: ExchangeReport
  readonly atWallMs: number
  exchanges: number
  keysRepaired: number
}

export class AntiEntropy {
  readonly trees: PartitionTrees
  readonly counters: AntiEntropyCounters = {
    exchanges: 0,
    exchangesFailed: 0,
    keysCompared: 0,
    keysRepaired: 0,
    keysPulled: 0,
    keysPushed: 0,
    keysSkipped: 0,
    bytesSent: 0,
    bytesReceived: 0,
  }
  private readonly statuses = new Map<TreeSlot, TreeStatus>()
  private readonly keyBucket: TokenBucket
  private readonly byteBucket: TokenBucket
  private readonly turns = new Map<TreeSlot, number>()
  private cursor = 0
  private exchangeTimer: Timer | undefined
  private rebuildTimer: Timer | undefined
  private exchanging = false
  /** Explicit exchanges waiting for the running one, in arrival order. */
  private readonly waiters: (() => void)[] = []
  private readonly unsubscribe: () => void
  private stopped = false

  constructor(private readonly options: AntiEntropyOptions) {
    const { settings, clock } = options
    this.trees = new PartitionTrees({
      selfId: options.selfId,
      topology: options.topology.topology(),
      keyspaces: options.keyspaces,
      depth: Math.round(Math.log(settings.segments) / Math.log(TREE_FANOUT)),
      engine: options.engine,
      clock,
      log: options.log,
    })
    this.keyBucket = new TokenBucket(settings.keysPerSecond, settings.keysPerSecond, clock.nowMs())
    this.byteBucket = new TokenBucket(
      settings.bytesPerSecond,
      settings.bytesPerSecond,
      clock.nowMs(),
    )
    this.unsubscribe = options.topology.onChange((topology) => this.trees.sync(topology, true))
  }

  /** Builds every tree from storage; call before the node serves. */
  open(): Promise<void> {
    return this.trees.rebuildAll(() => this.stopped)
  }

  start(): void {
    this.armExchange()
    this.armRebuild()
  }

  stop(): void {
    this.stopped = true
    this.unsubscribe()
    this.exchangeTimer?.cancel()
    this.rebuildTimer?.cancel()
    for (const wake of this.waiters.splice(0)) wake()
  }

  private jittered(delayMs: number): number {
    return Math.max(1, Math.round(delayMs * (0.9 + 0.2 * this.options.random.float())))
  }

  private armExchange(): void {
    if (this.stopped) return
    const slots = Math.max(1, this.trees.slots.length)
    const tickMs = Math.max(TICK_MS_MIN, this.options.settings.exchangeIntervalMs / slots)
    this.exchangeTimer = this.options.clock.setTimer(this.jittered(tickMs), () => {
      void this.runOnce()
        .catch((error: unknown) =>
          this.options.log.debug('anti-entropy exchange failed', { error }),
        )
        .finally(() => this.armExchange())
    })
  }

  private armRebuild(): void {
    if (this.stopped) return
    const delayMs = this.jittered(this.options.settings.rebuildIntervalMs)
    this.rebuildTimer = this.options.clock.setTimer(delayMs, () => {
      void this.trees
        .rebuildAll(() => this.stopped)
        .catch((error: unknown) => this.options.log.warn('anti-entropy rebuild failed', { error }))
        .finally(() => this.armRebuild())
    })
  }

  /** Exchanges the next tree in turn with its next usable replica; undefined when none ran. */
  async runOnce(): Promise<ExchangeReport | undefined> {
    const slots = this.trees.slots
    if (this.exchanging || this.stopped || slots.length === 0) return undefined
    const slot = slots[this.cursor % slots.length] as TreeSlot
    this.cursor = (this.cursor + 1) % slots.length
    const usable = slot.peers.filter((peer) => this.options.liveness.isUsable(peer))
    if (usable.length === 0) return undefined
    const turn = this.turns.get(slot) ?? 0
    this.turns.set(slot, turn + 1)
    if (this.trees.drifted.has(slot)) await this.trees.rebuild(slot)
    return this.exchange(slot, usable[turn % usable.length] as string)
  }

  /**
   * One exchange of this node's tree of a keyspace's partition with `peer`, the tree rebuilt
   * first when it drifted (or was created while serving): a partition transfer's reconciliation.
   */
  async reconcile(keyspace: string, partition: number, peer: string): Promise<ExchangeReport> {
    const slot = this.trees.slot(keyspace, partition)
    if (slot === undefined || !slot.held) {
      throw new MurmurError('unavailable', `no tree of ${keyspace} partition ${partition} here`)
    }
    if (this.trees.drifted.has(slot)) await this.trees.rebuild(slot)
    return this.exchange(slot, peer)
  }

  /** Waits until no exchange runs, then marks one running; refused once stopped. */
  private async turn(): Promise<void> {
    while (this.exchanging && !this.stopped) {
      if (this.waiters.length >= EXCHANGE_WAITERS_MAX) {
        throw new MurmurError('overloaded', 'too many exchanges wait for their turn')
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
    if (this.stopped) throw new MurmurError('unavailable', 'anti-entropy stopped')
    this.exchanging = true
  }

  /** One exchange of `slot`'s tree with `peer`, start to finish, after any running one. */
  async exchange(slot: TreeSlot, peer: string): Promise<ExchangeReport> {
    await this.turn()
    const report: ExchangeReport = {
      keyspace: slot.keyspace.name,
      partition: slot.partition,
      peer,
      segmentsDiffering: 0,
      hashRounds: 0,
      keysCompared: 0,
      keysPulled: 0,
      keysPushed: 0,
      keysRepaired: 0,
      keysSkipped: 0,
      bytesSent: 0,
      bytesReceived: 0,
    }
    try {
      const segments = await this.walk(slot, report)
      report.segmentsDiffering = segments.length
      for (let start = 0; start < segments.length; start += SEGMENTS_PER_MESSAGE_MAX) {
        await this.compareSegments(
          slot,
          report,
          segments.slice(start, start + SEGMENTS_PER_MESSAGE_MAX),
        )
      }
      this.counters.exchanges++
      this.record(slot, report)
      return report
    } catch (error) {
      this.counters.exchangesFailed++
      throw error
    } finally {
      this.exchanging = false
      this.waiters.shift()?.()
    }
  }

  /** Walks the peer's tree top-down; returns the differing segments. */
  private async walk(slot: TreeSlot, report: ExchangeReport): Promise<number[]> {
    const walk = new TreeExchange(slot.tree, NODES_PER_MESSAGE_MAX)
    const stepsMax = slot.tree.segments / TREE_FANOUT + slot.tree.depth + 2
    for (let step = 0; step < stepsMax && !walk.done; step++) {
      const request = walk.next()
      if (request === undefined) break
      const answer = await this.request(report, {
        type: AAE_MESSAGE_TYPES.hashes,
        ...this.treeAddress(slot),
        level: request.level,
        indices: request.indices,
      })
      walk.answer(decodeHashesAnswer(answer, request.indices.length))
    }
    report.hashRounds = walk.rounds
    return walk.differingSegments()
  }

  /** Lists both replicas' keys of `segments` window by window and repairs the differences. */
  private async compareSegments(
    slot: TreeSlot,
    report: ExchangeReport,
    segments: readonly number[],
  ): Promise<void> {
    const wanted = new Set(segments)
    let after = ''
    for (let window = 0; window < WINDOWS_MAX; window++) {
      const answer = await this.request(report, {
        type: AAE_MESSAGE_TYPES.keys,
        ...this.treeAddress(slot),
        segments,
        after,
        limit: KEYS_PER_MESSAGE_MAX,
      })
      const remote = decodeKeysAnswer(answer, this.options.limits)
      const local = await this.trees.scanSegments(slot, wanted, after, KEYS_PER_MESSAGE_MAX)
      // Both lists are complete up to the nearer frontier; the rest waits for the next window.
      const end = nearer(remote.frontier, local.frontier)
      const within = (entry: KeyEntry) => end === undefined || compareKeys(entry.key, end) <= 0
      const remoteEntries = remote.entries.filter(within)
      const localEntries = local.entries.filter(within)
      const diff = diffKeys(localEntries, remoteEntries)
      report.keysCompared += diff.compared
      this.counters.keysCompared += diff.compared
      await this.repair(slot, report, diff.pull, diff.push, localEntries, remoteEntries)
      if (end === undefined) return
      after = end
    }
    throw new MurmurError('internal', `an exchange of ${slot.keyspace.name} never finished`)
  }

  private async repair(
    slot: TreeSlot,
    report: ExchangeReport,
    pull: readonly string[],
    push: readonly string[],
    localEntries: readonly KeyEntry[],
    remoteEntries: readonly KeyEntry[],
  ): Promise<void> {
    const localHashes = new Map(localEntries.map((entry) => [entry.key, entry.hash]))
    const remoteHashes = new Map(remoteEntries.map((entry) => [entry.key, entry.hash]))
    for (let start = 0; start < pull.length; start += RECORDS_PER_MESSAGE_MAX) {
      await this.pull(slot, report, pull.slice(start, start + RECORDS_PER_MESSAGE_MAX))
    }
    const candidates = [...pull, ...push]
    for (let start = 0; start < candidates.length; start += RECORDS_PER_MESSAGE_MAX) {
      const batch = candidates.slice(start, start + RECORDS_PER_MESSAGE_MAX)
      await this.push(slot, report, batch, localHashes, remoteHashes)
    }
  }

  /** Fetches the peer's records of `keys` and merges each into this node's own. */
  private async pull(
    slot: TreeSlot,
    report: ExchangeReport,
    keys: readonly string[],
  ): Promise<void> {
    await this.throttle(keys.length)
    const answer = await this.request(report, {
      type: AAE_MESSAGE_TYPES.records,
      ...this.treeAddress(slot),
      keys,
    })
    const records = decodeRecordsAnswer(answer, keys.length)
    const selfFull = !slot.witnesses.includes(this.options.selfId)
    await Promise.all(
      keys.map(async (key, index) => {
        const record = records[index]
        if (record === undefined) return
        if (selfFull && holdsDigests(record)) {
          this.count(report, 'keysSkipped')
          return
        }
        await this.options.accept(slot.keyspace, this.address(slot, key), record)
        this.count(report, 'keysPulled')
      }),
    )
  }

  /**
   * Sends this node's record of each key whose state the peer lacks, in the form the peer's
   * role asks for. A key counts as repaired once when either side changed.
   */
  private async push(
    slot: TreeSlot,
    report: ExchangeReport,
    keys: readonly string[],
    localHashes: ReadonlyMap<string, KeyHash>,
    remoteHashes: ReadonlyMap<string, KeyHash>,
  ): Promise<void> {
    const peerWitness = slot.witnesses.includes(report.peer)
    const sends: { key: string; record: KeyRecord }[] = []
    const repaired = new Set<string>()
    for (const key of keys) {
      const record = await this.options.store.read(this.address(slot, key))
      const hash = recordHash(key, record)
      if (!keyHashesEqual(hash, localHashes.get(key))) repaired.add(key)
      if (record === undefined || keyHashesEqual(hash, remoteHashes.get(key))) continue
      if (!peerWitness && holdsDigests(record)) {
        this.count(report, 'keysSkipped')
        continue
      }
      sends.push({ key, record: peerWitness ? witnessForm(record) : record })
    }
    if (sends.length > 0) await this.throttle(sends.length)
    await Promise.all(
      sends.map(async ({ key, record }) => {
        await this.request(report, {
          type: KV_MESSAGE_TYPES.replicate,
          keyspace: slot.keyspace.name,
          key,
          record: encodeKeyRecord(record),
        })
        this.count(report, 'keysPushed')
        repaired.add(key)
      }),
    )
    for (let count = 0; count < repaired.size; count++) this.count(report, 'keysRepaired')
  }

  private count(
    report: ExchangeReport,
    field: 'keysPulled' | 'keysPushed' | 'keysRepaired' | 'keysSkipped',
  ): void {
    report[field]++
    this.counters[field]++
  }

  /** Waits until the buckets allow moving `keys` records (bytes are charged as they go). */
  private async throttle(keys: number): Promise<void> {
    const { clock } = this.options
    const delayMs = Math.max(
      this.keyBucket.delayMs(keys, clock.nowMs()),
      this.byteBucket.delayMs(1, clock.nowMs()),
    )
    if (delayMs > 0) await new Promise<void>((resolve) => clock.setTimer(delayMs, resolve))
    if (this.stopped)
      throw new MurmurError('unavailable', 'anti-entropy stopped', { definite: true })
    this.keyBucket.consume(keys, clock.nowMs())
  }

  /** One peer request, its bytes both ways counted and charged to the byte bucket. */
  private async request(report: ExchangeReport, body: Record<string, unknown>): Promise<unknown> {
    const { peers, peerTimeoutMs, clock, topology } = this.options
    const sent = encode(body).length
    const answer = await fencedRequest(peers, topology, report.peer, body, peerTimeoutMs)
    const received = encode(answer).length
    report.bytesSent += sent
    report.bytesReceived += received
    this.counters.bytesSent += sent
    this.counters.bytesReceived += received
    this.byteBucket.consume(sent + received, clock.nowMs())
    return answer
  }

  private treeAddress(slot: TreeSlot): { keyspace: string; partition: number; depth: number } {
    return { keyspace: slot.keyspace.name, partition: slot.partition, depth: slot.tree.depth }
  }

  private address(slot: TreeSlot, key: string): DataKey {
    return { partition: slot.partition, keyspace: slot.keyspace.name, key }
  }

  private record(slot: TreeSlot, report: ExchangeReport): void {
    const previous = this.statuses.get(slot)
    this.statuses.set(slot, {
      report,
      atWallMs: this.options.clock.wallMs(),
      exchanges: (previous?.exchanges ?? 0) + 1,
      keysRepaired: (previous?.keysRepaired ?? 0) + report.keysRepaired,
    })
  }

  /** Answers aae.hashes. */
  answerHashes(body: Readonly<Record<string, unknown>>): unknown {
    const message = decodeHashes(body, this.partitionCount())
    const slot = this.trees.slotFor(message.keyspace, message.partition, message.depth)
    return { hashes: slot.tree.nodeBytes(message.level, message.indices) }
  }

  /** Answers aae.keys. */
  async answerKeys(body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const message = decodeKeys(body, this.partitionCount(), this.options.limits)
    const slot = this.trees.slotFor(message.keyspace, message.partition, message.depth)
    const part = await this.trees.scanSegments(
      slot,
      new Set(message.segments),
      message.after,
      message.limit,
    )
    return {
      entries: part.entries.map((entry) => [entry.key, keyHashBytes(entry.hash)]),
      frontier: part.frontier ?? null,
    }
  }

  /** Answers aae.records with this node's own records. */
  async answerRecords(body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const { store, limits } = this.options
    const partitionCount = this.partitionCount()
    const message = decodeRecords(body, partitionCount, limits)
    const records = await Promise.all(
      message.keys.map(async (key) => {
        if (partitionForKey(partitionCount, message.keyspace, key) !== message.partition) {
          throw new MurmurError('invalid_request', 'a key outside the partition asked')
        }
        const record = await store.read({
          partition: message.partition,
          keyspace: message.keyspace,
          key,
        })
        return record === undefined ? null : encodeKeyRecord(record)
      }),
    )
    return { records }
  }

  private partitionCount(): number {
    return this.options.topology.topology().current.partitionCount
  }

  /** Status for /v1/cluster: totals and, per tree that was exchanged, its last exchange. */
  status(): Record<string, unknown> {
    const exchanged = [...this.statuses].sort(
      ([left], [right]) =>
        compareKeys(left.keyspace.name, right.keyspace.name) || left.partition - right.partition,
    )
    const partitions = exchanged.map(([slot, status]) => ({
      keyspace: slot.keyspace.name,
      partition: slot.partition,
      lastExchangeAt: new Date(status.atWallMs).toISOString(),
      peer: status.report.peer,
      exchanges: status.exchanges,
      keysRepaired: status.keysRepaired,
      last: {
        segmentsDiffering: status.report.segmentsDiffering,
        keysCompared: status.report.keysCompared,
        keysRepaired: status.report.keysRepaired,
        bytesSent: status.report.bytesSent,
        bytesReceived: status.report.bytesReceived,
      },
    }))
    return {
      enabled: true,
      segments: this.options.settings.segments,
      trees: this.trees.slots.length,
      keys: this.trees.keyCount(),
      rebuilds: this.trees.rebuilds,
      ...this.counters,
      partitions,
    }
  }
}

/** The nearer of two scan frontiers (undefined: the scan reached the end). */
function nearer(left: string | undefined, right: string | undefined): string | undefined {
  if (left === undefined) return right
  if (right === undefined) return left
  return compareKeys(left, right) <= 0 ? left : right
}
