/**
 * Cleanup after a move (docs/ARCHITECTURE.md, Partition handoff): once this node acts on a
 * settled version, it deletes the data of every eventual keyspace's partition it held in the
 * version before and no longer owns (`lostParts`), drops their anti-entropy trees, and forgets
 * the progress of finished transfers. Nothing else is deleted: records a node keeps in
 * partitions it does not own for other reasons (as a sloppy quorum's stand-in) stay, since the
 * next dot it mints for such a key must see the dots it minted before.
 *
 * Contract:
 * - The parts to delete are written to storage (meta `cleanup`, synced) when the settled
 *   version is installed, and removed once deleted, so a crash during the grace or the pass
 *   resumes at the next start instead of leaving the old copy behind.
 * - Nothing is deleted before `cleanupGraceMs` passed since the node started acting on the
 *   settled version, and nothing at all while the version it acts on moves: a request still
 *   planned under the old version is refused with `stale_ring` meanwhile (fencing), so the
 *   grace only has to cover requests in flight, and a newer version learnt during the grace
 *   (a node that started from an outdated topology) cancels the pass.
 * - Deletes go in batches of at most DELETE_BATCH_KEYS keys, paced by a keys-per-second
 *   bucket, and the pass stops between batches as soon as the version changes; the pending
 *   parts then carry over to the next settled version (minus what it owns again).
 * - Hints are not touched: they belong to other nodes and are replayed to the current owners.
 * - A node that owns nothing in the settled ring logs that it can be stopped.
 */

import type { Clock, Timer } from '../../env/clock.js'
import type { Logger } from '../../env/log.js'
import {
  type HandoffKeyspace,
  lostParts,
  ownsNothing,
  roleInRing,
} from '../../replication/handoff.js'
import { TokenBucket } from '../../replication/throttle.js'
import type { Topology } from '../../ring/topology.js'
import type { Bytes, KeyRange, StorageEngine } from '../../storage/engine.js'
import type { GroupCommitter } from '../../storage/group-commit.js'
import { keyspaceRange, metaKey } from '../../storage/layout.js'
import { getRecord, putRecordOp, type RecordType } from '../../storage/records.js'
import { type HandoffSettings, transferMetaRange, transferMetaVersion } from './transfer.js'
import type { TopologyView } from './view.js'

/** Keys deleted in one write batch. */
export const DELETE_BATCH_KEYS = 1000
/** Batches of one partition's keyspace at most (each deletes what it scanned). */
const BATCHES_MAX = 10_000_000
/** Where the parts still to delete wait, so a restart finishes the job. */
const PENDING_KEY = metaKey('cleanup')

export interface CleanupPart {
  readonly partition: number
  readonly keyspace: string
}

interface PendingCleanup {
  /** The settled version the parts were lost at. */
  readonly version: number
  readonly parts: readonly CleanupPart[]
}

const PENDING_RECORD: RecordType<PendingCleanup> = {
  name: 'pending cleanup',
  parse(value) {
    const record = value as Partial<PendingCleanup> | null
    if (
      typeof record !== 'object' ||
      record === null ||
      !Number.isSafeInteger(record.version) ||
      !Array.isArray(record.parts) ||
      !record.parts.every(
        (part: Partial<CleanupPart>) =>
          Number.isSafeInteger(part.partition) && typeof part.keyspace === 'string',
      )
    ) {
      throw new Error('a pending cleanup is {version, parts: [{partition, keyspace}]}')
    }
    return record as PendingCleanup
  },
}

export interface CleanupOptions {
  readonly selfId: string
  readonly topology: TopologyView
  readonly keyspaces: readonly HandoffKeyspace[]
  readonly engine: StorageEngine
  readonly commits: GroupCommitter
  readonly clock: Clock
  readonly log: Logger
  readonly settings: HandoffSettings
  /** Forgets the anti-entropy tree of a partition this node no longer holds. */
  readonly dropTree: (keyspace: string, partition: number) => void
}

export interface CleanupCounters {
  passes: number
  partitionsCleaned: number
  keysDeleted: number
}

export class PartitionCleanup {
  readonly counters: CleanupCounters = { passes: 0, partitionsCleaned: 0, keysDeleted: 0 }
  private readonly bucket: TokenBucket
  private timer: Timer | undefined
  private unsubscribe: (() => void) | undefined
  private running: Promise<void> | undefined
  private pending: readonly CleanupPart[] = []
  private stopped = false

  constructor(private readonly options: CleanupOptions) {
    const rate = options.settings.cleanupKeysPerSecond
    this.bucket = new TokenBucket(rate, Math.max(rate, DELETE_BATCH_KEYS), options.clock.nowMs())
  }

  /**
   * Resumes a pending cleanup from storage, then schedules one whenever this node moves to a
   * settled version from one in which it held partitions it no longer owns.
   */
  async start(): Promise<void> {
    const pending = await getRecord(this.options.engine, PENDING_RECORD, PENDING_KEY)
    this.pending = pending?.parts ?? []
    this.unsubscribe = this.options.topology.onChange((topology, previous) => {
      this.changed(topology, previous).catch((error: unknown) =>
        this.options.log.warn('partition cleanup could not be planned', { error }),
      )
    })
    this.schedule(this.options.topology.topology())
  }

  stop(): void {
    this.stopped = true
    this.unsubscribe?.()
    this.timer?.cancel()
  }

  /** The parts waiting to be deleted: for status and tests. */
  pendingParts(): readonly CleanupPart[] {
    return this.pending
  }

  private async changed(topology: Topology, previous: Topology): Promise<void> {
    this.timer?.cancel()
    this.timer = undefined
    if (topology.next !== undefined) return
    const { selfId, keyspaces } = this.options
    const parts = mergeParts(this.pending, lostParts(previous, topology, selfId, keyspaces))
    this.pending = parts.filter((part) => !ownsPart(topology, part, selfId, keyspaces))
    await this.savePending(topology.version)
    this.schedule(topology)
  }

  private schedule(topology: Topology): void {
    this.timer?.cancel()
    this.timer = undefined
    if (this.stopped || topology.next !== undefined || this.pending.length === 0) return
    this.timer = this.options.clock.setTimer(this.options.settings.cleanupGraceMs, () => {
      this.timer = undefined
      this.running = this.runPass(topology).catch((error: unknown) =>
        this.options.log.warn('partition cleanup failed; it runs again at the next start', {
          error,
        }),
      )
    })
  }

  /** Resolves once the pass in progress, if any, ended: for tests. */
  async settled(): Promise<void> {
    await this.running
  }

  /** Deletes the pending parts this node does not own in `topology`, unless the version moved on. */
  async runPass(topology: Topology): Promise<void> {
    if (!this.current(topology)) return
    const { selfId, keyspaces, log } = this.options
    this.counters.passes++
    for (const part of this.pending) {
      if (ownsPart(topology, part, selfId, keyspaces)) continue
      const { partition, keyspace } = part
      const deleted = await this.deleteRange(topology, keyspaceRange(partition, keyspace))
      if (deleted === undefined) return
      if (deleted > 0) {
        this.counters.partitionsCleaned++
        log.info('partition data removed: this node no longer owns it', {
          version: topology.version,
          partition,
          keyspace,
          keys: deleted,
        })
      }
      this.options.dropTree(keyspace, partition)
    }
    this.pending = []
    await this.options.commits.write([{ type: 'del', key: PENDING_KEY }], { sync: false })
    await this.forgetTransfers(topology)
    if (ownsNothing(topology, selfId)) {
      log.info('this node owns no partition in the ring and can be stopped', {
        version: topology.version,
      })
    }
  }

  private async savePending(version: number): Promise<void> {
    const op =
      this.pending.length === 0
        ? { type: 'del' as const, key: PENDING_KEY }
        : putRecordOp<PendingCleanup>(PENDING_KEY, { version, parts: this.pending })
    await this.options.commits.write([op], { sync: true })
  }

  /** Deletes every key of a range in paced batches; undefined when the version moved on. */
  private async deleteRange(topology: Topology, range: KeyRange): Promise<number | undefined> {
    const { engine, commits, clock } = this.options
    let deleted = 0
    for (let batch = 0; batch < BATCHES_MAX; batch++) {
      if (!this.current(topology)) return undefined
      const keys: Bytes[] = []
      for await (const [key] of engine.iterate({ ...range, limit: DELETE_BATCH_KEYS })) {
        keys.push(key)
      }
      if (keys.length === 0) return deleted
      const delayMs = this.bucket.delayMs(keys.length, clock.nowMs())
      if (delayMs > 0) await new Promise<void>((resolve) => clock.setTimer(delayMs, resolve))
      if (!this.current(topology)) return undefined
      this.bucket.consume(keys.length, clock.nowMs())
      await commits.write(
        keys.map((key) => ({ type: 'del' as const, key })),
        { sync: false },
      )
      deleted += keys.length
      this.counters.keysDeleted += keys.length
    }
    return deleted
  }

  /** Deletes the progress of every transfer of an earlier version. */
  private async forgetTransfers(topology: Topology): Promise<void> {
    const stale: Bytes[] = []
    for await (const [key] of this.options.engine.iterate(transferMetaRange())) {
      const version = transferMetaVersion(key)
      if (version !== undefined && version < topology.version) stale.push(key)
    }
    if (stale.length === 0) return
    await this.options.commits.write(
      stale.map((key) => ({ type: 'del' as const, key })),
      { sync: false },
    )
  }

  private current(topology: Topology): boolean {
    return !this.stopped && this.options.topology.topology().version === topology.version
  }
}

function partKey(part: CleanupPart): string {
  return `${part.partition}/${part.keyspace}`
}

/** Both lists' parts, each once, in partition then keyspace order. */
function mergeParts(
  left: readonly CleanupPart[],
  right: readonly CleanupPart[],
): readonly CleanupPart[] {
  const byKey = new Map<string, CleanupPart>()
  for (const part of [...left, ...right]) byKey.set(partKey(part), part)
  return [...byKey.values()].sort(
    (a, b) =>
      a.partition - b.partition || (a.keyspace < b.keyspace ? -1 : a.keyspace > b.keyspace ? 1 : 0),
  )
}

/** True when `node` owns the part in the settled topology (or the keyspace is gone). */
function ownsPart(
  topology: Topology,
  part: CleanupPart,
  node: string,
  keyspaces: readonly HandoffKeyspace[],
): boolean {
  const keyspace = keyspaces.find((candidate) => candidate.name === part.keyspace)
  if (keyspace === undefined) return true
  return roleInRing(topology.current, part.partition, keyspace, node) !== undefined
}
