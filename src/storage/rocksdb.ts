/**
 * The production StorageEngine: one RocksDB database per node through `@nxtedition/rocksdb`.
 *
 * Writes. A batch is applied atomically; the binding runs the write synchronously on the main
 * thread, and with its own `sync` it would also block the event loop for the WAL's fdatasync
 * (0.3 to 10 ms on the development machine, about 2 ms median under load). So a synced batch
 * is written unsynced and the WAL is then made durable from libuv's thread pool
 * (src/storage/wal-sync.ts, `syncOnPool`); the promise resolves only after that, and one
 * fdatasync covers every batch written before it started. A write marked `inline` syncs inside
 * the binding instead, for a caller that waits on it with nothing else to do (a lightly loaded
 * Raft follower's log). A failed fdatasync fails the engine for writes. Callers that write
 * often go through a GroupCommitter, which keeps collecting writes while a batch syncs, so one
 * fdatasync serves every write that arrived meanwhile. `flush()` syncs the WAL by writing a
 * synced delete of a key under the engine's reserved tag: the WAL is sequential, so every
 * earlier write becomes durable with it.
 *
 * Reads. Reads of up to `synchronousReadKeysMax` keys run on the calling thread (`_getManySync`)
 * and larger ones on the libuv pool. Measured on the development machine (100k keys of 200
 * bytes, all in cache), an awaited one-key read took ~10 us synchronously against ~43 us
 * through the pool one at a time and ~25 us each with 100 in flight; on the same machine under
 * load, 30 us against 104 us and 48 us. A read that misses the cache blocks the loop for one
 * disk read, which the key limit bounds, so small reads stay synchronous.
 * Iteration fetches `iteratorBatchEntries` entries per pool round trip from an implicit
 * snapshot taken when the iteration starts.
 *
 * Failures. `open` turns every failure into one MurmurError('config_invalid') whose one-line
 * message names the cause and the directory, for the CLI to print as it is. After `close()`
 * (or while closing) every method rejects with `unavailable` instead of reaching the binding,
 * whose synchronous read would crash the process on a closed database. IO errors of an open
 * database become `unavailable` errors naming the operation and the directory.
 */

import { constants } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { type RocksIteratorOptions, RocksLevel } from '@nxtedition/rocksdb'
import { assert, assertNonNegativeInteger } from '../env/assert.js'
import { errorMessage, MurmurError } from '../env/errors.js'
import type {
  Bytes,
  KeyRange,
  StorageEngine,
  StorageStats,
  WriteOp,
  WriteOptions,
} from './engine.js'
import { asBuffer, assertKeyRange, assertWriteOps, engineClosedError } from './engine-support.js'
import { ENGINE_RESERVED_TAG } from './layout.js'
import { type WalSyncCounters, WalSyncer } from './wal-sync.js'

export interface RocksDbOptions {
  /** Block cache capacity. Default 64 MiB. */
  readonly cacheBytes?: number
  /** Reads of at most this many keys run on the calling thread; 0 sends all to the pool. Default 16. */
  readonly synchronousReadKeysMax?: number
  /** Entries fetched per step of an iteration. Default 1000. */
  readonly iteratorBatchEntries?: number
  /**
   * Synced writes fdatasync the WAL on libuv's thread pool (src/storage/wal-sync.ts) instead of
   * blocking the event loop inside the binding. Default true.
   */
  readonly syncOnPool?: boolean
  /**
   * Compress WAL records (ZSTD). The binding's default is on; murmur's is off: its records are
   * small and short-lived in the WAL, and compressing each write on the event loop cost about
   * 8 to 12 µs of CPU per write here (a 300-byte put took 13 to 16 µs instead of 21 to 29).
   * Default false.
   */
  readonly walCompression?: boolean
}

export const ROCKSDB_DEFAULTS = {
  cacheBytes: 64 * 1024 * 1024,
  synchronousReadKeysMax: 16,
  iteratorBatchEntries: 1000,
  syncOnPool: true,
  walCompression: false,
} as const

/** The key `flush` deletes with a synced write; no sublevel uses the reserved tag. */
const SYNC_BARRIER_KEY = Buffer.of(ENGINE_RESERVED_TAG, 0x01)

/** How deep `open` looks into an error's cause chain for the root cause. */
const CAUSE_DEPTH_MAX = 8

export class RocksDbEngine implements StorageEngine {
  readonly kind = 'rocksdb'
  private closing: Promise<void> | undefined
  private readonly wal: WalSyncer
  private walFailure: MurmurError | undefined

  private constructor(
    private readonly db: RocksLevel,
    readonly directory: string,
    private readonly options: Required<RocksDbOptions>,
  ) {
    this.wal = new WalSyncer(directory, () =>
      Number(db.getProperty('rocksdb.current-super-version-number')),
    )
  }

  /** How often the WAL was made durable from the thread pool. */
  get walSyncCounters(): WalSyncCounters {
    return this.wal.counters
  }

  /** Opens (creating if needed) the database in `directory`; throws config_invalid. */
  static async open(directory: string, options: RocksDbOptions = {}): Promise<RocksDbEngine> {
    const resolved: Required<RocksDbOptions> = { ...ROCKSDB_DEFAULTS, ...options }
    assert(directory.length > 0, 'storage directory must not be empty')
    assertNonNegativeInteger(resolved.cacheBytes, 'cacheBytes')
    assert(resolved.cacheBytes < 2 ** 32, 'cacheBytes must fit in 32 bits')
    assertNonNegativeInteger(resolved.synchronousReadKeysMax, 'synchronousReadKeysMax')
    assertNonNegativeInteger(resolved.iteratorBatchEntries, 'iteratorBatchEntries')
    assert(resolved.iteratorBatchEntries >= 1, 'iteratorBatchEntries must be at least 1')
    try {
      await mkdir(directory, { recursive: true })
      await access(directory, constants.W_OK)
    } catch (error) {
      throw openFailure(directory, error)
    }
    // The binding reads walCompression at open; its type declarations do not list it.
    const levelOptions: ConstructorParameters<typeof RocksLevel>[1] & {
      readonly walCompression: boolean
    } = {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      cacheSize: resolved.cacheBytes,
      walCompression: resolved.walCompression,
    }
    const db = new RocksLevel(directory, levelOptions)
    try {
      await db.open()
    } catch (error) {
      throw openFailure(directory, error)
    }
    return new RocksDbEngine(db, directory, resolved)
  }

  async get(key: Bytes): Promise<Bytes | undefined> {
    const [value] = await this.readMany([key], 'get')
    return value
  }

  getMany(keys: readonly Bytes[]): Promise<(Bytes | undefined)[]> {
    return this.readMany(keys, 'getMany')
  }

  async write(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    this.assertOpen('write')
    assertWriteOps(ops)
    if (ops.length === 0) {
      if (options.sync) await this.flush()
      return
    }
    await this.writeBatch(ops, options)
  }

  async *iterate(range: KeyRange): AsyncIterable<readonly [Bytes, Bytes]> {
    this.assertOpen('iterate')
    assertKeyRange(range)
    if (range.limit === 0) return
    let iterator: ReturnType<RocksLevel['iterator']>
    try {
      iterator = this.db.iterator(iteratorOptions(range))
    } catch (error) {
      throw this.failure('iterate', error)
    }
    try {
      // Each step yields at least one entry or ends the loop, so it ends with the range.
      for (;;) {
        let entries: [Buffer, Buffer][]
        try {
          entries = await iterator.nextv(this.options.iteratorBatchEntries)
        } catch (error) {
          throw this.failure('iterate', error)
        }
        if (entries.length === 0) return
        for (const entry of entries) {
          // Entries already fetched are not served once the engine closes, as in MemoryEngine.
          this.assertOpen('iterate')
          yield entry
        }
      }
    } finally {
      await iterator.close().catch(() => undefined)
    }
  }

  async stats(): Promise<StorageStats> {
    this.assertOpen('stats')
    try {
      const liveDataBytes = Number(this.db.getProperty('rocksdb.estimate-live-data-size'))
      const keysEstimate = Number(this.db.getProperty('rocksdb.estimate-num-keys'))
      const tableFilesBytes = Number(this.db.getProperty('rocksdb.total-sst-files-size'))
      const memtableBytes = Number(this.db.getProperty('rocksdb.cur-size-all-mem-tables'))
      const sizes = [liveDataBytes, keysEstimate, tableFilesBytes, memtableBytes]
      assert(sizes.every(Number.isFinite), 'bad RocksDB stats')
      return { liveDataBytes, keysEstimate, tableFilesBytes, memtableBytes }
    } catch (error) {
      throw this.failure('stats', error)
    }
  }

  async flush(): Promise<void> {
    this.assertOpen('flush')
    await this.writeBatch([{ type: 'del', key: SYNC_BARRIER_KEY }], { sync: true })
  }

  /** Closes the database; later calls on this engine reject. Safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= Promise.all([this.wal.close(), this.db.close()]).then(
      () => undefined,
      (error: unknown) => {
        throw new MurmurError(
          'unavailable',
          `closing storage at ${this.directory} failed: ${errorMessage(error)}`,
          { cause: error },
        )
      },
    )
    return this.closing
  }

  private async readMany(
    keys: readonly Bytes[],
    operation: string,
  ): Promise<(Bytes | undefined)[]> {
    this.assertOpen(operation)
    if (keys.length === 0) return []
    const buffers = keys.map((key) => {
      assert(key instanceof Uint8Array, 'storage keys must be bytes')
      return asBuffer(key)
    })
    try {
      if (keys.length <= this.options.synchronousReadKeysMax) {
        // The binding crashes the process on a synchronous read of a closed database.
        assert(this.db.status === 'open', 'a synchronous read needs an open database')
        return this.db._getManySync(buffers)
      }
      return await this.db.getMany(buffers)
    } catch (error) {
      throw this.failure(operation, error)
    }
  }

  private async writeBatch(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    const { sync, inline = false } = options
    let batch: ReturnType<RocksLevel['batch']> | undefined
    try {
      batch = this.db.batch()
      for (const op of ops) {
        if (op.type === 'put') batch.put(asBuffer(op.key), asBuffer(op.value))
        else batch.del(asBuffer(op.key))
      }
      if (this.walFailure !== undefined) throw this.walFailure
      const onPool = sync && this.options.syncOnPool && !inline
      await batch.write({ sync: sync && !onPool })
      if (onPool) await this.syncWal()
    } catch (error) {
      await batch?.close().catch(() => undefined)
      throw this.failure('write', error)
    }
  }

  /**
   * A failed fdatasync may have dropped the unsynced pages (the kernel reports such a loss
   * once), so the engine refuses every later write rather than build on them.
   */
  private async syncWal(): Promise<void> {
    try {
      await this.wal.sync()
    } catch (error) {
      this.walFailure ??= this.failure('write', error)
      throw this.walFailure
    }
  }

  private assertOpen(operation: string): void {
    if (this.closing !== undefined) throw this.closedError(operation)
  }

  private closedError(operation: string): MurmurError {
    return engineClosedError(`rocksdb engine at ${this.directory}`, operation)
  }

  /** An error of the binding as a MurmurError; a write that failed may still have happened. */
  private failure(operation: string, error: unknown): MurmurError {
    if (this.closing !== undefined) return this.closedError(operation)
    if (error instanceof MurmurError) return error
    return new MurmurError(
      'unavailable',
      `storage ${operation} failed at ${this.directory}: ${oneLine(errorMessage(error))}`,
      { cause: error, ...(operation === 'write' ? { definite: false } : {}) },
    )
  }
}

function iteratorOptions(range: KeyRange): RocksIteratorOptions {
  return {
    ...(range.gt === undefined ? {} : { gt: asBuffer(range.gt) }),
    ...(range.gte === undefined ? {} : { gte: asBuffer(range.gte) }),
    ...(range.lt === undefined ? {} : { lt: asBuffer(range.lt) }),
    ...(range.lte === undefined ? {} : { lte: asBuffer(range.lte) }),
    ...(range.limit === undefined ? {} : { limit: range.limit }),
    reverse: range.reverse === true,
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim()
}

/** The error and its causes, outermost first (abstract-level wraps the real cause). */
function causeChain(error: unknown): { readonly code: string; readonly message: string }[] {
  const chain: { readonly code: string; readonly message: string }[] = []
  let current: unknown = error
  for (let depth = 0; depth < CAUSE_DEPTH_MAX && current !== undefined; depth++) {
    const code = (current as { code?: unknown } | null)?.code
    chain.push({
      code: typeof code === 'string' ? code : '',
      message: oneLine(errorMessage(current)),
    })
    current = current instanceof Error ? current.cause : undefined
  }
  return chain
}

/** One-line, user-facing description of why `directory` could not be opened. */
function openFailure(directory: string, error: unknown): MurmurError {
  const chain = causeChain(error)
  const has = (codes: readonly string[], pattern: RegExp): boolean =>
    chain.some((link) => codes.includes(link.code) || pattern.test(link.message))
  const root = chain.at(-1)?.message ?? 'unknown error'
  let message: string
  if (has(['LEVEL_LOCKED'], /LOCK: (Resource temporarily unavailable|No locks available)/)) {
    message =
      `storage directory ${directory} is already in use by another process or open engine ` +
      '(its RocksDB LOCK is held); stop that node or choose another data directory'
  } else if (has(['EACCES', 'EPERM'], /Permission denied/)) {
    message = `storage directory ${directory} is not writable (permission denied)`
  } else if (has(['EROFS'], /Read-only file system/)) {
    message = `storage directory ${directory} is not writable (read-only file system)`
  } else if (has(['ENOTDIR', 'EEXIST'], /Not a directory/)) {
    message = `storage directory ${directory} cannot be created: the path or one of its parents is a file`
  } else {
    message = `cannot open storage directory ${directory}: ${root}`
  }
  return new MurmurError('config_invalid', message, { details: { directory }, cause: error })
}
