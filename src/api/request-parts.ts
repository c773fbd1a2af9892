/**
 * The parts of a request that the data routes (plain values, counters, sets) read the same
 * way: the raw path and query, percent-decoding that refuses malformed input, query parameters
 * that refuse unknown and repeated names, the per-request timeout and consistency levels, and
 * the headers that name the replicas that answered. One implementation, so every data route
 * validates alike.
 */

import type { Context } from 'hono'
import { MurmurError } from '../env/errors.js'
import {
  type ConsistencyLevel,
  type LevelParameters,
  type Requirement,
  resolveRequirement,
} from '../replication/consistency.js'
import { KEYSPACE_PATTERN } from '../replication/names.js'
import type { ReplicaTarget } from '../replication/plan.js'
import type { KeyspaceRef, ReadRequest } from '../replication/requests.js'
import type { ApiEnv } from './app.js'

export const REPLICA_HEADERS = {
  replicas: 'X-Murmur-Replicas',
  hinted: 'X-Murmur-Hinted',
} as const

export function invalid(message: string, details: Record<string, unknown> = {}): MurmurError {
  return new MurmurError('invalid_request', message, { details, definite: true })
}

/** The raw (still percent-encoded) path and query of a request URL. */
export function splitUrl(url: string): { path: string; query: string } {
  const start = url.indexOf('/', url.indexOf('://') + 3)
  const queryAt = url.indexOf('?', start)
  const end = queryAt === -1 ? url.length : queryAt
  const hashAt = url.indexOf('#', start)
  return {
    path: url.slice(start, hashAt !== -1 && hashAt < end ? hashAt : end),
    query: queryAt === -1 ? '' : url.slice(queryAt + 1),
  }
}

export function percentDecode(text: string, what: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw invalid(`the ${what} has malformed percent-encoding or is not UTF-8`)
  }
}

/**
 * The query parameters, refusing unknown and repeated ones and malformed encoding (which
 * URLSearchParams would silently turn into replacement characters).
 */
export function parameters(query: string, allowed: readonly string[]): Map<string, string> {
  const parsed = new Map<string, string>()
  for (const pair of query.split('&')) {
    if (pair === '') continue
    const equals = pair.indexOf('=')
    const rawName = equals === -1 ? pair : pair.slice(0, equals)
    const rawValue = equals === -1 ? '' : pair.slice(equals + 1)
    const name = percentDecode(rawName.replaceAll('+', ' '), 'query')
    const value = percentDecode(rawValue.replaceAll('+', ' '), 'query')
    if (!allowed.includes(name)) {
      throw invalid(`unknown query parameter ${name.slice(0, 32)}; allowed: ${allowed.join(', ')}`)
    }
    if (parsed.has(name)) throw invalid(`query parameter ${name} is repeated`)
    parsed.set(name, value)
  }
  return parsed
}

/** The `timeout` parameter in milliseconds, or the configured default. */
export function timeoutOf(
  parsed: Map<string, string>,
  options: { readonly timeoutMs: number; readonly timeoutMsMax: number },
): number {
  const raw = parsed.get('timeout')
  if (raw === undefined) return options.timeoutMs
  const value = /^[0-9]{1,9}$/.test(raw) ? Number(raw) : Number.NaN
  if (!(value >= 1 && value <= options.timeoutMsMax)) {
    throw invalid(`timeout must be a number of milliseconds in 1..${options.timeoutMsMax}`)
  }
  return value
}

/** The request's level (`r`/`w`), primary level (`pr`/`pw`) and `consistency` shorthand. */
export function requirementOf(
  parsed: Map<string, string>,
  names: { readonly level: string; readonly primaryLevel: string },
  replicas: number,
  fallback: ConsistencyLevel,
): Requirement {
  const given: LevelParameters = {
    level: parsed.get(names.level),
    primaryLevel: parsed.get(names.primaryLevel),
    shorthand: parsed.get('consistency'),
  }
  return resolveRequirement(given, names, replicas, fallback)
}

const READ_PARAMETERS = ['r', 'pr', 'consistency', 'timeout', 'repair']

/**
 * A read of `key` from its query (`r`, `pr`, `consistency`, `timeout`, `repair`), the same for
 * plain values, counters and sets.
 */
export function readRequestOf(
  query: string,
  keyspace: KeyspaceRef & { readonly replicas: number; readonly read: ConsistencyLevel },
  key: string,
  options: {
    readonly readRepair: 'async' | 'blocking'
    readonly timeoutMs: number
    readonly timeoutMsMax: number
  },
): ReadRequest {
  const parsed = parameters(query, READ_PARAMETERS)
  const repair = parsed.get('repair') ?? options.readRepair
  if (repair !== 'async' && repair !== 'blocking') throw invalid('repair must be async or blocking')
  return {
    keyspace,
    key,
    requirement: requirementOf(
      parsed,
      { level: 'r', primaryLevel: 'pr' },
      keyspace.replicas,
      keyspace.read,
    ),
    timeoutMs: timeoutOf(parsed, options),
    repair,
  }
}

/** Names the replicas that answered, and the fallbacks that stood in (`node>primary`). */
export function replicaHeaders(
  c: Context<ApiEnv>,
  replicas: readonly string[],
  hinted: readonly ReplicaTarget[],
): void {
  c.header(REPLICA_HEADERS.replicas, replicas.join(','))
  if (hinted.length > 0) {
    c.header(
      REPLICA_HEADERS.hinted,
      hinted.map((target) => `${target.node}>${target.hintFor}`).join(','),
    )
  }
}

/** The keyspace a path names, or 404 `unknown_keyspace` (a malformed name is never looked up). */
export function keyspaceNamed<K>(name: string, lookup: (name: string) => K | undefined): K {
  const keyspace = KEYSPACE_PATTERN.test(name) ? lookup(name) : undefined
  if (keyspace === undefined) {
    throw new MurmurError(
      'unknown_keyspace',
      `no keyspace named ${JSON.stringify(name.slice(0, 64))}`,
    )
  }
  return keyspace
}
