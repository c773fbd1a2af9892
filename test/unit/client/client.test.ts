/**
 * Goal: the client sends exactly the requests the API expects and retries only what is safe:
 * counter and set updates carry one Idempotency-Key reused on every retry, strong writes one
 * request id, eventual writes are not retried unless asked, reads fail over to the next node
 * on connection errors and 503, and failures become MurmurClientError with the API's code.
 * Method: a local hono app stands in for the nodes through the client's injectable fetch; it
 * records every request and fails on command. No sockets, no timers beyond the backoff.
 */

import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { MurmurClient, MurmurClientError } from '../../../src/client/index.js'
import { normalizeBaseUrl, queryString } from '../../../src/client/transport.js'

interface Seen {
  readonly node: string
  readonly method: string
  readonly path: string
  readonly query: string
  readonly headers: Record<string, string>
  readonly body: string
}

/** A stub cluster: `fail` decides per request whether a node is down (throws) or answers 503. */
function stub(fail: (seen: Seen, index: number) => 'down' | 'busy' | undefined = () => undefined) {
  const seen: Seen[] = []
  const app = new Hono()
  app.get('/v1/counters/:ks/:key', (c) =>
    c.req.param('key') === 'missing'
      ? c.json({ error: { code: 'not_found', message: 'counter "missing" not found' } }, 404)
      : c.json({ value: 7 }),
  )
  app.post('/v1/counters/:ks/:key', (c) => c.json({ value: 8 }))
  app.get('/v1/sets/:ks/:key', (c) => c.json({ elements: ['a'], size: 1, context: 'CTX' }))
  app.post('/v1/sets/:ks/:key', (c) => c.json({ elements: ['a', 'b'], size: 2, context: 'CTX2' }))
  app.put('/v1/kv/:ks/:key', (c) => c.body(null, 204, { ETag: '"9"', 'X-Murmur-Context': 'C1' }))
  app.get('/v1/kv/:ks/:key', (c) => c.text('value'))
  app.post('/v1/locks/:name', (c) =>
    c.json(
      { error: { code: 'precondition_failed', message: 'held', expiresAtMs: 5, definite: true } },
      412,
    ),
  )
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const parsed = new URL(url)
    const headers = Object.fromEntries(new Headers(init.headers).entries())
    const body =
      init.body === undefined || init.body === null
        ? ''
        : Buffer.from(init.body as Uint8Array | string).toString()
    const entry = {
      node: parsed.host,
      method: init.method ?? 'GET',
      path: parsed.pathname,
      query: parsed.search,
      headers,
      body,
    }
    seen.push(entry)
    const failure = fail(entry, seen.length - 1)
    if (failure === 'down') throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })
    if (failure === 'busy')
      return Response.json(
        { error: { code: 'no_quorum', message: 'no quorum', definite: false } },
        { status: 503 },
      )
    return app.request(url, init)
  }
  return { seen, fetch }
}

const NODES = ['http://n1:1', 'http://n2:2', 'http://n3:3']

function client(fetch: ReturnType<typeof stub>['fetch'], retries = 2): MurmurClient {
  return new MurmurClient({ nodes: NODES, retries, backoffMs: 1, backoffMsMax: 2, fetch })
}

describe('counters and sets', () => {
  it('send the documented request shapes', async () => {
    const { seen, fetch } = stub()
    const murmur = client(fetch)
    expect(await murmur.counters.get('default', 'visits', { r: 'quorum' })).toBe(7)
    expect(await murmur.counters.get('default', 'missing')).toBeUndefined()
    expect(await murmur.counters.increment('default', 'visits', 3, { w: 2 })).toBe(8)
    await murmur.counters.decrement('default', 'visits', 2, { idempotencyKey: 'mine' })
    expect(await murmur.sets.get('default', 'tags')).toEqual({
      elements: ['a'],
      size: 1,
      context: 'CTX',
    })
    await murmur.sets.add('default', 'tags', ['b'])
    await murmur.sets.remove('default', 'tags', ['a'], 'CTX')
    expect(
      seen.map((entry) => `${entry.method} ${entry.path}${entry.query} ${entry.body}`),
    ).toEqual([
      'GET /v1/counters/default/visits?r=quorum ',
      'GET /v1/counters/default/missing ',
      'POST /v1/counters/default/visits?w=2 {"increment":3}',
      'POST /v1/counters/default/visits {"decrement":2}',
      'GET /v1/sets/default/tags ',
      'POST /v1/sets/default/tags {"add":["b"]}',
      'POST /v1/sets/default/tags {"remove":["a"],"context":"CTX"}',
    ])
    const updates = seen.filter((entry) => entry.method === 'POST')
    expect(updates[1]?.headers['idempotency-key']).toBe('mine')
    for (const update of updates) {
      expect(update.headers['idempotency-key']).toMatch(/^[\x21-\x7e]{1,255}$/)
      expect(update.headers['content-type']).toBe('application/json')
    }
    expect(new Set(updates.map((update) => update.headers['idempotency-key'])).size).toBe(4)
  })

  it('a retried update reuses its Idempotency-Key on the next node', async () => {
    const { seen, fetch } = stub((_, index) => (index < 2 ? 'busy' : undefined))
    expect(await client(fetch).counters.increment('default', 'visits')).toBe(8)
    expect(seen.map((entry) => entry.node)).toEqual(['n1:1', 'n2:2', 'n3:3'])
    expect(new Set(seen.map((entry) => entry.headers['idempotency-key'])).size).toBe(1)
  })
})

describe('retries', () => {
  it('reads fail over past a dead node; the error of the last attempt is typed', async () => {
    const { seen, fetch } = stub((entry) => (entry.node === 'n1:1' ? 'down' : undefined))
    const murmur = client(fetch)
    for (let index = 0; index < 3; index++) {
      const read = await murmur.kv.get('default', 'k')
      expect(Buffer.from(read.siblings[0]?.value ?? []).toString()).toBe('value')
    }
    expect(seen.filter((entry) => entry.node === 'n1:1').length).toBeGreaterThan(0)
    const allDown = stub(() => 'down')
    const error = await client(allDown.fetch)
      .kv.get('default', 'k')
      .catch((thrown) => thrown)
    expect(error).toBeInstanceOf(MurmurClientError)
    expect(error).toMatchObject({ code: 'unavailable', status: 0, definite: true })
    expect(allDown.seen).toHaveLength(3)
  })

  it('eventual writes are sent once unless the caller opts in', async () => {
    const once = stub(() => 'busy')
    const error = await client(once.fetch)
      .kv.put('default', 'k', 'v')
      .catch((thrown) => thrown)
    expect(error).toMatchObject({ code: 'no_quorum', status: 503, definite: false })
    expect(once.seen).toHaveLength(1)
    const opted = stub((_, index) => (index === 0 ? 'busy' : undefined))
    const written = await client(opted.fetch).kv.put('default', 'k', 'v', {
      retry: true,
      context: 'C0',
    })
    expect(written.context).toBe('C1')
    expect(opted.seen).toHaveLength(2)
    expect(opted.seen.map((entry) => entry.headers['x-murmur-context'])).toEqual(['C0', 'C0'])
  })

  it('strong writes are retried with one request id; conditions become headers', async () => {
    const { seen, fetch } = stub((_, index) => (index === 0 ? 'down' : undefined))
    const written = await client(fetch).strong.put('strong', 'a/b', 'v', {
      ifMatch: 4,
      fencingToken: 'jobs:3',
    })
    expect(written.version).toBe(9)
    expect(seen).toHaveLength(2)
    expect(seen[0]?.path).toBe('/v1/kv/strong/a%2Fb')
    expect(seen[0]?.headers).toMatchObject({
      'if-match': '"4"',
      'x-murmur-fencing-token': 'jobs:3',
    })
    expect(seen[1]?.headers['x-murmur-request-id']).toBe(written.requestId)
    expect(seen[0]?.headers['x-murmur-request-id']).toBe(written.requestId)
  })

  it('a 4xx is final and carries the error body details', async () => {
    const { seen, fetch } = stub()
    const error = await client(fetch)
      .locks.acquire('jobs', 1000)
      .catch((thrown) => thrown)
    expect(error).toMatchObject({ code: 'precondition_failed', status: 412, definite: true })
    expect((error as MurmurClientError).details['expiresAtMs']).toBe(5)
    expect(seen).toHaveLength(1)
  })
})

describe('options and helpers', () => {
  it('refuses bad options and normalizes node URLs and queries', () => {
    expect(() => new MurmurClient({ nodes: [] })).toThrow(RangeError)
    expect(() => new MurmurClient({ nodes: NODES, retries: 11 })).toThrow(RangeError)
    expect(() => new MurmurClient({ nodes: NODES, timeoutMs: 0 })).toThrow(RangeError)
    expect(normalizeBaseUrl('127.0.0.1:7001/')).toBe('http://127.0.0.1:7001')
    expect(queryString({ r: 'all', w: undefined, limit: 3, prefix: 'a b/' })).toBe(
      '?r=all&limit=3&prefix=a%20b%2F',
    )
    expect(queryString({})).toBe('')
  })
})
