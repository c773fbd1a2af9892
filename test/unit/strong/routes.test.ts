/**
 * Goal: the strong-mode routes turn every valid request into exactly the command or read the
 * API describes, render results (ETags, 204, lock bodies) and refusals (412 with the current
 * version, 409 stale_token) as documented, refuse bad input with a 400 that names it, and hand
 * requests for other keyspaces on to the routes registered after them. Method: the real hono
 * app with the strong routes and a stand-in for the eventual routes, over a recording fake
 * backend; no cluster, no sockets.
 */

import type { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { type ApiEnv, createApp } from '../../../src/api/app.js'
import { type StrongBackend, strongRoutes } from '../../../src/api/strong-routes.js'
import { createLogger } from '../../../src/env/log.js'
import type { Command, CommandResult } from '../../../src/raft/machine/commands.js'

interface Recorded {
  readonly commands: { command: Command; requestId: string | undefined; timeoutMs: number }[]
  readonly reads: { keyspace: string; key: string; linearizable: boolean; timeoutMs: number }[]
}

function setup(answer: CommandResult = { ok: true, version: 12 }) {
  const recorded: Recorded = { commands: [], reads: [] }
  const backend: StrongBackend = {
    keyspace: (name) => (name === 'locked' ? { name } : undefined),
    admit: () => () => {},
    command: async (command, requestId, timeoutMs) => {
      recorded.commands.push({ command, requestId, timeoutMs })
      return answer
    },
    read: async (keyspace, key, linearizable, timeoutMs) => {
      recorded.reads.push({ keyspace, key, linearizable, timeoutMs })
      if (key === 'missing') return { found: false }
      return { found: true, value: Uint8Array.of(104, 105), contentType: 'text/plain', version: 7 }
    },
    list: async (request) => ({ keys: ['a', 'b'].slice(0, request.limit) }),
    view: () => ({ role: 'leader', term: 3 }),
  }
  const eventual = (app: Hono<ApiEnv>) => {
    app.all('/v1/kv/*', (c) => c.text('eventual', 200))
  }
  const app = createApp({
    requestBodyBytesMax: 1 << 20,
    log: createLogger('silent', () => {}),
    routes: [
      strongRoutes({
        backend,
        keyBytesMax: 1024,
        valueBytesMax: 100,
        listPageMax: 50,
        timeoutMs: 5000,
        timeoutMsMax: 60_000,
      }),
      eventual,
    ],
  })
  return { app, recorded }
}

async function call(
  app: Hono<ApiEnv>,
  method: string,
  path: string,
  init: { body?: string | undefined; headers?: Record<string, string> } = {},
): Promise<{
  status: number
  headers: Headers
  text: string
  json: () => Record<string, unknown>
}> {
  const request: RequestInit = { method }
  if (init.body !== undefined) request.body = init.body
  if (init.headers !== undefined) request.headers = init.headers
  const response = await app.request(path, request)
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: () => (JSON.parse(text) as { error?: Record<string, unknown> }).error ?? JSON.parse(text),
  }
}

describe('keys of strong keyspaces', () => {
  it('hands other keyspaces to the routes registered after it', async () => {
    const { app, recorded } = setup()
    expect((await call(app, 'GET', '/v1/kv/default/a')).text).toBe('eventual')
    expect((await call(app, 'PUT', '/v1/kv/default', { body: 'x' })).text).toBe('eventual')
    expect(recorded.reads).toEqual([])
  })

  it('reads linearizably by default and answers the value with its ETag', async () => {
    const { app, recorded } = setup()
    const response = await call(app, 'GET', '/v1/kv/locked/a%2Fb?timeout=300')
    expect(response.status).toBe(200)
    expect(response.text).toBe('hi')
    expect(response.headers.get('ETag')).toBe('"7"')
    expect(response.headers.get('Content-Type')).toBe('text/plain')
    expect(recorded.reads).toEqual([
      { keyspace: 'locked', key: 'a/b', linearizable: true, timeoutMs: 300 },
    ])
    await call(app, 'GET', '/v1/kv/locked/a?consistency=serializable')
    expect(recorded.reads[1]?.linearizable).toBe(false)
    expect((await call(app, 'GET', '/v1/kv/locked/missing')).json()).toMatchObject({
      code: 'not_found',
    })
  })

  it('turns conditional, fenced and identified writes into one command each', async () => {
    const { app, recorded } = setup()
    const put = await call(app, 'PUT', '/v1/kv/locked/k', {
      body: 'value',
      headers: {
        'If-Match': '"41"',
        'X-Murmur-Fencing-Token': 'jobs.main:17',
        'X-Murmur-Request-Id': 'req-1',
        'Content-Type': 'text/plain',
      },
    })
    expect(put.status).toBe(204)
    expect(put.headers.get('ETag')).toBe('"12"')
    expect(recorded.commands[0]).toMatchObject({
      command: {
        type: 'kv.put',
        keyspace: 'locked',
        key: 'k',
        contentType: 'text/plain',
        condition: { kind: 'version', version: 41 },
        fence: { lock: 'jobs.main', token: 17 },
      },
      requestId: 'req-1',
      timeoutMs: 5000,
    })
    await call(app, 'PUT', '/v1/kv/locked/k', { body: 'v', headers: { 'If-None-Match': '*' } })
    await call(app, 'DELETE', '/v1/kv/locked/k', { headers: { 'If-Match': '*' } })
    expect(recorded.commands[1]?.command).toMatchObject({ condition: { kind: 'absent' } })
    expect(recorded.commands[2]?.command).toEqual({
      type: 'kv.delete',
      keyspace: 'locked',
      key: 'k',
      condition: { kind: 'exists' },
    })
  })

  it('answers a failed condition with 412 and the current version', async () => {
    const { app } = setup({ ok: false, code: 'precondition_failed', currentVersion: 9 })
    const response = await call(app, 'PUT', '/v1/kv/locked/k', {
      body: 'v',
      headers: { 'If-Match': '"3"' },
    })
    expect(response.status).toBe(412)
    expect(response.json()).toMatchObject({
      code: 'precondition_failed',
      currentVersion: '"9"',
      definite: true,
    })
  })

  it('answers a stale fencing token with 409 stale_token', async () => {
    const { app } = setup({ ok: false, code: 'stale_token', reason: 'superseded' })
    const response = await call(app, 'DELETE', '/v1/kv/locked/k', {
      headers: { 'X-Murmur-Fencing-Token': 'jobs:3' },
    })
    expect(response.status).toBe(409)
    expect(response.json()).toMatchObject({
      code: 'stale_token',
      lock: 'jobs',
      reason: 'superseded',
    })
  })

  it('refuses malformed input with a 400 naming it', async () => {
    const { app, recorded } = setup()
    const bad: [string, string, Record<string, string>, string?][] = [
      ['PUT', '/v1/kv/locked/k', { 'If-Match': 'W/"3"' }],
      ['PUT', '/v1/kv/locked/k', { 'If-Match': '"3", "4"' }],
      ['PUT', '/v1/kv/locked/k', { 'If-None-Match': '"3"' }],
      ['PUT', '/v1/kv/locked/k', { 'If-Match': '*', 'If-None-Match': '*' }],
      ['PUT', '/v1/kv/locked/k', { 'X-Murmur-Fencing-Token': '17' }],
      ['PUT', '/v1/kv/locked/k', { 'X-Murmur-Fencing-Token': 'a b:1' }],
      ['PUT', '/v1/kv/locked/k', { 'X-Murmur-Request-Id': 'has space' }],
      ['PUT', '/v1/kv/locked/k', { 'X-Murmur-Request-Id': '~reserved' }],
      ['PUT', '/v1/kv/locked/k?w=one', {}],
      ['GET', '/v1/kv/locked/k?consistency=quorum', {}],
      ['GET', '/v1/kv/locked/k?timeout=0', {}],
      ['GET', '/v1/kv/locked/%ZZ', {}],
      ['GET', '/v1/kv/locked?limit=51', {}],
    ]
    for (const [method, path, headers] of bad) {
      const response = await call(app, method, path, {
        body: method === 'PUT' ? 'v' : undefined,
        headers,
      })
      expect(response.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(400)
    }
    expect((await call(app, 'PUT', '/v1/kv/locked/k', { body: 'x'.repeat(101) })).status).toBe(413)
    expect((await call(app, 'POST', '/v1/kv/locked/k', { body: 'x' })).status).toBe(405)
    expect(recorded.commands).toEqual([])
  })

  it('lists keys with a cursor', async () => {
    const { app } = setup()
    const page = await call(app, 'GET', '/v1/kv/locked?limit=2')
    const body = JSON.parse(page.text) as { keys: string[]; cursor: string | null }
    expect(body.keys).toEqual(['a', 'b'])
    expect(body.cursor).not.toBeNull()
    const last = await call(app, 'GET', `/v1/kv/locked?limit=5&cursor=${body.cursor}`)
    expect(JSON.parse(last.text)).toEqual({ keys: ['a', 'b'], cursor: null })
  })
})

describe('locks', () => {
  it('acquires, renews and releases with the documented bodies', async () => {
    const { app, recorded } = setup({ ok: true, token: 5, expiresAtMs: 1234 })
    const acquired = await call(app, 'POST', '/v1/locks/jobs', { body: '{"ttlMs": 1000}' })
    expect(acquired.status).toBe(200)
    expect(JSON.parse(acquired.text)).toEqual({ lock: 'jobs', token: 5, expiresAtMs: 1234 })
    await call(app, 'PUT', '/v1/locks/jobs', { body: '{"token": 5, "ttlMs": 2000}' })
    expect((await call(app, 'DELETE', '/v1/locks/jobs?token=5')).status).toBe(204)
    await call(app, 'DELETE', '/v1/locks/jobs', { body: '{"token": 5}' })
    expect(recorded.commands.map((each) => each.command)).toEqual([
      { type: 'lock.acquire', name: 'jobs', ttlMs: 1000 },
      { type: 'lock.renew', name: 'jobs', token: 5, ttlMs: 2000 },
      { type: 'lock.release', name: 'jobs', token: 5 },
      { type: 'lock.release', name: 'jobs', token: 5 },
    ])
  })

  it('answers a held lock with 412 and its expiry', async () => {
    const { app } = setup({ ok: false, code: 'lock_held', expiresAtMs: 99 })
    const response = await call(app, 'POST', '/v1/locks/jobs', { body: '{"ttlMs": 10}' })
    expect(response.status).toBe(412)
    expect(response.json()).toMatchObject({ code: 'precondition_failed', expiresAtMs: 99 })
  })

  it('refuses bad lock requests', async () => {
    const { app, recorded } = setup()
    for (const [method, path, body] of [
      ['POST', '/v1/locks/jobs', '{}'],
      ['POST', '/v1/locks/jobs', '{"ttlMs": 0}'],
      ['POST', '/v1/locks/jobs', '{"ttlMs": 10, "token": 1}'],
      ['POST', '/v1/locks/jobs', 'not json'],
      ['POST', '/v1/locks/a:b', '{"ttlMs": 10}'],
      ['PUT', '/v1/locks/jobs', '{"ttlMs": 10}'],
      ['DELETE', '/v1/locks/jobs', '{"token": "x"}'],
      ['DELETE', '/v1/locks/jobs', '{"token": 1, "extra": 2}'],
    ] as const) {
      expect((await call(app, method, path, { body })).status, `${method} ${path} ${body}`).toBe(
        400,
      )
    }
    expect(recorded.commands).toEqual([])
  })

  it('shows the Raft view', async () => {
    const { app } = setup()
    expect(JSON.parse((await call(app, 'GET', '/v1/raft')).text)).toEqual({
      role: 'leader',
      term: 3,
    })
  })
})
