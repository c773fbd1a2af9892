/**
 * PN-Counter: a counter that goes up and down, built from two G-Counters (riak_dt_pncounter
 * keeps the same per-actor {increments, decrements} pair). Each actor raises only its own
 * totals; merge is the per-actor maximum of each half and the value is ΣP − ΣN. Deltas are
 * single entries and tolerate any delivery order and duplication.
 *
 * Contract: amounts are positive safe integers. An update that would push the actor's total
 * past Number.MAX_SAFE_INTEGER, or the value past ±(2^53 − 1), is refused with
 * MurmurError('invalid_request') before anything changes. Concurrent updates merged from other
 * replicas can still carry the value out of range; `exactValue` stays exact and `value` then
 * refuses with 'value_too_large'. Actors must be unique per replica incarnation. An update is
 * not idempotent: retry safety comes from the idempotency key above this layer.
 */

import type { Actor } from '../versioning/version-vector.js'
import * as GCounter from './g-counter.js'
import type { DecodeErrorCode } from './validation.js'
import { tupleFromUntrusted } from './validation.js'

export interface PnCounter {
  /** actor → total of the actor's increments. */
  readonly positive: GCounter.GCounter
  /** actor → total of the actor's decrements. */
  readonly negative: GCounter.GCounter
}

/** Compact wire form: `[positiveEntries, negativeEntries]`. */
export type PnCounterWire = [GCounter.GCounterWire, GCounter.GCounterWire]

const EMPTY_COUNTER: PnCounter = Object.freeze({
  positive: GCounter.empty(),
  negative: GCounter.empty(),
})

export function empty(): PnCounter {
  return EMPTY_COUNTER
}

export function increment(state: PnCounter, actor: Actor, amount: number): PnCounter {
  const total = checkedTotal(state, actor, amount, 'up')
  return { positive: new Map(state.positive).set(actor, total), negative: state.negative }
}

export function decrement(state: PnCounter, actor: Actor, amount: number): PnCounter {
  const total = checkedTotal(state, actor, amount, 'down')
  return { positive: state.positive, negative: new Map(state.negative).set(actor, total) }
}

/** The delta of `increment`: the actor's new increment total alone. */
export function incrementDelta(state: PnCounter, actor: Actor, amount: number): PnCounter {
  const total = checkedTotal(state, actor, amount, 'up')
  return { positive: new Map([[actor, total]]), negative: GCounter.empty() }
}

/** The delta of `decrement`: the actor's new decrement total alone. */
export function decrementDelta(state: PnCounter, actor: Actor, amount: number): PnCounter {
  const total = checkedTotal(state, actor, amount, 'down')
  return { positive: GCounter.empty(), negative: new Map([[actor, total]]) }
}

/** The actor's new total in the half that `direction` raises, refused on overflow. */
function checkedTotal(
  state: PnCounter,
  actor: Actor,
  amount: number,
  direction: 'up' | 'down',
): number {
  const half = direction === 'up' ? state.positive : state.negative
  const total = GCounter.raisedTotal(half, actor, amount)
  const change = direction === 'up' ? BigInt(amount) : -BigInt(amount)
  GCounter.refuseOverflow(exactValue(state) + change, direction, actor, amount)
  return total
}

export function merge(left: PnCounter, right: PnCounter): PnCounter {
  return {
    positive: GCounter.merge(left.positive, right.positive),
    negative: GCounter.merge(left.negative, right.negative),
  }
}

/** The exact value ΣP − ΣN. */
export function exactValue(state: PnCounter): bigint {
  return GCounter.exactValue(state.positive) - GCounter.exactValue(state.negative)
}

/** The value as a number; MurmurError('value_too_large') when it is not a safe integer. */
export function value(state: PnCounter): number {
  return GCounter.safeNumber(exactValue(state))
}

export function equals(left: PnCounter, right: PnCounter): boolean {
  return (
    GCounter.equals(left.positive, right.positive) && GCounter.equals(left.negative, right.negative)
  )
}

/** The lattice order: true when `right` has seen every update `left` has. */
export function lessOrEqual(left: PnCounter, right: PnCounter): boolean {
  return (
    GCounter.lessOrEqual(left.positive, right.positive) &&
    GCounter.lessOrEqual(left.negative, right.negative)
  )
}

export function encode(state: PnCounter): PnCounterWire {
  return [GCounter.encode(state.positive), GCounter.encode(state.negative)]
}

export function decode(raw: unknown, code: DecodeErrorCode): PnCounter {
  const halves = tupleFromUntrusted(raw, 2, code, 'counter as [increments, decrements]')
  return { positive: GCounter.decode(halves[0], code), negative: GCounter.decode(halves[1], code) }
}

/** The exact byte length of `encode(state)` as msgpack. */
export function byteSize(state: PnCounter): number {
  return 1 + GCounter.byteSize(state.positive) + GCounter.byteSize(state.negative)
}
