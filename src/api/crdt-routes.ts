/**
 * The CRDT routes (docs/API.md, "Counters and sets"): `GET/POST /v1/counters/{keyspace}/{key}`
 * and `GET/POST /v1/sets/{keyspace}/{key}` on eventual keyspaces. This module validates every
 * part of a request (path, query, headers, JSON body) into a typed request for the node's CRDT
 * service and renders outcomes; it decides nothing about replication.
 *
 * Retry safety: an `Idempotency-Key` header (1..255 printable ASCII characters) turns an update
 * into a keyed update whose id is derived from the key and the update's content, so a retry
 * through any coordinator within the idempotency window counts once, and the same key with
 * another body is refused (409 `idempotency_conflict`, reason `idempotency_key_reused`). A replayed
 * update answers like the first one, with `Idempotent-Replayed: true`.
 *
 * DELETE is refused (405): a counter or set cannot be deleted safely while replicas may still
 * hold updates that no delete has seen; remove a set's elements with a context instead.
 */

import { createHash } from 'node:crypto'
import type { Context, Hono } from 'hono'
import { utf8ByteLength } from '../crdt/msgpack-size.js'
import * as Orswot from '../crdt/orswot.js'
import * as ReplicatedCounter from '../crdt/replicated-counter.js'
import { isValidElement } from '../crdt/validation.js'
import { MurmurError } from '../env/errors.js'
import type { CrdtWriteOutcome, CrdtWriteRequest } from '../replication/crdt-messages.js'
import type { CrdtOperation } from '../replication/crdt-update.js'
import { checkKey } from '../replication/names.js'
import { type KeyRecord, recordTypes } from '../replication/record.js'
import type { ReadOutcome, ReadRequest } from '../replication/requests.js'
import { decodeContextToken, encodeContextToken } from '../versioning/context-token.js'
import type { ApiEnv, RouteModule } from './app.js'
import { readJsonObject } from './body.js'
import type { KvKeyspace } from './kv-routes.js'
import {
  invalid,
  keyspaceNamed,
  parameters,
  percentDecode,
  readRequestOf,
  replicaHeaders,
  requirementOf,
  splitUrl,
  timeoutOf,
} from './request-parts.js'

/** What the routes need from the node's CRDT service. */
export interface CrdtBackend {
  keyspace(name: string): KvKeyspace | undefined
  admit(): () => void
  read(request: ReadRequest): Promise<ReadOutcome>
  update(request: CrdtWriteRequest): Promise<CrdtWriteOutcome>
}

export interface CrdtRouteOptions {
  readonly backend: CrdtBackend
  readonly keyBytesMax: number
  readonly requestBodyBytesMax: number
  readonly setElementBytesMax: number
  readonly setElementsMax: number
  readonly timeoutMs: number
  readonly timeoutMsMax: number
  readonly readRepair: 'async' | 'blocking'
}

export const CRDT_HEADERS = {
  idempotencyKey: 'Idempotency-Key',
  replayed: 'Idempotent-Replayed',
  replicas: 'X-Murmur-Replicas',
  hinted: 'X-Murmur-Hinted',
  coordinator: 'X-Murmur-Coordinator',
  warning: 'X-Murmur-Warning',
} as const

type CrdtKind = 'counter' | 'set'

const PREFIXES: Readonly<Record<CrdtKind, string>> = {
  counter: '/v1/counters/',
  set: '/v1/sets/',
}
const WRITE_PARAMETERS = ['w', 'pw', 'consistency', 'timeout']
const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/

export function crdtRoutes(options: CrdtRouteOptions): RouteModule {
  return (app: Hono<ApiEnv>) => {
    app.all('/v1/counters/*', (c) => serve(c, options, 'counter'))
    app.all('/v1/sets/*', (c) => serve(c, options, 'set'))
  }
}

async function serve(
  c: Context<ApiEnv>,
  options: CrdtRouteOptions,
  kind: CrdtKind,
): Promise<Response> {
  const { path, query } = splitUrl(c.req.url)
  const rest = path.slice(PREFIXES[kind].length)
  const slash = rest.indexOf('/')
  if (slash === -1) throw invalid(`the path is ${PREFIXES[kind]}{keyspace}/{key}`)
  const keyspace = findKeyspace(options, percentDecode(rest.slice(0, slash), 'keyspace'))
  const key = percentDecode(rest.slice(slash + 1), 'key')
  checkKey(key, options.keyBytesMax, 'invalid_request')
  const method = c.req.method
  if (method === 'DELETE') {
    throw new MurmurError(
      'method_not_allowed',
      `a ${kind} cannot be deleted: replicas may still hold updates a delete has not seen` +
        (kind === 'set' ? '; remove its elements with the context of a read instead' : ''),
    )
  }
  if (method !== 'GET' && method !== 'POST') {
    throw new MurmurError('method_not_allowed', `${method} is not allowed on a ${kind}`)
  }
  const release = options.backend.admit()
  try {
    if (method === 'GET') return await read(c, options, kind, keyspace, key, query)
    return await write(c, options, kind, keyspace, key, query)
  } finally {
    release()
  }
}

function findKeyspace(options: CrdtRouteOptions, name: string): KvKeyspace {
  const keyspace = keyspaceNamed(name, (valid) => options.backend.keyspace(valid))
  if (keyspace.mode !== 'eventual') {
    throw new MurmurError(
      'unknown_keyspace',
      `keyspace ${name} is a strong keyspace; counters and sets live in eventual keyspaces`,
    )
  }
  return keyspace
}

async function read(
  c: Context<ApiEnv>,
  options: CrdtRouteOptions,
  kind: CrdtKind,
  keyspace: KvKeyspace,
  key: string,
  query: string,
): Promise<Response> {
  const outcome = await options.backend.read(readRequestOf(query, keyspace, key, options))
  replicaHeaders(c, outcome.replicas, outcome.hinted)
  return render(c, kind, outcome.record, key)
}

/** The sub-state of `kind` as JSON, 404 when the key never held it, 409 for another type. */
function render(c: Context<ApiEnv>, kind: CrdtKind, record: KeyRecord, key: string): Response {
  const types = recordTypes(record)
  const others = types.filter((type) => type !== kind)
  if (!types.includes(kind)) {
    if (others.length > 0) {
      throw new MurmurError('type_mismatch', `the key holds a ${others.join(' and a ')}`, {
        details: { storedTypes: others, requestedType: kind },
      })
    }
    throw new MurmurError('not_found', `${kind} ${JSON.stringify(key.slice(0, 256))} not found`)
  }
  // Two types can only meet after a race between first writes; both are kept and served.
  if (others.length > 0) c.header(CRDT_HEADERS.warning, `the key also holds a ${others.join(', ')}`)
  if (kind === 'counter' && record.counter !== undefined) {
    return c.json({ value: ReplicatedCounter.value(record.counter) }, 200)
  }
  const set = record.set?.set ?? Orswot.empty()
  return c.json(
    {
      elements: Orswot.value(set),
      size: Orswot.size(set),
      context: encodeContextToken(Orswot.context(set)),
    },
    200,
  )
}

async function write(
  c: Context<ApiEnv>,
  options: CrdtRouteOptions,
  kind: CrdtKind,
  keyspace: KvKeyspace,
  key: string,
  query: string,
): Promise<Response> {
  const parsed = parameters(query, WRITE_PARAMETERS)
  const requirement = requirementOf(
    parsed,
    { level: 'w', primaryLevel: 'pw' },
    keyspace.replicas,
    keyspace.write,
  )
  const timeoutMs = timeoutOf(parsed, options)
  const idempotencyKey = idempotencyKeyOf(c)
  const body = await readJsonObject(c, options.requestBodyBytesMax)
  const operation = kind === 'counter' ? counterOperation(body) : setOperation(body, options)
  const id = idempotencyKey === undefined ? undefined : updateId(idempotencyKey, operation)
  const outcome = await options.backend.update({
    keyspace,
    key,
    update: { operation, id },
    requirement,
    timeoutMs,
  })
  replicaHeaders(c, outcome.replicas, outcome.hinted)
  c.header(CRDT_HEADERS.coordinator, outcome.coordinator)
  if (outcome.replayed) c.header(CRDT_HEADERS.replayed, 'true')
  return render(c, kind, outcome.record, key)
}

function idempotencyKeyOf(c: Context<ApiEnv>): string | undefined {
  const value = c.req.header(CRDT_HEADERS.idempotencyKey)
  if (value === undefined) return undefined
  if (!IDEMPOTENCY_KEY_PATTERN.test(value)) {
    throw invalid('Idempotency-Key must be 1..255 printable ASCII characters without spaces')
  }
  return value
}

/**
 * The id of a keyed update: a digest of the idempotency key, a dot, and a digest of the
 * update's content. Every coordinator derives the same id for a retry, and the key digest
 * alone finds a reuse of the key with other content.
 */
export function updateId(idempotencyKey: string, operation: CrdtOperation): string {
  const content =
    operation.type === 'counter'
      ? ['counter', operation.amount]
      : [
          'set',
          operation.add,
          operation.remove,
          operation.context === undefined ? null : encodeContextToken(operation.context),
        ]
  return `${digest(`key\u0000${idempotencyKey}`)}.${digest(JSON.stringify(content))}`
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22)
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const name of Object.keys(body)) {
    if (!allowed.includes(name)) {
      throw invalid(`unknown field ${name.slice(0, 32)}; allowed: ${allowed.join(', ')}`)
    }
  }
}

function counterOperation(body: Record<string, unknown>): CrdtOperation {
  onlyFields(body, ['increment', 'decrement'])
  const increment = body['increment']
  const decrement = body['decrement']
  if ((increment === undefined) === (decrement === undefined)) {
    throw invalid('the body is {"increment": n} or {"decrement": n}')
  }
  const amount = increment ?? decrement
  if (typeof amount !== 'number' || !Number.isSafeInteger(amount) || amount < 1) {
    throw invalid('the amount must be a positive integer of at most 2^53 - 1', {
      limit: Number.MAX_SAFE_INTEGER,
    })
  }
  return { type: 'counter', amount: increment === undefined ? -amount : amount }
}

function setOperation(body: Record<string, unknown>, options: CrdtRouteOptions): CrdtOperation {
  onlyFields(body, ['add', 'remove', 'context'])
  const add = elementsOf(body['add'], 'add', options)
  const remove = elementsOf(body['remove'], 'remove', options)
  if (add.length + remove.length === 0) throw invalid('a set update adds or removes an element')
  if (add.length + remove.length > options.setElementsMax) {
    throw new MurmurError(
      'value_too_large',
      `one update names at most ${options.setElementsMax} elements`,
      { details: { setElementsMax: options.setElementsMax }, definite: true },
    )
  }
  const context = body['context']
  if (context !== undefined && typeof context !== 'string') {
    throw invalid('context must be the string a read of the set returned')
  }
  return {
    type: 'set',
    add,
    remove,
    context: context === undefined ? undefined : decodeContextToken(context),
  }
}

function elementsOf(value: unknown, name: string, options: CrdtRouteOptions): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value)) throw invalid(`${name} must be an array of strings`)
  return value.map((element: unknown) => {
    if (typeof element !== 'string' || !isValidElement(element)) {
      throw invalid(`${name} must hold well-formed strings`)
    }
    if (utf8ByteLength(element) > options.setElementBytesMax) {
      throw new MurmurError(
        'value_too_large',
        `a set element holds at most ${options.setElementBytesMax} bytes`,
        { details: { setElementBytesMax: options.setElementBytesMax }, definite: true },
      )
    }
    return element
  })
}
