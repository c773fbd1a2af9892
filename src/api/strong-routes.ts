/**
 * The strong-mode routes (docs/API.md, "Strong keyspaces" and "Locks"):
 *
 * - `GET|PUT|DELETE /v1/kv/{keyspace}/{key}` and `GET /v1/kv/{keyspace}` for keyspaces with
 *   `mode: strong`. This module is registered before the eventual kv routes and hands every
 *   other keyspace on (`next()`), so each module serves exactly its own keyspaces.
 * - `POST|PUT|DELETE /v1/locks/{name}`: acquire, renew and release locks with fencing tokens.
 * - `GET /v1/raft`: this node's view of the Raft group.
 *
 * Versions travel as strong ETags (RFC 7232): the quoted log index of the key's last write,
 * e.g. `"42"`. `If-Match: "42"` makes a write compare-and-set, `If-Match: *` requires the key to
 * exist, `If-None-Match: *` makes it create-only; a failed condition is 412 with the current
 * version in the body. `X-Murmur-Request-Id` makes a retried write apply once.
 * `X-Murmur-Fencing-Token: <lock>:<token>` fences a write with a lock's token: 409 stale_token
 * unless it is the lock's newest token and the lock is held. Every input is validated here;
 * bad input is a 400 that names the problem.
 */

import type { Context, Hono, Next } from 'hono'
import { MurmurError } from '../env/errors.js'
import {
  type Command,
  type CommandResult,
  type Condition,
  type Fence,
  LOCK_NAME_PATTERN,
  LOCK_TTL_MS_MAX,
  type LockSuccess,
  type Refusal,
} from '../raft/machine/commands.js'
import { checkKey, KEYSPACE_PATTERN } from '../replication/names.js'
import type { ReadAnswer } from '../runtime/strong/messages.js'
import type { ListAnswer } from '../runtime/strong/service.js'
import type { ApiEnv, RouteModule } from './app.js'
import { readJsonObject, readValue, responseBytes } from './body.js'
import { renderError } from './errors.js'

/** What the routes need from the node's strong service. */
export interface StrongBackend {
  keyspace(name: string): { readonly name: string } | undefined
  admit(): () => void
  command(
    command: Command,
    requestId: string | undefined,
    timeoutMs: number,
  ): Promise<CommandResult>
  read(keyspace: string, key: string, linearizable: boolean, timeoutMs: number): Promise<ReadAnswer>
  list(request: {
    readonly keyspace: string
    readonly prefix: string
    readonly after: string
    readonly limit: number
    readonly linearizable: boolean
    readonly timeoutMs: number
  }): Promise<ListAnswer>
  view(): Record<string, unknown>
}

export interface StrongRouteOptions {
  readonly backend: StrongBackend
  readonly keyBytesMax: number
  readonly valueBytesMax: number
  readonly listPageMax: number
  readonly timeoutMs: number
  readonly timeoutMsMax: number
}

export const STRONG_HEADERS = {
  requestId: 'X-Murmur-Request-Id',
  fencingToken: 'X-Murmur-Fencing-Token',
} as const

const KV_PREFIX = '/v1/kv/'
/** A lock request's JSON body holds two small fields; anything near this is not one. */
const LOCK_BODY_BYTES_MAX = 4096
const DEFAULT_CONTENT_TYPE = 'application/octet-stream'
/** Printable ASCII; a leading `~` is reserved for the ids nodes give forwarded writes. */
const REQUEST_ID_PATTERN = /^[\x21-\x7d][\x21-\x7e]{0,127}$/
const CONTENT_TYPE_PATTERN = /^[\x20-\x7e]{1,256}$/
const ETAG_PATTERN = /^"([1-9][0-9]{0,15})"$/
const TOKEN_PATTERN = /^[1-9][0-9]{0,15}$/

function invalid(message: string): MurmurError {
  return new MurmurError('invalid_request', message, { definite: true })
}

export function strongRoutes(options: StrongRouteOptions): RouteModule {
  return (app: Hono<ApiEnv>) => {
    app.all('/v1/kv/*', (c, next) => serveKv(c, next, options))
    app.post('/v1/locks/:name', (c) => serveLock(c, options, 'acquire'))
    app.put('/v1/locks/:name', (c) => serveLock(c, options, 'renew'))
    app.delete('/v1/locks/:name', (c) => serveLock(c, options, 'release'))
    app.get('/v1/raft', (c) => c.json(options.backend.view(), 200))
  }
}

// ---------------------------------------------------------------------------------------
// Request parsing.

/** The raw (still percent-encoded) path and query of a request URL. */
function splitUrl(url: string): { path: string; query: string } {
  const start = url.indexOf('/', url.indexOf('://') + 3)
  const queryAt = url.indexOf('?', start)
  return {
    path: url.slice(start, queryAt === -1 ? url.length : queryAt),
    query: queryAt === -1 ? '' : url.slice(queryAt + 1),
  }
}

function percentDecode(text: string, what: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw invalid(`the ${what} has malformed percent-encoding or is not UTF-8`)
  }
}

/** Query parameters, refusing unknown and repeated ones. */
function parameters(query: string, allowed: readonly string[]): Map<string, string> {
  const parsed = new Map<string, string>()
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const equals = pair.indexOf('=')
    const name = percentDecode(
      (equals === -1 ? pair : pair.slice(0, equals)).replaceAll('+', ' '),
      'query',
    )
    const value = percentDecode(
      (equals === -1 ? '' : pair.slice(equals + 1)).replaceAll('+', ' '),
      'query',
    )
    if (!allowed.includes(name)) {
      throw invalid(`unknown query parameter ${name.slice(0, 32)}; allowed: ${allowed.join(', ')}`)
    }
    if (parsed.has(name)) throw invalid(`query parameter ${name} is repeated`)
    parsed.set(name, value)
  }
  return parsed
}

function timeoutOf(parsed: Map<string, string>, options: StrongRouteOptions): number {
  const raw = parsed.get('timeout')
  if (raw === undefined) return options.timeoutMs
  const value = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : Number.NaN
  if (!(value >= 1 && value <= options.timeoutMsMax)) {
    throw invalid(`timeout must be a number of milliseconds in 1..${options.timeoutMsMax}`)
  }
  return value
}

/** `consistency=linearizable` (default) or `serializable`. */
function linearizableOf(parsed: Map<string, string>): boolean {
  const consistency = parsed.get('consistency') ?? 'linearizable'
  if (consistency !== 'linearizable' && consistency !== 'serializable') {
    throw new MurmurError(
      'invalid_consistency',
      'consistency must be linearizable or serializable on a strong keyspace',
      { details: { parameter: 'consistency' } },
    )
  }
  return consistency === 'linearizable'
}

function requestIdOf(c: Context<ApiEnv>): string | undefined {
  const requestId = c.req.header(STRONG_HEADERS.requestId)
  if (requestId === undefined) return undefined
  if (!REQUEST_ID_PATTERN.test(requestId)) {
    throw invalid(
      `${STRONG_HEADERS.requestId} must be 1-128 printable ASCII characters, not starting with ~`,
    )
  }
  return requestId
}

/** `If-Match: "v"` or `*`, or `If-None-Match: *`; lists and weak tags are refused. */
export function conditionOf(
  ifMatch: string | undefined,
  ifNoneMatch: string | undefined,
): Condition | undefined {
  if (ifMatch !== undefined && ifNoneMatch !== undefined) {
    throw invalid('send If-Match or If-None-Match, not both')
  }
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw invalid('If-None-Match supports only * (create-only)')
    return { kind: 'absent' }
  }
  if (ifMatch === undefined) return undefined
  const tag = ifMatch.trim()
  if (tag === '*') return { kind: 'exists' }
  const match = ETAG_PATTERN.exec(tag)
  const version = match === null ? Number.NaN : Number(match[1])
  if (!Number.isSafeInteger(version)) {
    throw invalid('If-Match must be * or one strong ETag such as "42" (quotes included)')
  }
  return { kind: 'version', version }
}

/** `X-Murmur-Fencing-Token: <lock>:<token>`. */
export function fenceOf(header: string | undefined): Fence | undefined {
  if (header === undefined) return undefined
  const colon = header.lastIndexOf(':')
  const lock = header.slice(0, colon).trim()
  const token = header.slice(colon + 1).trim()
  if (colon === -1 || !LOCK_NAME_PATTERN.test(lock) || !TOKEN_PATTERN.test(token)) {
    throw invalid(`${STRONG_HEADERS.fencingToken} must be <lock name>:<token>, e.g. jobs:42`)
  }
  const value = Number(token)
  if (!Number.isSafeInteger(value)) throw invalid('the fencing token is too large')
  return { lock, token: value }
}

function etag(version: number): string {
  return `"${version}"`
}

// ---------------------------------------------------------------------------------------
// Keys.

async function serveKv(
  c: Context<ApiEnv>,
  next: Next,
  options: StrongRouteOptions,
): Promise<Response | undefined> {
  const { path, query } = splitUrl(c.req.url)
  const rest = path.slice(KV_PREFIX.length)
  const slash = rest.indexOf('/')
  const name = percentDecode(slash === -1 ? rest : rest.slice(0, slash), 'keyspace')
  const keyspace = KEYSPACE_PATTERN.test(name) ? options.backend.keyspace(name) : undefined
  if (keyspace === undefined) {
    await next()
    return undefined
  }
  const key = slash === -1 ? undefined : percentDecode(rest.slice(slash + 1), 'key')
  const method = c.req.method
  if (key === undefined ? method !== 'GET' : !['GET', 'PUT', 'DELETE'].includes(method)) {
    throw new MurmurError('method_not_allowed', `${method} is not allowed here`)
  }
  if (key !== undefined) checkKey(key, options.keyBytesMax, 'invalid_request')
  const release = options.backend.admit()
  try {
    if (key === undefined) return await list(c, options, keyspace.name, query)
    if (method === 'GET') return await read(c, options, keyspace.name, key, query)
    return await write(c, options, keyspace.name, key, query, method === 'PUT')
  } finally {
    release()
  }
}

async function read(
  c: Context<ApiEnv>,
  options: StrongRouteOptions,
  keyspace: string,
  key: string,
  query: string,
): Promise<Response> {
  const parsed = parameters(query, ['consistency', 'timeout'])
  const linearizable = linearizableOf(parsed)
  const answer = await options.backend.read(keyspace, key, linearizable, timeoutOf(parsed, options))
  if (!answer.found || answer.value === undefined || answer.version === undefined) {
    const error = new MurmurError('not_found', `key ${JSON.stringify(key.slice(0, 256))} not found`)
    return c.json(renderError(error).body, 404)
  }
  c.header('ETag', etag(answer.version))
  c.header('Content-Type', answer.contentType ?? DEFAULT_CONTENT_TYPE)
  return c.body(responseBytes(answer.value), 200)
}

async function write(
  c: Context<ApiEnv>,
  options: StrongRouteOptions,
  keyspace: string,
  key: string,
  query: string,
  isPut: boolean,
): Promise<Response> {
  const parsed = parameters(query, ['timeout'])
  const timeoutMs = timeoutOf(parsed, options)
  const condition = conditionOf(c.req.header('If-Match'), c.req.header('If-None-Match'))
  const fence = fenceOf(c.req.header(STRONG_HEADERS.fencingToken))
  const requestId = requestIdOf(c)
  const guards = {
    ...(condition === undefined ? {} : { condition }),
    ...(fence === undefined ? {} : { fence }),
  }
  const command: Command = isPut
    ? {
        type: 'kv.put',
        keyspace,
        key,
        value: await readValue(c, options.valueBytesMax),
        contentType: contentTypeOf(c),
        ...guards,
      }
    : { type: 'kv.delete', keyspace, key, ...guards }
  const result = await options.backend.command(command, requestId, timeoutMs)
  if (!result.ok) throw refusalError(result, fence?.lock)
  if ('version' in result && result.version !== null) c.header('ETag', etag(result.version))
  return c.body(null, 204)
}

async function list(
  c: Context<ApiEnv>,
  options: StrongRouteOptions,
  keyspace: string,
  query: string,
): Promise<Response> {
  const parsed = parameters(query, ['prefix', 'limit', 'cursor', 'consistency', 'timeout'])
  const prefix = parsed.get('prefix') ?? ''
  if (prefix !== '') checkKey(prefix, options.keyBytesMax, 'invalid_request')
  const rawLimit = parsed.get('limit')
  const limit = rawLimit === undefined ? Math.min(100, options.listPageMax) : Number(rawLimit)
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > options.listPageMax) {
    throw invalid(`limit must be an integer in 1..${options.listPageMax}`)
  }
  const cursor = parsed.get('cursor') ?? ''
  const after = cursor === '' ? '' : decodeCursor(cursor)
  const answer = await options.backend.list({
    keyspace,
    prefix,
    after,
    limit,
    linearizable: linearizableOf(parsed),
    timeoutMs: timeoutOf(parsed, options),
  })
  const last = answer.keys[answer.keys.length - 1]
  const next = answer.keys.length === limit && last !== undefined ? encodeCursor(last) : null
  return c.json({ keys: answer.keys, cursor: next }, 200)
}

/** A listing cursor: the last key returned, base64url-encoded. */
function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string): string {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) throw invalid('malformed cursor')
  return Buffer.from(cursor, 'base64url').toString('utf8')
}

function contentTypeOf(c: Context<ApiEnv>): string {
  const contentType = c.req.header('content-type') ?? DEFAULT_CONTENT_TYPE
  if (!CONTENT_TYPE_PATTERN.test(contentType)) {
    throw invalid('Content-Type must be printable ASCII of at most 256 characters')
  }
  return contentType
}

// ---------------------------------------------------------------------------------------
// Locks.

async function serveLock(
  c: Context<ApiEnv>,
  options: StrongRouteOptions,
  operation: 'acquire' | 'renew' | 'release',
): Promise<Response> {
  const name = c.req.param('name') ?? ''
  if (!LOCK_NAME_PATTERN.test(name)) {
    throw invalid('a lock name is 1-128 characters of A-Z, a-z, 0-9, _, . and -')
  }
  const parsed = parameters(splitUrl(c.req.url).query, ['timeout', 'token'])
  const timeoutMs = timeoutOf(parsed, options)
  const body = await lockBody(c)
  const command = lockCommand(name, operation, body, parsed.get('token'))
  const release = options.backend.admit()
  try {
    const result = await options.backend.command(command, requestIdOf(c), timeoutMs)
    if (!result.ok) throw refusalError(result, name)
    if (operation === 'release') return c.body(null, 204)
    const granted = result as LockSuccess
    return c.json({ lock: name, token: granted.token, expiresAtMs: granted.expiresAtMs }, 200)
  } finally {
    release()
  }
}

/** The JSON body of a lock request; an empty body is an empty object. */
async function lockBody(c: Context<ApiEnv>): Promise<Record<string, unknown>> {
  const body = await readJsonObject(c, LOCK_BODY_BYTES_MAX)
  for (const field of Object.keys(body)) {
    if (field !== 'ttlMs' && field !== 'token') throw invalid(`unknown field ${field.slice(0, 32)}`)
  }
  return body
}

function positiveField(value: unknown, name: string, maximum: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > maximum) {
    throw invalid(`${name} must be an integer in 1..${maximum}`)
  }
  return value
}

function lockCommand(
  name: string,
  operation: 'acquire' | 'renew' | 'release',
  body: Record<string, unknown>,
  tokenParameter: string | undefined,
): Command {
  if (operation === 'acquire') {
    if (body['token'] !== undefined || tokenParameter !== undefined) {
      throw invalid('acquire takes no token')
    }
    return {
      type: 'lock.acquire',
      name,
      ttlMs: positiveField(body['ttlMs'], 'ttlMs', LOCK_TTL_MS_MAX),
    }
  }
  const rawToken =
    body['token'] ??
    (tokenParameter !== undefined && TOKEN_PATTERN.test(tokenParameter)
      ? Number(tokenParameter)
      : tokenParameter)
  const token = positiveField(rawToken, 'token', Number.MAX_SAFE_INTEGER)
  if (operation === 'release') {
    if (body['ttlMs'] !== undefined) throw invalid('release takes no ttlMs')
    return { type: 'lock.release', name, token }
  }
  return {
    type: 'lock.renew',
    name,
    token,
    ttlMs: positiveField(body['ttlMs'], 'ttlMs', LOCK_TTL_MS_MAX),
  }
}

// ---------------------------------------------------------------------------------------
// Refusals.

/** The API error for a refusal of the state machine; every one is definite. */
export function refusalError(result: Refusal, lock: string | undefined): MurmurError {
  switch (result.code) {
    case 'precondition_failed':
      return new MurmurError(
        'precondition_failed',
        'the condition on the current version does not hold',
        {
          definite: true,
          details: {
            currentVersion: result.currentVersion === null ? null : etag(result.currentVersion),
          },
        },
      )
    case 'stale_token':
      return new MurmurError(
        'stale_token',
        `the token is not the current one of lock ${lock ?? ''}: ${result.reason}`,
        {
          definite: true,
          details: { lock: lock ?? null, reason: result.reason },
        },
      )
    case 'lock_held':
      return new MurmurError(
        'precondition_failed',
        `lock ${lock ?? ''} is held by another client`,
        {
          definite: true,
          details: { lock: lock ?? null, expiresAtMs: result.expiresAtMs },
        },
      )
    case 'state_full':
      return new MurmurError('overloaded', 'the strong keyspaces are full (raft.stateBytesMax)', {
        definite: true,
      })
    case 'invalid_command':
      return new MurmurError('invalid_request', 'the command could not be applied', {
        definite: true,
      })
  }
}
