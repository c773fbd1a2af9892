/**
 * Goal: each CRDT behaviour the API promises, shown on its own through real nodes: counters
 * sum increments and decrements from every coordinator; an Idempotency-Key makes a retry
 * through another coordinator count once (and a reused key with another body is refused); a
 * key holds one type; a set's remove with a read's context loses to an add it did not see
 * (add wins), a remove without context of an absent element is refused; hints and read
 * repair merge CRDT state; a node that forwards does not count twice.
 * Method: real nodes on the simulator without message faults, driven through the REST app;
 * each test prints its seed (replay with MURMUR_SEED).
 */

import { describe, expect, it } from 'vitest'
import * as ReplicatedSet from '../../../src/crdt/replicated-set.js'
import type { SimCluster, SimResponse } from '../cluster.js'
import {
  call as callText,
  convergedCluster,
  primariesOf,
  replicationConfig,
  settle,
} from '../replication/harness.js'

function cluster(nodes: number, extra = ''): Promise<SimCluster> {
  return convergedCluster('crdt behaviour', replicationConfig(nodes, extra))
}

/** A request with a JSON body. */
function call(
  sim: SimCluster,
  node: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<SimResponse> {
  const text = body === undefined ? undefined : JSON.stringify(body)
  const withType = text === undefined ? headers : { 'content-type': 'application/json', ...headers }
  return callText(sim, node, method, path, text, withType)
}

function json(response: SimResponse): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>
}

describe('counters', () => {
  it('sum increments and decrements from every coordinator', async () => {
    const sim = await cluster(3)
    for (const [index, node] of ['n1', 'n2', 'n3'].entries()) {
      const response = await call(sim, node, 'POST', '/v1/counters/default/hits', {
        increment: index + 1,
      })
      expect(response.status, response.body).toBe(200)
    }
    const down = await call(sim, 'n2', 'POST', '/v1/counters/default/hits', { decrement: 2 })
    expect(json(down)).toEqual({ value: 4 })
    for (const node of ['n1', 'n2', 'n3']) {
      const read = await call(sim, node, 'GET', '/v1/counters/default/hits?r=all')
      expect(json(read)).toEqual({ value: 4 })
    }
    expect((await call(sim, 'n1', 'GET', '/v1/counters/default/never')).status).toBe(404)
  })

  it('count a keyed update once when it is retried through another coordinator', async () => {
    const sim = await cluster(4)
    const [first, second] = primariesOf(sim, 'retried')
    const headers = { 'Idempotency-Key': 'order-17' }
    const path = '/v1/counters/default/retried'
    const one = await call(sim, first as string, 'POST', path, { increment: 5 }, headers)
    expect(json(one)).toEqual({ value: 5 })
    const again = await call(sim, second as string, 'POST', path, { increment: 5 }, headers)
    expect(again.status).toBe(200)
    expect(again.headers.get('Idempotent-Replayed')).toBe('true')
    expect(json(again)).toEqual({ value: 5 })
    const reused = await call(sim, 'n1', 'POST', path, { increment: 6 }, headers)
    expect(reused.status).toBe(409)
    expect(json(reused)['error']).toMatchObject({ reason: 'idempotency_key_reused' })
    const plain = await call(sim, 'n1', 'POST', path, { increment: 5 })
    expect(json(plain)).toEqual({ value: 10 })
  })

  it('merge both copies of an update made on an isolated coordinator and retried elsewhere', async () => {
    const sim = await cluster(3)
    const path = '/v1/counters/default/isolated'
    const headers = { 'Idempotency-Key': 'payment-9' }
    expect((await call(sim, 'n1', 'POST', path, { increment: 1 })).status).toBe(200)
    sim.pause('n1')
    // w=one: the isolated coordinator stores the update alone and answers.
    const lone = await call(sim, 'n1', 'POST', `${path}?w=one`, { increment: 7 }, headers)
    expect(lone.status).toBe(200)
    const retry = await call(sim, 'n2', 'POST', `${path}?w=one`, { increment: 7 }, headers)
    expect(retry.status).toBe(200)
    expect(retry.headers.get('Idempotent-Replayed')).toBeNull()
    sim.resume('n1')
    const merged = await call(sim, 'n3', 'GET', `${path}?r=all&repair=blocking`)
    expect(json(merged)).toEqual({ value: 8 })
  })

  it('refuse a key that holds another type, and DELETE', async () => {
    const sim = await cluster(3)
    expect((await call(sim, 'n1', 'PUT', '/v1/kv/default/plain', 'x')).status).toBe(204)
    const mismatch = await call(sim, 'n2', 'POST', '/v1/counters/default/plain', { increment: 1 })
    expect(mismatch.status).toBe(409)
    expect(json(mismatch)['error']).toMatchObject({ code: 'type_mismatch' })
    expect((await call(sim, 'n1', 'POST', '/v1/sets/default/c', { add: ['a'] })).status).toBe(200)
    expect((await call(sim, 'n3', 'GET', '/v1/counters/default/c')).status).toBe(409)
    const put = await call(sim, 'n3', 'PUT', '/v1/kv/default/c', 'y')
    expect(put.status).toBe(409)
    expect((await call(sim, 'n1', 'DELETE', '/v1/counters/default/c')).status).toBe(405)
  })
})

describe('sets', () => {
  it('let an add the remover did not see win, and refuse a blind remove of an absent element', async () => {
    const sim = await cluster(3)
    const path = '/v1/sets/default/tags'
    const added = await call(sim, 'n1', 'POST', path, { add: ['red', 'blue'] })
    expect(json(added)).toMatchObject({ elements: ['blue', 'red'], size: 2 })
    const read = json(await call(sim, 'n2', 'GET', path))
    await call(sim, 'n3', 'POST', path, { add: ['red'] })
    const removed = await call(sim, 'n2', 'POST', path, {
      remove: ['red', 'blue'],
      context: read['context'],
    })
    expect(json(removed)).toMatchObject({ elements: ['red'], size: 1 })
    const blind = await call(sim, 'n1', 'POST', path, { remove: ['green'] })
    expect(blind.status).toBe(412)
    const final = json(await call(sim, 'n1', 'GET', `${path}?r=all`))
    expect(final['elements']).toEqual(['red'])
  })

  it('keep metadata bounded under add/remove churn of one element', async () => {
    const sim = await cluster(3)
    const path = '/v1/sets/default/churn'
    let context = ''
    for (let cycle = 0; cycle < 150; cycle++) {
      const node = ['n1', 'n2', 'n3'][cycle % 3] as string
      context = json(await call(sim, node, 'POST', path, { add: ['x'] }))['context'] as string
      const removed = await call(sim, node, 'POST', path, { remove: ['x'], context })
      expect(json(removed)['size']).toBe(0)
    }
    const ring = sim.node('n1').ring
    const address = sim.node('n1').kv.coordinator().addressOf('default', 'churn')
    expect(ring.partitionCount).toBeGreaterThan(0)
    const record = await settle(sim, sim.node('n1').kv.store.read(address), 1000)
    // Three actors' clock entries and no tombstones: the same size after 1 cycle or 150.
    expect(ReplicatedSet.byteSize(record?.set ?? ReplicatedSet.empty())).toBeLessThan(120)
  })

  it('remove every copy of a keyed add retried elsewhere once a remove saw one of them', async () => {
    const sim = await cluster(3)
    const path = '/v1/sets/default/retried'
    const headers = { 'Idempotency-Key': 'add-e' }
    sim.pause('n1')
    // The isolated coordinator applies the add alone and answers with w=one; the client's
    // retry reaches n2, which has not seen it, and applies it again under another dot.
    expect(
      (await call(sim, 'n1', 'POST', `${path}?w=one`, { add: ['e', 'f'] }, headers)).status,
    ).toBe(200)
    const retry = await call(sim, 'n2', 'POST', `${path}?w=one`, { add: ['e', 'f'] }, headers)
    expect(retry.status).toBe(200)
    expect(retry.headers.get('Idempotent-Replayed')).toBeNull()
    // A remove of e with the retry answer's context saw the add, so e must go for good.
    const removed = await call(sim, 'n2', 'POST', path, {
      remove: ['e'],
      context: json(retry)['context'],
    })
    expect(removed.status).toBe(200)
    sim.resume('n1')
    for (const node of ['n1', 'n2', 'n3']) {
      const read = await call(sim, node, 'GET', `${path}?r=all&repair=blocking`)
      expect(json(read)).toMatchObject({ elements: ['f'], size: 1 })
    }
  })

  it('apply a keyed set update once', async () => {
    const sim = await cluster(3)
    const path = '/v1/sets/default/once'
    const headers = { 'Idempotency-Key': 'add-a' }
    await call(sim, 'n1', 'POST', path, { add: ['a'] }, headers)
    const read = json(await call(sim, 'n1', 'GET', path))
    await call(sim, 'n1', 'POST', path, { remove: ['a'], context: read['context'] })
    const retry = await call(sim, 'n2', 'POST', path, { add: ['a'] }, headers)
    expect(retry.headers.get('Idempotent-Replayed')).toBe('true')
    expect(json(retry)).toMatchObject({ elements: [], size: 0 })
  })
})
