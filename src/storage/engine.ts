/**
 * The storage seam: an ordered byte-key store with atomic batches. RocksDB implements it in
 * production (src/storage/rocksdb.ts); an in-memory engine implements it for tests and the
 * simulator (src/storage/memory.ts). Everything above it (records, sublevels, group commit)
 * is shared code, so the simulator runs the same storage logic as a real node.
 */

export type Bytes = Uint8Array

export type WriteOp =
  | { readonly type: 'put'; readonly key: Bytes; readonly value: Bytes }
  | { readonly type: 'del'; readonly key: Bytes }

/** A key range in byte order; bounds are optional, `limit` caps the number of entries. */
export interface KeyRange {
  readonly gte?: Bytes
  readonly gt?: Bytes
  readonly lte?: Bytes
  readonly lt?: Bytes
  readonly limit?: number
  readonly reverse?: boolean
}

export interface StorageStats {
  /** Estimated bytes of live data (RocksDB's estimate-live-data-size). */
  readonly liveDataBytes: number
  /** Estimated number of keys. */
  readonly keysEstimate: number
  /** Bytes of table files on disk (RocksDB's total-sst-files-size), where the engine has them. */
  readonly tableFilesBytes?: number
  /** Bytes held in memtables, not yet flushed to table files, where the engine has them. */
  readonly memtableBytes?: number
}

export interface WriteOptions {
  readonly sync: boolean
  /**
   * With `sync`: wait for the disk on the calling thread where the engine would otherwise wait
   * off it. The event loop stops for the sync and is spared the hand-off to another thread and
   * back; for a caller whose next step waits on this write and whose loop has little else to do.
   */
  readonly inline?: boolean
}

export interface StorageEngine {
  readonly kind: 'rocksdb' | 'memory'
  get(key: Bytes): Promise<Bytes | undefined>
  getMany(keys: readonly Bytes[]): Promise<(Bytes | undefined)[]>
  /** Applies every op atomically. With `sync`, resolves only once the batch is durable. */
  write(ops: readonly WriteOp[], options: WriteOptions): Promise<void>
  /** Entries in key order (or reverse order) within `range`. */
  iterate(range: KeyRange): AsyncIterable<readonly [Bytes, Bytes]>
  stats(): Promise<StorageStats>
  /**
   * Makes every write accepted so far durable, as a later `sync` write would. Optional so that
   * other engines stay compatible; both built-in engines implement it.
   */
  flush?(): Promise<void>
  close(): Promise<void>
}
