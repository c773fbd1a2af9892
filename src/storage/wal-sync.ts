/**
 * Makes RocksDB's write-ahead log durable from libuv's thread pool instead of the event loop.
 *
 * Why. The binding applies a batch synchronously on the calling thread; with `sync: true` that
 * thread also waits for the WAL's fdatasync (0.3 to 10 ms on the development machine, median
 * about 2 ms under load), so the whole node stops serving for every synced batch. Writing the
 * batch unsynced and then calling fdatasync on the WAL file through `node:fs` gives the same
 * durability while the event loop keeps working, and lets one fdatasync cover every batch
 * written before it started.
 *
 * Contract. `sync()` resolves once every byte written to the WAL before the call is on disk.
 * Concurrent calls share work: a call made while a sync runs waits for that one and then one
 * more (the running one may have started before the caller's write), and every call made
 * meanwhile shares that second round.
 *
 * Why this is sound, with the engine's options (WAL in the database directory, no manual WAL
 * flush, no log recycling):
 * - Each write hands its WAL record to the operating system before the binding returns, so an
 *   fdatasync of the file through any descriptor makes it durable (fsync acts on the inode).
 * - WAL files are named `<number>.log` with growing numbers; only the newest one is appended
 *   to. A round syncs every live log from the oldest one not yet synced after it was closed,
 *   so a write that landed in a log RocksDB switched away from is still covered. An older log
 *   that no longer exists was deleted only after its memtable was flushed to synced table
 *   files, so its writes are durable without it.
 * - A log file that appeared since the last round also needs its directory entry on disk, so
 *   the round then fsyncs the directory too.
 * - Listing the directory costs about as much as the fdatasync itself here, so a round lists it
 *   only when `generation()` changed since the last listing. The engine passes RocksDB's
 *   super-version number, which every memtable switch (the only time a new log starts)
 *   increments; it is read before the listing, so a switch during a listing is seen next time.
 */

import { type FileHandle, open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { assert } from '../env/assert.js'

const LOG_NAME = /^([0-9]{1,19})\.log$/

interface LogFile {
  readonly number: number
  readonly name: string
}

export interface WalSyncCounters {
  /** Rounds run (each syncs one or more log files). */
  readonly rounds: number
  /** fdatasync calls on log files. */
  readonly fileSyncs: number
  /** fsync calls on the directory, for newly created logs. */
  readonly directorySyncs: number
  /** Directory listings (only when a new log may have started). */
  readonly listings: number
}

export class WalSyncer {
  /** Open descriptors of logs that may still need a sync, by log number. */
  private readonly handles = new Map<number, FileHandle>()
  /** Every log numbered below this was synced after it stopped growing. */
  private oldestOpen = 0
  /** The newest log whose directory entry is known to be durable. */
  private newestKnown = -1
  private running: Promise<void> | undefined
  private next: Promise<void> | undefined
  private closed = false
  private readonly counts = { rounds: 0, fileSyncs: 0, directorySyncs: 0, listings: 0 }
  /** The logs found by the last listing, and the generation read just before it. */
  private listed: { readonly generation: number; readonly logs: readonly LogFile[] } | undefined

  /**
   * `generation` changes whenever a new log may have been started; without it, every round
   * lists the directory.
   */
  constructor(
    private readonly directory: string,
    private readonly generation: () => number = () => Number.NaN,
  ) {
    assert(directory.length > 0, 'the WAL directory must not be empty')
  }

  get counters(): WalSyncCounters {
    return { ...this.counts }
  }

  /** Resolves once everything written to the WAL before the call is durable. */
  sync(): Promise<void> {
    if (this.running === undefined) return this.start()
    if (this.next === undefined) {
      const after = this.running.catch(() => undefined)
      this.next = after.then(() => {
        this.next = undefined
        return this.start()
      })
    }
    return this.next
  }

  /** Closes every descriptor; later `sync()` calls reject. */
  async close(): Promise<void> {
    this.closed = true
    await this.running?.catch(() => undefined)
    await this.next?.catch(() => undefined)
    const handles = [...this.handles.values()]
    this.handles.clear()
    await Promise.all(handles.map((handle) => handle.close().catch(() => undefined)))
  }

  private start(): Promise<void> {
    const round = this.round().finally(() => {
      this.running = undefined
    })
    this.running = round
    return round
  }

  private async round(): Promise<void> {
    if (this.closed) throw new Error(`the WAL of ${this.directory} is closed`)
    this.counts.rounds++
    const logs = await this.currentLogs()
    const newest = logs.at(-1)?.number
    if (newest === undefined) return
    for (const { number, name } of logs) {
      if (number < this.oldestOpen) continue
      const handle = await this.handleOf(number, name)
      if (handle === undefined) continue
      await handle.datasync()
      this.counts.fileSyncs++
    }
    if (newest > this.newestKnown) {
      await this.syncDirectory()
      this.newestKnown = newest
    }
    // Logs older than the newest no longer grow, and this round synced them: they are done.
    for (const [number, handle] of this.handles) {
      if (number >= newest) continue
      this.handles.delete(number)
      await handle.close().catch(() => undefined)
    }
    this.oldestOpen = newest
  }

  /** The live logs: the last listing while the generation is unchanged, else a new one. */
  private async currentLogs(): Promise<readonly LogFile[]> {
    const generation = this.generation()
    if (this.listed !== undefined && this.listed.generation === generation) return this.listed.logs
    const logs = await this.liveLogs()
    this.counts.listings++
    this.listed = { generation, logs }
    return logs
  }

  /** The log files in the directory, by ascending number. */
  private async liveLogs(): Promise<LogFile[]> {
    const logs: LogFile[] = []
    for (const name of await readdir(this.directory)) {
      const match = LOG_NAME.exec(name)
      if (match !== null) logs.push({ number: Number(match[1]), name })
    }
    return logs.sort((a, b) => a.number - b.number)
  }

  /** A descriptor of the log, or undefined when it was deleted meanwhile (already durable). */
  private async handleOf(number: number, name: string): Promise<FileHandle | undefined> {
    const known = this.handles.get(number)
    if (known !== undefined) return known
    try {
      const handle = await open(join(this.directory, name))
      this.handles.set(number, handle)
      return handle
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  private async syncDirectory(): Promise<void> {
    const handle = await open(this.directory)
    try {
      await handle.sync()
      this.counts.directorySyncs++
    } finally {
      await handle.close()
    }
  }
}
