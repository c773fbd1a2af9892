/**
 * The replicated counter: a PN-Counter for plain updates plus a bounded ledger that makes
 * updates carrying an idempotency key count once, whichever coordinators apply them and
 * however often. This is the state a key's record holds for the `counter` type.
 *
 * State:
 * - `plain`: the PN-Counter of updates without an idempotency key (per-actor totals).
 * - `entries`: per actor, the keyed updates that actor applied and has not folded, each with
 *   the actor's own sequence number for the key (1, 2, 3, ...), the update's `id` (derived
 *   from the idempotency key and the update's content, so a retry through another coordinator
 *   carries the same id), its signed amount and the coordinator's wall time.
 * - `folded`: per actor, a watermark `seq` with the totals of that actor's entries 1..seq.
 *
 * Merge is a join: `plain` merges as a PN-Counter; entries are a union keyed by (actor, seq),
 * because an actor mints each sequence number once; `folded` keeps per actor the watermark
 * with the higher `seq` (at equal `seq`, the larger totals); entries at or below their actor's
 * watermark are dropped. When two entries share an id (a retry that reached two coordinators),
 * every one but the least by (actor, seq) is flagged `duplicate` and counts 0; the flag only
 * ever turns on, and the least entry of a group stays least as more copies arrive, so the
 * flag is monotone and merge stays a join.
 *
 * Folding (`compact`) bounds the ledger: an actor's oldest entries move into its watermark in
 * sequence order (a contiguous prefix only), when older than the window or beyond the count
 * bound. Why a fold never double counts: the totals at watermark `seq` are a function of the
 * actor's entries 1..seq (and their duplicate flags), so two replicas that fold the same
 * prefix agree, and a replica that has not folded drops those entries on merge because the
 * watermark covers them, instead of adding them again. The one assumption is the idempotency
 * window: every copy of a retried update must meet every other before either is folded. A
 * copy that arrives after its twin was folded counts again (see docs/ARCHITECTURE.md).
 *
 * Contract: states are immutable and canonical (entries sorted by seq above the watermark,
 * duplicate flags settled), so `equals` is structural. Actors must be unique per node
 * incarnation and a coordinator must mint on its own latest state of the key.
 */

import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import type { Actor } from '../versioning/version-vector.js'
import * as GCounter from './g-counter.js'
import { arrayHeaderSize, stringSize, uintSize } from './msgpack-size.js'
import * as PnCounter from './pn-counter.js'
import {
  arrayFromUntrusted,
  assertActor,
  assertAmount,
  compareStrings,
  type DecodeErrorCode,
  failDecode,
  tupleFromUntrusted,
} from './validation.js'

export interface CounterEntry {
  readonly seq: number
  /** `<key digest>.<content digest>`: equal for every copy of one keyed update. */
  readonly id: string
  /** Signed, non-zero. */
  readonly amount: number
  /** The minting coordinator's wall time, for the window. */
  readonly atMs: number
  /** True when another copy of the same update counts instead. */
  readonly duplicate: boolean
}

export interface Folded {
  readonly seq: number
  readonly positive: number
  readonly negative: number
}

export interface ReplicatedCounter {
  readonly plain: PnCounter.PnCounter
  readonly folded: ReadonlyMap<Actor, Folded>
  /** actor → its unfolded entries, sorted by seq, every seq above the actor's watermark. */
  readonly entries: ReadonlyMap<Actor, readonly CounterEntry[]>
}

/** How long and how many keyed updates a key remembers. */
export interface LedgerPolicy {
  readonly windowMs: number
  readonly entriesMax: number
}

/** The outcome of looking an idempotency key up in a state. */
export type IdempotencyLookup = 'new' | 'applied' | 'conflict'

/** Longest update id: two digests and a dot. */
export const UPDATE_ID_CHARS_MAX = 64
/** Most entries a decoded counter may hold: many coordinators, each within its bound. */
export const ENTRIES_DECODED_MAX = 1 << 20

const FLAG_NEGATIVE = 1
const FLAG_DUPLICATE = 2

const EMPTY: ReplicatedCounter = Object.freeze({
  plain: PnCounter.empty(),
  folded: Object.freeze(new Map<Actor, Folded>()),
  entries: Object.freeze(new Map<Actor, readonly CounterEntry[]>()),
})

export function empty(): ReplicatedCounter {
  return EMPTY
}

/** A plain update by `actor`: `amount` is signed and non-zero. */
export function update(state: ReplicatedCounter, actor: Actor, amount: number): ReplicatedCounter {
  refuseValueOverflow(state, actor, amount)
  const plain =
    amount > 0
      ? PnCounter.increment(state.plain, actor, amount)
      : PnCounter.decrement(state.plain, actor, -amount)
  return { ...state, plain }
}

/** Whether an update with this id, or another update under the same key digest, is held. */
export function lookup(state: ReplicatedCounter, id: string): IdempotencyLookup {
  const keyPrefix = `${keyDigestOf(id)}.`
  let conflict = false
  for (const chain of state.entries.values()) {
    for (const entry of chain) {
      if (entry.id === id) return 'applied'
      if (entry.id.startsWith(keyPrefix)) conflict = true
    }
  }
  return conflict ? 'conflict' : 'new'
}

/**
 * A keyed update by `actor`, minted as the actor's next entry. The caller looked the id up
 * first and found it new, so the entry has no copy here to be a duplicate of.
 */
export function updateKeyed(
  state: ReplicatedCounter,
  actor: Actor,
  id: string,
  amount: number,
  atMs: number,
): ReplicatedCounter {
  assertId(id)
  assert(Number.isSafeInteger(atMs) && atMs >= 0, `bad entry time ${atMs}`)
  refuseValueOverflow(state, actor, amount)
  refuseActorOverflow(state, actor, amount)
  const chain = state.entries.get(actor) ?? []
  const seq = Math.max(watermarkOf(state, actor).seq, chain.at(-1)?.seq ?? 0) + 1
  const entry: CounterEntry = { seq, id, amount, atMs, duplicate: false }
  const entries = new Map(state.entries).set(actor, [...chain, entry])
  return { plain: state.plain, folded: state.folded, entries }
}

/** The delta of `updateKeyed`: the new entry alone. */
export function updateKeyedDelta(
  state: ReplicatedCounter,
  actor: Actor,
  id: string,
  amount: number,
  atMs: number,
): ReplicatedCounter {
  const next = updateKeyed(state, actor, id, amount, atMs)
  const entry = next.entries.get(actor)?.at(-1)
  assert(entry !== undefined, 'a keyed update mints an entry')
  return { plain: EMPTY.plain, folded: EMPTY.folded, entries: new Map([[actor, [entry]]]) }
}

function refuseValueOverflow(state: ReplicatedCounter, actor: Actor, amount: number): void {
  assertActor(actor)
  assert(amount !== 0, 'an update changes the value')
  assertAmount(Math.abs(amount))
  const direction = amount > 0 ? 'up' : 'down'
  GCounter.refuseOverflow(exactValue(state) + BigInt(amount), direction, actor, Math.abs(amount))
}

/** Refuses an entry that would take the actor's folded totals past 2^53 − 1 once folded. */
function refuseActorOverflow(state: ReplicatedCounter, actor: Actor, amount: number): void {
  const folded = watermarkOf(state, actor)
  let total = BigInt(amount > 0 ? folded.positive : folded.negative) + BigInt(Math.abs(amount))
  for (const entry of state.entries.get(actor) ?? []) {
    if (entry.amount > 0 === amount > 0) total += BigInt(Math.abs(entry.amount))
  }
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new MurmurError(
      'invalid_request',
      `counter update of ${amount} would take actor ${actor}'s total past 2^53 - 1`,
      { definite: true, details: { actor, amount } },
    )
  }
}

function watermarkOf(state: ReplicatedCounter, actor: Actor): Folded {
  return state.folded.get(actor) ?? { seq: 0, positive: 0, negative: 0 }
}

export function keyDigestOf(id: string): string {
  const dot = id.indexOf('.')
  return dot === -1 ? id : id.slice(0, dot)
}

function assertId(id: string): void {
  assert(id.length > 0 && id.length <= UPDATE_ID_CHARS_MAX, `bad update id length ${id.length}`)
}

export function merge(left: ReplicatedCounter, right: ReplicatedCounter): ReplicatedCounter {
  if (left === right) return left
  const folded = new Map(left.folded)
  for (const [actor, mark] of right.folded) {
    const mine = folded.get(actor)
    folded.set(actor, mine === undefined ? mark : joinWatermarks(mine, mark))
  }
  const entries = new Map<Actor, readonly CounterEntry[]>()
  const actors = new Set([...left.entries.keys(), ...right.entries.keys()])
  for (const actor of actors) {
    const floor = folded.get(actor)?.seq ?? 0
    const chain = joinChains(left.entries.get(actor) ?? [], right.entries.get(actor) ?? [], floor)
    if (chain.length > 0) entries.set(actor, chain)
  }
  return settleDuplicates({ plain: PnCounter.merge(left.plain, right.plain), folded, entries })
}

/** The higher watermark; at equal seq the larger totals (equal unless a window was missed). */
function joinWatermarks(left: Folded, right: Folded): Folded {
  if (left.seq !== right.seq) return left.seq > right.seq ? left : right
  if (left.positive >= right.positive && left.negative >= right.negative) return left
  if (right.positive >= left.positive && right.negative >= left.negative) return right
  return {
    seq: left.seq,
    positive: Math.max(left.positive, right.positive),
    negative: Math.max(left.negative, right.negative),
  }
}

/** The union of two sorted chains of one actor above `floor`; equal seqs are one entry. */
function joinChains(
  left: readonly CounterEntry[],
  right: readonly CounterEntry[],
  floor: number,
): CounterEntry[] {
  const bySeq = new Map<number, CounterEntry>()
  for (const entry of [...left, ...right]) {
    if (entry.seq <= floor) continue
    const seen = bySeq.get(entry.seq)
    if (seen === undefined) bySeq.set(entry.seq, entry)
    else if (entry.duplicate && !seen.duplicate) bySeq.set(entry.seq, entry)
  }
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq)
}

/**
 * Flags every entry that shares its id with a lesser one (by actor, then seq). Returns the
 * state itself when nothing changes.
 */
function settleDuplicates(state: ReplicatedCounter): ReplicatedCounter {
  const least = new Map<string, { actor: Actor; seq: number }>()
  for (const actor of [...state.entries.keys()].sort(compareStrings)) {
    for (const entry of state.entries.get(actor) ?? []) {
      if (!least.has(entry.id)) least.set(entry.id, { actor, seq: entry.seq })
    }
  }
  let entries: Map<Actor, readonly CounterEntry[]> | undefined
  for (const [actor, chain] of state.entries) {
    const settled = chain.map((entry) => {
      const first = least.get(entry.id)
      const duplicate = entry.duplicate || first?.actor !== actor || first.seq !== entry.seq
      return duplicate === entry.duplicate ? entry : { ...entry, duplicate }
    })
    if (settled.some((entry, index) => entry !== chain[index])) {
      entries ??= new Map(state.entries)
      entries.set(actor, settled)
    }
  }
  return entries === undefined ? state : { ...state, entries }
}

/**
 * Folds entries into their actor's watermark, oldest first, while any is older than the
 * window or more than `entriesMax` are held. Only an actor's next entry in sequence can fold,
 * so a gap (which full-state replication never leaves) stops that actor's folding.
 */
export function compact(
  state: ReplicatedCounter,
  nowMs: number,
  policy: LedgerPolicy,
): ReplicatedCounter {
  assert(policy.entriesMax >= 1 && policy.windowMs >= 0, 'a ledger policy keeps something')
  let count = entryCount(state)
  const folded = new Map(state.folded)
  const entries = new Map(state.entries)
  let changed = false
  for (let rounds = 0; rounds < ENTRIES_DECODED_MAX && count > 0; rounds++) {
    const oldest = oldestFoldable(entries, folded)
    if (oldest === undefined) break
    const expired = oldest.entry.atMs + policy.windowMs <= nowMs
    if (!expired && count <= policy.entriesMax) break
    folded.set(oldest.actor, foldEntry(folded.get(oldest.actor), oldest.entry))
    const rest = (entries.get(oldest.actor) ?? []).slice(1)
    if (rest.length > 0) entries.set(oldest.actor, rest)
    else entries.delete(oldest.actor)
    count--
    changed = true
  }
  return changed ? { plain: state.plain, folded, entries } : state
}

function oldestFoldable(
  entries: ReadonlyMap<Actor, readonly CounterEntry[]>,
  folded: ReadonlyMap<Actor, Folded>,
): { actor: Actor; entry: CounterEntry } | undefined {
  let oldest: { actor: Actor; entry: CounterEntry } | undefined
  for (const actor of [...entries.keys()].sort(compareStrings)) {
    const head = entries.get(actor)?.[0]
    if (head === undefined || head.seq !== (folded.get(actor)?.seq ?? 0) + 1) continue
    if (oldest === undefined || head.atMs < oldest.entry.atMs) oldest = { actor, entry: head }
  }
  return oldest
}

function foldEntry(mark: Folded | undefined, entry: CounterEntry): Folded {
  const base = mark ?? { seq: 0, positive: 0, negative: 0 }
  assert(entry.seq === base.seq + 1, 'entries fold in sequence')
  if (entry.duplicate) return { ...base, seq: entry.seq }
  return entry.amount > 0
    ? { ...base, seq: entry.seq, positive: base.positive + entry.amount }
    : { ...base, seq: entry.seq, negative: base.negative - entry.amount }
}

export function entryCount(state: ReplicatedCounter): number {
  let count = 0
  for (const chain of state.entries.values()) count += chain.length
  return count
}

/** The exact value: plain updates, folded totals and every entry that is not a duplicate. */
export function exactValue(state: ReplicatedCounter): bigint {
  let sum = PnCounter.exactValue(state.plain)
  for (const mark of state.folded.values()) sum += BigInt(mark.positive) - BigInt(mark.negative)
  for (const chain of state.entries.values()) {
    for (const entry of chain) if (!entry.duplicate) sum += BigInt(entry.amount)
  }
  return sum
}

/** The value as a number; MurmurError('value_too_large') when it is not a safe integer. */
export function value(state: ReplicatedCounter): number {
  const exact = exactValue(state)
  if (exact > BigInt(Number.MAX_SAFE_INTEGER) || exact < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new MurmurError(
      'value_too_large',
      'counter value is beyond ±(2^53 - 1) after merging concurrent updates',
      { details: { value: exact.toString() } },
    )
  }
  return Number(exact)
}

export function equals(left: ReplicatedCounter, right: ReplicatedCounter): boolean {
  if (left === right) return true
  if (!PnCounter.equals(left.plain, right.plain)) return false
  if (left.folded.size !== right.folded.size || left.entries.size !== right.entries.size) {
    return false
  }
  for (const [actor, mark] of left.folded) {
    const other = right.folded.get(actor)
    if (other === undefined || !sameWatermark(mark, other)) return false
  }
  for (const [actor, chain] of left.entries) {
    const other = right.entries.get(actor)
    if (other === undefined || other.length !== chain.length) return false
    if (!chain.every((entry, index) => sameEntry(entry, other[index]))) return false
  }
  return true
}

function sameWatermark(left: Folded, right: Folded): boolean {
  return (
    left.seq === right.seq && left.positive === right.positive && left.negative === right.negative
  )
}

function sameEntry(left: CounterEntry, right: CounterEntry | undefined): boolean {
  return (
    right !== undefined &&
    left.seq === right.seq &&
    left.id === right.id &&
    left.amount === right.amount &&
    left.atMs === right.atMs &&
    left.duplicate === right.duplicate
  )
}

/** The lattice order: true when merging `left` into `right` changes nothing. */
export function lessOrEqual(left: ReplicatedCounter, right: ReplicatedCounter): boolean {
  return equals(merge(left, right), right)
}

/**
 * Compact wire form: `[plain, folded, entries]` with `plain` as in pn-counter.ts, each folded
 * watermark `[actor, seq, positive, negative]` sorted by actor, and each entry
 * `[actor, seq, id, magnitude, atMs, flags]` sorted by actor then seq (flag 1: a decrement,
 * flag 2: a duplicate).
 */
export type ReplicatedCounterWire = [
  PnCounter.PnCounterWire,
  Array<[Actor, number, number, number]>,
  Array<[Actor, number, string, number, number, number]>,
]

export function encode(state: ReplicatedCounter): ReplicatedCounterWire {
  const folded = [...state.folded]
    .sort(([left], [right]) => compareStrings(left, right))
    .map(([actor, mark]): [Actor, number, number, number] => [
      actor,
      mark.seq,
      mark.positive,
      mark.negative,
    ])
  const entries: Array<[Actor, number, string, number, number, number]> = []
  for (const actor of [...state.entries.keys()].sort(compareStrings)) {
    for (const entry of state.entries.get(actor) ?? []) {
      const flags = (entry.amount < 0 ? FLAG_NEGATIVE : 0) | (entry.duplicate ? FLAG_DUPLICATE : 0)
      entries.push([actor, entry.seq, entry.id, Math.abs(entry.amount), entry.atMs, flags])
    }
  }
  return [PnCounter.encode(state.plain), folded, entries]
}

export function decode(raw: unknown, code: DecodeErrorCode): ReplicatedCounter {
  const parts = tupleFromUntrusted(raw, 3, code, 'counter as [plain, folded, entries]')
  const plain = PnCounter.decode(parts[0], code)
  const folded = new Map<Actor, Folded>()
  for (const item of arrayFromUntrusted(parts[1], ENTRIES_DECODED_MAX, code, 'watermarks')) {
    const fields = tupleFromUntrusted(item, 4, code, 'watermark as [actor, seq, pos, neg]')
    const actor = actorFromUntrusted(fields[0], code)
    if (folded.has(actor)) failDecode(code, 'watermarks repeat an actor')
    folded.set(actor, {
      seq: countFromUntrusted(fields[1], code),
      positive: countFromUntrusted(fields[2], code),
      negative: countFromUntrusted(fields[3], code),
    })
  }
  const chains = new Map<Actor, CounterEntry[]>()
  for (const item of arrayFromUntrusted(parts[2], ENTRIES_DECODED_MAX, code, 'entries')) {
    const { actor, entry } = entryFromUntrusted(item, code)
    const chain = chains.get(actor) ?? []
    const last = chain.at(-1)
    if (last !== undefined && last.seq >= entry.seq) failDecode(code, 'entries out of order')
    if (entry.seq <= (folded.get(actor)?.seq ?? 0)) failDecode(code, 'entry below its watermark')
    chain.push(entry)
    chains.set(actor, chain)
  }
  return settleDuplicates({ plain, folded, entries: chains })
}

function entryFromUntrusted(
  item: unknown,
  code: DecodeErrorCode,
): { actor: Actor; entry: CounterEntry } {
  const fields = tupleFromUntrusted(item, 6, code, 'entry as [actor, seq, id, n, atMs, flags]')
  const actor = actorFromUntrusted(fields[0], code)
  const seq = countFromUntrusted(fields[1], code)
  const id = fields[2]
  if (typeof id !== 'string' || id.length === 0 || id.length > UPDATE_ID_CHARS_MAX) {
    failDecode(code, `entry id must be a string of 1..${UPDATE_ID_CHARS_MAX} characters`)
  }
  const magnitude = countFromUntrusted(fields[3], code)
  const atMs = countFromUntrusted(fields[4], code)
  const flags = fields[5]
  if (seq < 1 || magnitude < 1 || typeof flags !== 'number' || !(flags >= 0 && flags <= 3)) {
    failDecode(code, 'entry must have a positive seq and amount and flags in 0..3')
  }
  const amount = (flags & FLAG_NEGATIVE) !== 0 ? -magnitude : magnitude
  return { actor, entry: { seq, id, amount, atMs, duplicate: (flags & FLAG_DUPLICATE) !== 0 } }
}

function actorFromUntrusted(value: unknown, code: DecodeErrorCode): Actor {
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    failDecode(code, 'actor must be a string of 1..128 characters')
  }
  return value
}

function countFromUntrusted(value: unknown, code: DecodeErrorCode): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    failDecode(code, 'counts must be non-negative safe integers')
  }
  return value
}

/** The exact byte length of `encode(state)` as msgpack. */
export function byteSize(state: ReplicatedCounter): number {
  let bytes = 1 + PnCounter.byteSize(state.plain) + arrayHeaderSize(state.folded.size)
  for (const [actor, mark] of state.folded) {
    bytes += 1 + stringSize(actor) + uintSize(mark.seq)
    bytes += uintSize(mark.positive) + uintSize(mark.negative)
  }
  bytes += arrayHeaderSize(entryCount(state))
  for (const [actor, chain] of state.entries) {
    for (const entry of chain) {
      bytes += 1 + stringSize(actor) + uintSize(entry.seq) + stringSize(entry.id)
      bytes += uintSize(Math.abs(entry.amount)) + uintSize(entry.atMs) + 1
    }
  }
  return bytes
}
