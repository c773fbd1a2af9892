/**
 * Goal: the `/v1/counters` and `/v1/sets` routes turn every bad input into its documented 4xx
 * JSON error before any replication work, hand well-formed updates to the service exactly as
 * asked (amount sign, element lists, decoded context, levels, idempotency id), and render
 * counters, sets, absence and type conflicts as docs/API.md says.
 * Method: the real hono app with a recording fake backend; requests go through app.request.
 */

import { describe, expect, it } from 'vitest'
import { createApp } from '../../../src/api/app.js'
import { type CrdtBackend, crdtRoutes, updateId } from '../../../src/api/crdt-routes.js'
import type { KvKeyspace } from '../../../src/api/kv-routes.js'
import * as Orswot from '../../../src/crdt/orswot.js'
import * as ReplicatedCounter from '../../../src/crdt/replicated-counter.js'
import * as ReplicatedSet from '../../../src/crdt/replicated-set.js'
import { silentLogger } from '../../../src/env/log.js'
import type { CrdtWriteOutcome, CrdtWriteRequest } from '../../../src/replication/crdt-messages.js'
import type { KeyRecord } from '../../../src/replication/record.js'
import type { ReadOutcome, ReadRequest } from '../../../src/replication/requests.js'
import { encodeContextToken } from '../../../src/versioning/context-token.js'

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
    name: 'strong',
    mode: 'strong',
    replicas: 3,
    read: 'quorum',
    write: 'quorum',
    durability: 'sync',
  },
]

class FakeBackend implements CrdtBackend {
  reads: ReadRequest[] = []
  updates: CrdtWriteRequest[] = []
  record: KeyRecord = {}
  replayed = false

  keyspace(name: string): KvKeyspace | undefined {
    return KEYSPACES.find((keyspace) => keyspace.name === name)
  }
  admit(): () => void {
    return () => undefined
  }
  async read(request: ReadRequest): Promise<ReadOutcome> {
    this.reads.push(request)
    return { record: this.record, replicas: ['n1', 'n2'], hinted: [] }
  }
  async update(request: CrdtWriteRequest): Promise<CrdtWriteOutcome> {
    this.updates.push(request)
    return {
      record: this.record,
      replayed: this.replayed,
      coordinator: 'n1',
      replicas: ['n1'],
      hinted: [],
    }
  }
}

function setup(): {
  backend: FakeBackend
  send: (
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ) => Promise<Response>
} {
  const backend = new FakeBackend()
  const app = createApp({
    requestBodyBytesMax: 4096,
    log: silentLogger,
    routes: [
      crdtRoutes({
        backend,
        keyBytesMax: 32,
        requestBodyBytesMax: 4096,
        setElementBytesMax: 8,
        setElementsMax: 3,
        timeoutMs: 1000,
        timeoutMsMax: 5000,
        readRepair: 'async',
      }),
    ],
  })
  const send = (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    Promise.resolve(
      app.request(path, {
        method,
        headers,
        ...(body === undefined
          ? {}
          : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    )
  return { backend, send }
}

async function errorOf(response: Response): Promise<{ code: string; [detail: string]: unknown }> {
  const body = (await response.json()) as { error: { code: string } }
  return body.error
}

const counterRecord = (value: number): KeyRecord => ({
  counter: ReplicatedCounter.update(ReplicatedCounter.empty(), 'n1.a.1', value),
})
const setRecord = (...elements: string[]): KeyRecord => ({
  set: ReplicatedSet.withSet(
    ReplicatedSet.empty(),
    Orswot.addAll(Orswot.empty(), 'n1.a.1', elements),
    undefined,
  ),
})

describe('counter routes', () => {
  it('reads a counter, 404 when never written, 409 when the key holds another type', async () => {
    const { backend, send } = setup()
    backend.record = counterRecord(7)
    const read = await send('GET', '/v1/counters/default/hits?r=one')
    expect(read.status).toBe(200)
    expect(await read.json()).toEqual({ value: 7 })
    expect(backend.reads[0]?.requirement).toEqual({ total: 1, primaries: 0 })
    backend.record = {}
    expect((await errorOf(await send('GET', '/v1/counters/default/hits'))).code).toBe('not_found')
    backend.record = setRecord('a')
    const mismatch = await send('GET', '/v1/counters/default/hits')
    expect(mismatch.status).toBe(409)
    expect(await errorOf(mismatch)).toMatchObject({ code: 'type_mismatch', storedTypes: ['set'] })
  })

  it('hands increments and decrements to the service with their sign and levels', async () => {
    const { backend, send } = setup()
    backend.record = counterRecord(2)
    expect((await send('POST', '/v1/counters/default/k?w=all&pw=1', { increment: 2 })).status).toBe(
      200,
    )
    await send('POST', '/v1/counters/default/k', { decrement: 3 }, { 'Idempotency-Key': 'abc' })
    const [first, second] = backend.updates
    expect(first?.update).toEqual({ operation: { type: 'counter', amount: 2 }, id: undefined })
    expect(first?.requirement).toEqual({ total: 3, primaries: 1 })
    expect(second?.update.operation).toEqual({ type: 'counter', amount: -3 })
    expect(second?.update.id).toBe(updateId('abc', { type: 'counter', amount: -3 }))
  })

  it('marks a replayed update', async () => {
    const { backend, send } = setup()
    backend.record = counterRecord(1)
    backend.replayed = true
    const response = await send(
      'POST',
      '/v1/counters/default/k',
      { increment: 1 },
      { 'Idempotency-Key': 'x' },
    )
    expect(response.headers.get('Idempotent-Replayed')).toBe('true')
  })

  it.each([
    ['{"increment": 0}', 400, 'invalid_request'],
    ['{"increment": -1}', 400, 'invalid_request'],
    ['{"increment": 1.5}', 400, 'invalid_request'],
    ['{"increment": "1"}', 400, 'invalid_request'],
    ['{"increment": 9007199254740992}', 400, 'invalid_request'],
    ['{"increment": 1, "decrement": 1}', 400, 'invalid_request'],
    ['{}', 400, 'invalid_request'],
    ['{"add": ["a"]}', 400, 'invalid_request'],
    ['[1]', 400, 'invalid_request'],
    ['not json', 400, 'invalid_request'],
    [`{"increment": 1, "pad": "${'x'.repeat(5000)}"}`, 413, 'payload_too_large'],
  ])('refuses the body %s', async (body, status, code) => {
    const { backend, send } = setup()
    const response = await send('POST', '/v1/counters/default/k', body)
    expect(response.status).toBe(status)
    expect((await errorOf(response)).code).toBe(code)
    expect(backend.updates).toHaveLength(0)
  })

  it.each([
    ['POST', '/v1/counters/default/k?w=9', 400, 'invalid_consistency'],
    ['POST', '/v1/counters/default/k?x=1', 400, 'invalid_request'],
    ['POST', '/v1/counters/default/k?timeout=0', 400, 'invalid_request'],
    ['GET', '/v1/counters/default/k?repair=never', 400, 'invalid_request'],
    ['POST', '/v1/counters/nope/k', 404, 'unknown_keyspace'],
    ['POST', '/v1/counters/strong/k', 404, 'unknown_keyspace'],
    ['POST', '/v1/counters/default', 400, 'invalid_request'],
    ['POST', `/v1/counters/default/${'k'.repeat(33)}`, 400, 'invalid_request'],
    ['POST', '/v1/counters/default/%E0%A4%A', 400, 'invalid_request'],
    ['DELETE', '/v1/counters/default/k', 405, 'method_not_allowed'],
    ['PUT', '/v1/counters/default/k', 405, 'method_not_allowed'],
  ])('refuses %s %s', async (method, path, status, code) => {
    const { backend, send } = setup()
    const response = await send(method, path, method === 'GET' ? undefined : { increment: 1 })
    expect(response.status).toBe(status)
    expect((await errorOf(response)).code).toBe(code)
    expect(backend.updates).toHaveLength(0)
  })

  it('refuses a malformed Idempotency-Key', async () => {
    const { send } = setup()
    for (const key of ['has space', 'x'.repeat(256)]) {
      const response = await send(
        'POST',
        '/v1/counters/default/k',
        { increment: 1 },
        { 'Idempotency-Key': key },
      )
      expect(response.status).toBe(400)
    }
  })
})

describe('set routes', () => {
  it('reads a set with its context', async () => {
    const { backend, send } = setup()
    backend.record = setRecord('b', 'a')
    const response = await send('GET', '/v1/sets/default/tags')
    const body = (await response.json()) as Record<string, unknown>
    expect(body).toEqual({
      elements: ['a', 'b'],
      size: 2,
      context: encodeContextToken(Orswot.context(backend.record.set?.set ?? Orswot.empty())),
    })
  })

  it('hands adds, removes and the decoded context to the service', async () => {
    const { backend, send } = setup()
    backend.record = setRecord('a')
    const context = encodeContextToken(new Map([['n1.a.1', 1]]))
    const response = await send('POST', '/v1/sets/default/tags', {
      add: ['x'],
      remove: ['a'],
      context,
    })
    expect(response.status).toBe(200)
    expect(backend.updates[0]?.update.operation).toEqual({
      type: 'set',
      add: ['x'],
      remove: ['a'],
      context: new Map([['n1.a.1', 1]]),
    })
  })

  it.each([
    ['{}', 400, 'invalid_request'],
    ['{"add": []}', 400, 'invalid_request'],
    ['{"add": "a"}', 400, 'invalid_request'],
    ['{"add": [1]}', 400, 'invalid_request'],
    ['{"add": ["\\ud800"]}', 400, 'invalid_request'],
    ['{"add": ["123456789"]}', 413, 'value_too_large'],
    ['{"add": ["a", "b", "c", "d"]}', 413, 'value_too_large'],
    ['{"remove": ["a"], "context": 5}', 400, 'invalid_request'],
    ['{"remove": ["a"], "context": "garbage!"}', 400, 'invalid_context'],
    ['{"add": ["a"], "increment": 1}', 400, 'invalid_request'],
  ])('refuses the body %s', async (body, status, code) => {
    const { backend, send } = setup()
    const response = await send('POST', '/v1/sets/default/tags', body)
    expect(response.status).toBe(status)
    expect((await errorOf(response)).code).toBe(code)
    expect(backend.updates).toHaveLength(0)
  })
})

describe('update ids', () => {
  it('are equal for a retry and differ for another key or other content', () => {
    const add = { type: 'set', add: ['a'], remove: [], context: undefined } as const
    expect(updateId('k', add)).toBe(updateId('k', add))
    expect(updateId('k', add)).not.toBe(updateId('j', add))
    const other = updateId('k', { ...add, add: ['b'] })
    expect(other).not.toBe(updateId('k', add))
    expect(ReplicatedCounter.keyDigestOf(other)).toBe(
      ReplicatedCounter.keyDigestOf(updateId('k', add)),
    )
    expect(updateId('k', add).length).toBeLessThanOrEqual(ReplicatedCounter.UPDATE_ID_CHARS_MAX)
  })
})
