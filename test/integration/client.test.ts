/**
 * Goal: the typed client (src/client) works against a real 3-node cluster: eventual values
 * with siblings and contexts, strong compare-and-set with versions and request ids, locks
 * whose fencing tokens refuse a released holder's writes, and retries that go through another
 * node when one is killed. Method: `murmur start` processes on 127.0.0.1 with free ports
 * (test/support/cluster.ts), one client per scenario; every wait is bounded and every process
 * is stopped by its PID.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MurmurClient, MurmurClientError } from '../../src/client/index.js'
import { eventually, TestCluster } from '../support/cluster.js'

let cluster: TestCluster
let urls: string[]

beforeAll(async () => {
  cluster = await TestCluster.create({
    nodes: 3,
    file: {
      keyspaces: {
        default: { replicas: 3, read: 'quorum', write: 'quorum' },
        strong: { mode: 'strong', replicas: 3 },
      },
      raft: { tickMs: 100, electionTicks: 10 },
      requests: { timeoutMs: 2000 },
    },
  })
  await cluster.startAll()
  urls = cluster.nodes.map((node) => node.url)
  for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', 20_000)
  await eventually(
    async () => (await new MurmurClient({ nodes: [urls[0]!] }).raft()).leader != null,
    15_000,
    'no raft leader',
  )
}, 60_000)

afterAll(async () => {
  await cluster?.destroy()
}, 30_000)

function text(bytes: Uint8Array | null | undefined): string {
  return bytes == null ? '' : Buffer.from(bytes).toString('utf8')
}

async function failure(promise: Promise<unknown>): Promise<MurmurClientError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof MurmurClientError) return error
    throw error
  }
  throw new Error('expected the call to fail')
}

describe('eventual keyspaces', () => {
  it('concurrent writes become siblings; a write with their context resolves them', async () => {
    const one = new MurmurClient({ nodes: [urls[0]!] })
    const two = new MurmurClient({ nodes: [urls[1]!] })
    await one.kv.put('default', 'cart', 'apple')
    await two.kv.put('default', 'cart', 'pear')
    const read = await one.kv.get('default', 'cart', { r: 'all' })
    expect(read.found).toBe(true)
    expect(read.siblings.map((sibling) => text(sibling.value)).sort()).toEqual(['apple', 'pear'])
    expect(read.context).not.toBe('')
    const written = await two.kv.put('default', 'cart', 'apple,pear', {
      context: read.context,
      w: 'all',
    })
    expect(written.replicas).toHaveLength(3)
    const resolved = await one.kv.get('default', 'cart', { r: 'quorum', repair: 'blocking' })
    expect(resolved.siblings).toHaveLength(1)
    expect(text(resolved.siblings[0]?.value)).toBe('apple,pear')
    expect(resolved.siblings[0]?.contentType).toMatch(/^text\/plain/)
  })

  it('deletes with a context; a deleted key reads as not found with its tombstone context', async () => {
    const client = new MurmurClient({ nodes: urls })
    const written = await client.kv.put('default', 'gone', new Uint8Array([1, 2, 3]))
    await client.kv.delete('default', 'gone', { context: written.context, w: 'all' })
    const read = await client.kv.get('default', 'gone', { r: 'all' })
    expect(read.found).toBe(false)
    expect(read.context).not.toBe('')
    const never = await client.kv.get('default', 'never-written')
    expect(never).toMatchObject({ found: false, siblings: [] })
  })

  it('lists keys a page at a time and reports errors with their API code', async () => {
    const client = new MurmurClient({ nodes: urls })
    for (const index of [1, 2, 3])
      await client.kv.put('default', `user/${index}`, `{"id":${index}}`)
    const first = await client.kv.list('default', { prefix: 'user/', limit: 2 })
    const rest =
      first.cursor === null
        ? { keys: [] }
        : await client.kv.list('default', { prefix: 'user/', limit: 2, cursor: first.cursor })
    expect([...first.keys, ...rest.keys]).toEqual(['user/1', 'user/2', 'user/3'])
    const unknown = await failure(client.kv.get('nope', 'k'))
    expect(unknown).toMatchObject({ code: 'unknown_keyspace', status: 404 })
    const badLevel = await failure(client.kv.get('default', 'k', { r: 9 }))
    expect(badLevel).toMatchObject({ code: 'invalid_consistency', status: 400 })
  })
})

describe('counters and sets', () => {
  it('counter updates count once per Idempotency-Key; sets add and remove with a context', async () => {
    const client = new MurmurClient({ nodes: urls })
    expect(await client.counters.get('default', 'visits')).toBeUndefined()
    expect(await client.counters.increment('default', 'visits', 5)).toBe(5)
    await client.counters.increment('default', 'visits', 2, { idempotencyKey: 'retry-me' })
    await client.counters.increment('default', 'visits', 2, { idempotencyKey: 'retry-me' })
    expect(await client.counters.decrement('default', 'visits', 1)).toBe(6)
    expect(await client.counters.get('default', 'visits', { r: 'all' })).toBe(6)
    const added = await client.sets.add('default', 'tags', ['red', 'blue'])
    expect([...added.elements].sort()).toEqual(['blue', 'red'])
    const read = await client.sets.get('default', 'tags', { r: 'all' })
    const removed = await client.sets.remove('default', 'tags', ['red'], read?.context ?? '')
    expect(removed.elements).toEqual(['blue'])
    const mismatch = await failure(client.counters.get('default', 'tags'))
    expect(mismatch.code).toBe('type_mismatch')
  })
})

describe('strong keyspaces and locks', () => {
  it('compare-and-set on versions, create-only, and request ids that apply once', async () => {
    const client = new MurmurClient({ nodes: urls })
    const first = await client.strong.put('strong', 'config', 'v1')
    expect(first.version).toBeGreaterThan(0)
    const read = await client.strong.get('strong', 'config')
    expect(read).toMatchObject({ found: true, version: first.version })
    expect(text(read.value)).toBe('v1')
    const second = await client.strong.put('strong', 'config', 'v2', { ifMatch: first.version! })
    expect(second.version).toBeGreaterThan(first.version!)
    const lost = await failure(
      client.strong.put('strong', 'config', 'v3', { ifMatch: first.version! }),
    )
    expect(lost).toMatchObject({ code: 'precondition_failed', status: 412, definite: true })
    expect(lost.details['currentVersion']).toBe(`"${second.version}"`)
    const exists = await failure(client.strong.put('strong', 'config', 'x', { ifNoneMatch: '*' }))
    expect(exists.code).toBe('precondition_failed')
    const once = await client.strong.put('strong', 'payment', 'charged', { requestId: 'pay-1' })
    const again = await client.strong.put('strong', 'payment', 'charged', { requestId: 'pay-1' })
    expect(again.version).toBe(once.version)
    const serializable = await client.strong.get('strong', 'nothing', {
      consistency: 'serializable',
    })
    expect(serializable.found).toBe(false)
  })

  it('a lock fences writes: a released token is refused with stale_token', async () => {
    const client = new MurmurClient({ nodes: urls })
    const grant = await client.locks.acquire('reports', 10_000)
    expect(grant.fencingToken).toBe(`reports:${grant.token}`)
    const held = await failure(client.locks.acquire('reports', 10_000))
    expect(held.code).toBe('precondition_failed')
    await client.strong.put('strong', 'report', 'done', { fencingToken: grant })
    const renewed = await client.locks.renew('reports', grant.token, 20_000)
    expect(renewed.token).toBe(grant.token)
    await client.locks.release('reports', grant.token)
    const late = await failure(
      client.strong.put('strong', 'report', 'late', { fencingToken: grant }),
    )
    expect(late).toMatchObject({ code: 'stale_token', status: 409 })
    expect(text((await client.strong.get('strong', 'report')).value)).toBe('done')
    const next = await client.locks.acquire('reports', 10_000)
    expect(next.token).toBeGreaterThan(grant.token)
  })

  it('reports the cluster, the ring and the raft group', async () => {
    const client = new MurmurClient({ nodes: urls })
    const view = await client.cluster()
    expect(view.members.map((member) => member.id)).toEqual(['n1', 'n2', 'n3'])
    expect(await client.keyspaceMode('strong')).toBe('strong')
    expect(await client.keyspaceMode('default')).toBe('eventual')
    expect(await client.keyspaceMode('missing')).toBeUndefined()
  })
})

describe('retries', () => {
  it('reads and retry-safe writes go through another node when one is killed', async () => {
    const client = new MurmurClient({ nodes: urls, timeoutMs: 3000, retries: 3, backoffMs: 20 })
    await client.kv.put('default', 'survivor', 'alive', { w: 'all' })
    await cluster.kill('n1')
    // Each call starts at the next node, so some of these begin at the dead one.
    for (let index = 0; index < 6; index++) {
      const read = await client.kv.get('default', 'survivor')
      expect(text(read.siblings[0]?.value)).toBe('alive')
    }
    const strong = await client.strong.put('strong', 'after-kill', 'ok', { timeoutMs: 2000 })
    expect(strong.version).toBeGreaterThan(0)
    // Without retries, a call that starts at the dead node fails as unavailable (exit code 3).
    const single = new MurmurClient({ nodes: [urls[0]!], retries: 0 })
    const down = await failure(single.kv.get('default', 'survivor'))
    expect(down).toMatchObject({ code: 'unavailable', status: 0, definite: true })
  }, 60_000)
})
