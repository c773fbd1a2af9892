/**
 * Goal: API tokens in cluster.yml become a policy that lets each request through only with the
 * access and keyspace it needs (401 without a valid token, 403 beyond its rights), keeps no
 * token in the config, and reports bad token entries by position.
 * Method: parse inline cluster files, then ask the policy about method/path/header triples,
 * including a guarded hono app answering real Requests.
 */

import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { type ApiEnv, guardedApp } from '../../../src/api/app.js'
import { parseConfig, tlsFilesFor, tokenSha256 } from '../../../src/config/load.js'
import { MurmurError } from '../../../src/env/errors.js'
import { silentLogger } from '../../../src/env/log.js'
import { AccessPolicy, requirementFor } from '../../../src/runtime/security/access.js'

const READER = 'reader-token-0123456789'
const WRITER = 'writer-token-0123456789'
const ADMIN = 'admin-token-0123456789ab'

const FILE = `
nodes: [{ id: n1 }]
keyspaces: { default: { replicas: 1 }, carts: { replicas: 1 } }
auth:
  tokens:
    - { name: reader, token: ${READER}, access: read }
    - { name: carts-writer, tokenSha256: ${tokenSha256(WRITER)}, access: readwrite, keyspaces: [carts] }
    - { name: ops, access: admin }
`

function policy(): AccessPolicy {
  const config = parseConfig(FILE, { env: { MURMUR_TOKEN_OPS: ADMIN } })
  expect(JSON.stringify(config)).not.toContain(READER)
  expect(JSON.stringify(config)).not.toContain(ADMIN)
  return new AccessPolicy(config.auth.tokens)
}

function codeOf(error: MurmurError | undefined): string {
  return error?.code ?? 'allowed'
}

describe('requirements', () => {
  it('classifies paths and methods', () => {
    expect(requirementFor('GET', '/health')).toBeUndefined()
    expect(requirementFor('GET', '/ui')).toBeUndefined()
    expect(requirementFor('GET', '/ready')).toBeUndefined()
    expect(requirementFor('GET', '/v1/kv/carts/a/b')).toEqual({ access: 'read', keyspace: 'carts' })
    expect(requirementFor('PUT', '/v1/kv/carts/a')).toEqual({
      access: 'readwrite',
      keyspace: 'carts',
    })
    expect(requirementFor('POST', '/v1/counters/c%61rts/hits')).toEqual({
      access: 'readwrite',
      keyspace: 'carts',
    })
    expect(requirementFor('GET', '/v1/kv/carts')).toEqual({ access: 'read', keyspace: 'carts' })
    expect(requirementFor('POST', '/v1/locks/job')).toEqual({ access: 'readwrite', keyspace: '*' })
    expect(requirementFor('GET', '/v1/debug/faults')).toEqual({ access: 'admin', keyspace: '*' })
    expect(requirementFor('GET', '/v1/admin/topology')).toEqual({ access: 'admin', keyspace: '*' })
    expect(requirementFor('POST', '/v1/admin/topology/commit')).toEqual({
      access: 'admin',
      keyspace: '*',
    })
    expect(requirementFor('GET', '/v1/administrator')).toEqual({
      access: 'read',
      keyspace: undefined,
    })
    expect(requirementFor('GET', '/metrics')).toEqual({ access: 'read', keyspace: undefined })
  })
})

describe('policy', () => {
  const access = policy()

  it('answers 401 without a valid token', () => {
    expect(codeOf(access.check('GET', '/v1/cluster', undefined))).toBe('unauthenticated')
    expect(codeOf(access.check('GET', '/v1/cluster', 'Bearer wrong-token-0123456789'))).toBe(
      'unauthenticated',
    )
    expect(codeOf(access.check('GET', '/v1/cluster', `Basic ${READER}`))).toBe('unauthenticated')
    expect(codeOf(access.check('GET', '/v1/cluster', `Bearer ${READER.slice(0, -1)}`))).toBe(
      'unauthenticated',
    )
    expect(codeOf(access.check('GET', '/health', undefined))).toBe('allowed')
  })

  it('lets each token do what its access and keyspaces allow, and no more', () => {
    const cases: [string, string, string, string][] = [
      [READER, 'GET', '/v1/kv/default/k', 'allowed'],
      [READER, 'GET', '/metrics', 'allowed'],
      [READER, 'PUT', '/v1/kv/default/k', 'forbidden'],
      [WRITER, 'PUT', '/v1/kv/carts/k', 'allowed'],
      [WRITER, 'GET', '/v1/kv/carts/k', 'allowed'],
      [WRITER, 'PUT', '/v1/kv/default/k', 'forbidden'],
      [WRITER, 'GET', '/v1/sets/default/k', 'forbidden'],
      [WRITER, 'POST', '/v1/locks/job', 'forbidden'],
      [WRITER, 'POST', '/v1/debug/faults', 'forbidden'],
      [ADMIN, 'POST', '/v1/debug/faults', 'allowed'],
      [ADMIN, 'DELETE', '/v1/kv/default/k', 'allowed'],
      [ADMIN, 'POST', '/v1/locks/job', 'allowed'],
    ]
    for (const [token, method, path, expected] of cases)
      expect([token, method, path, codeOf(access.check(method, path, `Bearer ${token}`))]).toEqual([
        token,
        method,
        path,
        expected,
      ])
  })

  it('allows everything when no token is configured', () => {
    const open = new AccessPolicy([])
    expect(open.enabled).toBe(false)
    expect(open.check('DELETE', '/v1/kv/default/k', undefined)).toBeUndefined()
  })

  it('guards an app: 401 with a challenge header, 403, and the inner answer', async () => {
    const inner = new Hono<ApiEnv>()
    inner.all('*', (c) => c.text(`inner ${c.req.method}`))
    const app = guardedApp(inner, (...request) => access.check(...request), silentLogger)
    const unauthenticated = await app.fetch(new Request('http://node/v1/kv/default/k'))
    expect(unauthenticated.status).toBe(401)
    expect(unauthenticated.headers.get('www-authenticate')).toMatch(/^Bearer/)
    expect(await unauthenticated.json()).toMatchObject({ error: { code: 'unauthenticated' } })
    const forbidden = await app.fetch(
      new Request('http://node/v1/kv/default/k', {
        method: 'PUT',
        headers: { Authorization: `Bearer ${READER}` },
      }),
    )
    expect(forbidden.status).toBe(403)
    expect(await forbidden.json()).toMatchObject({ error: { code: 'forbidden' } })
    const allowed = await app.fetch(
      new Request('http://node/v1/kv/carts/k', {
        method: 'PUT',
        headers: { Authorization: `Bearer ${WRITER}` },
        body: 'x',
      }),
    )
    expect(allowed.status).toBe(200)
    expect(await allowed.text()).toBe('inner PUT')
  })
})

describe('token configuration', () => {
  function problem(text: string, env: Record<string, string> = {}): string {
    try {
      parseConfig(text, { env })
    } catch (error) {
      expect(error).toBeInstanceOf(MurmurError)
      return (error as MurmurError).message
    }
    throw new Error('expected the config to be rejected')
  }

  it('needs exactly one of token and tokenSha256, unique names, known access levels', () => {
    const base = 'nodes: [{ id: n1 }]\nauth:\n  tokens:\n'
    expect(problem(`${base}    - { name: a, access: read }\n`)).toMatch(
      /auth\.tokens\.0: token "a" needs exactly one of token and tokenSha256 \(or MURMUR_TOKEN_A\)/,
    )
    expect(
      problem(
        `${base}    - { name: a, access: read, token: ${READER}, tokenSha256: ${tokenSha256(READER)} }\n`,
      ),
    ).toMatch(/needs exactly one/)
    expect(
      problem(
        `${base}    - { name: a, access: read, token: ${READER} }\n    - { name: a, access: read, token: ${WRITER} }\n`,
      ),
    ).toMatch(/token name "a" is used twice/)
    expect(problem(`${base}    - { name: a, access: all, token: ${READER} }\n`)).toMatch(
      /auth\.tokens\.0\.access/,
    )
    const short = problem(`${base}    - { name: a, access: read }\n`, { MURMUR_TOKEN_A: 'short' })
    expect(short).toMatch(/^MURMUR_TOKEN_A \(auth\.tokens\.0\.token\): Too small/)
    expect(short).not.toContain('short')
  })

  it('reads secrets as a list or a comma-separated variable, never echoing them', () => {
    const config = parseConfig(`nodes: [{ id: n1 }]\ncluster: { secret: [${WRITER}, ${READER}] }\n`)
    expect(config.cluster.secret?.reveal()).toEqual([WRITER, READER])
    const message = problem('nodes: [{ id: n1 }]\n', {
      MURMUR_CLUSTER_SECRET: `${WRITER},tiny`,
    })
    expect(message).toMatch(/^MURMUR_CLUSTER_SECRET \(cluster\.secret\.1\): Too small/)
    expect(message).not.toContain(WRITER)
    expect(message).not.toContain('tiny')
  })

  it('resolves tls paths against the file and per node', () => {
    const config = parseConfig(
      'nodes: [{ id: n1 }]\ntls: { certFile: "certs/{node}.crt", keyFile: "/k/{node}.key" }\n',
      { sourcePath: '/etc/murmur/cluster.yml' },
    )
    expect(tlsFilesFor(config, 'n1')).toEqual({
      certFile: '/etc/murmur/certs/n1.crt',
      keyFile: '/k/n1.key',
      caFile: undefined,
    })
  })
})
