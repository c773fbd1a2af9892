/**
 * G-Counter: a grow-only counter. The state is a version vector read as actor → total of that
 * actor's increments; each actor only ever raises its own entry, merge is the per-actor
 * maximum and the value is the sum. Deltas are single entries and tolerate any delivery order
 * and duplication.
 *
 * Contract: totals and the value are exact integers. An increment that would push the actor's
 * total or the value past Number.MAX_SAFE_INTEGER is refused with MurmurError('invalid_request')
 * before anything changes. Merging concurrent increments can still carry the sum past that
 * bound (a join cannot refuse); `exactValue` then stays exact and `value` refuses with
 * 'value_too_large' rather than answer an imprecise number. Actors must be unique per replica
 * incarnation: two replicas raising the same entry lose increments to the maximum.
 */

import { MurmurError } from '../env/errors.js'
import {
  type Actor,
  EMPTY_VECTOR,
  type VersionVector,
  vectorDescends,
  vectorEntries,
  vectorEquals,
  vectorFromUntrusted,
  vectorGet,
  vectorJoin,
} from '../versioning/version-vector.js'
import { vectorByteSize } from './msgpack-size.js'
import { assertActor, assertAmount, type DecodeErrorCode } from './validation.js'

/** actor → total of that actor's increments; absent actors are 0. */
export type GCounter = VersionVector

/** Compact wire form: `[[actor, total], ...]` sorted by actor. */
export type GCounterWire = Array<[Actor, number]>

const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER)
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER)

export function empty(): GCounter {
  return EMPTY_VECTOR
}

export function increment(state: GCounter, actor: Actor, amount: number): GCounter {
  const next = new Map(state)
  next.set(actor, checkedTotal(state, actor, amount))
  return next
}

/** The delta of `increment`: the actor's new total alone. */
export function incrementDelta(state: GCounter, actor: Actor, amount: number): GCounter {
  return new Map([[actor, checkedTotal(state, actor, amount)]])
}

function checkedTotal(state: GCounter, actor: Actor, amount: number): number {
  const total = raisedTotal(state, actor, amount)
  refuseOverflow(exactValue(state) + BigInt(amount), 'up', actor, amount)
  return total
}

export function merge(left: GCounter, right: GCounter): GCounter {
  return vectorJoin(left, right)
}

/** The exact sum of all totals. */
export function exactValue(state: GCounter): bigint {
  let sum = 0n
  for (const total of state.values()) sum += BigInt(total)
  return sum
}

/** The value as a number; MurmurError('value_too_large') when it is not a safe integer. */
export function value(state: GCounter): number {
  return safeNumber(exactValue(state))
}

export function equals(left: GCounter, right: GCounter): boolean {
  return vectorEquals(left, right)
}

/** The lattice order: true when `right` has seen every increment `left` has. */
export function lessOrEqual(left: GCounter, right: GCounter): boolean {
  return vectorDescends(right, left)
}

export function encode(state: GCounter): GCounterWire {
  return vectorEntries(state)
}

export function decode(raw: unknown, code: DecodeErrorCode): GCounter {
  return vectorFromUntrusted(raw, code)
}

/** The exact byte length of `encode(state)` as msgpack. */
export function byteSize(state: GCounter): number {
  return vectorByteSize(state)
}

/**
 * The actor's total after adding `amount`; refuses a total beyond Number.MAX_SAFE_INTEGER.
 * Shared with the PN-Counter, whose halves are G-Counters.
 */
export function raisedTotal(state: GCounter, actor: Actor, amount: number): number {
  assertActor(actor)
  assertAmount(amount)
  const total = vectorGet(state, actor)
  if (amount > Number.MAX_SAFE_INTEGER - total) {
    throw new MurmurError(
      'invalid_request',
      `counter update of ${amount} would take actor ${actor}'s total past 2^53 - 1`,
      { definite: true, details: { actor, amount, total } },
    )
  }
  return total + amount
}

/**
 * Refuses an update that moves the value to `next` beyond the safe range in its direction. An
 * update that moves a merged, out-of-range value back toward the range is allowed.
 */
export function refuseOverflow(
  next: bigint,
  direction: 'up' | 'down',
  actor: Actor,
  amount: number,
): void {
  if (direction === 'up' ? next > SAFE_MAX : next < SAFE_MIN) {
    throw new MurmurError(
      'invalid_request',
      `counter update of ${amount} would take the value past ${direction === 'up' ? '' : '-'}(2^53 - 1)`,
      { definite: true, details: { actor, amount, value: next.toString() } },
    )
  }
}

/** An exact value as a number, refused when a merge carried it past the safe range. */
export function safeNumber(exact: bigint): number {
  if (exact > SAFE_MAX || exact < SAFE_MIN) {
    throw new MurmurError(
      'value_too_large',
      'counter value is beyond ±(2^53 - 1) after merging concurrent updates',
      { details: { value: exact.toString() } },
    )
  }
  return Number(exact)
}
