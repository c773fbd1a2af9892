/**
 * The replicated set: an add-wins ORSWOT plus the marks of the keyed updates it applied, so an
 * update retried with the same idempotency key is recognised and not applied again. This is
 * the state a key's record holds for the `set` type.
 *
 * A mark is the update's id (derived from the idempotency key and the update's content) with
 * the earliest coordinator wall time any copy carries, and the dots its adds minted, per
 * element. A retry that reaches a coordinator which has not seen the first attempt applies
 * again and mints other dots for the same adds; when the copies meet, the mark holds all of
 * them, and a remove that saw one copy of an add removes them all (`withoutRetiredCopies`), so
 * a client that removes an element with the context of the retry's answer sees it gone, as
 * without the retry. Merge joins the ORSWOTs, unions the marks (earlier time, union of dots)
 * and then retires such copies: marks only ever grow and a retired copy never returns, so this
 * is still a join. `compact` drops marks older than the window and, beyond the count bound,
 * the oldest; a dropped mark means that a retry arriving later applies again (re-adds what the
 * update added), and that copies meeting only after the window are no longer tied together.
 */

import { assert } from '../env/assert.js'
import { compareDots } from '../versioning/dot-context.js'
import { type Dot, dotFromUntrusted, dotToWire } from '../versioning/version-vector.js'
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
  ELEMENTS_COUNT_MAX,
  elementFromUntrusted,
  failDecode,
  tupleFromUntrusted,
} from './validation.js'

export interface Mark {
  /** The earliest coordinator wall time of the update's copies. */
  readonly atMs: number
  /** element → the dots its adds minted, one per copy that applied, sorted. */
  readonly copies: ReadonlyMap<string, readonly Dot[]>
}

export interface ReplicatedSet {
  readonly set: Orswot.Orswot
  /** update id → its mark. */
  readonly marks: ReadonlyMap<string, Mark>
}

type CopiesWire = Array<[string, Array<[string, number]>]>

/**
 * Compact wire form: `[set, marks]`, each mark `[id, atMs, copies]` sorted by id, copies
 * `[element, [[actor, counter], ...]]` sorted by element (`[id, atMs]` when it has none).
 */
export type ReplicatedSetWire = [
  Orswot.OrswotWire,
  Array<[string, number] | [string, number, CopiesWire]>,
]

/** Most marks a decoded set may hold. */
export const MARKS_DECODED_MAX = 1 << 20
/** Most copies of one element's add a decoded mark may hold. */
export const COPIES_DECODED_MAX = 64

const NO_COPIES: ReadonlyMap<string, readonly Dot[]> = Object.freeze(new Map())

const EMPTY: ReplicatedSet = Object.freeze({
  set: Orswot.empty(),
  marks: Object.freeze(new Map<string, Mark>()),
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

/**
 * `state` with its ORSWOT replaced and, for a keyed update, the update's mark: its time and
 * the dots its adds minted (`copies`, element → dot).
 */
export function withSet(
  state: ReplicatedSet,
  set: Orswot.Orswot,
  mark:
    | { readonly id: string; readonly atMs: number; readonly copies: ReadonlyMap<string, Dot> }
    | undefined,
): ReplicatedSet {
  if (mark === undefined) return { set, marks: state.marks }
  assert(mark.id.length > 0 && mark.id.length <= UPDATE_ID_CHARS_MAX, 'bad update id')
  assert(Number.isSafeInteger(mark.atMs) && mark.atMs >= 0, 'bad mark time')
  const copies = new Map([...mark.copies].map(([element, dot]) => [element, [dot]] as const))
  const marks = new Map(state.marks)
  const existing = marks.get(mark.id)
  const added: Mark = { atMs: mark.atMs, copies }
  marks.set(mark.id, existing === undefined ? added : joinMarks(existing, added))
  return retireCopies({ set, marks })
}

export function merge(left: ReplicatedSet, right: ReplicatedSet): ReplicatedSet {
  if (left === right) return left
  const set = Orswot.merge(left.set, right.set)
  if (right.marks.size === 0) return retireCopies({ set, marks: left.marks })
  const marks = new Map(left.marks)
  for (const [id, mark] of right.marks) {
    const existing = marks.get(id)
    marks.set(id, existing === undefined ? mark : joinMarks(existing, mark))
  }
  return retireCopies({ set, marks })
}

function joinMarks(left: Mark, right: Mark): Mark {
  const atMs = Math.min(left.atMs, right.atMs)
  if (right.copies.size === 0 || left.copies === right.copies) return { atMs, copies: left.copies }
  const copies = new Map(left.copies)
  for (const [element, dots] of right.copies) {
    const known = copies.get(element) ?? []
    const fresh = dots.filter((dot) => !known.some((seen) => compareDots(seen, dot) === 0))
    if (fresh.length > 0) copies.set(element, [...known, ...fresh].sort(compareDots))
  }
  return { atMs, copies }
}

/** Drops every copy of an add one of whose copies was removed (`withoutRetiredCopies`). */
function retireCopies(state: ReplicatedSet): ReplicatedSet {
  let set = state.set
  for (const mark of state.marks.values()) {
    for (const [element, dots] of mark.copies) {
      set = Orswot.withoutRetiredCopies(set, element, dots)
    }
  }
  return set === state.set ? state : { set, marks: state.marks }
}

/** Drops marks older than the window, then the oldest beyond the count bound. */
export function compact(state: ReplicatedSet, nowMs: number, policy: LedgerPolicy): ReplicatedSet {
  assert(policy.entriesMax >= 1 && policy.windowMs >= 0, 'a ledger policy keeps something')
  const kept = [...state.marks].filter(([, mark]) => mark.atMs + policy.windowMs > nowMs)
  if (kept.length === state.marks.size && kept.length <= policy.entriesMax) return state
  kept.sort(
    ([leftId, left], [rightId, right]) => right.atMs - left.atMs || compareStrings(leftId, rightId),
  )
  return { set: state.set, marks: new Map(kept.slice(0, policy.entriesMax)) }
}

export function equals(left: ReplicatedSet, right: ReplicatedSet): boolean {
  if (left === right) return true
  if (left.marks.size !== right.marks.size || !Orswot.equals(left.set, right.set)) return false
  for (const [id, mark] of left.marks) {
    const other = right.marks.get(id)
    if (other === undefined || !marksEqual(mark, other)) return false
  }
  return true
}

function marksEqual(left: Mark, right: Mark): boolean {
  if (left.atMs !== right.atMs || left.copies.size !== right.copies.size) return false
  for (const [element, dots] of left.copies) {
    const others = right.copies.get(element)
    if (others === undefined || others.length !== dots.length) return false
    if (dots.some((dot, index) => compareDots(dot, others[index] as Dot) !== 0)) return false
  }
  return true
}

export function lessOrEqual(left: ReplicatedSet, right: ReplicatedSet): boolean {
  return equals(merge(left, right), right)
}

export function encode(state: ReplicatedSet): ReplicatedSetWire {
  const marks = [...state.marks]
    .sort(([left], [right]) => compareStrings(left, right))
    .map(([id, mark]): [string, number] | [string, number, CopiesWire] =>
      mark.copies.size === 0 ? [id, mark.atMs] : [id, mark.atMs, encodeCopies(mark.copies)],
    )
  return [Orswot.encode(state.set), marks]
}

function encodeCopies(copies: ReadonlyMap<string, readonly Dot[]>): CopiesWire {
  return [...copies.keys()]
    .sort(compareStrings)
    .map((element) => [element, (copies.get(element) ?? []).map(dotToWire)])
}

export function decode(raw: unknown, code: DecodeErrorCode): ReplicatedSet {
  const parts = tupleFromUntrusted(raw, 2, code, 'set as [orswot, marks]')
  const set = Orswot.decode(parts[0], code)
  const marks = new Map<string, Mark>()
  for (const item of arrayFromUntrusted(parts[1], MARKS_DECODED_MAX, code, 'marks')) {
    const fields = Array.isArray(item) && item.length === 3 ? item : undefined
    const [id, atMs] = tupleFromUntrusted(
      fields === undefined ? item : fields.slice(0, 2),
      2,
      code,
      'mark as [id, atMs] or [id, atMs, copies]',
    )
    if (typeof id !== 'string' || id.length === 0 || id.length > UPDATE_ID_CHARS_MAX) {
      failDecode(code, `mark id must be a string of 1..${UPDATE_ID_CHARS_MAX} characters`)
    }
    if (typeof atMs !== 'number' || !Number.isSafeInteger(atMs) || atMs < 0) {
      failDecode(code, 'mark time must be a non-negative safe integer')
    }
    if (marks.has(id)) failDecode(code, 'marks repeat an id')
    const copies = fields === undefined ? NO_COPIES : decodeCopies(fields[2], code)
    marks.set(id, { atMs, copies })
  }
  return retireCopies({ set, marks })
}

function decodeCopies(raw: unknown, code: DecodeErrorCode): ReadonlyMap<string, readonly Dot[]> {
  const copies = new Map<string, readonly Dot[]>()
  for (const item of arrayFromUntrusted(raw, ELEMENTS_COUNT_MAX, code, 'mark copies')) {
    const [rawElement, rawDots] = tupleFromUntrusted(item, 2, code, 'copies as [element, dots]')
    const element = elementFromUntrusted(rawElement, code)
    if (copies.has(element)) failDecode(code, 'mark copies repeat an element')
    const dots = arrayFromUntrusted(rawDots, COPIES_DECODED_MAX, code, 'copy dots').map((dot) =>
      dotFromUntrusted(dot, code),
    )
    const sorted = [...dots].sort(compareDots)
    if (sorted.some((dot, index) => index > 0 && compareDots(sorted[index - 1] as Dot, dot) === 0))
      failDecode(code, 'mark copies repeat a dot')
    copies.set(element, sorted)
  }
  return copies
}

/** The exact byte length of `encode(state)` as msgpack. */
export function byteSize(state: ReplicatedSet): number {
  let bytes = 1 + Orswot.byteSize(state.set) + arrayHeaderSize(state.marks.size)
  for (const [id, mark] of state.marks) {
    bytes += 1 + stringSize(id) + uintSize(mark.atMs)
    if (mark.copies.size === 0) continue
    bytes += arrayHeaderSize(mark.copies.size)
    for (const [element, dots] of mark.copies) {
      bytes += 1 + stringSize(element) + arrayHeaderSize(dots.length)
      for (const dot of dots) bytes += 1 + stringSize(dot.actor) + uintSize(dot.counter)
    }
  }
  return bytes
}
