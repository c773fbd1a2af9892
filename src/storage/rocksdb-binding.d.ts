/**
 * Types for the part of `@nxtedition/rocksdb` (an abstract-level 1.x database over RocksDB)
 * that src/storage/rocksdb.ts uses. The package ships no declarations. Keys and values are
 * always Buffers here because the engine opens the database with the 'buffer' encodings.
 */

declare module '@nxtedition/rocksdb' {
  export type RocksLevelStatus = 'opening' | 'open' | 'closing' | 'closed'

  export interface RocksLevelOptions {
    readonly keyEncoding: 'buffer'
    readonly valueEncoding: 'buffer'
    /** Create the database when missing. Default true. */
    readonly createIfMissing?: boolean
    /** Block cache capacity in bytes (the binding's default is 8 MiB; 0 disables it). */
    readonly cacheSize?: number
    /** Bytes all memtables may use together. */
    readonly memtableMemoryBudget?: number
    /** RocksDB's own log level: debug, info, warn, error, fatal or header. */
    readonly infoLogLevel?: 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'header'
  }

  export interface RocksIteratorOptions {
    readonly gt?: Buffer
    readonly gte?: Buffer
    readonly lt?: Buffer
    readonly lte?: Buffer
    readonly limit?: number
    readonly reverse?: boolean
  }

  export interface RocksIterator {
    /** Up to `size` entries; an empty array once the range is exhausted. */
    nextv(size: number): Promise<[Buffer, Buffer][]>
    close(): Promise<void>
  }

  export interface RocksChainedBatch {
    put(key: Buffer, value: Buffer): this
    del(key: Buffer): this
    /** Runs the write synchronously inside the binding; the promise settles on the next tick. */
    write(options: { readonly sync: boolean }): Promise<void>
    close(): Promise<void>
  }

  /** The shape of errors abstract-level raises (module-error). */
  export interface LevelError extends Error {
    readonly code?: string
    readonly cause?: unknown
  }

  export class RocksLevel {
    constructor(location: string, options: RocksLevelOptions)
    readonly status: RocksLevelStatus
    readonly location: string
    open(): Promise<void>
    close(): Promise<void>
    batch(): RocksChainedBatch
    /** One entry per key, undefined for a missing key; runs on the libuv thread pool. */
    getMany(keys: readonly Buffer[]): Promise<(Buffer | undefined)[]>
    /** The same read on the calling thread. Crashes the process on a closed database. */
    _getManySync(keys: readonly Buffer[]): (Buffer | undefined)[]
    iterator(options: RocksIteratorOptions): RocksIterator
    /** A RocksDB property as a string; throws on a database that is not open. */
    getProperty(property: string): string
  }
}
