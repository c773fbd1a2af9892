/**
 * The not-yet-persisted tail of the log: entries (and at most one incoming snapshot) the core
 * has accepted but the application has not yet confirmed as durable through `advance()`.
 *
 * Entries from `offsetInProgress` on have not been handed out in a Ready; those before it are
 * being persisted. A conflicting append from a new leader may replace entries that are in
 * progress: the application then persists the replacement in the next Ready, and the stale
 * confirmation is ignored because its term no longer matches.
 */

import { assert } from '../env/assert.js'
import type { Entry, Snapshot } from './types.js'

export class Unstable {
  snapshot: Snapshot | undefined = undefined
  snapshotInProgress = false
  entries: Entry[] = []
  /** Index of `entries[0]`, or of the next entry when `entries` is empty. */
  offset: number
  offsetInProgress: number

  constructor(offset: number) {
    this.offset = offset
    this.offsetInProgress = offset
  }

  /** The first index known only to the unstable snapshot. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index + 1
  }

  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1
    return this.snapshot === undefined ? undefined : this.snapshot.metadata.index
  }

  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      const snapshot = this.snapshot
      return snapshot !== undefined && snapshot.metadata.index === index
        ? snapshot.metadata.term
        : undefined
    }
    const last = this.maybeLastIndex()
    if (last === undefined || index > last) return undefined
    return (this.entries[index - this.offset] as Entry).term
  }

  /** Entries not yet handed out in a Ready. */
  nextEntries(): Entry[] {
    return this.entries.slice(this.offsetInProgress - this.offset)
  }

  nextSnapshot(): Snapshot | undefined {
    return this.snapshotInProgress ? undefined : this.snapshot
  }

  /** Marks everything currently unstable as handed out for persistence. */
  acceptInProgress(): void {
    this.offsetInProgress = this.offset + this.entries.length
    if (this.snapshot !== undefined) this.snapshotInProgress = true
  }

  /** Entry `index` of term `term` is durable; drops it and everything before it. */
  stableTo(index: number, term: number): void {
    const found = this.maybeTerm(index)
    if (found === undefined || found !== term || index < this.offset) return
    this.entries = this.entries.slice(index + 1 - this.offset)
    this.offset = index + 1
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset)
  }

  stableSnapshotTo(index: number): void {
    if (this.snapshot !== undefined && this.snapshot.metadata.index === index) {
      this.snapshot = undefined
      this.snapshotInProgress = false
    }
  }

  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1
    this.offsetInProgress = this.offset
    this.entries = []
    this.snapshot = snapshot
    this.snapshotInProgress = false
  }

  /** Appends `entries`, replacing any unstable entries at or after `entries[0].index`. */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0]
    if (first === undefined) return
    const end = this.offset + this.entries.length
    assert(first.index <= end, `unstable append at ${first.index} leaves a gap after ${end - 1}`)
    if (first.index === end) {
      this.entries = this.entries.concat(entries)
    } else if (first.index <= this.offset) {
      // The whole unstable tail is replaced; storage entries from here on become stale too.
      this.offset = first.index
      this.offsetInProgress = this.offset
      this.entries = [...entries]
    } else {
      this.entries = this.entries.slice(0, first.index - this.offset).concat(entries)
      this.offsetInProgress = Math.min(this.offsetInProgress, first.index)
    }
  }

  /** Unstable entries in [lo, hi); the caller has checked the range lies inside. */
  slice(lo: number, hi: number): Entry[] {
    assert(
      lo >= this.offset && hi <= this.offset + this.entries.length && lo <= hi,
      `unstable slice [${lo}, ${hi}) outside [${this.offset}, ${this.offset + this.entries.length})`,
    )
    return this.entries.slice(lo - this.offset, hi - this.offset)
  }
}
