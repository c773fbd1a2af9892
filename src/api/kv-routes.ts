/**
 * The plain key-value routes (docs/API.md): `GET/PUT/DELETE /v1/kv/{keyspace}/{key}` and the
 * listing `GET /v1/kv/{keyspace}`. This module validates every part of a request (path, query,
 * headers, body) into a typed request for the node's replication service and renders outcomes
 * and errors; it decides nothing about replication itself.
 *
 * The key is everything after `/v1/kv/{keyspace}/`, percent-decoded here (slashes may appear
 * raw or as %2F); malformed encoding or invalid UTF-8 is 400. Unknown query parameters are 400,
 * so a typo never silently falls back to a default. Every request is admitted against the
 * node's in-flight limit first, so overload answers 503 instead of queueing without bound.
 * Strong keyspaces are served by another module through `strong`; without it they answer 404.
 */

import { Buffer } from 'node:buffer'
import type { Context, Hono } from 'hono'
import { MurmurError } from '../env/errors.js'
import type { ConsistencyLevel } from '../replication/consistency.js'
import { refuseOtherTypes } from '../replication/crdt-update.js'
import { decodeListCursor, encodeListCursor } from '../replication/listing.js'
import { checkKey } from '../replication/names.js'
import {
  DEFAULT_CONTENT_TYPE,
  isDeleted,
  isValidContentType,
  type KeyRecord,
  kvAbsent,
  kvState,
} from '../replication/record.js'
import type {
  ListOutcome,
  ListRequest,
  ReadOutcome,
  ReadRequest,
  WriteOutcome,
  WriteRequest,
} from '../replication/requests.js'
import { decodeCausalContextToken, encodeCausalContextToken } from '../versioning/context-token.js'
import { context as causalContext } from '../versioning/dvv.js'
import type { ApiEnv, RouteModule } from './app.js'
import { readValue, responseBytes } from './body.js'
import { renderError } from './errors.js'
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

export interface KvKeyspace {
  readonly name: string
  readonly mode: 'eventual' | 'strong'
  readonly replicas: number
  readonly read: ConsistencyLevel
  readonly write: ConsistencyLevel
  readonly durability: 'sync' | 'async'
}

/** What the routes need from the node's replication service. */
export interface KvBackend {
  keyspace(name: string): KvKeyspace | undefined
  /** Admits one request against the in-flight limit; returns its release, or throws overloaded. */
  admit(): () => void
  read(request: ReadRequest): Promise<ReadOutcome>
  write(request: WriteRequest): Promise<WriteOutcome>
  list(request: ListRequest): Promise<ListOutcome>
}

/** Serves a request for a strong keyspace; `key` is undefined for a listing. */
export type StrongKvHandler = (
  c: Context<ApiEnv>,
  keyspace: KvKeyspace,
  key: string | undefined,
) => Promise<Response>

export interface KvRouteOptions {
  readonly backend: KvBackend
  readonly keyBytesMax: number
  readonly valueBytesMax: number
  readonly siblingsWarn: number
  readonly listPageMax: number
  readonly timeoutMs: number
  readonly timeoutMsMax: number
  readonly readRepair: 'async' | 'blocking'
  readonly strong?: StrongKvHandler
}

export const HEADERS = {
  context: 'X-Murmur-Context',
  replicas: 'X-Murmur-Replicas',
  hinted: 'X-Murmur-Hinted',
  coordinator: 'X-Murmur-Coordinator',
  warning: 'X-Murmur-Warning',
} as const

const PREFIX = '/v1/kv/'
const WRITE_PARAMETERS = ['w', 'pw', 'consistency', 'timeout']
const LIST_PARAMETERS = ['prefix', 'limit', 'cursor', 'timeout']

export function kvRoutes(options: KvRouteOptions): RouteModule {
  return (app: Hono<ApiEnv>) => {
    app.all('/v1/kv/*', (c) => serve(c, options))
  }
}

async function serve(c: Context<ApiEnv>, options: KvRouteOptions): Promise<Response> {
  const { path, query } = splitUrl(c.req.url)
  const rest = path.slice(PREFIX.length)
  const slash = rest.indexOf('/')
  const keyspaceName = percentDecode(slash === -1 ? rest : rest.slice(0, slash), 'keyspace')
  const keyspace = findKeyspace(options, keyspaceName)
  const key = slash === -1 ? undefined : percentDecode(rest.slice(slash + 1), 'key')
  if (keyspace.mode === 'strong') return strong(c, options, keyspace, key)
  const method = c.req.method
  if (key === undefined && method !== 'GET') {
    throw new MurmurError('method_not_allowed', `${method} is not allowed on a keyspace`)
  }
  if (key !== undefined && method !== 'GET' && method !== 'PUT' && method !== 'DELETE') {
    throw new MurmurError('method_not_allowed', `${method} is not allowed on a key`)
  }
  if (key !== undefined) checkKey(key, options.keyBytesMax, 'invalid_request')
  const release = options.backend.admit()
  try {
    if (key === undefined) return await list(c, options, keyspace, query)
    if (method === 'GET') return await read(c, options, keyspace, key, query)
    return await write(c, options, keyspace, key, query, method === 'PUT' ? 'put' : 'delete')
  } finally {
    release()
  }
}

function findKeyspace(options: KvRouteOptions, name: string): KvKeyspace {
  const keyspace = keyspaceNamed(name, (valid) => options.backend.keyspace(valid))
  return keyspace
}

function strong(
  c: Context<ApiEnv>,
  options: KvRouteOptions,
  keyspace: KvKeyspace,
  key: string | undefined,
): Promise<Response> {
  if (options.strong !== undefined) return options.strong(c, keyspace, key)
  throw new MurmurError(
    'unknown_keyspace',
    `keyspace ${keyspace.name} is a strong keyspace, and strong mode is not enabled on this node`,
  )
}

async function read(
  c: Context<ApiEnv>,
  options: KvRouteOptions,
  keyspace: KvKeyspace,
  key: string,
  query: string,
): Promise<Response> {
  const outcome = await options.backend.read(readRequestOf(query, keyspace, key, options))
  replicaHeaders(c, outcome.replicas, outcome.hinted)
  return renderRecord(c, options, outcome.record, key)
}

/** A record as a read answers it: 200 value, 300 siblings, or 404. */
function renderRecord(
  c: Context<ApiEnv>,
  options: KvRouteOptions,
  record: KeyRecord,
  key: string,
): Response {
  const kv = kvState(record)
  const context = encodeCausalContextToken(causalContext(kv))
  if (context !== '') c.header(HEADERS.context, context)
  if (kv.siblings.length >= options.siblingsWarn) {
    c.header(
      HEADERS.warning,
      `${kv.siblings.length} siblings; resolve them by writing with this context`,
    )
  }
  if (kvAbsent(record)) {
    // A key that holds a counter or a set is not "not found" for a plain read: it is the
    // wrong type (409), as a plain write to it would be.
    refuseOtherTypes(record, 'kv')
    const error = new MurmurError(
      'not_found',
      `key ${JSON.stringify(key.slice(0, 256))} not found`,
      {
        details: { deleted: kv.siblings.length > 0 },
      },
    )
    return c.json(renderError(error).body, 404)
  }
  const only = kv.siblings[0]
  if (kv.siblings.length === 1 && only !== undefined && only.payload.kind === 'value') {
    c.header('Content-Type', only.payload.contentType)
    return c.body(responseBytes(only.payload.value), 200)
  }
  const siblings = kv.siblings.map((sibling) =>
    isDeleted(sibling.payload) || sibling.payload.kind !== 'value'
      ? { value: null, contentType: null, deleted: true }
      : {
          value: Buffer.from(sibling.payload.value).toString('base64'),
          contentType: sibling.payload.contentType,
          deleted: false,
        },
  )
  return c.json({ context, siblings }, 300)
}

async function write(
  c: Context<ApiEnv>,
  options: KvRouteOptions,
  keyspace: KvKeyspace,
  key: string,
  query: string,
  operation: 'put' | 'delete',
): Promise<Response> {
  const parsed = parameters(
    query,
    operation === 'put' ? [...WRITE_PARAMETERS, 'returnbody'] : WRITE_PARAMETERS,
  )
  const returnBody = parsed.get('returnbody') ?? 'false'
  if (returnBody !== 'true' && returnBody !== 'false')
    throw invalid('returnbody must be true or false')
  const value = operation === 'put' ? await readValue(c, options.valueBytesMax) : undefined
  const request: WriteRequest = {
    keyspace,
    key,
    operation,
    value,
    contentType: operation === 'put' ? contentTypeOf(c) : undefined,
    context: decodeCausalContextToken(c.req.header(HEADERS.context)),
    requirement: requirementOf(
      parsed,
      { level: 'w', primaryLevel: 'pw' },
      keyspace.replicas,
      keyspace.write,
    ),
    timeoutMs: timeoutOf(parsed, options),
    returnBody: returnBody === 'true',
  }
  const outcome = await options.backend.write(request)
  replicaHeaders(c, outcome.replicas, outcome.hinted)
  c.header(HEADERS.coordinator, outcome.coordinator)
  if (outcome.siblings >= options.siblingsWarn) {
    c.header(
      HEADERS.warning,
      `${outcome.siblings} siblings; resolve them by writing with a context`,
    )
  }
  // The body shows every sibling the coordinator holds, so its clock is the context to send.
  if (outcome.record !== undefined) return renderRecord(c, options, outcome.record, key)
  if (outcome.context !== '') c.header(HEADERS.context, outcome.context)
  return c.body(null, 204)
}

function contentTypeOf(c: Context<ApiEnv>): string {
  const contentType = c.req.header('content-type') ?? DEFAULT_CONTENT_TYPE
  if (!isValidContentType(contentType)) {
    throw invalid('Content-Type must be printable ASCII of at most 256 characters')
  }
  return contentType
}

async function list(
  c: Context<ApiEnv>,
  options: KvRouteOptions,
  keyspace: KvKeyspace,
  query: string,
): Promise<Response> {
  const parsed = parameters(query, LIST_PARAMETERS)
  const prefix = parsed.get('prefix') ?? ''
  if (prefix !== '') checkKey(prefix, options.keyBytesMax, 'invalid_request')
  const rawLimit = parsed.get('limit')
  const limit = rawLimit === undefined ? Math.min(100, options.listPageMax) : Number(rawLimit)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > options.listPageMax) {
    throw invalid(`limit must be an integer in 1..${options.listPageMax}`)
  }
  const cursor = parsed.get('cursor')
  const after =
    cursor === undefined || cursor === ''
      ? ''
      : decodeListCursor(cursor, keyspace.name, prefix, options.keyBytesMax)
  const outcome = await options.backend.list({
    keyspace,
    prefix,
    after,
    limit,
    timeoutMs: timeoutOf(parsed, options),
  })
  const next =
    outcome.frontier === undefined
      ? null
      : encodeListCursor(keyspace.name, prefix, outcome.frontier)
  return c.json({ keys: outcome.keys, cursor: next }, 200)
}
