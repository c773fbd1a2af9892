/**
 * Goal: the `/v1/kv` routes turn every bad input into its documented 4xx JSON error before
 * any replication work, hand well-formed requests to the service exactly as asked, render
 * values, siblings, deletions and errors as docs/API.md says, and enforce the limits (key and
 * value size, sibling warning, in-flight requests).
 * Method: the real hono app with a recording fake backend; requests go through app.request.
 */

import { describe, expect, it } from 'vitest'
import { createApp } from '../../../src/api/app.js'
import { type KvBackend, type KvKeyspace, kvRoutes } from '../../../src/api/kv-routes.js'
import * as ReplicatedCounter from '../../../src/crdt/replicated-counter.js'
import { MurmurError } from '../../../src/env/errors.js'
import { silentLogger } from '../../../src/env/log.js'
import type { KeyRecord, KvPayload } from '../../../src/replication/record.js'
import type {
  ListRequest,
  ReadOutcome,
  ReadRequest,
  WriteOutcome,
  WriteRequest,
} from '../../../src/replication/requests.js'
import { encodeCausalContextToken } from '../../../src/versioning/context-token.js'
import { emptyVersioned, update, type Versioned } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'

const KEYSPACES: KvKeyspace[] = [
  {
    name: 'default',
    mode: 'eventual',
    replicas: 3,
    read: 'quorum',
    write: 'quorum',
    durability: 'sync',
  },
  {
    name: 'locks',
    mode: 'strong',
    replicas: 3,
    read: 'quorum',
    write: 'quorum',
    durability: 'sync',
  },
]

function recordOf(...payloads: KvPayload[]): KeyRecord {
  let kv: Versioned<KvPayload> = emptyVersioned()
  payloads.forEach((payload, index) => {
    kv = update(kv, EMPTY_VECTOR, `n${index}.a`, payload).versioned
  })
  return { kv }
}
const text = (value: string): KvPayload => ({
  kind: 'value',
  value: new TextEncoder().encode(value),
  contentType: 'text/plain',
})
const TOMBSTONE: KvPayload = { kind: 'tombstone', deletedAtMs: 5 }

class FakeBackend implements KvBackend {
  reads: ReadRequest[] = []
  writes: WriteRequest[] = []
  lists: ListRequest[] = []
  record: KeyRecord = recordOf(text('hello'))
  failure: MurmurError | undefined
  inflight = 0
  inflightMax = 10

  keyspace(name: string): KvKeyspace | undefined {
    return KEYSPACES.find((keyspace) => keyspace.name === name)
  }

  admit(): () => void {
    if (this.inflight >= this.inflightMax) {
      throw new MurmurError('overloaded', 'busy', { definite: true })
    }
    this.inflight++
    return () => {
      this.inflight--
    }
  }

  async read(request: ReadRequest): Promise<ReadOutcome> {
    this.reads.push(request)
    if (this.failure !== undefined) throw this.failure
    return { record: this.record, replicas: ['n1', 'n2'], hinted: [{ node: 'n4', hintFor: 'n3' }] }
  }

  async write(request: WriteRequest): Promise<WriteOutcome> {
    this.writes.push(request)
    if (this.failure !== undefined) throw this.failure
    return {
      context: 'CTX',
      siblings: 1,
      record: request.returnBody ? this.record : undefined,
      coordinator: 'n1',
      replicas: ['n1', 'n2'],
      hinted: [],
    }
  }

  async list(request: ListRequest) {
    this.lists.push(request)
    return { keys: ['a', 'b'], frontier: 'b' }
  }
}

function setup(options: { siblingsWarn?: number; strong?: boolean } = {}) {
  const backend = new FakeBackend()
  const app = createApp({
    requestBodyBytesMax: 1024,
    log: silentLogger,
    routes: [
      kvRoutes({
        backend,
        keyBytesMax: 16,
        valueBytesMax: 8,
        siblingsWarn: options.siblingsWarn ?? 25,
        listPageMax: 50,
        timeoutMs: 5000,
        timeoutMsMax: 10_000,
        readRepair: 'async',
        ...(options.strong === true
          ? {
              strong: async (c, keyspace, key) =>
                c.json({ strong: keyspace.name, key: key ?? null }),
            }
          : {}),
      }),
    ],
  })
  const call = async (
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ) => {
    const init: RequestInit = { method, headers }
    if (body !== undefined) init.body = body
    const response = await app.request(path, init)
    const raw = await response.text()
    let json: { error?: { code: string; message: string; [key: string]: unknown } } & Record<
      string,
      unknown
    > = {}
    try {
      json = JSON.parse(raw)
    } catch {
      // A raw value body.
    }
    return { status: response.status, headers: response.headers, raw, json }
  }
  return { backend, call }
}

describe('kv routes: bad input', () => {
  const cases: [string, string, string | undefined, Record<string, string>, number, string][] = [
    ['GET', '/v1/kv/nope/k', undefined, {}, 404, 'unknown_keyspace'],
    ['GET', '/v1/kv/Bad!/k', undefined, {}, 404, 'unknown_keyspace'],
    ['GET', '/v1/kv/locks/k', undefined, {}, 404, 'unknown_keyspace'],
    ['GET', '/v1/kv/default/%E0%A4%A', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/%FF', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/', undefined, {}, 400, 'invalid_request'],
    ['GET', `/v1/kv/default/${'k'.repeat(17)}`, undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/k?r=4', undefined, {}, 400, 'invalid_consistency'],
    ['GET', '/v1/kv/default/k?r=0', undefined, {}, 400, 'invalid_consistency'],
    ['GET', '/v1/kv/default/k?pr=9', undefined, {}, 400, 'invalid_consistency'],
    ['GET', '/v1/kv/default/k?consistency=most', undefined, {}, 400, 'invalid_consistency'],
    ['GET', '/v1/kv/default/k?w=2', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/k?R=2', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/k?r=1&r=2', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/k?timeout=0', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/k?timeout=10001', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/k?timeout=1e3', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default/k?repair=later', undefined, {}, 400, 'invalid_request'],
    ['PUT', '/v1/kv/default/k?w=all&pw=4', 'v', {}, 400, 'invalid_consistency'],
    ['PUT', '/v1/kv/default/k?returnbody=yes', 'v', {}, 400, 'invalid_request'],
    ['DELETE', '/v1/kv/default/k?returnbody=true', undefined, {}, 400, 'invalid_request'],
    ['PUT', '/v1/kv/default/k', 'v', { 'X-Murmur-Context': 'garbage!' }, 400, 'invalid_context'],
    ['PUT', '/v1/kv/default/k', 'v', { 'X-Murmur-Context': 'AAAAAAAA' }, 400, 'invalid_context'],
    ['PUT', '/v1/kv/default/k', 'v'.repeat(9), {}, 413, 'value_too_large'],
    ['PUT', '/v1/kv/default/k', 'v'.repeat(2000), {}, 413, 'value_too_large'],
    [
      'PUT',
      '/v1/kv/default/k',
      'v'.repeat(2000),
      { 'Content-Length': '2000' },
      413,
      'payload_too_large',
    ],
    ['PUT', '/v1/kv/default/k', 'v', { 'Content-Type': 'a\u0001b' }, 400, 'invalid_request'],
    ['POST', '/v1/kv/default/k', 'v', {}, 405, 'method_not_allowed'],
    ['PUT', '/v1/kv/default', 'v', {}, 405, 'method_not_allowed'],
    ['GET', '/v1/kv/default?limit=0', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default?limit=51', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default?cursor=abc', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default?prefix=%FF', undefined, {}, 400, 'invalid_request'],
    ['GET', '/v1/kv/default?r=1', undefined, {}, 400, 'invalid_request'],
  ]
  const titled = cases.map((entry) => [entry[0], entry[1], entry[4], entry[5], entry] as const)
  it.each(titled)('%s %s → %i %s (case %#)', async (_method, _path, _status, _code, entry) => {
    const [method, path, body, headers, status, code] = entry
    const { backend, call } = setup()
    const response = await call(method, path, body, headers)
    expect(response.status).toBe(status)
    expect(response.json.error?.code).toBe(code)
    expect(typeof response.json.error?.message).toBe('string')
    expect(backend.reads.length + backend.writes.length + backend.lists.length).toBe(0)
  })

  it('explains that strong mode is not enabled, and uses the hook when it is', async () => {
    const off = await setup().call('GET', '/v1/kv/locks/k')
    expect(off.json.error?.message).toMatch(/strong mode is not enabled/)
    const on = await setup({ strong: true }).call('GET', '/v1/kv/locks/a%2Fb')
    expect(on.json).toEqual({ strong: 'locks', key: 'a/b' })
  })

  it('answers 503 overloaded with Retry-After beyond the in-flight limit', async () => {
    const { backend, call } = setup()
    backend.inflightMax = 0
    const response = await call('GET', '/v1/kv/default/k')
    expect(response.status).toBe(503)
    expect(response.json.error?.code).toBe('overloaded')
    expect(response.headers.get('Retry-After')).toBe('1')
  })
})

describe('kv routes: requests and answers', () => {
  it('hands a read over with its levels and renders a value', async () => {
    const { backend, call } = setup()
    const response = await call(
      'GET',
      '/v1/kv/default/a/b%2Fc?r=all&pr=1&timeout=900&repair=blocking',
    )
    expect(backend.reads[0]).toMatchObject({
      key: 'a/b/c',
      requirement: { total: 3, primaries: 1 },
      timeoutMs: 900,
      repair: 'blocking',
    })
    expect(response.status).toBe(200)
    expect(response.raw).toBe('hello')
    expect(response.headers.get('Content-Type')).toBe('text/plain')
    expect(response.headers.get('X-Murmur-Context')).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(response.headers.get('X-Murmur-Replicas')).toBe('n1,n2')
    expect(response.headers.get('X-Murmur-Hinted')).toBe('n4>n3')
    expect(backend.inflight).toBe(0)
  })

  it('renders siblings as 300 with a warning at the threshold', async () => {
    const { backend, call } = setup({ siblingsWarn: 2 })
    backend.record = recordOf(text('one'), TOMBSTONE)
    const response = await call('GET', '/v1/kv/default/k')
    expect(response.status).toBe(300)
    expect(response.json['siblings']).toEqual([
      { value: Buffer.from('one').toString('base64'), contentType: 'text/plain', deleted: false },
      { value: null, contentType: null, deleted: true },
    ])
    expect(response.json['context']).toBe(response.headers.get('X-Murmur-Context'))
    expect(response.headers.get('X-Murmur-Warning')).toMatch(/2 siblings/)
  })

  it('answers 409 type_mismatch for a key that holds a counter', async () => {
    const { backend, call } = setup()
    backend.record = { counter: ReplicatedCounter.update(ReplicatedCounter.empty(), 'n1.1.1', 3) }
    const response = await call('GET', '/v1/kv/default/k')
    expect(response.status).toBe(409)
    expect(response.json.error?.code).toBe('type_mismatch')
  })

  it('answers 404 for a deleted key with the tombstone context, and without one for a new key', async () => {
    const { backend, call } = setup()
    backend.record = recordOf(TOMBSTONE)
    const deleted = await call('GET', '/v1/kv/default/k')
    expect(deleted.status).toBe(404)
    expect(deleted.json.error?.code).toBe('not_found')
    expect(deleted.headers.get('X-Murmur-Context')).not.toBeNull()
    backend.record = {}
    const absent = await call('GET', '/v1/kv/default/k')
    expect(absent.status).toBe(404)
    expect(absent.headers.get('X-Murmur-Context')).toBeNull()
  })

  it('hands a write over with value, type and context, and answers 204 with the new context', async () => {
    const { backend, call } = setup()
    const context = encodeCausalContextToken({ vector: new Map([['n1.a', 2]]), cloud: [] })
    const response = await call('PUT', '/v1/kv/default/k?w=1&pw=1', 'value', {
      'Content-Type': 'text/x',
      'X-Murmur-Context': context,
    })
    expect(response.status).toBe(204)
    expect(response.headers.get('X-Murmur-Context')).toBe('CTX')
    expect(response.headers.get('X-Murmur-Coordinator')).toBe('n1')
    const request = backend.writes[0]
    expect(request?.operation).toBe('put')
    expect(new TextDecoder().decode(request?.value)).toBe('value')
    expect(request?.contentType).toBe('text/x')
    expect(request?.context.vector.get('n1.a')).toBe(2)
    expect(request?.requirement).toEqual({ total: 1, primaries: 1 })
    const deleted = await call('DELETE', '/v1/kv/default/k?consistency=all')
    expect(deleted.status).toBe(204)
    expect(backend.writes[1]).toMatchObject({
      operation: 'delete',
      value: undefined,
      requirement: { total: 3 },
    })
  })

  it('answers a write with returnbody like a read', async () => {
    const { call } = setup()
    const response = await call('PUT', '/v1/kv/default/k?returnbody=true', 'x')
    expect(response.status).toBe(200)
    expect(response.raw).toBe('hello')
  })

  it('renders quorum failures as 503 with the counts and definite', async () => {
    const { backend, call } = setup()
    backend.failure = new MurmurError('quorum_unavailable', 'not enough', {
      details: { required: 2, acknowledged: 1 },
      definite: false,
    })
    const response = await call('PUT', '/v1/kv/default/k', 'x')
    expect(response.status).toBe(503)
    expect(response.json.error).toMatchObject({
      code: 'quorum_unavailable',
      required: 2,
      acknowledged: 1,
      definite: false,
    })
  })

  it('lists with a default page size and hands back an opaque cursor', async () => {
    const { backend, call } = setup()
    const first = await call('GET', '/v1/kv/default?prefix=a')
    expect(first.json['keys']).toEqual(['a', 'b'])
    expect(typeof first.json['cursor']).toBe('string')
    expect(backend.lists[0]).toMatchObject({ prefix: 'a', after: '', limit: 50 })
    await call('GET', `/v1/kv/default?prefix=a&limit=3&cursor=${first.json['cursor']}`)
    expect(backend.lists[1]).toMatchObject({ prefix: 'a', after: 'b', limit: 3 })
    const foreign = await call('GET', `/v1/kv/default?prefix=b&cursor=${first.json['cursor']}`)
    expect(foreign.status).toBe(400)
  })
})
