/**
 * Client access control for the REST port. When cluster.yml lists API tokens, every request
 * but the public pages must carry `Authorization: Bearer <token>`:
 *
 *   public, no token       /health, /ready, /ui, /docs, /openapi.json (probes and static pages:
 *                          no data)
 *   read                   GET and HEAD of everything else (kv, counters, sets, cluster, stats,
 *                          raft, metrics)
 *   readwrite              writes to /v1/kv, /v1/counters and /v1/sets of the token's keyspaces;
 *                          locks (which belong to no keyspace) need a token for '*'
 *   admin                  /v1/admin (topology changes), /v1/debug (fault injection), and
 *                          everything readwrite may do
 *
 * A missing, malformed or unknown token is 401 `unauthenticated`; a known token without the
 * access or keyspace a request needs is 403 `forbidden`. Tokens are kept as SHA-256 digests
 * and compared in constant time against every configured token, so neither the answer nor its
 * timing tells which token was close. With no tokens configured every request is allowed.
 */

import { createHash, timingSafeEqual } from 'node:crypto'
import type { ApiTokenConfig, TokenAccess } from '../../config/load.js'
import { assert } from '../../env/assert.js'
import { MurmurError } from '../../env/errors.js'

/** Paths served to anyone: they reveal no data. */
const PUBLIC_PATHS: ReadonlySet<string> = new Set([
  '/health',
  '/ready',
  '/ui',
  '/docs',
  '/openapi.json',
])
const KEYSPACE_PREFIXES = ['/v1/kv/', '/v1/counters/', '/v1/sets/'] as const
const READ_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS'])
const ACCESS_RANK: Readonly<Record<TokenAccess, number>> = { read: 0, readwrite: 1, admin: 2 }
/** Longest Authorization header examined; longer ones are refused without hashing. */
const AUTHORIZATION_CHARS_MAX = 2048
const ALL_KEYSPACES = '*'

/** What a request needs: an access level, and a keyspace ('*': all of them) when it has one. */
export interface Requirement {
  readonly access: TokenAccess
  readonly keyspace: string | undefined
}

/** Paths that only an admin token may use, whatever the method. */
const ADMIN_PREFIXES = ['/v1/admin', '/v1/debug'] as const

/** The access a request needs, or undefined for a public path. */
export function requirementFor(method: string, path: string): Requirement | undefined {
  if (PUBLIC_PATHS.has(path)) return undefined
  for (const prefix of ADMIN_PREFIXES) {
    if (path === prefix || path.startsWith(`${prefix}/`)) {
      return { access: 'admin', keyspace: ALL_KEYSPACES }
    }
  }
  const writes = !READ_METHODS.has(method.toUpperCase())
  for (const prefix of KEYSPACE_PREFIXES) {
    if (!path.startsWith(prefix)) continue
    const rest = path.slice(prefix.length)
    const slash = rest.indexOf('/')
    const keyspace = safeDecode(slash === -1 ? rest : rest.slice(0, slash))
    return { access: writes ? 'readwrite' : 'read', keyspace }
  }
  if (path.startsWith('/v1/locks/')) return { access: 'readwrite', keyspace: ALL_KEYSPACES }
  return { access: writes ? 'readwrite' : 'read', keyspace: undefined }
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    // The route rejects malformed encoding; here it simply matches no keyspace but '*'.
    return segment
  }
}

export class AccessPolicy {
  private readonly tokens: readonly { readonly config: ApiTokenConfig; readonly digest: Buffer }[]

  constructor(tokens: readonly ApiTokenConfig[]) {
    this.tokens = tokens.map((config) => {
      assert(/^[0-9a-f]{64}$/.test(config.sha256), `token ${config.name} has a malformed digest`)
      return { config, digest: Buffer.from(config.sha256, 'hex') }
    })
  }

  /** Whether any token is configured, i.e. whether requests need one. */
  get enabled(): boolean {
    return this.tokens.length > 0
  }

  /**
   * Why a request with this method, path and Authorization header is refused, or undefined
   * when it may proceed.
   */
  check(method: string, path: string, authorization: string | undefined): MurmurError | undefined {
    if (!this.enabled) return undefined
    const requirement = requirementFor(method, path)
    if (requirement === undefined) return undefined
    const token = this.authenticate(authorization)
    if (token === undefined) {
      return new MurmurError(
        'unauthenticated',
        authorization === undefined
          ? 'this node requires an API token: send Authorization: Bearer <token>'
          : 'the API token is not valid',
        { definite: true },
      )
    }
    return refusal(token, requirement)
  }

  /** The token the header presents, or undefined. Every token is compared, in constant time. */
  private authenticate(authorization: string | undefined): ApiTokenConfig | undefined {
    if (authorization === undefined || authorization.length > AUTHORIZATION_CHARS_MAX)
      return undefined
    const match = /^Bearer +(\S+) *$/i.exec(authorization)
    const presented = match?.[1]
    if (presented === undefined) return undefined
    const digest = createHash('sha256').update(presented, 'utf8').digest()
    let found: ApiTokenConfig | undefined
    for (const token of this.tokens) {
      if (timingSafeEqual(digest, token.digest) && found === undefined) found = token.config
    }
    return found
  }
}

function refusal(token: ApiTokenConfig, requirement: Requirement): MurmurError | undefined {
  if (ACCESS_RANK[token.access] < ACCESS_RANK[requirement.access]) {
    return new MurmurError(
      'forbidden',
      `token '${token.name}' has ${token.access} access; this request needs ${requirement.access}`,
      { definite: true },
    )
  }
  const keyspace = requirement.keyspace
  if (keyspace === undefined || token.keyspaces.includes(ALL_KEYSPACES)) return undefined
  if (keyspace !== ALL_KEYSPACES && token.keyspaces.includes(keyspace)) return undefined
  const what = keyspace === ALL_KEYSPACES ? 'every keyspace' : `keyspace '${keyspace}'`
  return new MurmurError('forbidden', `token '${token.name}' may not use ${what}`, {
    definite: true,
  })
}
