/**
 * ORSWOT: the add-wins observed-remove set without tombstones (Bieniusa et al. 2012, as in
 * riak_dt_orswot), in the dot-store-plus-causal-context form of delta-state CRDTs.
 *
 * State: `clock`, every add this replica has seen; `entries`, each present element with the
 * dots of the adds that keep it alive; `deferred`, per element the context of removes that saw
 * adds this replica has not, kept until those adds arrive (riak_dt keys deferred removes by
 * context instead; one joined context per element removes the same dots in less space).
 * - `add` mints the actor's next dot and makes it the element's only dot: the new add has
 *   observed the old ones, so it replaces them.
 * - `remove` with a context drops only the element's dots that context has seen; an add the
 *   reader did not see survives (add wins). Without a context it drops every dot this replica
 *   holds for the element, and refuses an element it does not hold (`precondition_failed`).
 * - `merge`: a dot held by both sides survives; a dot held by one side survives unless the
 *   other side's clock has seen it (then the other side removed it). Deferred removes then
 *   drop every dot their context covers, and are themselves dropped once the clock covers
 *   their whole context.
 *
 * Contract: states are immutable and canonical (element dots sorted, every dot covered by the
 * clock, no element without dots, deferred contexts trimmed to what the clock has not seen,
 * no dot a deferred context covers), so `equals` is structural. Metadata is bounded by
 * (present and deferred elements) × actors; add/remove churn leaves no tombstones behind. Each delta mutator returns a state `d` with
 * `merge(x, d) ≡ mutate(x)`; because delta contexts name exact dots, deltas stay correct under
 * any delivery order, and a full-state merge repairs whatever deltas were lost. Actors must be
 * unique per replica incarnation and a replica must serialize its own updates to a key.
 */

import { assert } from '../env/assert.js'
import {
  compareDots,
  contextActors,
  contextByteSize,
  contextCovers,
  contextEquals,
  contextFromDots,
  contextFromUntrusted,
  contextHighest,
  contextJoin,
  contextWithDots,
  type DotContext,
  type DotContextWire,
  EMPTY_DOT_CONTEXT,
  encodeContext,
} from '../versioning/dot-context.js'
import {
  type Actor,
  type Dot,
  dotKey,
  EMPTY_VECTOR,
  VECTOR_ENTRIES_MAX,
  type VersionVector,
  vectorCovers,
  vectorEntries,
  vectorEquals,
  vectorFromUntrusted,
  vectorGet,
  vectorJoin,
} from '../versioning/version-vector.js'
import { arrayHeaderSize, stringSize, uintSize, vectorByteSize } from './msgpack-size.js'
import {
  arrayFromUntrusted,
  assertActor,
  assertElement,
  compareStrings,
  type DecodeErrorCode,
  ELEMENTS_COUNT_MAX,
  elementFromUntrusted,
  failDecode,
  tupleFromUntrusted,
} from './validation.js'

export interface Orswot {
  /** Every add this replica has seen, present or since removed. */
  readonly clock: DotContext
  /** element → the dots of the adds that keep it present, sorted and never empty. */
  readonly entries: ReadonlyMap<string, readonly Dot[]>
  /**
   * element → the join of the contexts of its removes that saw adds this replica has not,
   * trimmed to the actors whose events the clock has not all seen yet. A context covers a dot
   * exactly when one of its entries does, so one joined context per element removes what every
   * separate remove would have, and deferred metadata stays within elements × actors.
   */
  readonly deferred: ReadonlyMap<string, VersionVector>
}

/** The outcome of a remove: the new state (or delta), or why nothing was applied. */
export type RemoveResult =
  | { readonly ok: true; readonly state: Orswot }
  | {
      readonly ok: false
      readonly code: 'precondition_failed'
      /** Elements a context-free remove named that this replica does not hold. */
      readonly missing: readonly string[]
    }
  | { readonly ok: false; readonly code: 'overloaded'; readonly deferredElementsCount: number }

/**
 * Compact wire form: `[clock, entries, deferred]` with `clock` as in src/versioning/dot-context.ts, each
 * entry `[element, actorIndex, counter, ...]` (indexes into the sorted actors of the clock)
 * and each deferred remove `[element, contextEntries]`, both sorted by element.
 */
export type OrswotWire = [
  DotContextWire,
  Array<[string, ...number[]]>,
  Array<[string, Array<[Actor, number]>]>,
]

/**
 * Most elements a replica holds deferred removes for. A remove that would defer another
 * element is refused as overloaded: this replica is far behind the reads its clients made
 * elsewhere and should catch up through read repair or anti-entropy first. Merges are not
 * refused, so a decoded state may hold up to ELEMENTS_COUNT_MAX.
 */
export const DEFERRED_ELEMENTS_MAX = 4096

/**
 * Most dots one decoded element may carry. Each add replaces the dots its actor has seen, so
 * an element holds about one dot per concurrent actor, and actors number at most
 * VECTOR_ENTRIES_MAX.
 */
export const DOTS_PER_ELEMENT_MAX = VECTOR_ENTRIES_MAX

const EMPTY_ORSWOT: Orswot = Object.freeze({
  clock: EMPTY_DOT_CONTEXT,
  entries: Object.freeze(new Map<string, readonly Dot[]>()),
  deferred: Object.freeze(new Map<string, VersionVector>()),
})

export function empty(): Orswot {
  return EMPTY_ORSWOT
}

export function add(state: Orswot, actor: Actor, element: string): Orswot {
  return addAll(state, actor, [element])
}

/** Adds each element with a dot of its own, in order. */
export function addAll(state: Orswot, actor: Actor, elements: readonly string[]): Orswot {
  const minted = mint(state, actor, elements)
  const entries = new Map(state.entries)
  for (const [element, dot] of minted.latest) entries.set(element, [dot])
  const clock = contextWithDots(state.clock, minted.dots)
  return normalize(clock, entries, new Map(state.deferred))
}

export function addDelta(state: Orswot, actor: Actor, element: string): Orswot {
  return addAllDelta(state, actor, [element])
}

/** The delta of `addAll`: the new dots, with a context that also covers the replaced ones. */
export function addAllDelta(state: Orswot, actor: Actor, elements: readonly string[]): Orswot {
  const minted = mint(state, actor, elements)
  const entries = new Map<string, readonly Dot[]>()
  const seen: Dot[] = [...minted.dots]
  for (const [element, dot] of minted.latest) {
    entries.set(element, [dot])
    seen.push(...(state.entries.get(element) ?? []))
  }
  return { clock: contextFromDots(seen), entries, deferred: EMPTY_ORSWOT.deferred }
}

interface Minted {
  /** Every new dot, in order. */
  readonly dots: readonly Dot[]
  /** element → its last new dot, which replaced any earlier one of a repeated element. */
  readonly latest: ReadonlyMap<string, Dot>
}

/** One new dot per element in order, after the highest dot of `actor` the clock has seen. */
function mint(state: Orswot, actor: Actor, elements: readonly string[]): Minted {
  assertActor(actor)
  let counter = contextHighest(state.clock, actor)
  assert(counter + elements.length <= Number.MAX_SAFE_INTEGER, 'actor counter overflow')
  const dots: Dot[] = []
  const latest = new Map<string, Dot>()
  for (const element of elements) {
    assertElement(element)
    counter += 1
    const dot = { actor, counter }
    dots.push(dot)
    latest.set(element, dot)
  }
  return { dots, latest }
}

export function remove(state: Orswot, element: string, context?: VersionVector): RemoveResult {
  return removeAll(state, [element], context)
}

/**
 * Removes the elements atomically. With a context, only the dots it has seen are removed, and
 * the remove is deferred when the clock has not seen the whole context. Without one, every
 * element must be present; otherwise nothing is removed.
 */
export function removeAll(
  state: Orswot,
  elements: readonly string[],
  context?: VersionVector,
): RemoveResult {
  const plan = planRemove(state, elements, context)
  if (!plan.ok) return plan
  const entries = new Map(state.entries)
  for (const [element, kept] of plan.survivors) {
    if (kept.length > 0) entries.set(element, kept)
    else entries.delete(element)
  }
  const deferred = new Map(state.deferred)
  for (const element of plan.deferredElements) addDeferred(deferred, element, plan.pending)
  return { ok: true, state: normalize(state.clock, entries, deferred) }
}

export function removeDelta(state: Orswot, element: string, context?: VersionVector): RemoveResult {
  return removeAllDelta(state, [element], context)
}

/** The delta of `removeAll`: the removed dots as context, plus the deferred remove if any. */
export function removeAllDelta(
  state: Orswot,
  elements: readonly string[],
  context?: VersionVector,
): RemoveResult {
  const plan = planRemove(state, elements, context)
  if (!plan.ok) return plan
  const deferred = new Map<string, VersionVector>()
  for (const element of plan.deferredElements) addDeferred(deferred, element, plan.pending)
  const delta = { clock: contextFromDots(plan.removed), entries: EMPTY_ORSWOT.entries, deferred }
  return { ok: true, state: delta }
}

type RemovePlan =
  | {
      readonly ok: true
      /** element → its dots after the remove (empty: the element is gone). */
      readonly survivors: ReadonlyMap<string, readonly Dot[]>
      readonly removed: readonly Dot[]
      /** The part of the context ahead of the clock, to defer for `deferredElements`. */
      readonly pending: VersionVector
      readonly deferredElements: readonly string[]
    }
  | Exclude<RemoveResult, { ok: true }>

function planRemove(
  state: Orswot,
  elements: readonly string[],
  context: VersionVector | undefined,
): RemovePlan {
  for (const element of elements) assertElement(element)
  if (context === undefined) {
    const missing = elements.filter((element) => !state.entries.has(element))
    if (missing.length > 0) return { ok: false, code: 'precondition_failed', missing }
  }
  const pending = context === undefined ? EMPTY_VECTOR : aheadOf(context, state.clock.vector)
  const deferredElements = pending.size === 0 ? [] : [...new Set(elements)]
  const added = deferredElements.filter((element) => !state.deferred.has(element)).length
  if (added > 0 && state.deferred.size + added > DEFERRED_ELEMENTS_MAX) {
    return { ok: false, code: 'overloaded', deferredElementsCount: state.deferred.size }
  }
  const survivors = new Map<string, readonly Dot[]>()
  const removed: Dot[] = []
  for (const element of elements) {
    const dots = survivors.get(element) ?? state.entries.get(element) ?? []
    const kept: Dot[] = []
    for (const dot of dots) {
      if (context === undefined || vectorCovers(context, dot)) removed.push(dot)
      else kept.push(dot)
    }
    survivors.set(element, kept)
  }
  return { ok: true, survivors, removed, pending, deferredElements }
}

/** The entries of `context` whose actor's events `vector` has not all seen. */
function aheadOf(context: VersionVector, vector: VersionVector): VersionVector {
  let ahead: Map<Actor, number> | undefined
  for (const [actor, counter] of context) {
    if (counter > vectorGet(vector, actor)) continue
    ahead ??= new Map(context)
    ahead.delete(actor)
  }
  return ahead ?? context
}

/** Defers a remove of `element` with `context`, joining it with one already deferred. */
function addDeferred(
  deferred: Map<string, VersionVector>,
  element: string,
  context: VersionVector,
): void {
  const existing = deferred.get(element)
  deferred.set(element, existing === undefined ? context : vectorJoin(existing, context))
}

export function merge(left: Orswot, right: Orswot): Orswot {
  if (left === right) return left
  const entries = new Map<string, readonly Dot[]>()
  for (const [element, leftDots] of left.entries) {
    const rightDots = right.entries.get(element) ?? []
    const kept = joinDots(leftDots, left.clock, rightDots, right.clock)
    if (kept.length > 0) entries.set(element, kept)
  }
  for (const [element, rightDots] of right.entries) {
    if (left.entries.has(element)) continue
    const kept = rightDots.filter((dot) => !contextCovers(left.clock, dot))
    if (kept.length > 0) entries.set(element, kept)
  }
  const deferred = new Map(left.deferred)
  for (const [element, context] of right.deferred) addDeferred(deferred, element, context)
  return normalize(contextJoin(left.clock, right.clock), entries, deferred)
}

/**
 * The causal join of one element's sorted dots: a dot on both sides survives; a dot on one
 * side survives unless the other side's clock has seen it.
 */
function joinDots(
  left: readonly Dot[],
  leftClock: DotContext,
  right: readonly Dot[],
  rightClock: DotContext,
): Dot[] {
  const kept: Dot[] = []
  let leftIndex = 0
  let rightIndex = 0
  while (leftIndex < left.length || rightIndex < right.length) {
    const leftDot = left[leftIndex]
    const rightDot = right[rightIndex]
    const order =
      leftDot === undefined ? 1 : rightDot === undefined ? -1 : compareDots(leftDot, rightDot)
    if (order === 0 && leftDot !== undefined) {
      kept.push(leftDot)
      leftIndex += 1
      rightIndex += 1
    } else if (order < 0 && leftDot !== undefined) {
      if (!contextCovers(rightClock, leftDot)) kept.push(leftDot)
      leftIndex += 1
    } else if (rightDot !== undefined) {
      if (!contextCovers(leftClock, rightDot)) kept.push(rightDot)
      rightIndex += 1
    }
  }
  return kept
}

/**
 * Applies every deferred remove: the element dots its context covers are dropped as soon as
 * they are present, and the context is trimmed to the actors the clock has not fully seen.
 * Once the clock covers the whole context it is dropped, because every dot it could remove
 * has been seen and a seen dot that is absent never comes back through a merge.
 */
function normalize(
  clock: DotContext,
  entries: Map<string, readonly Dot[]>,
  deferred: Map<string, VersionVector>,
): Orswot {
  for (const [element, context] of deferred) {
    const dots = entries.get(element)
    if (dots !== undefined) {
      const kept = dots.filter((dot) => !vectorCovers(context, dot))
      if (kept.length === 0) entries.delete(element)
      else if (kept.length !== dots.length) entries.set(element, kept)
    }
    const pending = aheadOf(context, clock.vector)
    if (pending.size === 0) deferred.delete(element)
    else if (pending !== context) deferred.set(element, pending)
  }
  return { clock, entries, deferred }
}

/**
 * Treats `copies` as one add of `element` made more than once (a keyed update retried through
 * another coordinator mints a second dot for the same add). Once the clock has seen one copy
 * and the element no longer holds it, that add was removed or replaced, so every other copy
 * goes too: a remove that saw one copy removes the add, as it would have without the retry.
 */
export function withoutRetiredCopies(
  state: Orswot,
  element: string,
  copies: readonly Dot[],
): Orswot {
  const held = state.entries.get(element)
  if (held === undefined || copies.length < 2) return state
  const holds = (dot: Dot): boolean => held.some((candidate) => compareDots(candidate, dot) === 0)
  const retired = copies.some((dot) => contextCovers(state.clock, dot) && !holds(dot))
  if (!retired) return state
  const kept = held.filter((dot) => !copies.some((copy) => compareDots(copy, dot) === 0))
  if (kept.length === held.length) return state
  const entries = new Map(state.entries)
  if (kept.length === 0) entries.delete(element)
  else entries.set(element, kept)
  return { clock: state.clock, entries, deferred: state.deferred }
}

/** The present elements in code-unit order. */
export function value(state: Orswot): string[] {
  return [...state.entries.keys()].sort(compareStrings)
}

export function size(state: Orswot): number {
  return state.entries.size
}

export function contains(state: Orswot, element: string): boolean {
  return state.entries.has(element)
}

/**
 * The causal context to return with a read, for a later remove. It is the clock's contiguous
 * part, so a remove carrying it never removes more than this replica had seen.
 */
export function context(state: Orswot): VersionVector {
  return state.clock.vector
}

export function equals(left: Orswot, right: Orswot): boolean {
  if (left === right) return true
  if (left.entries.size !== right.entries.size) return false
  if (left.deferred.size !== right.deferred.size) return false
  if (!contextEquals(left.clock, right.clock)) return false
  for (const [element, leftDots] of left.entries) {
    const rightDots = right.entries.get(element)
    if (rightDots === undefined || !sameItems(leftDots, rightDots, compareDots)) return false
  }
  for (const [element, leftContext] of left.deferred) {
    const rightContext = right.deferred.get(element)
    if (rightContext === undefined || !vectorEquals(leftContext, rightContext)) return false
  }
  return true
}

function sameItems<T>(
  left: readonly T[],
  right: readonly T[],
  compare: (a: T, b: T) => number,
): boolean {
  if (left.length !== right.length) return false
  return left.every((item, index) => compare(item, right[index] as T) === 0)
}

/** The lattice order: `left ≤ right` exactly when merging `left` into `right` changes nothing. */
export function lessOrEqual(left: Orswot, right: Orswot): boolean {
  return equals(merge(left, right), right)
}

export function encode(state: Orswot): OrswotWire {
  const actorIndexes = new Map(contextActors(state.clock).map((actor, index) => [actor, index]))
  const entries: Array<[string, ...number[]]> = []
  for (const element of value(state)) {
    const entry: [string, ...number[]] = [element]
    for (const dot of state.entries.get(element) ?? []) {
      const index = actorIndexes.get(dot.actor)
      assert(index !== undefined, 'element dot not covered by the clock')
      entry.push(index, dot.counter)
    }
    entries.push(entry)
  }
  const deferred: Array<[string, Array<[Actor, number]>]> = []
  for (const element of [...state.deferred.keys()].sort(compareStrings)) {
    deferred.push([element, vectorEntries(state.deferred.get(element) ?? EMPTY_VECTOR)])
  }
  return [encodeContext(state.clock), entries, deferred]
}

/** The exact byte length of `encode(state)` as msgpack. */
export function byteSize(state: Orswot): number {
  const actorIndexes = new Map(contextActors(state.clock).map((actor, index) => [actor, index]))
  let bytes = 1 + contextByteSize(state.clock) + arrayHeaderSize(state.entries.size)
  for (const [element, dots] of state.entries) {
    bytes += arrayHeaderSize(1 + 2 * dots.length) + stringSize(element)
    for (const dot of dots) {
      bytes += uintSize(actorIndexes.get(dot.actor) ?? 0) + uintSize(dot.counter)
    }
  }
  bytes += arrayHeaderSize(state.deferred.size)
  for (const [element, context] of state.deferred) {
    bytes += 1 + stringSize(element) + vectorByteSize(context)
  }
  return bytes
}

/**
 * Validates an untrusted wire state. Structural faults (a dot the clock has not seen, a dot
 * named twice, an element without dots, a repeated element) are refused with `code`; deferred
 * removes are applied and trimmed against the clock, as a merge would.
 */
export function decode(raw: unknown, code: DecodeErrorCode): Orswot {
  const parts = tupleFromUntrusted(raw, 3, code, 'set as [clock, entries, deferred]')
  const clock = contextFromUntrusted(parts[0], code)
  const entries = entriesFromUntrusted(parts[1], clock, code)
  const deferred = new Map<string, VersionVector>()
  const items = arrayFromUntrusted(parts[2], ELEMENTS_COUNT_MAX, code, 'deferred removes')
  for (const item of items) {
    const fields = tupleFromUntrusted(item, 2, code, 'deferred remove as [element, context]')
    const element = elementFromUntrusted(fields[0], code)
    if (deferred.has(element)) failDecode(code, 'deferred removes repeat an element')
    deferred.set(element, vectorFromUntrusted(fields[1], code))
  }
  return normalize(clock, entries, deferred)
}

function entriesFromUntrusted(
  raw: unknown,
  clock: DotContext,
  code: DecodeErrorCode,
): Map<string, readonly Dot[]> {
  const actors = contextActors(clock)
  const items = arrayFromUntrusted(raw, ELEMENTS_COUNT_MAX, code, 'set entries')
  const entries = new Map<string, readonly Dot[]>()
  const dotKeys = new Set<string>()
  for (const item of items) {
    const fields = arrayFromUntrusted(item, 1 + 2 * DOTS_PER_ELEMENT_MAX, code, 'set entry')
    if (fields.length < 3 || fields.length % 2 === 0) {
      failDecode(code, 'set entry must be [element, actorIndex, counter, ...]')
    }
    const element = elementFromUntrusted(fields[0], code)
    if (entries.has(element)) failDecode(code, 'set entries repeat an element')
    const dots: Dot[] = []
    for (let index = 1; index < fields.length; index += 2) {
      const dot = dotFromFields(fields[index], fields[index + 1], actors, code)
      if (!contextCovers(clock, dot)) failDecode(code, 'set entry dot is not covered by the clock')
      if (dotKeys.has(dotKey(dot))) failDecode(code, 'set entries name a dot twice')
      dotKeys.add(dotKey(dot))
      dots.push(dot)
    }
    entries.set(element, dots.sort(compareDots))
  }
  return entries
}

function dotFromFields(
  actorIndex: unknown,
  counter: unknown,
  actors: readonly Actor[],
  code: DecodeErrorCode,
): Dot {
  const actor = typeof actorIndex === 'number' ? actors[actorIndex] : undefined
  if (actor === undefined) failDecode(code, 'set entry actor index is out of range')
  if (typeof counter !== 'number' || !Number.isSafeInteger(counter) || counter < 1) {
    failDecode(code, 'set entry counter must be a positive safe integer')
  }
  return { actor, counter }
}
