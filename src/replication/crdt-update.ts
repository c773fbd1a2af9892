/**
 * The write strategy of the CRDT types: how a coordinator applies one counter or set update to
 * its own record of the key. It is the counterpart of the DVV update of plain values, and the
 * coordinator replicates whatever record it returns exactly as it replicates a plain write.
 *
 * Contract:
 * - A key holds one type. An update of a type the record does not hold, on a record that holds
 *   another type's live data, is refused with `type_mismatch` before anything changes.
 * - A keyed update (idempotency id set) that the record already holds is not applied again:
 *   the verdict is `replayed` with the current record, which the coordinator replicates anyway
 *   so that a retry is acknowledged only once `w` replicas hold the update. The same key with
 *   other content is refused (`stale_token`, 409).
 * - A set update applies its removes, then its adds, all or nothing.
 * - After an update the ledger is compacted by the policy, so a key's idempotency metadata
 *   stays within `entriesMax` per coordinator (see src/crdt/replicated-counter.ts).
 */

import * as Orswot from '../crdt/orswot.js'
import * as ReplicatedCounter from '../crdt/replicated-counter.js'
import * as ReplicatedSet from '../crdt/replicated-set.js'
import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import type { Actor, Dot, VersionVector } from '../versioning/version-vector.js'
import { type KeyRecord, type RecordType, recordTypes } from './record.js'

export type CrdtOperation =
  | { readonly type: 'counter'; readonly amount: number }
  | {
      readonly type: 'set'
      readonly add: readonly string[]
      readonly remove: readonly string[]
      /** The context of the read the removes are based on; undefined: remove what is held. */
      readonly context: VersionVector | undefined
    }

export interface CrdtUpdate {
  readonly operation: CrdtOperation
  /** The idempotency id (key digest and content digest), or undefined for a plain update. */
  readonly id: string | undefined
}

export interface UpdateEnvironment {
  readonly actor: Actor
  readonly wallMs: number
  readonly policy: ReplicatedCounter.LedgerPolicy
  readonly setElementsMax: number
}

export interface UpdateVerdict {
  /** The record after the update (or as it was, for a replay): what is replicated. */
  readonly record: KeyRecord
  /** False for a replay: nothing to write locally. */
  readonly changed: boolean
  readonly replayed: boolean
}

/** Refuses an update of `type` on a record that holds another type and not this one. */
export function refuseOtherTypes(record: KeyRecord, type: RecordType): void {
  const held = recordTypes(record)
  if (held.length === 0 || held.includes(type)) return
  throw new MurmurError(
    'type_mismatch',
    `the key holds a ${held.join(' and a ')}, not a ${type === 'kv' ? 'plain value' : type}`,
    { definite: true, details: { storedTypes: held, requestedType: type } },
  )
}

export function applyCrdtUpdate(
  current: KeyRecord,
  update: CrdtUpdate,
  environment: UpdateEnvironment,
): UpdateVerdict {
  refuseOtherTypes(current, update.operation.type)
  const operation = update.operation
  if (operation.type === 'counter') {
    return applyCounter(current, operation.amount, update.id, environment)
  }
  return applySet(current, operation, update.id, environment)
}

function applyCounter(
  current: KeyRecord,
  amount: number,
  id: string | undefined,
  environment: UpdateEnvironment,
): UpdateVerdict {
  const state = current.counter ?? ReplicatedCounter.empty()
  if (id !== undefined) {
    const seen = ReplicatedCounter.lookup(state, id)
    if (seen === 'applied') return { record: current, changed: false, replayed: true }
    if (seen === 'conflict') throw reusedKey()
  }
  const { actor, wallMs, policy } = environment
  const updated =
    id === undefined
      ? ReplicatedCounter.update(state, actor, amount)
      : ReplicatedCounter.updateKeyed(state, actor, id, amount, Math.floor(wallMs))
  const counter = ReplicatedCounter.compact(updated, wallMs, policy)
  return { record: { ...current, counter }, changed: true, replayed: false }
}

function applySet(
  current: KeyRecord,
  operation: Extract<CrdtOperation, { type: 'set' }>,
  id: string | undefined,
  environment: UpdateEnvironment,
): UpdateVerdict {
  assert(operation.add.length + operation.remove.length > 0, 'a set update does something')
  const state = current.set ?? ReplicatedSet.empty()
  if (id !== undefined) {
    const seen = ReplicatedSet.lookup(state, id)
    if (seen === 'applied') return { record: current, changed: false, replayed: true }
    if (seen === 'conflict') throw reusedKey()
  }
  let set = state.set
  if (operation.remove.length > 0) {
    const removed = Orswot.removeAll(set, operation.remove, operation.context)
    if (!removed.ok && removed.code === 'precondition_failed') {
      throw new MurmurError(
        'precondition_failed',
        'a remove without a context names elements this coordinator does not hold; read the ' +
          'set and send its context with the remove',
        { definite: true, details: { missing: removed.missing.slice(0, 16) } },
      )
    }
    if (!removed.ok) {
      throw new MurmurError('overloaded', 'this replica holds too many pending removes', {
        definite: true,
        details: { deferredElementsCount: removed.deferredElementsCount },
      })
    }
    set = removed.state
  }
  if (operation.add.length > 0) set = Orswot.addAll(set, environment.actor, operation.add)
  refuseTooMany(state.set, set, environment.setElementsMax)
  const { wallMs, policy } = environment
  const mark =
    id === undefined
      ? undefined
      : { id, atMs: Math.floor(wallMs), copies: addedDots(set, operation.add) }
  const next = ReplicatedSet.compact(ReplicatedSet.withSet(state, set, mark), wallMs, policy)
  return { record: { ...current, set: next }, changed: true, replayed: false }
}

/** The dot each added element holds after an add: the add makes it the element's only one. */
function addedDots(set: Orswot.Orswot, added: readonly string[]): Map<string, Dot> {
  const copies = new Map<string, Dot>()
  for (const element of added) {
    const dots = set.entries.get(element)
    assert(dots?.length === 1, 'an added element holds exactly its new dot')
    copies.set(element, dots[0] as Dot)
  }
  return copies
}

/** Refuses an update that grows a set past the bound (shrinking an oversized one is fine). */
function refuseTooMany(before: Orswot.Orswot, after: Orswot.Orswot, elementsMax: number): void {
  const size = Orswot.size(after)
  if (size <= elementsMax || size <= Orswot.size(before)) return
  throw new MurmurError('value_too_large', `a set holds at most ${elementsMax} elements`, {
    definite: true,
    details: { setElementsMax: elementsMax, size },
  })
}

function reusedKey(): MurmurError {
  return new MurmurError(
    'idempotency_conflict',
    'this Idempotency-Key was already used for a different update of this key; use a new key ' +
      'for a new update',
    { definite: true, details: { reason: 'idempotency_key_reused' } },
  )
}
