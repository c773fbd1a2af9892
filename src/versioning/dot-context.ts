/**
 * A causal context (the `DotContext` of delta-state CRDTs), shared by the causal CRDTs
 * (src/crdt) and the clocks of plain keys (src/versioning/dvv.ts): the set of dots a state has
 * seen, stored as a version vector for the contiguous prefix of each actor's
 * events plus a sorted "cloud" of dots seen beyond that prefix. A state built from local
 * updates and full-state merges has an empty cloud; a delta's context is mostly cloud (the few
 * dots it speaks for), which a version vector alone could not express without claiming to
 * have seen more. Deltas merged out of causal order leave a cloud until the gaps fill; a plain
 * key's clock holds cloud dots for writes a client's context named that its replica never saw.
 *
 * Contract: contexts are immutable and always compact (no cloud dot is covered by the vector
 * or extends it contiguously), so equal sets of dots have equal representations.
 */

import { arrayHeaderSize, stringSize, uintSize, vectorByteSize } from '../crdt/msgpack-size.js'
import {
  arrayFromUntrusted,
  compareStrings,
  type DecodeErrorCode,
  tupleFromUntrusted,
} from '../crdt/validation.js'
import {
  type Actor,
  type Dot,
  dotFromUntrusted,
  dotToWire,
  EMPTY_VECTOR,
  type VersionVector,
  vectorCovers,
  vectorDescends,
  vectorEntries,
  vectorEquals,
  vectorFromUntrusted,
  vectorGet,
  vectorJoin,
} from './version-vector.js'

export interface DotContext {
  /** actor → highest counter n such that every event 1..n of the actor has been seen. */
  readonly vector: VersionVector
  /** Seen dots beyond the vector's prefix, sorted by actor then counter. */
  readonly cloud: readonly Dot[]
}

/** Compact wire form: `[vectorEntries, cloudDots]`. */
export type DotContextWire = [Array<[Actor, number]>, Array<[Actor, number]>]

/**
 * Most cloud dots a decoded context may hold. A delta of a bulk add speaks for one new dot per
 * element, so the bound follows the element count bound of a set.
 */
export const CLOUD_DOTS_MAX = 16_777_216

export const EMPTY_DOT_CONTEXT: DotContext = Object.freeze({
  vector: EMPTY_VECTOR,
  cloud: Object.freeze([]),
})

export function compareDots(left: Dot, right: Dot): number {
  return compareStrings(left.actor, right.actor) || left.counter - right.counter
}

/** True when `context` has seen `dot`. */
export function contextCovers(context: DotContext, dot: Dot): boolean {
  if (vectorCovers(context.vector, dot)) return true
  let low = 0
  let high = context.cloud.length - 1
  while (low <= high) {
    const middle = (low + high) >> 1
    const order = compareDots(context.cloud[middle] as Dot, dot)
    if (order === 0) return true
    if (order < 0) low = middle + 1
    else high = middle - 1
  }
  return false
}

/** The highest counter of `actor` the context has seen, 0 when none. */
export function contextHighest(context: DotContext, actor: Actor): number {
  let highest = vectorGet(context.vector, actor)
  for (const dot of context.cloud) {
    if (dot.actor === actor && dot.counter > highest) highest = dot.counter
  }
  return highest
}

/** True when the context has seen nothing. */
export function isEmptyContext(context: DotContext): boolean {
  return context.vector.size === 0 && context.cloud.length === 0
}

/** The context that has seen everything either input has seen. */
export function contextJoin(left: DotContext, right: DotContext): DotContext {
  if (isEmptyContext(right)) return left
  if (isEmptyContext(left)) return right
  return compact(vectorJoin(left.vector, right.vector), [...left.cloud, ...right.cloud])
}

/** `context` having also seen `dots`. */
export function contextWithDots(context: DotContext, dots: Iterable<Dot>): DotContext {
  return compact(context.vector, [...context.cloud, ...dots])
}

/** The context that has seen exactly `dots`. */
export function contextFromDots(dots: Iterable<Dot>): DotContext {
  return compact(EMPTY_VECTOR, [...dots])
}

/**
 * Folds `dots` into `vector`: dots the vector covers are dropped, dots that extend an actor's
 * prefix advance it, and the rest form the sorted, duplicate-free cloud.
 */
function compact(vector: VersionVector, dots: Dot[]): DotContext {
  if (dots.length === 0) return { vector, cloud: EMPTY_DOT_CONTEXT.cloud }
  dots.sort(compareDots)
  let advanced: Map<Actor, number> | undefined
  const cloud: Dot[] = []
  for (const dot of dots) {
    const prefix = (advanced ?? vector).get(dot.actor) ?? 0
    if (dot.counter <= prefix) continue
    if (dot.counter === prefix + 1) {
      advanced ??= new Map(vector)
      advanced.set(dot.actor, dot.counter)
      continue
    }
    const last = cloud[cloud.length - 1]
    if (last === undefined || compareDots(last, dot) !== 0) cloud.push(dot)
  }
  return { vector: advanced ?? vector, cloud }
}

export function contextEquals(left: DotContext, right: DotContext): boolean {
  if (left.cloud.length !== right.cloud.length) return false
  for (let index = 0; index < left.cloud.length; index++) {
    if (compareDots(left.cloud[index] as Dot, right.cloud[index] as Dot) !== 0) return false
  }
  return vectorEquals(left.vector, right.vector)
}

/** Every actor the context names, sorted. */
export function contextActors(context: DotContext): Actor[] {
  const actors = new Set<Actor>(context.vector.keys())
  for (const dot of context.cloud) actors.add(dot.actor)
  return [...actors].sort(compareStrings)
}

/** The exact byte length of `encodeContext(context)` as msgpack. */
export function contextByteSize(context: DotContext): number {
  let bytes = 1 + vectorByteSize(context.vector) + arrayHeaderSize(context.cloud.length)
  for (const dot of context.cloud) bytes += 1 + stringSize(dot.actor) + uintSize(dot.counter)
  return bytes
}

export function encodeContext(context: DotContext): DotContextWire {
  return [vectorEntries(context.vector), context.cloud.map(dotToWire)]
}

/** Validates an untrusted wire context; a non-compact one is compacted, not refused. */
export function contextFromUntrusted(raw: unknown, code: DecodeErrorCode): DotContext {
  const parts = tupleFromUntrusted(raw, 2, code, 'dot context as [vector, cloud]')
  const vector = vectorFromUntrusted(parts[0], code)
  const cloud = arrayFromUntrusted(parts[1], CLOUD_DOTS_MAX, code, 'dot cloud').map((dot) =>
    dotFromUntrusted(dot, code),
  )
  return compact(vector, cloud)
}

/** True when `left` has seen every dot `right` has (both compact, so vectors compare directly). */
export function contextDescends(left: DotContext, right: DotContext): boolean {
  if (!vectorDescends(left.vector, right.vector)) return false
  return right.cloud.every((dot) => contextCovers(left, dot))
}
