/**
 * The peer messages of quorum replication, and their strict decoders. A peer body arrives from
 * the network and is untrusted: every field is type-checked and size-bounded, unknown fields
 * are refused, and anything malformed is MurmurError('invalid_request'), never an exception of
 * another kind. Whether a keyspace exists or a node is known is the receiver's business (it
 * holds the config); the decoders check shapes and sizes.
 *
 *   kv.coordinate  a write forwarded to a node that may mint its dot
 *   kv.replicate   a record to merge into the data store, or into the hint store for `hintFor`
 *                  (a witness, or a hint for one, keeps it in witness form)
 *   kv.read        the receiver's record of a key (from its hints for `hintFor`, if set)
 *   kv.list        live keys of some partitions after a key, up to a limit
 *   kv.reapCheck   for each key: whether the receiver holds a hint or a record of it
 *   kv.reap        compare-and-delete of records that still equal the given state
 */

import { MurmurError } from '../env/errors.js'
import { SIBLINGS_DECODED_COUNT_MAX } from '../versioning/dvv.js'
import { KEYSPACE_PATTERN, keyProblem } from './names.js'
import { decodeKeyRecord, encodeKeyRecord, isValidContentType, type KeyRecord } from './record.js'
import type { WriteOutcome } from './requests.js'

export const KV_MESSAGE_TYPES = {
  coordinate: 'kv.coordinate',
  replicate: 'kv.replicate',
  read: 'kv.read',
  list: 'kv.list',
  reapCheck: 'kv.reapCheck',
  reap: 'kv.reap',
} as const

/** Keys in one reap check or reap request. */
export const REAP_BATCH_MAX = 256
/** Partitions in one list request. */
export const LIST_PARTITIONS_MAX = 4096
const NODE_ID_CHARS_MAX = 128
const NODE_LIST_MAX = 64
const CONTEXT_CHARS_MAX = 48 * 1024
const TIMEOUT_MS_MAX = 3_600_000

export interface KeyAddress {
  readonly keyspace: string
  readonly key: string
}

export interface CoordinateMessage extends KeyAddress {
  readonly operation: 'put' | 'delete'
  readonly value: Uint8Array | undefined
  readonly contentType: string | undefined
  /** The client's context token, as sent. */
  readonly context: string
  readonly w: number
  readonly pw: number
  readonly timeoutMs: number
  readonly returnBody: boolean
}

export interface ReplicateMessage extends KeyAddress {
  readonly record: KeyRecord
  readonly hintFor: string | undefined
}

export interface ReadMessage extends KeyAddress {
  readonly hintFor: string | undefined
}

export interface ListMessage {
  readonly keyspace: string
  readonly partitions: readonly number[]
  readonly prefix: string
  /** List keys strictly after this one; '' lists from the start. */
  readonly after: string
  readonly limit: number
}

export interface ReapCheckMessage {
  readonly keys: readonly KeyAddress[]
}

export interface ReapEntry extends KeyAddress {
  readonly record: KeyRecord
}

export interface ReapMessage {
  readonly entries: readonly ReapEntry[]
}

/** Limits the receiver applies to peer input, from its config. */
export interface MessageLimits {
  readonly keyBytesMax: number
  readonly valueBytesMax: number
  readonly replicasMax: number
  readonly listPageMax: number
}

type Body = Readonly<Record<string, unknown>>

function invalid(message: string): MurmurError {
  return new MurmurError('invalid_request', message, { definite: true })
}

/** Refuses fields other than `type` and `allowed`. */
function onlyFields(body: Body, allowed: readonly string[]): void {
  for (const name of Object.keys(body)) {
    if (name !== 'type' && !allowed.includes(name)) {
      throw invalid(`unexpected field ${name.slice(0, 32)} in ${String(body['type'])}`)
    }
  }
}

function stringField(body: Body, name: string, charsMax: number): string {
  const value = body[name]
  if (typeof value !== 'string' || value.length > charsMax) {
    throw invalid(`${name} must be a string of at most ${charsMax} characters`)
  }
  return value
}

function optionalNode(body: Body, name: string): string | undefined {
  if (body[name] === undefined) return undefined
  const node = stringField(body, name, NODE_ID_CHARS_MAX)
  if (node.length === 0) throw invalid(`${name} must name a node`)
  return node
}

function integerField(body: Body, name: string, min: number, max: number): number {
  const value = body[name]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in ${min}..${max}`)
  }
  return value
}

function keyspaceOf(value: unknown): string {
  if (typeof value !== 'string' || !KEYSPACE_PATTERN.test(value)) {
    throw invalid('keyspace must be 1-64 characters of a-z, 0-9, _ and -')
  }
  return value
}

function keyOf(value: unknown, limits: MessageLimits): string {
  if (typeof value !== 'string') throw invalid('key must be a string')
  const problem = keyProblem(value, limits.keyBytesMax)
  if (problem !== undefined) throw invalid(problem)
  return value
}

function addressOf(body: Body, limits: MessageLimits): KeyAddress {
  return { keyspace: keyspaceOf(body['keyspace']), key: keyOf(body['key'], limits) }
}

function arrayField(body: Body, name: string, lengthMax: number): readonly unknown[] {
  const value = body[name]
  if (!Array.isArray(value) || value.length > lengthMax) {
    throw invalid(`${name} must be an array of at most ${lengthMax} entries`)
  }
  return value
}

export function decodeCoordinate(body: Body, limits: MessageLimits): CoordinateMessage {
  onlyFields(body, [
    'keyspace',
    'key',
    'operation',
    'value',
    'contentType',
    'context',
    'w',
    'pw',
    'timeoutMs',
    'returnBody',
  ])
  const operation = body['operation']
  if (operation !== 'put' && operation !== 'delete')
    throw invalid('operation must be put or delete')
  const value = body['value']
  const contentType = body['contentType']
  if (operation === 'put') {
    if (!(value instanceof Uint8Array) || value.length > limits.valueBytesMax) {
      throw invalid(`a put carries a value of at most ${limits.valueBytesMax} bytes`)
    }
    if (typeof contentType !== 'string' || !isValidContentType(contentType)) {
      throw invalid('a put carries a valid content type')
    }
  } else if (value !== undefined || contentType !== undefined) {
    throw invalid('a delete carries no value')
  }
  const returnBody = body['returnBody']
  if (typeof returnBody !== 'boolean') throw invalid('returnBody must be a boolean')
  return {
    ...addressOf(body, limits),
    operation,
    value: operation === 'put' ? (value as Uint8Array) : undefined,
    contentType: operation === 'put' ? (contentType as string) : undefined,
    context: stringField(body, 'context', CONTEXT_CHARS_MAX),
    w: integerField(body, 'w', 1, limits.replicasMax),
    pw: integerField(body, 'pw', 0, limits.replicasMax),
    timeoutMs: integerField(body, 'timeoutMs', 1, TIMEOUT_MS_MAX),
    returnBody,
  }
}

export function decodeReplicate(body: Body, limits: MessageLimits): ReplicateMessage {
  onlyFields(body, ['keyspace', 'key', 'record', 'hintFor'])
  return {
    ...addressOf(body, limits),
    record: decodeKeyRecord(body['record'], 'invalid_request'),
    hintFor: optionalNode(body, 'hintFor'),
  }
}

export function decodeRead(body: Body, limits: MessageLimits): ReadMessage {
  onlyFields(body, ['keyspace', 'key', 'hintFor'])
  return { ...addressOf(body, limits), hintFor: optionalNode(body, 'hintFor') }
}

export function decodeList(body: Body, limits: MessageLimits): ListMessage {
  onlyFields(body, ['keyspace', 'partitions', 'prefix', 'after', 'limit'])
  const partitions = arrayField(body, 'partitions', LIST_PARTITIONS_MAX).map((partition) => {
    if (typeof partition !== 'number' || !Number.isSafeInteger(partition) || partition < 0) {
      throw invalid('partitions must be non-negative integers')
    }
    return partition
  })
  const prefix = stringField(body, 'prefix', limits.keyBytesMax)
  const after = stringField(body, 'after', limits.keyBytesMax)
  if (prefix !== '') keyOf(prefix, limits)
  if (after !== '') keyOf(after, limits)
  return {
    keyspace: keyspaceOf(body['keyspace']),
    partitions,
    prefix,
    after,
    limit: integerField(body, 'limit', 1, limits.listPageMax),
  }
}

/** The address at the head of an entry `[keyspace, key, ...rest]` of exactly `length` items. */
function addressOfEntry(value: unknown, length: number, limits: MessageLimits): KeyAddress {
  if (!Array.isArray(value) || value.length !== length) {
    throw invalid(`an entry is an array of ${length}, starting with keyspace and key`)
  }
  return { keyspace: keyspaceOf(value[0]), key: keyOf(value[1], limits) }
}

export function decodeReapCheck(body: Body, limits: MessageLimits): ReapCheckMessage {
  onlyFields(body, ['keys'])
  const keys = arrayField(body, 'keys', REAP_BATCH_MAX).map((entry) =>
    addressOfEntry(entry, 2, limits),
  )
  return { keys }
}

export function decodeReap(body: Body, limits: MessageLimits): ReapMessage {
  onlyFields(body, ['entries'])
  const entries = arrayField(body, 'entries', REAP_BATCH_MAX).map((entry) => ({
    ...addressOfEntry(entry, 3, limits),
    record: decodeKeyRecord((entry as readonly unknown[])[2], 'invalid_request'),
  }))
  return { entries }
}

/** The answer to kv.read: the record, or null when the receiver holds none. */
export function decodeReadAnswer(answer: unknown): KeyRecord | undefined {
  const body = answerBody(answer)
  if (body['record'] === null || body['record'] === undefined) return undefined
  return decodeKeyRecord(body['record'], 'invalid_request')
}

/** The answer to kv.list. */
export function decodeListAnswer(
  answer: unknown,
  limits: MessageLimits,
): { keys: string[]; frontier: string | undefined } {
  const body = answerBody(answer)
  const keys = arrayField(body, 'keys', limits.listPageMax).map((key) => keyOf(key, limits))
  const frontier = body['frontier']
  if (frontier === null || frontier === undefined) return { keys, frontier: undefined }
  return { keys, frontier: keyOf(frontier, limits) }
}

/** The answer to kv.reapCheck, one report per key asked, in order. */
export function decodeReapCheckAnswer(
  answer: unknown,
  count: number,
): { hinted: boolean; record: KeyRecord | undefined }[] {
  const body = answerBody(answer)
  const reports = arrayField(body, 'reports', REAP_BATCH_MAX)
  if (reports.length !== count) throw invalid('a reap check answers every key asked')
  return reports.map((report) => {
    if (!Array.isArray(report) || report.length !== 2 || typeof report[0] !== 'boolean') {
      throw invalid('a reap report is [hinted, record or null]')
    }
    const record = report[1] === null ? undefined : decodeKeyRecord(report[1], 'invalid_request')
    return { hinted: report[0], record }
  })
}

function answerBody(answer: unknown): Body {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
    throw invalid('a peer answer must be a map')
  }
  return answer as Body
}

/** The body of a kv.coordinate request. */
export function encodeCoordinate(
  message: Omit<CoordinateMessage, 'value' | 'contentType'> & {
    readonly value: Uint8Array | undefined
    readonly contentType: string | undefined
  },
): Record<string, unknown> {
  return {
    type: KV_MESSAGE_TYPES.coordinate,
    keyspace: message.keyspace,
    key: message.key,
    operation: message.operation,
    value: message.value,
    contentType: message.contentType,
    context: message.context,
    w: message.w,
    pw: message.pw,
    timeoutMs: message.timeoutMs,
    returnBody: message.returnBody,
  }
}

/** The answer to kv.coordinate: a write's outcome. */
export function encodeWriteOutcome(outcome: WriteOutcome): Record<string, unknown> {
  return {
    context: outcome.context,
    siblings: outcome.siblings,
    record: outcome.record === undefined ? null : encodeKeyRecord(outcome.record),
    coordinator: outcome.coordinator,
    replicas: outcome.replicas,
    hinted: outcome.hinted.map((target) => [target.node, target.hintFor]),
  }
}

function nodeList(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || value.length > NODE_LIST_MAX) throw invalid(`${name} must be a list`)
  return value.map((node: unknown) => {
    if (typeof node !== 'string' || node.length < 1 || node.length > NODE_ID_CHARS_MAX) {
      throw invalid(`${name} must hold node ids`)
    }
    return node
  })
}

export function decodeWriteOutcome(answer: unknown): WriteOutcome {
  const body = answerBody(answer)
  const hinted = arrayField(body, 'hinted', NODE_LIST_MAX).map((pair) => {
    const [node, hintFor] = nodeList(pair, 'hinted')
    if (node === undefined || hintFor === undefined) throw invalid('hinted holds [node, primary]')
    return { node, hintFor }
  })
  const record = body['record']
  return {
    context: stringField(body, 'context', CONTEXT_CHARS_MAX),
    siblings: integerField(body, 'siblings', 0, SIBLINGS_DECODED_COUNT_MAX),
    record: record === null ? undefined : decodeKeyRecord(record, 'invalid_request'),
    coordinator: stringField(body, 'coordinator', NODE_ID_CHARS_MAX),
    replicas: nodeList(body['replicas'], 'replicas'),
    hinted,
  }
}
