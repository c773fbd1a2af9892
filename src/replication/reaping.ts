/**
 * Tombstone reaping rules: when a deleted key's record may be removed from every replica
 * without the deleted value ever coming back.
 *
 * The first primary of a partition proposes the keys whose every sibling is a tombstone older
 * than the grace period. It reaps one only when every member of the cluster answered its check
 * and: no member holds a hint for the key; every primary holds exactly the proposed tombstone
 * state; every other member holds no record of the key or exactly that state (a member that
 * once coordinated the key as a fallback keeps a record to mint from). A member whose record
 * the tombstone state descends (older, or missing on a primary) is repaired with it and the
 * key waits for a later round; a member holding anything the tombstone state has not seen
 * keeps the key alive. Deletion itself is compare-and-delete on each holder, so a write that
 * lands between the check and the delete survives, and its clock covers the tombstone's.
 *
 * Why nothing comes back: after the check, no replica, hint or fallback record holds a state
 * the tombstone does not descend, so no merge can reintroduce a deleted sibling. What remains
 * is in flight: replication, hint and read-repair messages of requests older than the grace
 * period, which is far longer than any request's timeout. New writes mint dots above every
 * counter their coordinator used before (a node-wide monotonic floor), so a client context
 * from before the reap can never cover them.
 */

import { descends } from '../versioning/dvv.js'
import { type KeyRecord, kvState, recordsEqual, tombstoneTimeMs } from './record.js'

/** What one member reported about one candidate key. */
export interface ReapReport {
  readonly hinted: boolean
  /** The member's own record of the key (as primary, or as a former fallback coordinator). */
  readonly record: KeyRecord | undefined
}

export type ReapVerdict =
  | { readonly kind: 'reap'; readonly holders: readonly string[] }
  | { readonly kind: 'repair'; readonly nodes: readonly string[] }
  | { readonly kind: 'keep' }

/** True when every sibling is a tombstone deleted at least `graceMs` before `nowWallMs`. */
export function isReapable(record: KeyRecord, nowWallMs: number, graceMs: number): boolean {
  const deletedAtMs = tombstoneTimeMs(record)
  return deletedAtMs !== undefined && deletedAtMs + graceMs <= nowWallMs
}

/**
 * The verdict for one key whose tombstone state is `tombstone`, given every member's report
 * (`members` lists them all; a member without a report did not answer).
 */
export function reapVerdict(
  tombstone: KeyRecord,
  primaries: readonly string[],
  members: readonly string[],
  reports: ReadonlyMap<string, ReapReport>,
): ReapVerdict {
  const holders: string[] = []
  const repairs: string[] = []
  for (const member of members) {
    const report = reports.get(member)
    if (report === undefined || report.hinted) return { kind: 'keep' }
    const record = report.record
    const primary = primaries.includes(member)
    if (record !== undefined && recordsEqual(record, tombstone)) {
      holders.push(member)
    } else if (record === undefined && !primary) {
    } else if (record === undefined || descends(kvState(tombstone), kvState(record))) {
      repairs.push(member)
    } else {
      return { kind: 'keep' }
    }
  }
  if (repairs.length > 0) return { kind: 'repair', nodes: repairs }
  return { kind: 'reap', holders }
}
