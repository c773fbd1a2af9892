/**
 * Goal: the REST skeleton answers every request with JSON and the right status, whatever the
 * input: unknown routes, oversized bodies, malformed percent-encoding, failing handlers. Method:
 * build the hono app with test routes and call it in-process through `app.request`.
 */

import { describe, expect, it } from 'vitest'
import { createApp } from '../../../src/api/app.js'
import { readBody } from '../../../src/api/body.js'
import { clusterRoutes } from '../../../src/api/cluster-routes.js'
import { STATUS_BY_CODE } from '../../../src/api/errors.js'
import { ERROR_CODES, MurmurError } from '../../../src/env/errors.js'
import { createLogger, type LogRecord } from '../../../src/env/log.js'
import { VERSION } from '../../../src/version.js'

const RING = { version: 1, partitions: 0, nodes: [], keyspaces: [], preferences: [] }

function testApp(ready = true) {
  const logged: LogRecord[] = []
  const app = createApp({
    requestBodyBytesMax: 1024,
    log: createLogger('info', (record) => logged.push(record)),
    routes: [
      clusterRoutes({
        clusterName: 'c',
        nodeId: 'n1',
        readiness: () => ({ ready, reasons: ready ? [] : ['joining'] }),
        members: () => [],
        status: () => ({ extra: 1 }),
        ring: () => RING,
      }),
      (routes) => {
        routes.put('/echo/:name', async (c) =>
          c.json({ name: c.req.param('name'), bytes: (await readBody(c, 1024)).byteLength }),
        )
        routes.get('/fail/murmur', () => {
          throw new MurmurError('quorum_unavailable', 'need 2', {
            details: { required: 2, acknowledged: 1 },
            definite: false,
          })
        })
        routes.get('/decode/:raw', (c) => c.text(decodeURIComponent(c.req.param('raw'))))
        routes.get('/fail/bug', () => {
          throw new TypeError('secret internal detail')
        })
      },
    ],
  })
  return { app, logged }
}

async function json(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get('content-type')).toMatch(/application\/json/)
  return (await response.json()) as Record<string, unknown>
}

describe('REST skeleton', () => {
  it('serves health, readiness and the cluster views', async () => {
    const { app } = testApp()
    expect(await json(await app.request('/health'))).toEqual({
      status: 'ok',
      node: 'n1',
      version: VERSION,
    })
    expect(await json(await app.request('/ready'))).toEqual({ ready: true, node: 'n1' })
    expect(await json(await app.request('/v1/cluster'))).toMatchObject({
      cluster: 'c',
      node: 'n1',
      members: [],
      extra: 1,
    })
    expect(await json(await app.request('/v1/cluster/ring'))).toEqual(RING)
  })

  it('answers 503 with reasons while not ready', async () => {
    const response = await testApp(false).app.request('/ready')
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(await json(response)).toEqual({
      error: {
        code: 'unavailable',
        message: 'node n1 is not ready: joining',
        reasons: ['joining'],
      },
    })
  })

  it('answers unknown routes and methods with a JSON 404', async () => {
    const { app } = testApp()
    for (const [method, path] of [
      ['GET', '/nope'],
      ['DELETE', '/health'],
      ['GET', '/v1/cluster/ring/extra'],
    ] as const) {
      const response = await app.request(path, { method })
      expect(response.status).toBe(404)
      expect(await json(response)).toEqual({
        error: { code: 'not_found', message: `no route for ${method} ${path}` },
      })
    }
  })

  it('refuses bodies over the limit with 413, declared or streamed', async () => {
    const { app } = testApp()
    const declared = await app.request('/echo/x', {
      method: 'PUT',
      body: 'x'.repeat(2000),
      headers: { 'content-length': '2000' },
    })
    expect(declared.status).toBe(413)
    expect(await json(declared)).toMatchObject({
      error: { code: 'payload_too_large', limitBytes: 1024 },
    })
    const stream = new ReadableStream({
      start(controller) {
        for (let index = 0; index < 4; index++) controller.enqueue(new Uint8Array(400))
        controller.close()
      },
    })
    const streamed = await app.request('/echo/x', {
      method: 'PUT',
      body: stream,
      duplex: 'half',
    } as RequestInit)
    expect(streamed.status).toBe(413)
    const fits = await app.request('/echo/x', { method: 'PUT', body: 'x'.repeat(1000) })
    expect(await json(fits)).toEqual({ name: 'x', bytes: 1000 })
  })

  it('rejects malformed percent-encoding with 400', async () => {
    const response = await testApp().app.request('/decode/%25E0%25A4%25A')
    expect(response.status).toBe(400)
    expect(await json(response)).toMatchObject({ error: { code: 'invalid_request' } })
  })

  it('renders MurmurErrors with their details and definite flag', async () => {
    const response = await testApp().app.request('/fail/murmur')
    expect(response.status).toBe(503)
    expect(await json(response)).toEqual({
      error: {
        code: 'quorum_unavailable',
        message: 'need 2',
        required: 2,
        acknowledged: 1,
        definite: false,
      },
    })
  })

  it('hides internal errors from clients and logs them', async () => {
    const { app, logged } = testApp()
    const response = await app.request('/fail/bug')
    expect(response.status).toBe(500)
    expect(await json(response)).toEqual({ error: { code: 'internal', message: 'internal error' } })
    expect(logged.map((record) => record.message)).toEqual(['request failed'])
  })

  it('maps every error code to a 4xx or 5xx status', () => {
    for (const code of ERROR_CODES) {
      expect(STATUS_BY_CODE[code]).toBeGreaterThanOrEqual(400)
      expect(STATUS_BY_CODE[code]).toBeLessThan(600)
    }
  })
})
