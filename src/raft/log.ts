/**
 * The Raft log as the core sees it: stable storage (read-only here) followed by the unstable
 * tail, plus the commit and apply cursors. Invariants, asserted on every change:
 * applied <= committed <= lastIndex, the commit index never decreases, and no committed entry is
 * ever overwritten.
 */

import { assert } from '../env/assert.js'
import { assertContiguous, limitEntriesBytes } from './entries.js'
import { failed, ok, type RaftStorage, type StorageResult } from './storage.js'
import type { Entry, Snapshot } from './types.js'
import { Unstable } from './unstable.js'

export class RaftLog {
  readonly storage: RaftStorage
  readonly unstable: Unstable
  /** Highest index known to be committed. */
  committed: number
  /** Highest index the application has applied (confirmed through advance). */
  applied: number
  /** Highest index handed out for application and not yet confirmed. */
  applying: number

  constructor(storage: RaftStorage) {
    this.storage = storage
    const firstIndex = storage.firstIndex()
    const lastIndex = storage.lastIndex()
    assert(firstIndex >= 1 && lastIndex >= firstIndex - 1, 'storage reports a reversed log')
    this.unstable = new Unstable(lastIndex + 1)
    // Everything up to the compaction point was applied before the snapshot was taken.
    this.committed = firstIndex - 1
    this.applied = firstIndex - 1
    this.applying = this.applied
  }

  /** Sets the cursors recovered at startup; both lie within the durable log. */
  initializeCursors(committed: number, applied: number): void {
    assert(applied <= committed, `applied ${applied} beyond commit ${committed}`)
    assert(committed <= this.lastIndex(), `commit ${committed} beyond the durable log`)
    assert(applied >= this.firstIndex() - 1, `applied ${applied} is before the compaction point`)
    this.committed = committed
    this.applied = applied
    this.applying = applied
  }

  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex()
  }

  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex()
  }

  term(index: number): StorageResult<number> {
    const dummyIndex = this.firstIndex() - 1
    if (index < dummyIndex) return failed('compacted')
    if (index > this.lastIndex()) return failed('unavailable')
    const unstableTerm = this.unstable.maybeTerm(index)
    if (unstableTerm !== undefined) return ok(unstableTerm)
    return this.storage.term(index)
  }

  /** The term of an index that must exist (between the compaction point and the last index). */
  mustTerm(index: number): number {
    const result = this.term(index)
    assert(result.ok, `term of index ${index} is ${result.ok ? '' : result.error}`)
    return result.value
  }

  lastTerm(): number {
    return this.mustTerm(this.lastIndex())
  }

  matchTerm(index: number, term: number): boolean {
    const result = this.term(index)
    return result.ok && result.value === term
  }

  /** Whether a candidate whose last entry is (`index`, `term`) is at least as up to date. */
  isUpToDate(index: number, term: number): boolean {
    const lastTerm = this.lastTerm()
    return term > lastTerm || (term === lastTerm && index >= this.lastIndex())
  }

  /**
   * Entries [lo, hi) limited to about `bytesMax`, from storage and then the unstable tail.
   * Fails with `compacted` when lo is before the first index.
   */
  slice(lo: number, hi: number, bytesMax: number): StorageResult<Entry[]> {
    assert(lo <= hi, `slice [${lo}, ${hi}) is reversed`)
    if (lo < this.firstIndex()) return failed('compacted')
    assert(hi <= this.lastIndex() + 1, `slice hi ${hi} beyond last index ${this.lastIndex()}`)
    if (lo === hi) return ok([])
    const offset = this.unstable.offset
    let stored: Entry[] = []
    if (lo < offset) {
      const fromStorage = this.storage.entries(lo, Math.min(hi, offset), bytesMax)
      if (!fromStorage.ok) return fromStorage
      stored = fromStorage.value
      // A short read means the byte budget is spent; the unstable part would exceed it too.
      if (stored.length < Math.min(hi, offset) - lo) return ok(stored)
    }
    if (hi <= offset) return ok(stored)
    const tail = this.unstable.slice(Math.max(lo, offset), hi)
    return ok(limitEntriesBytes(stored.concat(tail), bytesMax))
  }

  /**
   * The index of the last entry at or before `index` whose term is at most `term`, with that
   * term; used on both sides of a rejected append to skip a whole conflicting term at once.
   * Stops at the compaction point, where the term is no longer known.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let candidate = Math.min(index, this.lastIndex())
    while (candidate > 0) {
      const found = this.term(candidate)
      if (!found.ok) return { index: candidate, term: 0 }
      if (found.value <= term) return { index: candidate, term: found.value }
      candidate--
    }
    return { index: 0, term: 0 }
  }

  /** The first of `entries` whose term differs from (or is beyond) the log, or 0 if none. */
  private findConflict(entries: readonly Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index
    }
    return 0
  }

  /**
   * Follower side of AppendEntries: if the log has (`index`, `logTerm`), appends `entries`
   * (truncating a conflicting suffix) and raises the commit index to what it now shares with
   * the leader. Returns the index of the last new entry, or undefined on a mismatch.
   */
  maybeAppend(
    index: number,
    logTerm: number,
    commit: number,
    entries: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined
    const lastNew = index + entries.length
    const conflict = this.findConflict(entries)
    if (conflict !== 0) {
      assert(conflict > this.committed, `conflict at ${conflict} with committed entry`)
      this.append(entries.slice(conflict - index - 1))
    }
    this.commitTo(Math.min(commit, lastNew))
    return lastNew
  }

  append(entries: readonly Entry[]): number {
    const first = entries[0]
    if (first === undefined) return this.lastIndex()
    assertContiguous(entries)
    assert(first.index - 1 >= this.committed, `append at ${first.index} would rewrite the commit`)
    assert(first.index <= this.lastIndex() + 1, `append at ${first.index} leaves a gap`)
    this.unstable.truncateAndAppend(entries)
    return this.lastIndex()
  }

  commitTo(index: number): void {
    if (index <= this.committed) return
    assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`)
    this.committed = index
  }

  appliedTo(index: number): void {
    assert(index >= this.applied && index <= this.committed, `applied ${index} out of range`)
    this.applied = index
    this.applying = Math.max(this.applying, index)
  }

  hasNextOrInProgressSnapshot(): boolean {
    return this.unstable.snapshot !== undefined
  }

  /** Committed entries not yet handed out, limited to `bytesMax`. */
  nextCommittedEntries(bytesMax: number): Entry[] {
    if (this.hasNextOrInProgressSnapshot()) return []
    const lo = this.applying + 1
    const hi = this.committed + 1
    if (lo >= hi) return []
    const result = this.slice(lo, hi, bytesMax)
    assert(result.ok, `committed entries from ${lo} are unavailable`)
    return result.value
  }

  hasNextCommittedEntries(): boolean {
    return !this.hasNextOrInProgressSnapshot() && this.committed > this.applying
  }

  /** The snapshot to send a lagging follower: a pending one, or storage's latest. */
  snapshot(): StorageResult<Snapshot> {
    const pending = this.unstable.snapshot
    if (pending !== undefined) return ok(pending)
    return this.storage.snapshot()
  }

  /** Replaces the log with a snapshot from the leader; it is committed by definition. */
  restore(snapshot: Snapshot): void {
    assert(snapshot.metadata.index > this.committed, 'restoring a snapshot behind the commit')
    this.committed = snapshot.metadata.index
    this.unstable.restore(snapshot)
  }

  /** The last index whose entry is durable in storage (as far as this log knows). */
  stableLastIndex(): number {
    // Until a received snapshot is durable, storage still holds the log it replaces.
    if (this.unstable.snapshot !== undefined) return 0
    return Math.min(this.unstable.offset - 1, this.storage.lastIndex())
  }
}
