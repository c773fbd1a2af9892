/**
 * Partition transfers, the receiving and the sending side (docs/ARCHITECTURE.md, Partition
 * handoff). When this node acts on a moving version it starts the transfers it receives
 * (src/replication/handoff.ts says which), at most `concurrentTransfers` at a time, and
 * answers the `transfer.page` requests of the nodes that receive from it.
 *
 * One transfer, in order of effects:
 *   1. Pull a page of the source's records of the current keyspace after the cursor (the
 *      request is stamped with this node's version; the source serves it only once it acts on
 *      that version or a later one, so everything it acknowledged under the old ring is there).
 *   2. Merge every record through the replica accept path (`accept`: a merge, never an
 *      overwrite; a full receiver skips records holding digests, as anti-entropy does).
 *   3. Persist the cursor in storage meta (`transfer/<version>/<partition>`), synced, after the
 *      merges: the sync makes the merged records durable too, so a restart resumes after what it
 *      holds and repeats at most one page.
 *   4. Once every keyspace is streamed, reconcile with every other alive old owner (waiting up
 *      to RECONCILE_WAIT_MS for one that keeps its place but this node does not see as usable)
 *      through an
 *      anti-entropy exchange (they act on the moving version by then, so nothing acknowledged
 *      only to them is missed), persist `reconciled`, and report the transfer done.
 * A failure (source down, timeout, stop) parks the transfer in `failed` with its cursor kept;
 * it is retried after a doubling delay, from the next usable source in turn.
 *
 * Every page waits for a keys-per-second and a bytes-per-second token bucket shared by all
 * transfers of the node, so a move never starves foreground requests.
 */

import type { Config } from '../../config/load.js'
import { assert } from '../../env/assert.js'
import type { Clock } from '../../env/clock.js'
import { errorMessage, MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { PeerTransport } from '../../env/transport.js'
import {
  type HandoffKeyspace,
  type PlannedTransfer,
  progressFromUntrusted,
  progressToPlain,
  receivedTransfers,
  roleInRing,
  roleOf,
  TransferMachine,
} from '../../replication/handoff.js'
import {
  decodePage,
  decodePageAnswer,
  HANDOFF_MESSAGE_TYPES,
  TRANSFER_PAGE_BYTES_MAX,
} from '../../replication/handoff-messages.js'
import type { MessageLimits } from '../../replication/messages.js'
import type { Liveness } from '../../replication/plan.js'
import { encodeKeyRecord, type KeyRecord } from '../../replication/record.js'
import { TokenBucket } from '../../replication/throttle.js'
import { holdsDigests, witnessForm } from '../../replication/witness.js'
import type { Topology } from '../../ring/topology.js'
import type { Bytes, KeyRange, StorageEngine } from '../../storage/engine.js'
import type { GroupCommitter } from '../../storage/group-commit.js'
import { type DataKey, metaKey, prefixRange } from '../../storage/layout.js'
import { ANY_RECORD, getRecord, putRecordOp } from '../../storage/records.js'
import { encode } from '../../wire/codec.js'
import { fencedRequest } from '../antientropy/fenced-peers.js'
import type { ReplicaStore } from '../kv/store.js'
import type { TopologyView, TransferReport, TransferStatus } from './view.js'

/** Keys merged between two progress lines of one transfer. */
const PROGRESS_LOG_KEYS = 100_000
/** Pages of one keyspace of one transfer at most; each page moves the cursor on. */
const PAGES_MAX = 100_000_000
/**
 * How long a transfer waits for an old owner it does not see as usable before reconciling
 * without it, and how often it looks: longer than a suspicion on a busy machine lasts.
 */
const RECONCILE_WAIT_MS = 10_000
const RECONCILE_POLL_MS = 200

/** The handoff tunables (config `topology.handoff`, documented with their defaults there). */
export type HandoffSettings = Config['topology']['handoff']

const TRANSFER_META_PREFIX = 'transfer/'

/** The meta name under which a transfer keeps its progress. */
export function transferMetaName(version: number, partition: number): string {
  return `${TRANSFER_META_PREFIX}${version}/${partition}`
}

/** The range of every transfer's progress in storage meta. */
export function transferMetaRange(): KeyRange {
  return prefixRange(metaKey(TRANSFER_META_PREFIX))
}

/** The version of a transfer progress key, or undefined for any other key. */
export function transferMetaVersion(key: Bytes): number | undefined {
  const name = new TextDecoder().decode(key.subarray(1))
  if (!name.startsWith(TRANSFER_META_PREFIX)) return undefined
  const version = Number(name.slice(TRANSFER_META_PREFIX.length).split('/')[0])
  return Number.isSafeInteger(version) && version >= 1 ? version : undefined
}

export interface TransferEngineOptions {
  readonly selfId: string
  readonly topology: TopologyView
  readonly keyspaces: readonly HandoffKeyspace[]
  readonly store: ReplicaStore
  readonly engine: StorageEngine
  readonly commits: GroupCommitter
  readonly peers: PeerTransport
  readonly liveness: Liveness
  readonly clock: Clock
  readonly log: Logger
  readonly settings: HandoffSettings
  readonly peerTimeoutMs: number
  readonly limits: MessageLimits
  /** Merges a record into this node's own, as a replica accepts one. */
  readonly accept: (keyspace: string, address: DataKey, record: KeyRecord) => Promise<void>
  /** One anti-entropy exchange of a keyspace's partition with `peer`; undefined when off. */
  readonly reconcile:
    | ((keyspace: string, partition: number, peer: string) => Promise<void>)
    | undefined
}

export interface HandoffCounters {
  keysMoved: number
  bytesMoved: number
  /** Records a full receiver left alone because they hold digests only. */
  keysSkipped: number
  transfersDone: number
  /** Attempts that ended in an error; each is retried. */
  transfersFailed: number
  pagesServed: number
  keysServed: number
}

interface Entry {
  readonly machine: TransferMachine
  running: boolean
  /** Monotonic time before which a failed transfer is not retried. */
  retryAtMs: number
  keysLogged: number
}

export class TransferEngine implements TransferReport {
  readonly counters: HandoffCounters = {
    keysMoved: 0,
    bytesMoved: 0,
    keysSkipped: 0,
    transfersDone: 0,
    transfersFailed: 0,
    pagesServed: 0,
    keysServed: 0,
  }
  /** The transfers of the latest moving version, by partition. */
  private entries = new Map<number, Entry>()
  private version = 0
  private readonly keyBucket: TokenBucket
  private readonly byteBucket: TokenBucket
  private unsubscribe: (() => void) | undefined
  private retryTimer: { cancel(): void } | undefined
  private stopped = false

  constructor(private readonly options: TransferEngineOptions) {
    const { settings, clock } = options
    assert(settings.concurrentTransfers >= 1, 'at least one transfer at a time')
    this.keyBucket = new TokenBucket(settings.keysPerSecond, settings.keysPerSecond, clock.nowMs())
    this.byteBucket = new TokenBucket(
      settings.bytesPerSecond,
      settings.bytesPerSecond,
      clock.nowMs(),
    )
  }

  /** Loads the transfers of the version this node acts on and starts them. */
  async open(): Promise<void> {
    this.unsubscribe = this.options.topology.onChange((topology) => {
      this.follow(topology).catch((error: unknown) =>
        this.options.log.warn('partition transfers could not start', { error }),
      )
    })
    await this.follow(this.options.topology.topology())
  }

  stop(): void {
    this.stopped = true
    this.unsubscribe?.()
    this.retryTimer?.cancel()
  }

  transfers(): readonly TransferStatus[] {
    return [...this.entries.values()].map((entry) => this.statusOf(entry.machine))
  }

  /** Transfers streaming or reconciling now. */
  inProgress(): number {
    let count = 0
    for (const entry of this.entries.values()) if (entry.running) count++
    return count
  }

  /** Plans the transfers of a moving version (loading their progress) and starts them. */
  private async follow(topology: Topology): Promise<void> {
    if (topology.next === undefined || topology.version <= this.version) return
    const planned = receivedTransfers(topology, this.options.selfId, this.options.keyspaces)
    const loaded = await Promise.all(planned.map((plan) => this.load(plan)))
    if (this.stopped || topology.version <= this.version) return
    this.version = topology.version
    this.entries = new Map(
      loaded.map((machine) => [
        machine.plan.partition,
        { machine, running: false, retryAtMs: 0, keysLogged: machine.progress.keysMoved },
      ]),
    )
    const done = loaded.filter((machine) => machine.state === 'done').length
    this.options.log.info('partition transfers planned', {
      version: topology.version,
      transfers: loaded.length,
      done,
    })
    this.pump()
  }

  private async load(plan: PlannedTransfer): Promise<TransferMachine> {
    const key = metaKey(transferMetaName(plan.version, plan.partition))
    const stored = await getRecord(this.options.engine, ANY_RECORD, key)
    const progress = stored === undefined ? undefined : progressFromUntrusted(stored)
    if (progress === undefined || progress.part > plan.parts.length)
      return new TransferMachine(plan)
    return new TransferMachine(plan, progress)
  }

  /** Starts waiting transfers up to the concurrency bound; arms a timer for the next retry. */
  private pump(): void {
    if (this.stopped) return
    const nowMs = this.options.clock.nowMs()
    // Transfers of a version this node no longer acts on are left as they stand.
    if (this.options.topology.topology().version !== this.version) return
    let running = this.inProgress()
    let nextRetryMs = Number.POSITIVE_INFINITY
    for (const entry of this.entries.values()) {
      const state = entry.machine.state
      if (entry.running || state === 'done') continue
      if (entry.retryAtMs > nowMs) {
        nextRetryMs = Math.min(nextRetryMs, entry.retryAtMs)
        continue
      }
      if (running >= this.options.settings.concurrentTransfers) return
      running++
      entry.running = true
      void this.run(entry).finally(() => {
        entry.running = false
        this.pump()
      })
    }
    if (Number.isFinite(nextRetryMs) && running < this.options.settings.concurrentTransfers) {
      this.retryTimer?.cancel()
      this.retryTimer = this.options.clock.setTimer(nextRetryMs - nowMs, () => this.pump())
    }
  }

  /** Runs one transfer until it is done, fails, or its version is left behind. */
  private async run(entry: Entry): Promise<void> {
    const { machine } = entry
    const { log, clock } = this.options
    machine.begin(this.chooseSource(machine), clock.wallMs())
    log.info('partition transfer started', this.describe(machine))
    try {
      await this.stream(entry)
      if (machine.state !== 'reconciling') return
      await this.reconcile(machine)
      machine.reconciled(clock.wallMs())
      await this.persist(machine)
      this.counters.transfersDone++
      log.info('partition transfer done', this.describe(machine))
    } catch (error) {
      if (machine.state === 'done') {
        // Only the final progress write failed: a restart reconciles again, harmlessly.
        log.warn('a finished transfer could not be recorded', { ...this.describe(machine), error })
        return
      }
      machine.fail(errorMessage(error))
      this.counters.transfersFailed++
      const delayMs = Math.min(
        this.options.settings.retryDelayMs * 2 ** Math.min(machine.failures - 1, 20),
        this.options.settings.retryDelayMsMax,
      )
      entry.retryAtMs = clock.nowMs() + delayMs
      log.warn('partition transfer failed; it will be retried', {
        ...this.describe(machine),
        retryInMs: delayMs,
      })
    }
  }

  /** The next usable source in turn (failures rotate it), or the first when none is usable. */
  private chooseSource(machine: TransferMachine): string {
    const { sources } = machine.plan
    const usable = sources.filter((node) => this.options.liveness.isUsable(node))
    const candidates = usable.length === 0 ? sources : usable
    return candidates[machine.failures % candidates.length] as string
  }

  /** Pulls and merges pages until every part is streamed. */
  private async stream(entry: Entry): Promise<void> {
    const { machine } = entry
    for (let page = 0; page < PAGES_MAX && machine.state === 'streaming'; page++) {
      this.checkCurrent(machine)
      const part = machine.currentPart
      assert(part !== undefined, 'a streaming transfer has a part left')
      await this.throttle()
      const request = {
        type: HANDOFF_MESSAGE_TYPES.page,
        partition: machine.plan.partition,
        keyspace: part.keyspace,
        after: machine.progress.after,
        limit: this.options.settings.pageKeys,
      }
      const { peers, topology, peerTimeoutMs, limits, clock } = this.options
      const answer = await fencedRequest(peers, topology, machine.source, request, peerTimeoutMs)
      const bytes = encode(answer).length
      this.byteBucket.consume(bytes, clock.nowMs())
      const decoded = decodePageAnswer(answer, limits, request)
      this.checkCurrent(machine)
      const merged = await this.merge(machine, part.keyspace, part.form, decoded.records)
      machine.paged(merged, bytes, decoded.records.at(-1)?.key, decoded.complete)
      this.counters.keysMoved += merged
      this.counters.bytesMoved += bytes
      await this.persist(machine)
      this.logProgress(entry)
    }
  }

  /** Merges one page; returns the records merged (digest-only records skipped). */
  private async merge(
    machine: TransferMachine,
    keyspace: string,
    form: 'full' | 'witness',
    records: readonly { readonly key: string; readonly record: KeyRecord }[],
  ): Promise<number> {
    const partition = machine.plan.partition
    let merged = 0
    await Promise.all(
      records.map(async ({ key, record }) => {
        if (form === 'full' && holdsDigests(record)) {
          this.counters.keysSkipped++
          return
        }
        await this.options.accept(keyspace, { partition, keyspace, key }, record)
        merged++
      }),
    )
    return merged
  }

  /** Exchanges every part's tree with each other usable old owner. */
  private async reconcile(machine: TransferMachine): Promise<void> {
    const { reconcile, liveness, log } = this.options
    if (reconcile === undefined) {
      log.warn('anti-entropy is off: a transfer cannot reconcile with other old owners', {
        partition: machine.plan.partition,
      })
      return
    }
    const { parts, oldOwners, partition } = machine.plan
    for (let index = 0; index < parts.length; index++) {
      const part = parts[index]
      assert(part !== undefined, 'one part per index')
      for (const peer of oldOwners[index] ?? []) {
        if (peer === machine.source) continue
        const usable = this.staysOwner(part.keyspace, partition, peer)
          ? await this.awaitUsable(machine, peer)
          : liveness.isUsable(peer)
        if (!usable) {
          // Writes acknowledged by this owner and a lost one alone are not moved; anti-entropy
          // and read repair bring them once it is back.
          log.warn('a transfer skips reconciling with an old owner that is not usable', {
            partition,
            keyspace: part.keyspace,
            peer,
          })
          continue
        }
        this.checkCurrent(machine)
        await reconcile(part.keyspace, partition, peer)
      }
    }
  }

  /** Whether `peer` owns the keyspace's partition in the ring the move goes to as well. */
  private staysOwner(keyspaceName: string, partition: number, peer: string): boolean {
    const next = this.options.topology.topology().next
    const keyspace = this.options.keyspaces.find((candidate) => candidate.name === keyspaceName)
    if (next === undefined || keyspace === undefined) return false
    return roleInRing(next, partition, keyspace, peer) !== undefined
  }

  /**
   * Whether `peer` is usable, waiting up to RECONCILE_WAIT_MS for it: an owner this node
   * suspects for a moment (a busy machine, a short partition) is still reconciled with, while
   * one that stays down does not hold the transfer back for good.
   */
  private async awaitUsable(machine: TransferMachine, peer: string): Promise<boolean> {
    const { liveness, clock } = this.options
    const untilMs = clock.nowMs() + RECONCILE_WAIT_MS
    while (!liveness.isUsable(peer)) {
      if (clock.nowMs() >= untilMs) return false
      this.checkCurrent(machine)
      await new Promise<void>((resolve) => clock.setTimer(RECONCILE_POLL_MS, resolve))
    }
    return true
  }

  /** Stops a transfer whose version this node no longer acts on. */
  private checkCurrent(machine: TransferMachine): void {
    if (this.stopped) throw new MurmurError('unavailable', 'partition transfers stopped')
    if (this.options.topology.topology().version !== machine.plan.version) {
      throw new MurmurError('stale_ring', 'the topology moved on during the transfer', {
        details: { version: this.options.topology.topology().version },
      })
    }
  }

  /** Waits until the buckets allow a page; bytes are charged when the page arrives. */
  private async throttle(): Promise<void> {
    const { clock, settings } = this.options
    const delayMs = Math.max(
      this.keyBucket.delayMs(settings.pageKeys, clock.nowMs()),
      this.byteBucket.delayMs(1, clock.nowMs()),
    )
    if (delayMs > 0) await new Promise<void>((resolve) => clock.setTimer(delayMs, resolve))
    this.keyBucket.consume(settings.pageKeys, clock.nowMs())
  }

  private persist(machine: TransferMachine): Promise<void> {
    const { plan, progress } = machine
    const key = metaKey(transferMetaName(plan.version, plan.partition))
    return this.options.commits.write([putRecordOp(key, progressToPlain(progress))], {
      sync: true,
    })
  }

  private logProgress(entry: Entry): void {
    const moved = entry.machine.progress.keysMoved
    if (moved - entry.keysLogged < PROGRESS_LOG_KEYS) return
    entry.keysLogged = moved
    this.options.log.info('partition transfer in progress', this.describe(entry.machine))
  }

  /** The log fields of a transfer: its status without the receiver (this node) and times. */
  private describe(machine: TransferMachine): Record<string, unknown> {
    const {
      receiver: _receiver,
      startedAt: _startedAt,
      finishedAt: _finishedAt,
      error,
      ...fields
    } = this.statusOf(machine)
    return error === undefined ? fields : { ...fields, error }
  }

  private statusOf(machine: TransferMachine): TransferStatus {
    const { progress, plan } = machine
    return {
      version: plan.version,
      partition: plan.partition,
      receiver: plan.receiver,
      source: machine.source,
      state: machine.state,
      keysMoved: progress.keysMoved,
      bytesMoved: progress.bytesMoved,
      startedAt: isoOf(progress.startedAtMs),
      finishedAt: isoOf(progress.finishedAtMs),
      error: machine.error,
    }
  }

  /**
   * Answers transfer.page (its stamp already checked by the fenced peer handler, so this node
   * acts on the receiver's version or a later one): this node's records after the cursor, in
   * the form `from` keeps.
   */
  async answerPage(from: string, body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const { store, limits } = this.options
    const topology = this.options.topology.topology()
    const message = decodePage(body, topology.current.partitionCount, limits)
    const keyspace = this.options.keyspaces.find((candidate) => candidate.name === message.keyspace)
    if (keyspace === undefined) {
      throw new MurmurError('unknown_keyspace', `no eventual keyspace named ${message.keyspace}`)
    }
    const form = roleOf(topology, message.partition, keyspace, from)
    const own = roleInRing(topology.current, message.partition, keyspace, this.options.selfId)
    if (form === undefined || own === undefined) {
      throw new MurmurError('invalid_request', `partition ${message.partition} moves elsewhere`, {
        definite: true,
      })
    }
    const found = await store.recordsAfter(
      message.partition,
      message.keyspace,
      message.after,
      message.limit,
    )
    const records: [string, unknown][] = []
    let bytes = 0
    for (const { key, record } of found) {
      if (records.length > 0 && bytes >= TRANSFER_PAGE_BYTES_MAX) break
      const wire = encodeKeyRecord(form === 'witness' ? witnessForm(record) : record)
      bytes += encode(wire).length
      records.push([key, wire])
    }
    this.counters.pagesServed++
    this.counters.keysServed += records.length
    return { records, complete: records.length === found.length && found.length < message.limit }
  }
}

function isoOf(wallMs: number | undefined): string | undefined {
  return wallMs === undefined ? undefined : new Date(wallMs).toISOString()
}
