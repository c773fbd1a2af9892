/**
 * Goal: the admin topology routes validate their input with clear JSON 400s, hand valid
 * requests to the backend with the requested timeout, and answer a failed precondition as 409
 * `precondition_failed` (not 412) with the error's details. Method: the routes mounted on a
 * bare app over a recording fake backend; requests through hono's `app.request`.
 */

import { describe, expect, it } from 'vitest'
import { createApp } from '../../../src/api/app.js'
import { topologyRoutes } from '../../../src/api/topology-routes.js'
import { MurmurError } from '../../../src/env/errors.js'
import { createLogger } from '../../../src/env/log.js'
import type { TopologyChange } from '../../../src/ring/topology-plan.js'

interface Call {
  readonly action: string
  readonly argument?: unknown
  readonly timeoutMs: number
}

function appWith(fail?: MurmurError) {
  const calls: Call[] = []
  const act = async (call: Call) => {
    calls.push(call)
    if (fail !== undefined) throw fail
    return { version: 7 }
  }
  const app = createApp({
    requestBodyBytesMax: 1024 * 1024,
    log: createLogger('silent', () => {}),
    routes: [
      topologyRoutes({
        backend: {
          view: (timeoutMs) => act({ action: 'view', timeoutMs }),
          stage: (change: TopologyChange, timeoutMs) =>
            act({ action: 'stage', argument: change, timeoutMs }),
          clear: (timeoutMs) => act({ action: 'clear', timeoutMs }),
          commit: async (version, timeoutMs) => {
            await act({ action: 'commit', argument: version, timeoutMs })
            return { version: version + 1 }
          },
        },
        timeoutMs: 5000,
        timeoutMsMax: 60_000,
      }),
    ],
  })
  return { app, calls }
}

const post = (body: unknown) => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json' },
  body: JSON.stringify(body),
})

describe('admin topology routes', () => {
  it('hands valid requests to the backend', async () => {
    const { app, calls } = appWith()
    expect((await app.request('/v1/admin/topology?timeout=1234')).status).toBe(200)
    const replace = { action: 'replace', node: 'n2', with: 'n6' }
    expect((await app.request('/v1/admin/topology/stage', post(replace))).status).toBe(200)
    expect((await app.request('/v1/admin/topology/stage', { method: 'DELETE' })).status).toBe(200)
    const commit = await app.request('/v1/admin/topology/commit', post({ version: 3 }))
    expect(await commit.json()).toEqual({ version: 4 })
    expect(calls).toEqual([
      { action: 'view', timeoutMs: 1234 },
      { action: 'stage', argument: replace, timeoutMs: 5000 },
      { action: 'clear', timeoutMs: 5000 },
      { action: 'commit', argument: 3, timeoutMs: 5000 },
    ])
  })

  it('refuses malformed bodies and parameters with JSON 400s', async () => {
    const { app, calls } = appWith()
    const bad: [string, RequestInit][] = [
      ['/v1/admin/topology/stage', post({ action: 'grow', node: 'n4' })],
      ['/v1/admin/topology/stage', post({ action: 'join' })],
      ['/v1/admin/topology/stage', post({ action: 'join', node: 'n4', extra: 1 })],
      ['/v1/admin/topology/stage', post({ action: 'replace', node: 'n2' })],
      ['/v1/admin/topology/stage', { method: 'POST', body: 'not json' }],
      ['/v1/admin/topology/commit', post({ version: 0 })],
      ['/v1/admin/topology/commit', post({})],
      ['/v1/admin/topology?timeout=0', { method: 'GET' }],
      ['/v1/admin/topology?color=red', { method: 'GET' }],
    ]
    for (const [path, init] of bad) {
      const response = await app.request(path, init)
      expect(response.status, path).toBe(400)
      const body = (await response.json()) as { error: { code: string } }
      expect(body.error.code).toBe('invalid_request')
    }
    expect(calls).toEqual([])
  })

  it('answers a failed precondition as 409 with its details', async () => {
    const conflict = new MurmurError('precondition_failed', 'moving', {
      definite: true,
      details: { version: 5 },
    })
    const { app } = appWith(conflict)
    const response = await app.request('/v1/admin/topology/commit', post({ version: 4 }))
    expect(response.status).toBe(409)
    expect(await response.json()).toEqual({
      error: { code: 'precondition_failed', message: 'moving', version: 5, definite: true },
    })
  })

  it('renders other failures as usual', async () => {
    const { app } = appWith(new MurmurError('invalid_request', 'node "n9" is not listed'))
    const response = await app.request(
      '/v1/admin/topology/stage',
      post({ action: 'join', node: 'n9' }),
    )
    expect(response.status).toBe(400)
  })
})
