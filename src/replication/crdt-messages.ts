/**
 * The peer message of CRDT writes, and its strict decoder: `crdt.coordinate` forwards a
 * counter or set update to a primary of the key, because the coordinator applies it to its own
 * record (as `kv.coordinate` does for plain values). Replication, reads, hints and repair of
 * CRDT keys use the `kv.*` messages unchanged, since they carry whole records.
 *
 * The body is untrusted: every field is type-checked and bounded, unknown fields are refused,
 * and anything malformed is MurmurError('invalid_request').
 */

import { utf8ByteLength } from '../crdt/msgpack-size.js'
import { UPDATE_ID_CHARS_MAX } from '../crdt/replicated-counter.js'
import { isValidElement } from '../crdt/validation.js'
import { MurmurError } from '../env/errors.js'
import { decodeContextToken, encodeContextToken } from '../versioning/context-token.js'
import type { Requirement } from './consistency.js'
import type { CrdtOperation, CrdtUpdate } from './crdt-update.js'
import { decodeWriteOutcome, encodeWriteOutcome, type MessageLimits } from './messages.js'
import { KEYSPACE_PATTERN, keyProblem } from './names.js'
import type { ReplicaTarget } from './plan.js'
import type { KeyRecord } from './record.js'
import type { KeyspaceRef } from './requests.js'

export const CRDT_MESSAGE_TYPES = { coordinate: 'crdt.coordinate' } as const

const TIMEOUT_MS_MAX = 3_600_000

/** Limits the receiver applies to a forwarded CRDT update, from its config. */
export interface CrdtMessageLimits extends MessageLimits {
  readonly setElementBytesMax: number
  /** Most elements one update may name (adds and removes together). */
  readonly elementsPerUpdateMax: number
}

export interface CrdtCoordinateMessage {
  readonly keyspace: string
  readonly key: string
  readonly update: CrdtUpdate
  readonly w: number
  readonly pw: number
  readonly timeoutMs: number
}

/** A client's CRDT write, validated by the REST layer. */
export interface CrdtWriteRequest {
  readonly keyspace: KeyspaceRef
  readonly key: string
  readonly update: CrdtUpdate
  readonly requirement: Requirement
  readonly timeoutMs: number
}

/** What a CRDT write answers: the coordinator's record after it, and who acknowledged. */
export interface CrdtWriteOutcome {
  readonly record: KeyRecord
  /** True when the record already held this keyed update, which was not applied again. */
  readonly replayed: boolean
  readonly coordinator: string
  readonly replicas: readonly string[]
  readonly hinted: readonly ReplicaTarget[]
}

function invalid(message: string): MurmurError {
  return new MurmurError('invalid_request', message, { definite: true })
}

export function encodeCrdtCoordinate(message: CrdtCoordinateMessage): Record<string, unknown> {
  const operation = message.update.operation
  const body: Record<string, unknown> = {
    type: CRDT_MESSAGE_TYPES.coordinate,
    keyspace: message.keyspace,
    key: message.key,
    w: message.w,
    pw: message.pw,
    timeoutMs: message.timeoutMs,
    id: message.update.id ?? null,
  }
  if (operation.type === 'counter') return { ...body, amount: operation.amount }
  const context = operation.context === undefined ? null : encodeContextToken(operation.context)
  return { ...body, add: operation.add, remove: operation.remove, context }
}

export function decodeCrdtCoordinate(
  body: Readonly<Record<string, unknown>>,
  limits: CrdtMessageLimits,
): CrdtCoordinateMessage {
  const counter = body['amount'] !== undefined
  const allowed = counter ? ['amount'] : ['add', 'remove', 'context']
  for (const name of Object.keys(body)) {
    if (!['type', 'keyspace', 'key', 'w', 'pw', 'timeoutMs', 'id', ...allowed].includes(name)) {
      throw invalid(`unexpected field ${name.slice(0, 32)} in ${CRDT_MESSAGE_TYPES.coordinate}`)
    }
  }
  const keyspace = body['keyspace']
  if (typeof keyspace !== 'string' || !KEYSPACE_PATTERN.test(keyspace)) {
    throw invalid('keyspace must be 1-64 characters of a-z, 0-9, _ and -')
  }
  const key = body['key']
  if (typeof key !== 'string') throw invalid('key must be a string')
  const problem = keyProblem(key, limits.keyBytesMax)
  if (problem !== undefined) throw invalid(problem)
  const id = body['id']
  if (id !== null && (typeof id !== 'string' || id.length < 1 || id.length > UPDATE_ID_CHARS_MAX)) {
    throw invalid(`id must be null or a string of 1..${UPDATE_ID_CHARS_MAX} characters`)
  }
  const operation = counter ? counterOperation(body) : setOperation(body, limits)
  return {
    keyspace,
    key,
    update: { operation, id: id ?? undefined },
    w: integer(body, 'w', 1, limits.replicasMax),
    pw: integer(body, 'pw', 0, limits.replicasMax),
    timeoutMs: integer(body, 'timeoutMs', 1, TIMEOUT_MS_MAX),
  }
}

function counterOperation(body: Readonly<Record<string, unknown>>): CrdtOperation {
  const amount = body['amount']
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount === 0) {
    throw invalid('amount must be a non-zero safe integer')
  }
  return { type: 'counter', amount }
}

function setOperation(
  body: Readonly<Record<string, unknown>>,
  limits: CrdtMessageLimits,
): CrdtOperation {
  const add = elements(body['add'], 'add', limits)
  const remove = elements(body['remove'], 'remove', limits)
  if (add.length + remove.length === 0) throw invalid('a set update adds or removes something')
  if (add.length + remove.length > limits.elementsPerUpdateMax) {
    throw invalid(`a set update names at most ${limits.elementsPerUpdateMax} elements`)
  }
  const context = body['context']
  if (context !== null && typeof context !== 'string') {
    throw invalid('context must be null or a token')
  }
  return {
    type: 'set',
    add,
    remove,
    context: context === null ? undefined : decodeContextToken(context),
  }
}

function elements(value: unknown, name: string, limits: CrdtMessageLimits): string[] {
  if (!Array.isArray(value) || value.length > limits.elementsPerUpdateMax) {
    throw invalid(`${name} must be an array of at most ${limits.elementsPerUpdateMax} elements`)
  }
  return value.map((element: unknown) => {
    if (!isValidElement(element) || utf8ByteLength(element) > limits.setElementBytesMax) {
      throw invalid(`set elements are strings of at most ${limits.setElementBytesMax} bytes`)
    }
    return element
  })
}

function integer(
  body: Readonly<Record<string, unknown>>,
  name: string,
  min: number,
  max: number,
): number {
  const value = body[name]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in ${min}..${max}`)
  }
  return value
}

/** The answer to crdt.coordinate: a write outcome carrying the record, plus `replayed`. */
export function encodeCrdtOutcome(outcome: CrdtWriteOutcome): Record<string, unknown> {
  const base = encodeWriteOutcome({
    context: '',
    siblings: 0,
    record: outcome.record,
    coordinator: outcome.coordinator,
    replicas: outcome.replicas,
    hinted: outcome.hinted,
  })
  return { ...base, replayed: outcome.replayed }
}

export function decodeCrdtOutcome(answer: unknown): CrdtWriteOutcome {
  const outcome = decodeWriteOutcome(answer)
  const replayed = (answer as Record<string, unknown>)['replayed']
  if (typeof replayed !== 'boolean' || outcome.record === undefined) {
    throw invalid('a CRDT write answers with its record and whether it was replayed')
  }
  return {
    record: outcome.record,
    replayed,
    coordinator: outcome.coordinator,
    replicas: outcome.replicas,
    hinted: outcome.hinted,
  }
}
