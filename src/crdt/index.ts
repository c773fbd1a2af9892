/**
 * The CRDT types murmur serves through its API and the one place that dispatches on them:
 * `counter` is a PN-Counter and `set` an add-wins ORSWOT. A key holds one type for its whole
 * life, so replication merges a stored state only with an incoming state of the same type; a
 * mismatch is a typed result (the API answers 409 `type_mismatch`), never a coerced merge.
 *
 * Records are `[typeTag, typeWire]`. Type tags are part of the on-disk and wire formats: a tag
 * is never renumbered or reused.
 */

import * as Orswot from './orswot.js'
import * as PnCounter from './pn-counter.js'
import { type DecodeErrorCode, failDecode, tupleFromUntrusted } from './validation.js'

export * as GCounter from './g-counter.js'
export * as GSet from './g-set.js'
export * as Orswot from './orswot.js'
export * as PnCounter from './pn-counter.js'
export * as ReplicatedCounter from './replicated-counter.js'
export * as ReplicatedSet from './replicated-set.js'
export type { DecodeErrorCode } from './validation.js'

export const CRDT_TYPES = ['counter', 'set'] as const
export type CrdtType = (typeof CRDT_TYPES)[number]

export const CRDT_TYPE_TAGS = { counter: 1, set: 2 } as const satisfies Record<CrdtType, number>

export type Crdt =
  | { readonly type: 'counter'; readonly state: PnCounter.PnCounter }
  | { readonly type: 'set'; readonly state: Orswot.Orswot }

/** Compact record form: `[typeTag, typeWire]`. */
export type CrdtWire = [number, unknown]

export interface TypeMismatch {
  readonly ok: false
  readonly code: 'type_mismatch'
  readonly storedType: CrdtType
  readonly requestedType: CrdtType
}

export type MergeResult =
  | {
      readonly ok: true
      readonly crdt: Crdt
      /** False when the stored state already held everything incoming had: nothing to write. */
      readonly changed: boolean
    }
  | TypeMismatch

export type StateResult<S> = { readonly ok: true; readonly state: S } | TypeMismatch

export function isCrdtType(value: unknown): value is CrdtType {
  return value === 'counter' || value === 'set'
}

export function emptyCrdt(type: CrdtType): Crdt {
  return type === 'counter' ? { type, state: PnCounter.empty() } : { type, state: Orswot.empty() }
}

function mismatch(storedType: CrdtType, requestedType: CrdtType): TypeMismatch {
  return { ok: false, code: 'type_mismatch', storedType, requestedType }
}

/** The stored counter to update, an empty one for a new key, or a type mismatch. */
export function counterOf(stored: Crdt | undefined): StateResult<PnCounter.PnCounter> {
  if (stored === undefined) return { ok: true, state: PnCounter.empty() }
  if (stored.type === 'counter') return { ok: true, state: stored.state }
  return mismatch(stored.type, 'counter')
}

/** The stored set to update, an empty one for a new key, or a type mismatch. */
export function setOf(stored: Crdt | undefined): StateResult<Orswot.Orswot> {
  if (stored === undefined) return { ok: true, state: Orswot.empty() }
  if (stored.type === 'set') return { ok: true, state: stored.state }
  return mismatch(stored.type, 'set')
}

/** Merges an incoming state (a replica's, a hint's, a delta) into the stored one. */
export function mergeCrdt(stored: Crdt, incoming: Crdt): MergeResult {
  if (stored.type === 'counter' && incoming.type === 'counter') {
    if (PnCounter.lessOrEqual(incoming.state, stored.state)) {
      return { ok: true, crdt: stored, changed: false }
    }
    const state = PnCounter.merge(stored.state, incoming.state)
    return { ok: true, crdt: { type: 'counter', state }, changed: true }
  }
  if (stored.type === 'set' && incoming.type === 'set') {
    const state = Orswot.merge(stored.state, incoming.state)
    const changed = !Orswot.equals(state, stored.state)
    return { ok: true, crdt: changed ? { type: 'set', state } : stored, changed }
  }
  return mismatch(stored.type, incoming.type)
}

export function crdtEquals(left: Crdt, right: Crdt): boolean {
  if (left.type === 'counter' && right.type === 'counter') {
    return PnCounter.equals(left.state, right.state)
  }
  if (left.type === 'set' && right.type === 'set') return Orswot.equals(left.state, right.state)
  return false
}

export function encodeCrdt(crdt: Crdt): CrdtWire {
  const tag = CRDT_TYPE_TAGS[crdt.type]
  return crdt.type === 'counter'
    ? [tag, PnCounter.encode(crdt.state)]
    : [tag, Orswot.encode(crdt.state)]
}

/** Validates an untrusted record; `code` is 'invalid_request' for peers, 'corrupt_record' for disk. */
export function decodeCrdt(raw: unknown, code: DecodeErrorCode): Crdt {
  const [tag, body] = tupleFromUntrusted(raw, 2, code, 'CRDT record as [typeTag, state]')
  if (tag === CRDT_TYPE_TAGS.counter)
    return { type: 'counter', state: PnCounter.decode(body, code) }
  if (tag === CRDT_TYPE_TAGS.set) return { type: 'set', state: Orswot.decode(body, code) }
  return failDecode(code, `unknown CRDT type tag ${typeof tag === 'number' ? tag : typeof tag}`)
}

/** The exact byte length of `encodeCrdt(crdt)` as msgpack. */
export function crdtByteSize(crdt: Crdt): number {
  // One array header and one small tag precede the type's own encoding.
  const bodyBytes =
    crdt.type === 'counter' ? PnCounter.byteSize(crdt.state) : Orswot.byteSize(crdt.state)
  return 2 + bodyBytes
}
