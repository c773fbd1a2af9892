/**
 * Dotted version vectors with server-side actors: the causal state murmur keeps for every
 * plain key, as Riak 2.0 does with `dvv_enabled`.
 *
 * A replica's state for one key is a dotted causal container, `Versioned<T>`: a causal
 * `clock` (every write to the key this replica has seen, superseded or not, as a version
 * vector plus a cloud of single dots, src/versioning/dot-context.ts) and the current
 * siblings, each tagged with the dot of the write that created it. The payload `T` is
 * opaque here: full replicas store values, witnesses store digests (see `mapPayload`), and
 * `sync` takes a choice of payload for a dot both sides hold, so a value and its digest merge
 * to the value.
 *
 * Contract:
 * - Containers are immutable values. Siblings are kept in canonical dot order and every
 *   sibling's dot is covered by the clock, so equal states are structurally equal.
 * - A dot names one write forever, so two containers that hold the same dot hold the same
 *   payload. This holds because an actor is a data-directory incarnation and the coordinator
 *   serializes its own updates to a key; actors must never be reused.
 * - The clock is exact: it covers a dot only if the replica saw that write (and then holds it
 *   or a write that superseded it). `update` and `sync` preserve this; nothing prunes clocks.
 * - `sync` is the lattice join (commutative, associative, idempotent); `compare` and
 *   `descends` are its partial order.
 * - A client context is a clock of the same form: "everything the vector covers, plus exactly
 *   these dots". The dots matter after a write: its response must not be the sent vector with
 *   the new dot's counter (that would cover concurrent siblings of the same actor the client
 *   never saw), so `writeContext` hands back the sent context plus the new dot as a single dot.
 * - `updateDotted` supersedes every sibling its context covers and joins the whole context into
 *   the new clock, cloud included. So a coordinator that never saw a dot the client names still
 *   records that the dot was superseded, and every replica that holds that write drops it on
 *   `sync`; a vector alone could not say so without claiming the writes between. A cloud dot
 *   folds into the vector once the clock meets the vector of a replica that saw the write
 *   (see `contextJoin`), so clouds stay small and are empty once replicas converge.
 */

import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import {
  compareDots,
  contextCovers,
  contextDescends,
  contextHighest,
  contextJoin,
  contextWithDots,
  type DotContext,
  EMPTY_DOT_CONTEXT,
  encodeContext,
} from './dot-context.js'
import {
  ACTOR_BYTES_MAX,
  type Actor,
  type Dot,
  dotEquals,
  dotFromUntrusted,
  dotKey,
  dotToWire,
  type Ordering,
  VECTOR_ENTRIES_MAX,
  type VersionVector,
  vectorFromUntrusted,
} from './version-vector.js'

export { compareDots, type DotContext } from './dot-context.js'

export interface Sibling<T> {
  readonly dot: Dot
  readonly payload: T
}

export interface Versioned<T> {
  readonly clock: DotContext
  readonly siblings: readonly Sibling<T>[]
}

export interface UpdateResult<T> {
  readonly versioned: Versioned<T>
  /** The dot minted for the new write. */
  readonly dot: Dot
}

/** The error codes a caller may attach to untrusted input. */
export type UntrustedErrorCode = Parameters<typeof vectorFromUntrusted>[1]

/**
 * Hard bound on the siblings of a decoded container, a guard against hostile or corrupt
 * input. The replication layer refuses writes far earlier (100 siblings by default), but
 * replicas that diverged during a partition may legitimately union their siblings on sync,
 * so this bound leaves ten times that room.
 */
export const SIBLINGS_DECODED_COUNT_MAX = 1024

/**
 * Most cloud dots a clock keeps. A write adds at most CONTEXT_DOTS_MAX, and a cloud dot folds
 * away once the clock syncs with a replica that saw its write, so this is reached only when
 * such syncs fail for long; past it the lowest dots are forgotten (see `boundCloud`).
 */
export const CLOCK_CLOUD_DOTS_MAX = 1024

/**
 * The compact msgpack-ready form: `[clockEntries, [[dot, payload], ...]]`, with the clock's
 * cloud as a third element `[[actor, counter], ...]` only when it is not empty.
 */
export type VersionedWire =
  | [Array<[Actor, number]>, Array<[[Actor, number], unknown]>]
  | [Array<[Actor, number]>, Array<[[Actor, number], unknown]>, Array<[Actor, number]>]

const EMPTY_VERSIONED: Versioned<never> = Object.freeze({
  clock: EMPTY_DOT_CONTEXT,
  siblings: Object.freeze([]),
})

/** The state of a key no replica has written: nothing seen, nothing held. */
export function emptyVersioned<T>(): Versioned<T> {
  return EMPTY_VERSIONED
}

/** Why `versioned` breaks the container invariants, or undefined when it keeps them. */
function invariantViolation(versioned: Versioned<unknown>): string | undefined {
  let previous: Dot | undefined
  if (versioned.clock.cloud.length > CLOCK_CLOUD_DOTS_MAX) {
    return `the clock's cloud holds ${versioned.clock.cloud.length} dots`
  }
  for (const sibling of versioned.siblings) {
    if (!contextCovers(versioned.clock, sibling.dot)) {
      return `sibling dot ${sibling.dot.actor}:${sibling.dot.counter} is not covered by the clock`
    }
    const order = previous === undefined ? -1 : compareDots(previous, sibling.dot)
    if (order === 0) return `dot ${sibling.dot.actor}:${sibling.dot.counter} is repeated`
    if (order > 0) return 'siblings are not in canonical dot order'
    previous = sibling.dot
  }
  return undefined
}

function assertWellFormed(versioned: Versioned<unknown>): void {
  const violation = invariantViolation(versioned)
  assert(violation === undefined, `malformed versioned state: ${violation}`)
}

function insertSorted<T>(siblings: readonly Sibling<T>[], added: Sibling<T>): Sibling<T>[] {
  const index = siblings.findIndex((sibling) => compareDots(added.dot, sibling.dot) < 0)
  if (index === -1) return [...siblings, added]
  return [...siblings.slice(0, index), added, ...siblings.slice(index)]
}

/** The most cloud dots a client context carries; more only come from forged input. */
export const CONTEXT_DOTS_MAX = 128

/**
 * The clock with at most CLOCK_CLOUD_DOTS_MAX cloud dots: the highest counters are kept (ties
 * by actor), so the bound commutes with joins. A forgotten dot can only leave a superseded
 * sibling behind, beside the write that superseded it; nothing is lost.
 */
function boundCloud(clock: DotContext): DotContext {
  if (clock.cloud.length <= CLOCK_CLOUD_DOTS_MAX) return clock
  return { vector: clock.vector, cloud: highestDots(clock.cloud, CLOCK_CLOUD_DOTS_MAX) }
}

/** The `count` dots of `cloud` with the highest counters (ties by actor), in canonical order. */
function highestDots(cloud: readonly Dot[], count: number): readonly Dot[] {
  if (cloud.length <= count) return cloud
  return [...cloud]
    .sort((a, b) => b.counter - a.counter || compareDots(a, b))
    .slice(0, count)
    .sort(compareDots)
}

export interface UpdateOptions {
  /**
   * The new dot's counter is above this. A coordinator passes a node-wide monotonic counter, so
   * a dot is never minted twice by one actor, even for a key whose state was deleted and
   * reaped while an old client context still names the actor's earlier counters.
   */
  readonly counterFloor?: number
}

/**
 * A coordinator's new write of `payload` by `actor` with the client's causal `context`.
 * Siblings the context covers are superseded; the others stay as concurrent siblings, so an
 * empty context supersedes nothing. The new dot follows both the local clock and the context,
 * so it is never a dot anyone has seen. A delete is an update whose payload is a tombstone.
 *
 * Throws MurmurError('invalid_context') when the context would overflow the counter or push
 * the clock past VECTOR_ENTRIES_MAX actors; only a forged context can do either.
 */
export function update<T>(
  local: Versioned<T>,
  context: VersionVector | DotContext,
  actor: Actor,
  payload: T,
): UpdateResult<T> {
  const seen = context instanceof Map ? { vector: context, cloud: [] } : (context as DotContext)
  return updateDotted(local, seen, actor, payload)
}

/**
 * `update` with a client context that may hold cloud dots: every sibling the context covers is
 * superseded, and the new clock joins the local clock, the whole context and the new dot, so
 * the supersession of a dot this replica never held travels with the new state.
 *
 * The caller must mint on the actor's own durable state for the key: it holds every dot the
 * actor minted for the key since the key was last reaped, so the new clock entry claims no
 * write of this actor that the state has not seen.
 */
export function updateDotted<T>(
  local: Versioned<T>,
  context: DotContext,
  actor: Actor,
  payload: T,
  options: UpdateOptions = {},
): UpdateResult<T> {
  assert(actor.length > 0 && actor.length <= ACTOR_BYTES_MAX, `bad actor ${JSON.stringify(actor)}`)
  assert(context.cloud.length <= CONTEXT_DOTS_MAX, `context has ${context.cloud.length} dots`)
  assertWellFormed(local)
  const floor = options.counterFloor ?? 0
  assert(Number.isSafeInteger(floor) && floor >= 0, `bad counter floor ${floor}`)
  const counter =
    Math.max(contextHighest(local.clock, actor), contextHighest(context, actor), floor) + 1
  if (!Number.isSafeInteger(counter)) {
    throw new MurmurError('invalid_context', `context counter for ${actor} is out of range`, {
      definite: true,
    })
  }
  const dot: Dot = { actor, counter }
  // The actor's entry may jump past counters it minted for other keys: the actor's own state
  // holds every dot it minted for this key, so the counters skipped name no write of the key.
  const own: DotContext = { vector: new Map([[actor, counter]]), cloud: [] }
  const clock = boundCloud(contextJoin(contextJoin(local.clock, context), own))
  if (clock.vector.size > VECTOR_ENTRIES_MAX) {
    throw new MurmurError(
      'invalid_context',
      `context would grow the clock past ${VECTOR_ENTRIES_MAX} actors`,
      { definite: true },
    )
  }
  const kept = local.siblings.filter((sibling) => !contextCovers(context, sibling.dot))
  const versioned: Versioned<T> = { clock, siblings: insertSorted(kept, { dot, payload }) }
  assertWellFormed(versioned)
  return { versioned, dot }
}

/**
 * The context a write's response hands back: what the client saw (`sent`) plus the new write
 * `dot`, and nothing else, so a later write with it supersedes exactly those.
 *
 * When the new state holds only the new sibling, its clock is exact: every write it covers is
 * either the new one or was superseded here by a context that saw it. Otherwise the state also
 * holds siblings the client never saw, and the answer is the sent vector with the new dot as a
 * single dot: the vector must not advance to it, which could cover a concurrent sibling of the
 * same actor. The sent cloud dots are left out: the new clock holds them (`updateDotted` joins
 * the whole context) and travels with the new record, so every replica drops those writes
 * without the client naming them again, and the client's context does not grow write by write.
 */
export function writeContext(written: Versioned<unknown>, dot: Dot, sent: DotContext): DotContext {
  assertWellFormed(written)
  assert(contextCovers(written.clock, dot), 'the written state must hold the new dot')
  const only = written.siblings[0]
  if (written.siblings.length === 1 && only !== undefined && dotEquals(only.dot, dot)) {
    return context(written)
  }
  return contextWithDots({ vector: sent.vector, cloud: EMPTY_DOT_CONTEXT.cloud }, [dot])
}

/**
 * Chooses the payload kept when both states hold the same dot. Both name the same write, but
 * one may be a fuller form of it (a value where the other holds its witness digest); the
 * choice must be a maximum over a fixed order of a dot's forms, so `sync` stays a join.
 */
export type PayloadChoice<T> = (left: T, right: T) => T

function keepLeft<T>(left: T): T {
  return left
}

/**
 * Merges two replicas' states for one key. A sibling survives when both hold it, or when one
 * holds it and the other's clock has not seen its dot (had it seen the dot and dropped the
 * sibling, a newer write superseded it). Clocks join. When both hold a dot, `choose` picks its
 * payload (by default `a`'s: a dot names one write, so its payloads are the same).
 */
export function sync<T>(
  a: Versioned<T>,
  b: Versioned<T>,
  choose: PayloadChoice<T> = keepLeft,
): Versioned<T> {
  assertWellFormed(a)
  assertWellFormed(b)
  const siblings: Sibling<T>[] = []
  let indexA = 0
  let indexB = 0
  // Each pass consumes at least one sibling, so the merge ends after |a| + |b| passes.
  while (indexA < a.siblings.length || indexB < b.siblings.length) {
    const left = a.siblings[indexA]
    const right = b.siblings[indexB]
    if (left !== undefined && (right === undefined || compareDots(left.dot, right.dot) < 0)) {
      if (!contextCovers(b.clock, left.dot)) siblings.push(left)
      indexA++
    } else if (
      right !== undefined &&
      (left === undefined || compareDots(left.dot, right.dot) > 0)
    ) {
      if (!contextCovers(a.clock, right.dot)) siblings.push(right)
      indexB++
    } else {
      assert(left !== undefined && right !== undefined, 'sync merge lost its place')
      const payload = choose(left.payload, right.payload)
      siblings.push(payload === left.payload ? left : { dot: left.dot, payload })
      indexA++
      indexB++
    }
  }
  return { clock: boundCloud(contextJoin(a.clock, b.clock)), siblings }
}

/**
 * True when `a` has seen everything `b` has, that is `sync(a, b)` equals `a`: a's clock covers
 * b's, and a holds no sibling that b has seen and superseded. Payloads are ignored, so a full
 * replica's state can be compared with a witness's digests.
 */
export function descends(a: Versioned<unknown>, b: Versioned<unknown>): boolean {
  if (!contextDescends(a.clock, b.clock)) return false
  const heldByB = new Set(b.siblings.map((sibling) => dotKey(sibling.dot)))
  return a.siblings.every(
    (sibling) => heldByB.has(dotKey(sibling.dot)) || !contextCovers(b.clock, sibling.dot),
  )
}

/** How `a` relates to `b` by what each has seen: before means a < b, after means a > b. */
export function compare(a: Versioned<unknown>, b: Versioned<unknown>): Ordering {
  const aSeesB = descends(a, b)
  const bSeesA = descends(b, a)
  if (aSeesB && bSeesA) return 'equal'
  if (aSeesB) return 'after'
  if (bSeesA) return 'before'
  return 'concurrent'
}

/**
 * True when `candidate` descends every state in `others`. A read coordinator uses it to check
 * that a full replica's answer is not older than the metadata witnesses report.
 */
export function dominatesAll(
  candidate: Versioned<unknown>,
  others: readonly Versioned<unknown>[],
): boolean {
  return others.every((other) => descends(candidate, other))
}

/**
 * True when the key holds only tombstones: at least one sibling, and `isDeleted` holds for
 * every one. An empty container is absent, not deleted: nothing was ever written or kept.
 */
export function isTombstone<T>(
  versioned: Versioned<T>,
  isDeleted: (payload: T) => boolean,
): boolean {
  return (
    versioned.siblings.length > 0 &&
    versioned.siblings.every((sibling) => isDeleted(sibling.payload))
  )
}

/**
 * The causal context to hand a client that read this state together with all its siblings:
 * its clock, with at most CONTEXT_DOTS_MAX cloud dots (the highest counters; a dot left out
 * can only leave a superseded sibling behind when the client writes).
 */
export function context(versioned: Versioned<unknown>): DotContext {
  const { clock } = versioned
  if (clock.cloud.length <= CONTEXT_DOTS_MAX) return clock
  return { vector: clock.vector, cloud: highestDots(clock.cloud, CONTEXT_DOTS_MAX) }
}

export function siblingCount(versioned: Versioned<unknown>): number {
  return versioned.siblings.length
}

/** The sibling payloads in canonical dot order. */
export function payloads<T>(versioned: Versioned<T>): T[] {
  return versioned.siblings.map((sibling) => sibling.payload)
}

/** The same causal state with each payload mapped, e.g. a value to its digest for a witness. */
export function mapPayload<T, U>(
  versioned: Versioned<T>,
  mapping: (payload: T, dot: Dot) => U,
): Versioned<U> {
  return {
    clock: versioned.clock,
    siblings: versioned.siblings.map((sibling) => ({
      dot: sibling.dot,
      payload: mapping(sibling.payload, sibling.dot),
    })),
  }
}

/** The compact wire and disk form; `encodePayload` turns a payload into msgpack-ready data. */
export function encodeVersioned<T>(
  versioned: Versioned<T>,
  encodePayload: (payload: T) => unknown,
): VersionedWire {
  assertWellFormed(versioned)
  const [entries, cloud] = encodeContext(versioned.clock)
  const siblings = versioned.siblings.map((sibling): [[Actor, number], unknown] => [
    dotToWire(sibling.dot),
    encodePayload(sibling.payload),
  ])
  return cloud.length === 0 ? [entries, siblings] : [entries, siblings, cloud]
}

/**
 * Decodes untrusted data (a peer message, a stored record) produced by `encodeVersioned`.
 * Throws MurmurError with `code` on any malformed shape, a duplicate dot, a dot the clock does
 * not cover, more than SIBLINGS_DECODED_COUNT_MAX siblings or more than CLOCK_CLOUD_DOTS_MAX
 * cloud dots; a cloud that is not compact is compacted, not refused. `decodePayload` validates each
 * payload and should throw MurmurError with the same code. Siblings are put in canonical order.
 */
export function decodeVersioned<T>(
  raw: unknown,
  decodePayload: (raw: unknown) => T,
  code: UntrustedErrorCode,
): Versioned<T> {
  if (!Array.isArray(raw) || raw.length < 2 || raw.length > 3) {
    throw new MurmurError(
      code,
      'versioned state must be [clock, siblings] or [clock, siblings, cloud]',
    )
  }
  const clock = clockFromUntrusted(raw[0], raw[2], code)
  const rawSiblings: unknown = raw[1]
  if (!Array.isArray(rawSiblings) || rawSiblings.length > SIBLINGS_DECODED_COUNT_MAX) {
    throw new MurmurError(
      code,
      `siblings must be an array of at most ${SIBLINGS_DECODED_COUNT_MAX} [dot, payload] pairs`,
    )
  }
  const siblings: Sibling<T>[] = []
  for (const entry of rawSiblings) {
    if (!Array.isArray(entry) || entry.length !== 2) {
      throw new MurmurError(code, 'sibling must be [dot, payload]')
    }
    siblings.push({ dot: dotFromUntrusted(entry[0], code), payload: decodePayload(entry[1]) })
  }
  siblings.sort((left, right) => compareDots(left.dot, right.dot))
  const versioned: Versioned<T> = { clock, siblings }
  const violation = invariantViolation(versioned)
  if (violation !== undefined)
    throw new MurmurError(code, `malformed versioned state: ${violation}`)
  return versioned
}

function clockFromUntrusted(
  rawVector: unknown,
  rawCloud: unknown,
  code: UntrustedErrorCode,
): DotContext {
  const vector = vectorFromUntrusted(rawVector, code)
  if (rawCloud === undefined) return { vector, cloud: EMPTY_DOT_CONTEXT.cloud }
  if (!Array.isArray(rawCloud) || rawCloud.length > CLOCK_CLOUD_DOTS_MAX) {
    throw new MurmurError(
      code,
      `a clock's cloud must be an array of at most ${CLOCK_CLOUD_DOTS_MAX} dots`,
    )
  }
  const cloud = rawCloud.map((dot: unknown) => dotFromUntrusted(dot, code))
  return contextWithDots({ vector, cloud: EMPTY_DOT_CONTEXT.cloud }, cloud)
}
