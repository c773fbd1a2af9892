/**
 * Witness replicas: the last `witnesses` of a key's N replicas keep its causal metadata and no
 * values (Pâris's "voting with witnesses"). This module holds the pure rules that say what a
 * witness stores and when an answer that witnesses took part in may be served.
 *
 * Contract:
 * - A witness's record of a key is `witnessForm` of a full record: the same DVV (clock, dots,
 *   tombstones) with each value replaced by its digest, and the CRDT sub-states in full (they
 *   are small and bounded, and a counter or set cannot be merged from a digest). A witness
 *   merges an incoming full record by taking its witness form, then the normal record merge.
 * - A dot's payload has two forms, the value and its digest; merging records keeps the value
 *   (src/replication/record.ts), so the merge of full answers and witness answers holds a
 *   digest exactly where a witness reports a live write that no full answer holds.
 * - `isComplete` is the read rule: an answer may be served only when its merge holds no digest
 *   (every live write a witness reported is either held as a value by a full answer or was
 *   superseded by a write that answer holds). Otherwise a full copy that answered is older
 *   than what the witnesses report, and serving it would return stale data as current.
 */

import { createHash } from 'node:crypto'
import { assert } from '../env/assert.js'
import { mapPayload } from '../versioning/dvv.js'
import {
  DIGEST_BYTES,
  type DigestPayload,
  type KeyRecord,
  type KvPayload,
  kvState,
  type ValuePayload,
} from './record.js'

/** The digest a witness keeps of a value: SHA-256 of content type and bytes, truncated. */
export function digestOf(payload: ValuePayload): DigestPayload {
  const hash = createHash('sha256')
  hash.update(payload.contentType, 'utf8')
  hash.update(new Uint8Array([0]))
  hash.update(payload.value)
  const digest = new Uint8Array(hash.digest().subarray(0, DIGEST_BYTES))
  assert(digest.length === DIGEST_BYTES, 'a digest has DIGEST_BYTES bytes')
  return { kind: 'digest', digest, valueBytes: payload.value.length }
}

/** A payload as a witness keeps it: values become digests, tombstones and digests stay. */
export function witnessPayload(payload: KvPayload): KvPayload {
  return payload.kind === 'value' ? digestOf(payload) : payload
}

/** What a witness stores of a record: values as digests, everything else as it is. */
export function witnessForm(record: KeyRecord): KeyRecord {
  if (record.kv === undefined || !holdsValues(record)) return record
  return { ...record, kv: mapPayload(record.kv, witnessPayload) }
}

/** True when some sibling holds a value (a witness's own record never does). */
export function holdsValues(record: KeyRecord): boolean {
  return kvState(record).siblings.some((sibling) => sibling.payload.kind === 'value')
}

/** True when some sibling holds only a digest: a write whose value this record lacks. */
export function holdsDigests(record: KeyRecord): boolean {
  return kvState(record).siblings.some((sibling) => sibling.payload.kind === 'digest')
}

/**
 * The read rule: a merged answer may be served when at least one full copy answered and the
 * merge holds a value for every live write anyone reported.
 */
export function isComplete(merged: KeyRecord, fullAnswers: number): boolean {
  assert(Number.isSafeInteger(fullAnswers) && fullAnswers >= 0, `bad count ${fullAnswers}`)
  return fullAnswers > 0 && !holdsDigests(merged)
}
