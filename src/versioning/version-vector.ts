/**
 * Version vectors and dots, the causal vocabulary shared by dotted version vectors
 * (src/versioning/dvv.ts) and the causal CRDTs (src/crdt). An actor is a server-side identity:
 * one per node incarnation of a data directory, never per client, so vectors stay bounded by
 * the number of replicas that ever coordinated a key. Vectors are immutable values; every
 * function returns a new vector.
 */

import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'

export type Actor = string

/** One event: the `counter`-th event coordinated by `actor`. */
export interface Dot {
  readonly actor: Actor
  readonly counter: number
}

/** actor → highest contiguous counter seen. Absent actors are 0. */
export type VersionVector = ReadonlyMap<Actor, number>

export const ACTOR_BYTES_MAX = 128
export const VECTOR_ENTRIES_MAX = 256

export const EMPTY_VECTOR: VersionVector = new Map()

export function vectorGet(vector: VersionVector, actor: Actor): number {
  return vector.get(actor) ?? 0
}

/** True when `vector` has seen `dot`. */
export function vectorCovers(vector: VersionVector, dot: Dot): boolean {
  return vectorGet(vector, dot.actor) >= dot.counter
}

/** True when `a` has seen everything `b` has (a ≥ b pointwise). */
export function vectorDescends(a: VersionVector, b: VersionVector): boolean {
  for (const [actor, counter] of b) {
    if (vectorGet(a, actor) < counter) return false
  }
  return true
}

export type Ordering = 'equal' | 'before' | 'after' | 'concurrent'

/** How `a` relates to `b`: before means a < b, after means a > b. */
export function vectorCompare(a: VersionVector, b: VersionVector): Ordering {
  const aCoversB = vectorDescends(a, b)
  const bCoversA = vectorDescends(b, a)
  if (aCoversB && bCoversA) return 'equal'
  if (aCoversB) return 'after'
  if (bCoversA) return 'before'
  return 'concurrent'
}

/** Pointwise maximum. */
export function vectorJoin(a: VersionVector, b: VersionVector): VersionVector {
  if (b.size === 0) return a
  if (a.size === 0) return b
  const joined = new Map(a)
  for (const [actor, counter] of b) {
    if (counter > (joined.get(actor) ?? 0)) joined.set(actor, counter)
  }
  return joined
}

/** The vector with `dot` added; the dot must be the actor's next event or already covered. */
export function vectorWithDot(vector: VersionVector, dot: Dot): VersionVector {
  assert(dot.counter >= 1, `dot counter must be positive, got ${dot.counter}`)
  if (vectorGet(vector, dot.actor) >= dot.counter) return vector
  const next = new Map(vector)
  next.set(dot.actor, dot.counter)
  return next
}

export function vectorEquals(a: VersionVector, b: VersionVector): boolean {
  return vectorCompare(a, b) === 'equal'
}

/** Entries sorted by actor, zero entries dropped: a canonical form for encoding and hashing. */
export function vectorEntries(vector: VersionVector): Array<[Actor, number]> {
  const entries: Array<[Actor, number]> = []
  for (const [actor, counter] of vector) {
    if (counter > 0) entries.push([actor, counter])
  }
  entries.sort((left, right) => (left[0] < right[0] ? -1 : left[0] > right[0] ? 1 : 0))
  return entries
}

export function vectorFromEntries(entries: Iterable<readonly [Actor, number]>): VersionVector {
  const vector = new Map<Actor, number>()
  for (const [actor, counter] of entries) {
    assert(Number.isSafeInteger(counter) && counter >= 0, `bad counter ${counter}`)
    if (counter > (vector.get(actor) ?? 0)) vector.set(actor, counter)
  }
  return vector
}

export function dotEquals(a: Dot, b: Dot): boolean {
  return a.actor === b.actor && a.counter === b.counter
}

/** Canonical encoding of a dot, for msgpack records and map keys. */
export function dotKey(dot: Dot): string {
  return `${dot.actor}\u0000${dot.counter}`
}

function isValidActor(value: unknown): value is Actor {
  return typeof value === 'string' && value.length > 0 && value.length <= ACTOR_BYTES_MAX
}

function isValidCounter(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 1
}

/**
 * Validates untrusted decoded input (a peer message, a client context, a stored record) as
 * vector entries. Throws MurmurError with `code` on any malformed shape, so hostile input is
 * an error response and never an assertion failure.
 */
export function vectorFromUntrusted(
  value: unknown,
  code: 'invalid_context' | 'invalid_request' | 'corrupt_record',
): VersionVector {
  if (!Array.isArray(value) || value.length > VECTOR_ENTRIES_MAX) {
    throw new MurmurError(
      code,
      'version vector must be an array of at most 256 [actor, counter] pairs',
    )
  }
  const vector = new Map<Actor, number>()
  for (const entry of value) {
    if (
      !Array.isArray(entry) ||
      entry.length !== 2 ||
      !isValidActor(entry[0]) ||
      !isValidCounter(entry[1])
    ) {
      throw new MurmurError(code, 'version vector entry must be [actor, positive counter]')
    }
    if (vector.has(entry[0]))
      throw new MurmurError(code, `version vector repeats actor ${entry[0]}`)
    vector.set(entry[0], entry[1])
  }
  return vector
}

/** Validates an untrusted `[actor, counter]` pair as a dot. */
export function dotFromUntrusted(
  value: unknown,
  code: 'invalid_context' | 'invalid_request' | 'corrupt_record',
): Dot {
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !isValidActor(value[0]) ||
    !isValidCounter(value[1])
  ) {
    throw new MurmurError(code, 'dot must be [actor, positive counter]')
  }
  return { actor: value[0], counter: value[1] }
}

export function dotToWire(dot: Dot): [Actor, number] {
  return [dot.actor, dot.counter]
}
