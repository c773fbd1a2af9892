/**
 * Group commit: many small writes share one engine batch, so one fsync serves them all.
 *
 * Contract. Every write submitted in the same event-loop turn joins one batch. At the end of
 * the turn (`clock.defer`) the batch is sealed and queued; it is synced if any of its writes
 * asked for sync, and all its writes settle together, with the batch's outcome, after the engine
 * write returns. Sealed batches reach the engine strictly one after another in submission
 * order, so a write never overtakes an earlier one; new writes keep queuing while a batch is in
 * flight. A batch that reaches `batchOpsMax` ops or `batchBytesMax` key plus value bytes is
 * sealed at once instead of at the end of the turn (a single write is never split, so only a
 * lone oversized write exceeds the limits). When `queuedOpsMax` ops already wait, a new write
 * is refused with `overloaded` (definite: it did not happen), which bounds memory and latency
 * under a slow disk. An engine failure rejects exactly the writes of the failed batch; later
 * batches proceed.
 */

import { assert, assertNonNegativeInteger } from '../env/assert.js'
import type { Clock } from '../env/clock.js'
import { MurmurError } from '../env/errors.js'
import type { StorageEngine, WriteOp } from './engine.js'
import { assertWriteOps, writeOpsBytes } from './engine-support.js'

export interface GroupCommitOptions {
  /** Ops after which a batch is sealed before the end of the turn. Default 1024. */
  readonly batchOpsMax?: number
  /** Key plus value bytes after which a batch is sealed before the end of the turn. Default 4 MiB. */
  readonly batchBytesMax?: number
  /** Ops waiting (not yet handed to the engine) before writes are refused. Default 65536. */
  readonly queuedOpsMax?: number
}

export const GROUP_COMMIT_DEFAULTS = {
  batchOpsMax: 1024,
  batchBytesMax: 4 * 1024 * 1024,
  queuedOpsMax: 65_536,
} as const

export interface GroupCommitCounters {
  /** Batches the engine accepted. */
  readonly batchesWritten: number
  /** Ops in those batches. */
  readonly opsWritten: number
  /** Accepted batches that were synced. */
  readonly syncedBatches: number
  /** Batches the engine rejected. */
  readonly batchesFailed: number
  /** Batches sealed early because they reached a limit. */
  readonly earlyFlushes: number
  /** Writes refused because `queuedOpsMax` ops were waiting. */
  readonly writesRefused: number
}

interface Batch {
  readonly ops: WriteOp[]
  bytes: number
  sync: boolean
  readonly done: Promise<void>
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

function newBatch(): Batch {
  let resolve: () => void = () => {}
  let reject: (error: unknown) => void = () => {}
  const done = new Promise<void>((onResolve, onReject) => {
    resolve = onResolve
    reject = onReject
  })
  return { ops: [], bytes: 0, sync: false, done, resolve, reject }
}

export class GroupCommitter {
  private readonly options: Required<GroupCommitOptions>
  private pending: Batch | undefined
  private deferScheduled = false
  /** Sealed batches in submission order, not yet handed to the engine. */
  private readonly sealed: Batch[] = []
  private inFlight: Batch | undefined
  /** Ops in `pending` and `sealed`. */
  private queuedOps = 0
  private readonly counts = {
    batchesWritten: 0,
    opsWritten: 0,
    syncedBatches: 0,
    batchesFailed: 0,
    earlyFlushes: 0,
    writesRefused: 0,
  }

  constructor(
    private readonly engine: StorageEngine,
    private readonly clock: Clock,
    options: GroupCommitOptions = {},
  ) {
    this.options = { ...GROUP_COMMIT_DEFAULTS, ...options }
    assert(this.options.batchOpsMax >= 1, 'batchOpsMax must be at least 1')
    assert(this.options.batchBytesMax >= 1, 'batchBytesMax must be at least 1')
    assertNonNegativeInteger(this.options.batchOpsMax, 'batchOpsMax')
    assertNonNegativeInteger(this.options.batchBytesMax, 'batchBytesMax')
    assertNonNegativeInteger(this.options.queuedOpsMax, 'queuedOpsMax')
  }

  /** Queues `ops` to be applied atomically; settles when the batch holding them does. */
  write(ops: readonly WriteOp[], options: { readonly sync: boolean }): Promise<void> {
    assert(ops.length > 0, 'a group-committed write needs at least one op')
    assertWriteOps(ops)
    if (this.queuedOps > 0 && this.queuedOps + ops.length > this.options.queuedOpsMax) {
      this.counts.writesRefused++
      return Promise.reject(
        new MurmurError('overloaded', `storage write queue is full (${this.queuedOps} ops)`, {
          definite: true,
        }),
      )
    }
    const bytes = writeOpsBytes(ops)
    if (this.pending !== undefined && this.exceedsWith(this.pending, ops.length, bytes)) {
      this.sealEarly()
    }
    const batch = this.pendingBatch()
    for (const op of ops) batch.ops.push(op)
    batch.bytes += bytes
    batch.sync ||= options.sync
    this.queuedOps += ops.length
    if (this.isFull(batch)) this.sealEarly()
    return batch.done
  }

  /** Resolves once every write submitted before the call has settled (never rejects). */
  async drain(): Promise<void> {
    if (this.pending !== undefined) this.seal()
    const last = this.sealed.at(-1) ?? this.inFlight
    if (last !== undefined) await last.done.catch(() => undefined)
  }

  get counters(): GroupCommitCounters {
    return { ...this.counts }
  }

  /** Ops accepted but not yet handed to the engine. */
  get queuedOpsCount(): number {
    return this.queuedOps
  }

  /** Whether adding a write would take `batch` past a limit. */
  private exceedsWith(batch: Batch, ops: number, bytes: number): boolean {
    return (
      batch.ops.length + ops > this.options.batchOpsMax ||
      batch.bytes + bytes > this.options.batchBytesMax
    )
  }

  /** Whether `batch` has reached a limit, so waiting for more writes cannot help. */
  private isFull(batch: Batch): boolean {
    return batch.ops.length >= this.options.batchOpsMax || batch.bytes >= this.options.batchBytesMax
  }

  private pendingBatch(): Batch {
    if (this.pending === undefined) this.pending = newBatch()
    if (!this.deferScheduled) {
      this.deferScheduled = true
      this.clock.defer(() => {
        this.deferScheduled = false
        if (this.pending !== undefined) this.seal()
      })
    }
    return this.pending
  }

  private sealEarly(): void {
    this.counts.earlyFlushes++
    this.seal()
  }

  private seal(): void {
    const batch = this.pending
    assert(batch !== undefined && batch.ops.length > 0, 'only a non-empty pending batch is sealed')
    this.pending = undefined
    this.sealed.push(batch)
    this.pump()
  }

  /** Hands the oldest sealed batch to the engine when none is in flight. */
  private pump(): void {
    if (this.inFlight !== undefined) return
    const batch = this.sealed.shift()
    if (batch === undefined) return
    this.inFlight = batch
    this.queuedOps -= batch.ops.length
    assert(this.queuedOps >= 0, 'queued op count went negative')
    let written: Promise<void>
    try {
      written = this.engine.write(batch.ops, { sync: batch.sync })
    } catch (error) {
      written = Promise.reject(error)
    }
    written.then(
      () => this.settle(batch, undefined),
      (error: unknown) => this.settle(batch, { error }),
    )
  }

  private settle(batch: Batch, failure: { readonly error: unknown } | undefined): void {
    assert(this.inFlight === batch, 'only the batch in flight settles')
    this.inFlight = undefined
    if (failure === undefined) {
      this.counts.batchesWritten++
      this.counts.opsWritten += batch.ops.length
      if (batch.sync) this.counts.syncedBatches++
      batch.resolve()
    } else {
      this.counts.batchesFailed++
      batch.reject(failure.error)
    }
    this.pump()
  }
}
