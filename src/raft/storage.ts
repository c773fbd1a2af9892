/**
 * The Raft core's view of stable storage, and an in-memory implementation of it.
 *
 * The core only reads storage (`RaftStorage`); the application writes it while carrying out a
 * Ready: it appends entries, saves the hard state, installs snapshots, and on its own schedule
 * creates snapshots and compacts the log. Reads are synchronous because the core is: a durable
 * implementation keeps the log since the last snapshot in memory and writes through to disk, as
 * etcd's MemoryStorage plus WAL does. Missing data is a typed result, never an exception.
 *
 * Layout of the log: entries (`firstIndex()`, `lastIndex()`] are readable. The entry just before
 * `firstIndex()` is compacted but its term is still known (`term(firstIndex() - 1)`), because
 * appends after it must be matched against it. The latest snapshot covers at least that index.
 */

import { assert } from '../env/assert.js'
import { assertContiguous, limitEntriesBytes } from './entries.js'
import {
  type ConfState,
  EMPTY_CONF_STATE,
  EMPTY_HARD_STATE,
  type Entry,
  type HardState,
  type Snapshot,
} from './types.js'

export type StorageError =
  /** The requested index is before the first index: it lives only in a snapshot now. */
  | 'compacted'
  /** The requested index is after the last index. */
  | 'unavailable'
  /** A snapshot is being prepared; the caller retries later. */
  | 'snapshot_temporarily_unavailable'

export type StorageResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: StorageError }

export interface InitialState {
  readonly hardState: HardState
  /** The configuration of the latest snapshot (empty before the first one). */
  readonly confState: ConfState
  /** The index as of which `confState` holds: the latest snapshot's index. */
  readonly confStateIndex: number
}

export interface RaftStorage {
  initialState(): InitialState
  /** Entries [lo, hi) limited to about `bytesMax` (never empty when lo < hi). */
  entries(lo: number, hi: number, bytesMax: number): StorageResult<Entry[]>
  /** The term of entry `index`, for any index in [firstIndex() - 1, lastIndex()]. */
  term(index: number): StorageResult<number>
  firstIndex(): number
  lastIndex(): number
  /** The latest snapshot, to send to a follower that is behind the first index. */
  snapshot(): StorageResult<Snapshot>
}

export function ok<T>(value: T): StorageResult<T> {
  return { ok: true, value }
}

export function failed<T>(error: StorageError): StorageResult<T> {
  return { ok: false, error }
}

export const EMPTY_SNAPSHOT: Snapshot = {
  metadata: { index: 0, term: 0, confState: EMPTY_CONF_STATE },
  data: new Uint8Array(0),
}

export type SnapshotUpdateResult = { readonly ok: true } | { readonly ok: false; reason: 'stale' }

/** The reference RaftStorage: everything in memory, mutated only by the application. */
export class MemoryRaftStorage implements RaftStorage {
  private hardState: HardState = EMPTY_HARD_STATE
  private currentSnapshot: Snapshot
  /** Index and term of the last compacted entry; `log[0]` is the entry after it. */
  private compactedIndex = 0
  private compactedTerm = 0
  private log: Entry[] = []

  /**
   * An empty log. With `confState`, the storage starts out holding that configuration as of
   * index 0, an alternative to bootstrapping through RaftConfig.voters.
   */
  constructor(options: { readonly confState?: ConfState } = {}) {
    const confState = options.confState ?? EMPTY_CONF_STATE
    this.currentSnapshot = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array(0) }
  }

  /**
   * Rebuilds a storage from persisted parts, as a durable storage recovers after a restart: the
   * latest snapshot, the compaction point (at or before the snapshot) and the entries after it.
   */
  static recover(parts: {
    readonly hardState: HardState
    readonly snapshot: Snapshot
    readonly compactedIndex: number
    readonly compactedTerm: number
    readonly entries: readonly Entry[]
  }): MemoryRaftStorage {
    const { snapshot, compactedIndex, entries } = parts
    assert(compactedIndex <= snapshot.metadata.index, 'compaction point after the snapshot')
    assertContiguous(entries)
    const first = entries[0]
    assert(
      first === undefined || first.index === compactedIndex + 1,
      'log does not follow compaction',
    )
    const storage = new MemoryRaftStorage()
    storage.currentSnapshot = snapshot
    storage.compactedIndex = compactedIndex
    storage.compactedTerm = parts.compactedTerm
    storage.log = [...entries]
    assert(snapshot.metadata.index <= storage.lastIndex(), 'snapshot beyond the recovered log')
    assert(parts.hardState.commit <= storage.lastIndex(), 'commit beyond the recovered log')
    storage.hardState = parts.hardState
    return storage
  }

  initialState(): InitialState {
    const { confState, index } = this.currentSnapshot.metadata
    return { hardState: this.hardState, confState, confStateIndex: index }
  }

  firstIndex(): number {
    return this.compactedIndex + 1
  }

  lastIndex(): number {
    return this.compactedIndex + this.log.length
  }

  term(index: number): StorageResult<number> {
    if (index < this.compactedIndex) return failed('compacted')
    if (index > this.lastIndex()) return failed('unavailable')
    if (index === this.compactedIndex) return ok(this.compactedTerm)
    return ok((this.log[index - this.compactedIndex - 1] as Entry).term)
  }

  entries(lo: number, hi: number, bytesMax: number): StorageResult<Entry[]> {
    assert(lo <= hi, `entries range [${lo}, ${hi}) is reversed`)
    if (lo <= this.compactedIndex) return failed('compacted')
    assert(hi <= this.lastIndex() + 1, `entries hi ${hi} beyond last index ${this.lastIndex()}`)
    const start = lo - this.compactedIndex - 1
    return ok(limitEntriesBytes(this.log.slice(start, hi - this.compactedIndex - 1), bytesMax))
  }

  snapshot(): StorageResult<Snapshot> {
    return ok(this.currentSnapshot)
  }

  /** The persisted hard state, for restarts and checks. */
  get persistedHardState(): HardState {
    return this.hardState
  }

  setHardState(hardState: HardState): void {
    assert(hardState.term >= this.hardState.term, 'persisted term must never decrease')
    this.hardState = hardState
  }

  /**
   * Appends entries that follow or overwrite the log's tail: any existing entries at or after
   * `entries[0].index` are replaced. Entries already compacted are skipped.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return
    assertContiguous(entries)
    const first = entries[0] as Entry
    assert(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap`)
    const fresh = entries.filter((entry) => entry.index > this.compactedIndex)
    if (fresh.length === 0) return
    // In place: the log holds up to a snapshot interval of entries, and copying it on every
    // append cost each node tens of microseconds per write. No caller holds on to `log` (reads
    // hand out copies), so truncating and pushing is safe.
    this.log.length = (fresh[0] as Entry).index - this.compactedIndex - 1
    for (const entry of fresh) this.log.push(entry)
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snapshot: Snapshot): SnapshotUpdateResult {
    if (snapshot.metadata.index <= this.currentSnapshot.metadata.index) {
      return { ok: false, reason: 'stale' }
    }
    this.currentSnapshot = snapshot
    this.compactedIndex = snapshot.metadata.index
    this.compactedTerm = snapshot.metadata.term
    this.log = []
    return { ok: true }
  }

  /** Records a snapshot of the application's state as of `index` (already applied). */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): SnapshotUpdateResult {
    if (index <= this.currentSnapshot.metadata.index) return { ok: false, reason: 'stale' }
    assert(index <= this.lastIndex(), `snapshot index ${index} beyond last index`)
    const term = this.term(index)
    assert(term.ok, `snapshot index ${index} is compacted`)
    this.currentSnapshot = { metadata: { index, term: term.value, confState }, data }
    return { ok: true }
  }

  /**
   * Discards entries up to and including `index`. A snapshot must already cover `index`, so a
   * follower that needs a discarded entry can always be sent the snapshot instead.
   */
  compact(index: number): SnapshotUpdateResult {
    if (index <= this.compactedIndex) return { ok: false, reason: 'stale' }
    assert(index <= this.currentSnapshot.metadata.index, 'compaction beyond the latest snapshot')
    const term = this.term(index)
    assert(term.ok, `compaction index ${index} is unavailable`)
    this.log = this.log.slice(index - this.compactedIndex)
    this.compactedIndex = index
    this.compactedTerm = term.value
    return { ok: true }
  }
}
