/**
 * The replicated set: an add-wins ORSWOT plus the marks of the keyed updates it applied, so an
 * update retried with the same idempotency key is recognised and not applied again. This is
 * the state a key's record holds for the `set` type.
 *
 * A mark is the update's id (derived from the idempotency key and the update's content) with
 * the earliest coordinator wall time any copy carries. Marks do not change the set's value:
 * they only let a coordinator answer a retry without applying it. Merge joins the ORSWOTs and
 * unions the marks (keeping the earlier time), a join. `compact` drops marks older than the
 * window and, beyond the count bound, the oldest; a dropped mark only means that a retry
 * arriving later applies again, which for a set re-adds what the update added (or removes
 * again what its context saw) rather than counting anything twice.
 */

import { assert } from '../env/assert.js'
import { arrayHeaderSize, stringSize, uintSize } from './msgpack-size.js'
import * as Orswot from './orswot.js'
import {
  type IdempotencyLookup,
  keyDigestOf,
  type LedgerPolicy,
  UPDATE_ID_CHARS_MAX,
} from './replicated-counter.js'
import {
  arrayFromUntrusted,
  compareStrings,
  type DecodeErrorCode,
  failDecode,
  tupleFromUntrusted,
} from './validation.js'

export interface ReplicatedSet {
  readonly set: Orswot.Orswot
  /** update id → earliest wall time of its copies. */
  readonly marks: ReadonlyMap<string, number>
}

/** Compact wire form: `[set, marks]`, each mark `[id, atMs]` sorted by id. */
export type ReplicatedSetWire = [Orswot.OrswotWire, Array<[string, number]>]

/** Most marks a decoded set may hold. */
export const MARKS_DECODED_MAX = 1 << 20

const EMPTY: ReplicatedSet = Object.freeze({
  set: Orswot.empty(),
  marks: Object.freeze(new Map<string, number>()),
})

export function empty(): ReplicatedSet {
  return EMPTY
}

export function lookup(state: ReplicatedSet, id: string): IdempotencyLookup {
  if (state.marks.has(id)) return 'applied'
  const keyDigest = keyDigestOf(id)
  for (const mark of state.marks.keys()) if (keyDigestOf(mark) === keyDigest) return 'conflict'
  return 'new'
}

/** `state` with its ORSWOT replaced and, for a keyed update, the update's mark. */
export function withSet(
  state: ReplicatedSet,
  set: Orswot.Orswot,
  mark: { readonly id: string; readonly atMs: number } | undefined,
): ReplicatedSet {
  if (mark === undefined) return { set, marks: state.marks }
  assert(mark.id.length > 0 && mark.id.length <= UPDATE_ID_CHARS_MAX, 'bad update id')
  assert(Number.isSafeInteger(mark.atMs) && mark.atMs >= 0, 'bad mark time')
  const marks = new Map(state.marks)
  marks.set(mark.id, Math.min(mark.atMs, marks.get(mark.id) ?? mark.atMs))
  return { set, marks }
}

export function merge(left: ReplicatedSet, right: ReplicatedSet): ReplicatedSet {
  if (left === right) return left
  const set = Orswot.merge(left.set, right.set)
  if (right.marks.size === 0) return { set, marks: left.marks }
  const marks = new Map(left.marks)
  for (const [id, atMs] of right.marks) marks.set(id, Math.min(atMs, marks.get(id) ?? atMs))
  return { set, marks }
}

/** Drops marks older than the window, then the oldest beyond the count bound. */
export function compact(state: ReplicatedSet, nowMs: number, policy: LedgerPolicy): ReplicatedSet {
  assert(policy.entriesMax >= 1 && policy.windowMs >= 0, 'a ledger policy keeps something')
  const kept = [...state.marks].filter(([, atMs]) => atMs + policy.windowMs > nowMs)
  if (kept.length === state.marks.size && kept.length <= policy.entriesMax) return state
  kept.sort(([leftId, left], [rightId, right]) => right - left || compareStrings(leftId, rightId))
  return { set: state.set, marks: new Map(kept.slice(0, policy.entriesMax)) }
}

export function equals(left: ReplicatedSet, right: ReplicatedSet): boolean {
  if (left === right) return true
  if (left.marks.size !== right.marks.size || !Orswot.equals(left.set, right.set)) return false
  for (const [id, atMs] of left.marks) if (right.marks.get(id) !== atMs) return false
  return true
}

export function lessOrEqual(left: ReplicatedSet, right: ReplicatedSet): boolean {
  return equals(merge(left, right), right)
}

export function encode(state: ReplicatedSet): ReplicatedSetWire {
  const marks = [...state.marks].sort(([left], [right]) => compareStrings(left, right))
  return [Orswot.encode(state.set), marks]
}

export function decode(raw: unknown, code: DecodeErrorCode): ReplicatedSet {
  const parts = tupleFromUntrusted(raw, 2, code, 'set as [orswot, marks]')
  const set = Orswot.decode(parts[0], code)
  const marks = new Map<string, number>()
  for (const item of arrayFromUntrusted(parts[1], MARKS_DECODED_MAX, code, 'marks')) {
    const [id, atMs] = tupleFromUntrusted(item, 2, code, 'mark as [id, atMs]')
    if (typeof id !== 'string' || id.length === 0 || id.length > UPDATE_ID_CHARS_MAX) {
      failDecode(code, `mark id must be a string of 1..${UPDATE_ID_CHARS_MAX} characters`)
    }
    if (typeof atMs !== 'number' || !Number.isSafeInteger(atMs) || atMs < 0) {
      failDecode(code, 'mark time must be a non-negative safe integer')
    }
    if (marks.has(id)) failDecode(code, 'marks repeat an id')
    marks.set(id, atMs)
  }
  return { set, marks }
}

/** The exact byte length of `encode(state)` as msgpack. */
export function byteSize(state: ReplicatedSet): number {
  let bytes = 1 + Orswot.byteSize(state.set) + arrayHeaderSize(state.marks.size)
  for (const [id, atMs] of state.marks) bytes += 1 + stringSize(id) + uintSize(atMs)
  return bytes
}
