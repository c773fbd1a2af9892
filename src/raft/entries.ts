/**
 * Small helpers over runs of log entries: their size for batching limits, cutting a run to a
 * byte budget, and checking that a run is contiguous. Sizes are estimates of the encoded size,
 * used only for limits, so they only need to be monotonic in the payload.
 */

import { assert } from '../env/assert.js'
import type { AppendMessage, Entry } from './types.js'

/** Per-entry framing: kind, term and index as msgpack fields. */
const ENTRY_OVERHEAD_BYTES = 24

export function entryBytes(entry: Entry): number {
  if (entry.kind === 'normal') return ENTRY_OVERHEAD_BYTES + entry.data.length
  return ENTRY_OVERHEAD_BYTES + entry.change.type.length + entry.change.nodeId.length
}

export function entriesBytes(entries: readonly Entry[]): number {
  let total = 0
  for (const entry of entries) total += entryBytes(entry)
  return total
}

/** Bytes of application payload only; the leader's no-op and conf changes count as zero. */
export function payloadBytes(entries: readonly Entry[]): number {
  let total = 0
  for (const entry of entries) if (entry.kind === 'normal') total += entry.data.length
  return total
}

/**
 * The longest prefix of `entries` within `bytesMax`, but never empty when `entries` is not:
 * a single entry larger than the budget must still make progress.
 */
export function limitEntriesBytes<T extends Entry>(entries: readonly T[], bytesMax: number): T[] {
  if (entries.length === 0) return []
  let total = 0
  let count = 0
  for (const entry of entries) {
    total += entryBytes(entry)
    if (count > 0 && total > bytesMax) break
    count++
  }
  return entries.slice(0, count)
}

/** Asserts that `entries` have consecutive indexes and non-decreasing terms. */
export function assertContiguous(entries: readonly Entry[]): void {
  for (let position = 1; position < entries.length; position++) {
    const previous = entries[position - 1] as Entry
    const entry = entries[position] as Entry
    assert(entry.index === previous.index + 1, `entry ${entry.index} follows ${previous.index}`)
    assert(entry.term >= previous.term, `entry ${entry.index} has a term below its predecessor`)
  }
}

/** Whether an append's entries directly follow its previous index, in non-decreasing terms. */
export function isWellFormedAppend(message: AppendMessage): boolean {
  let previousIndex = message.index
  let previousTerm = message.logTerm
  for (const entry of message.entries) {
    if (entry.index !== previousIndex + 1 || entry.term < previousTerm) return false
    if (entry.term > message.term) return false
    previousIndex = entry.index
    previousTerm = entry.term
  }
  return message.logTerm <= message.term
}
