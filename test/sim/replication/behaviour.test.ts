/**
 * Goal: each replication behaviour the API promises, shown on its own: concurrent writes
 * become siblings and a write with the read's context resolves them; a write's context
 * supersedes exactly what the client saw plus its own write; delete-then-recreate is safe;
 * sibling limits warn and refuse; a non-primary forwards writes; sloppy quorum stores hints
 * on fallbacks (and `pw` refuses to count them), hints reach the primary when it is back; a
 * paused primary does not block quorum writes; read repair fixes a stale primary; a fallback
 * coordinator never reuses a dot; an overwrite through a primary that missed the overwritten
 * write still supersedes it everywhere; listing pages through live keys exactly once.
 * Method: real nodes on the simulator without message faults, driven through the REST app;
 * each test prints its seed (replay with MURMUR_SEED).
 */

import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { partitionForKey } from '../../../src/ring/index.js'
import { contextCovers, EMPTY_DOT_CONTEXT } from '../../../src/versioning/dot-context.js'
import type { SimCluster } from '../cluster.js'
import {
  call,
  convergedCluster,
  hintsHeld,
  keyPath,
  observe,
  primariesOf,
  replicationConfig,
  settle,
} from './harness.js'

function cluster(nodes: number, extra = ''): Promise<SimCluster> {
  return convergedCluster('replication behaviour', replicationConfig(nodes, extra))
}

/** Runs until every running node sees `node` in `state`, within 60 s of virtual time (with most members down, Lifeguard stretches suspicion). */
async function untilState(sim: SimCluster, node: string, states: readonly string[]): Promise<void> {
  const seen = await sim.sim.runUntil(
    () =>
      sim.nodeIds
        .filter((id) => id !== node && sim.isRunning(id))
        .every((id) =>
          states.includes(
            sim
              .node(id)
              .membership.members()
              .find((member) => member.id === node)?.state ?? '',
          ),
        ),
    { untilMs: sim.sim.nowMs + 60_000 },
  )
  const views = sim.nodeIds
    .filter((id) => id !== node && sim.isRunning(id))
    .map(
      (id) =>
        `${id}:${
          sim
            .node(id)
            .membership.members()
            .find((m) => m.id === node)?.state
        }`,
    )
  expect(seen, `${node} seen as ${views.join(' ')} at ${sim.sim.nowMs}`).toBe(true)
}

async function localRecord(sim: SimCluster, node: string, key: string) {
  const ring = sim.node(node).ring
  const partition = partitionForKey(ring.partitionCount, 'default', key)
  return sim.node(node).kv.store.read({ partition, keyspace: 'default', key })
}

describe('versions and siblings', () => {
  it('keeps concurrent writes as siblings and resolves them with the read context', async () => {
    const sim = await cluster(3)
    const [first, second] = await settle(
      sim,
      Promise.all([
        sim.request('n1', 'PUT', keyPath('cart'), 'apple'),
        sim.request('n2', 'PUT', keyPath('cart'), 'pear'),
      ]),
      10_000,
    )
    expect([first.status, second.status]).toEqual([204, 204])
    const read = await call(sim, 'n3', 'GET', keyPath('cart'))
    expect(read.status).toBe(300)
    expect([...observe(read).values].sort()).toEqual(['apple', 'pear'])
    const context = { 'X-Murmur-Context': observe(read).context }
    expect((await call(sim, 'n3', 'PUT', keyPath('cart'), 'apple+pear', context)).status).toBe(204)
    const resolved = await call(sim, 'n1', 'GET', keyPath('cart', 'r=all'))
    expect(resolved.status).toBe(200)
    expect(resolved.body).toBe('apple+pear')
  })

  it("supersedes exactly what a write's context saw plus the client's own write", async () => {
    const sim = await cluster(3)
    const mine = await call(sim, 'n1', 'PUT', keyPath('doc'), 'v1')
    expect((await call(sim, 'n2', 'PUT', keyPath('doc'), 'theirs')).status).toBe(204)
    const again = await call(sim, 'n1', 'PUT', keyPath('doc'), 'v2', {
      'X-Murmur-Context': observe(mine).context,
    })
    expect(again.status).toBe(204)
    const read = await call(sim, 'n3', 'GET', keyPath('doc', 'r=all'))
    expect([...observe(read).values].sort()).toEqual(['theirs', 'v2'])
  })

  it('recreates a deleted key cleanly with the tombstone context', async () => {
    const sim = await cluster(3)
    await call(sim, 'n1', 'PUT', keyPath('gone'), 'old')
    const read = observe(await call(sim, 'n2', 'GET', keyPath('gone')))
    const deleted = await call(sim, 'n2', 'DELETE', keyPath('gone'), undefined, {
      'X-Murmur-Context': read.context,
    })
    expect(deleted.status).toBe(204)
    const missing = await call(sim, 'n3', 'GET', keyPath('gone'))
    expect(missing.status).toBe(404)
    const tombstone = missing.headers.get('X-Murmur-Context') ?? ''
    expect(tombstone).not.toBe('')
    await call(sim, 'n3', 'PUT', keyPath('gone'), 'new', { 'X-Murmur-Context': tombstone })
    const recreated = await call(sim, 'n1', 'GET', keyPath('gone', 'r=all'))
    expect(recreated.status).toBe(200)
    expect(recreated.body).toBe('new')
  })

  it('warns at siblingsWarn and refuses writes beyond siblingsMax', async () => {
    const sim = await cluster(3, 'limits: { siblingsWarn: 2, siblingsMax: 3 }')
    const statuses: number[] = []
    let warning: string | null = null
    for (const value of ['a', 'b', 'c', 'd']) {
      const response = await call(sim, 'n1', 'PUT', keyPath('hot'), value)
      statuses.push(response.status)
      warning ??= response.headers.get('X-Murmur-Warning')
    }
    expect(statuses).toEqual([204, 204, 204, 409])
    expect(warning).toMatch(/siblings/)
    const refused = await call(sim, 'n1', 'PUT', keyPath('hot'), 'e')
    expect(JSON.parse(refused.body).error).toMatchObject({
      code: 'too_many_siblings',
      definite: true,
    })
    const read = await call(sim, 'n2', 'GET', keyPath('hot'))
    expect(read.headers.get('X-Murmur-Warning')).toMatch(/3 siblings/)
    const resolved = await call(sim, 'n2', 'PUT', keyPath('hot'), 'merged', {
      'X-Murmur-Context': observe(read).context,
    })
    expect(resolved.status).toBe(204)
  })
})

describe('coordination and sloppy quorum', () => {
  it('forwards a write from a node that is not a primary to one that is', async () => {
    const sim = await cluster(5)
    const key = 'forwarded'
    const outsider = sim.nodeIds.find((id) => !primariesOf(sim, key).includes(id)) as string
    const response = await call(sim, outsider, 'PUT', keyPath(key), 'x')
    expect(response.status).toBe(204)
    expect(primariesOf(sim, key)).toContain(response.headers.get('X-Murmur-Coordinator'))
  })

  it('runs a forwarded write once when the network delivers the request twice', async () => {
    const sim = await cluster(5)
    const key = 'forwarded-twice'
    const outsider = sim.nodeIds.find((id) => !primariesOf(sim, key).includes(id)) as string
    sim.faults.setRates({
      lossProbability: 0,
      duplicateProbability: 1,
      delayMsMin: 1,
      delayMsMax: 5,
    })
    const response = await call(sim, outsider, 'PUT', keyPath(key), 'once')
    expect(response.status).toBe(204)
    const coordinator = response.headers.get('X-Murmur-Coordinator') as string
    // Let the second copy arrive and be answered before looking.
    await sim.sim.runFor(100)
    const read = await call(sim, outsider, 'GET', keyPath(key, 'r=all'))
    // One write, one version: a second dot would make two siblings holding the same value.
    expect(read.status).toBe(200)
    expect(read.body).toBe('once')
    expect(sim.node(coordinator).kv.coordinator().counters.forwardsDeduplicated).toBe(1)
  })

  it('stands in fallbacks for a dead primary, counts them only without pw, and hands hints back', async () => {
    const sim = await cluster(5)
    const key = 'hinted'
    const [coordinator, , down] = primariesOf(sim, key) as [string, string, string]
    await sim.crash(down)
    await untilState(sim, down, ['dead'])
    const strict = await call(sim, coordinator, 'PUT', keyPath(key, 'w=3&pw=3'), 'x')
    expect(strict.status).toBe(503)
    expect(JSON.parse(strict.body).error).toMatchObject({
      code: 'quorum_unavailable',
      primariesRequired: 3,
      definite: false,
    })
    const sloppy = await call(sim, coordinator, 'PUT', keyPath(key, 'w=3'), 'y')
    expect(sloppy.status).toBe(204)
    expect(sloppy.headers.get('X-Murmur-Hinted')).toMatch(new RegExp(`>${down}$`))
    expect(hintsHeld(sim)).toBe(1)
    await sim.start(down)
    const drained = await sim.sim.runUntil(() => hintsHeld(sim) === 0, {
      untilMs: sim.sim.nowMs + 20_000,
    })
    expect(drained).toBe(true)
    const handedOff = await localRecord(sim, down, key)
    expect(handedOff?.kv?.siblings.length).toBe(2)
  })

  it('does not block quorum writes on a paused primary, and replaces it for w=all', async () => {
    const sim = await cluster(5)
    const key = 'paused'
    const [coordinator, , paused] = primariesOf(sim, key) as [string, string, string]
    sim.pause(paused)
    const startedMs = sim.sim.nowMs
    expect((await call(sim, coordinator, 'PUT', keyPath(key), 'q')).status).toBe(204)
    expect(sim.sim.nowMs - startedMs).toBeLessThan(100)
    const all = await call(sim, coordinator, 'PUT', keyPath(key, 'w=all'), 'a')
    expect(all.status).toBe(204)
    expect(all.headers.get('X-Murmur-Hinted')).toMatch(new RegExp(`>${paused}$`))
    sim.resume(paused)
  })

  it('asks only the replicas a read level needs, this node first', async () => {
    const sim = await cluster(3)
    const key = 'narrowed'
    const [first] = primariesOf(sim, key) as [string]
    expect((await call(sim, first, 'PUT', keyPath(key, 'w=all'), 'v')).status).toBe(204)
    for (const [level, asked] of [
      ['one', 1],
      ['quorum', 2],
      ['all', 3],
    ] as const) {
      const before = sim.node(first).kv.coordinator().counters.readsNarrowed
      const read = await call(sim, first, 'GET', keyPath(key, `r=${level}`))
      expect(read.body).toBe('v')
      const replicas = (read.headers.get('X-Murmur-Replicas') ?? '').split(',')
      expect(replicas, level).toHaveLength(asked)
      expect(replicas[0]).toBe(first)
      const narrowed = sim.node(first).kv.coordinator().counters.readsNarrowed - before
      expect(narrowed, level).toBe(asked < 3 ? 1 : 0)
    }
  })

  it('supersedes the write a context names, through a primary that missed it and cannot read it', async () => {
    const sim = await cluster(3)
    const key = 'missed'
    const [first, second, missed] = primariesOf(sim, key) as [string, string, string]
    expect((await call(sim, first, 'PUT', keyPath(key, 'w=all'), 'theirs')).status).toBe(204)
    sim.faults.isolate(missed, sim.nodeIds)
    // A blind write beside 'theirs': its answer names it by its dot.
    const mine = await call(sim, first, 'PUT', keyPath(key), 'v1')
    expect(mine.status).toBe(204)
    sim.faults.heal()
    expect((await localRecord(sim, missed, key))?.kv?.siblings.length).toBe(1)
    // The primary that missed 'v1' cannot reach the one that coordinated it either, so it
    // cannot read 'v1'; its new record still notes 'v1' as superseded (in its clock's cloud,
    // or in the vector when the dot extends what it saw).
    sim.faults.cut(missed, first)
    sim.faults.cut(first, missed)
    const again = await call(sim, missed, 'PUT', keyPath(key, 'w=2'), 'v2', {
      'X-Murmur-Context': observe(mine).context,
    })
    expect(again.status).toBe(204)
    expect(again.headers.get('X-Murmur-Replicas')?.split(',').sort()).toEqual(
      [missed, second].sort(),
    )
    const held = (await localRecord(sim, first, key))?.kv?.siblings ?? []
    const v1 = held.find(
      ({ payload }) => payload.kind === 'value' && Buffer.from(payload.value).toString() === 'v1',
    )
    expect(v1).toBeDefined()
    const missedClock = (await localRecord(sim, missed, key))?.kv?.clock ?? EMPTY_DOT_CONTEXT
    expect(contextCovers(missedClock, v1?.dot ?? { actor: '', counter: 1 })).toBe(true)
    // The replica that held 'v1' dropped it when it merged the new record.
    expect((await localRecord(sim, second, key))?.kv?.siblings.length).toBe(2)
    sim.faults.heal()
    const read = await call(sim, first, 'GET', keyPath(key, 'r=all&repair=blocking'))
    expect([...observe(read).values].sort()).toEqual(['theirs', 'v2'])
    // Once merged with a replica that saw 'v1', the vector covers it and the cloud is gone.
    expect((await localRecord(sim, first, key))?.kv?.clock.cloud).toEqual([])
  })

  it('repairs a stale primary on read, before the reply when asked to', async () => {
    const sim = await cluster(3)
    const key = 'repaired'
    const [coordinator, , stale] = primariesOf(sim, key) as [string, string, string]
    sim.faults.isolate(stale, sim.nodeIds)
    expect((await call(sim, coordinator, 'PUT', keyPath(key), 'fresh')).status).toBe(204)
    sim.faults.heal()
    expect(await localRecord(sim, stale, key)).toBeUndefined()
    const read = await call(sim, coordinator, 'GET', keyPath(key, 'r=all&repair=blocking'))
    expect(read.body).toBe('fresh')
    expect((await localRecord(sim, stale, key))?.kv?.siblings.length).toBe(1)
  })

  it('never reuses a dot when a fallback coordinates the same key twice', async () => {
    const sim = await cluster(5)
    const key = 'orphan'
    const primaries = primariesOf(sim, key)
    for (const primary of primaries) await sim.crash(primary)
    const live = sim.nodeIds.filter((id) => !primaries.includes(id))
    for (const primary of primaries) await untilState(sim, primary, ['dead'])
    const first = await call(sim, live[0] as string, 'PUT', keyPath(key, 'w=2'), 'one')
    expect(first.status).toBe(204)
    expect(first.headers.get('X-Murmur-Coordinator')).toBe(live[0])
    for (const primary of primaries) await sim.start(primary)
    await sim.sim.runUntil(() => hintsHeld(sim) === 0, { untilMs: sim.sim.nowMs + 20_000 })
    for (const primary of primaries) await sim.crash(primary)
    for (const primary of primaries) await untilState(sim, primary, ['dead'])
    expect((await call(sim, live[0] as string, 'PUT', keyPath(key, 'w=2'), 'two')).status).toBe(204)
    for (const primary of primaries) await sim.start(primary)
    await sim.sim.runUntil(() => hintsHeld(sim) === 0, { untilMs: sim.sim.nowMs + 20_000 })
    const read = await call(sim, primaries[0] as string, 'GET', keyPath(key, 'r=all&pr=3'))
    expect([...observe(read).values].sort()).toEqual(['one', 'two'])
  })

  /**
   * A fallback coordinates a key, its copy is deleted (as a move's cleanup deletes a partition a
   * node no longer holds), and it coordinates the key again: the second update must not hide
   * the first, for plain values (a clock entry covering the earlier dot) and for counters (a
   * max() merge of the actor's entry).
   */
  async function fallbackWithoutItsCopy(
    key: string,
    write: (sim: SimCluster, node: string, round: number) => Promise<void>,
  ): Promise<SimCluster> {
    const sim = await cluster(5)
    const primaries = primariesOf(sim, key)
    const fallback = sim.nodeIds.find((id) => !primaries.includes(id)) as string
    const outage = async (): Promise<void> => {
      for (const primary of primaries) await sim.crash(primary)
      for (const primary of primaries) await untilState(sim, primary, ['dead'])
    }
    const heal = async (): Promise<void> => {
      for (const primary of primaries) await sim.start(primary)
      await sim.sim.runUntil(() => hintsHeld(sim) === 0, { untilMs: sim.sim.nowMs + 20_000 })
    }
    await outage()
    await write(sim, fallback, 1)
    await heal()
    const copy = await localRecord(sim, fallback, key)
    expect(copy).toBeDefined()
    const partition = partitionForKey(sim.node(fallback).ring.partitionCount, 'default', key)
    let deleted: boolean | undefined
    void sim
      .node(fallback)
      .kv.store.deleteIfEqual({ partition, keyspace: 'default', key }, copy ?? {}, true)
      .then((done) => {
        deleted = done
      })
    await sim.sim.runUntil(() => deleted !== undefined, { untilMs: sim.sim.nowMs + 1_000 })
    expect(deleted).toBe(true)
    await outage()
    await write(sim, fallback, 2)
    await heal()
    return sim
  }

  it('never covers its earlier dots when a fallback coordinates a key whose copy it deleted', async () => {
    const key = 'moved'
    const sim = await fallbackWithoutItsCopy(key, async (sim, node, round) => {
      // Blind writes: the second is concurrent with the first, so both must stay as siblings.
      const value = round === 1 ? 'one' : 'two'
      expect((await call(sim, node, 'PUT', keyPath(key, 'w=2'), value)).status).toBe(204)
    })
    const primary = primariesOf(sim, key)[0] as string
    const read = await call(sim, primary, 'GET', keyPath(key, 'r=all&pr=3'))
    expect([...observe(read).values].sort()).toEqual(['one', 'two'])
  })

  it('never loses a count when a fallback counts a key whose copy it deleted', async () => {
    const path = '/v1/counters/default/moved-count'
    const sim = await fallbackWithoutItsCopy('moved-count', async (sim, node, round) => {
      const body = JSON.stringify({ increment: round === 1 ? 5 : 1 })
      const response = await call(sim, node, 'POST', `${path}?w=2`, body, {
        'content-type': 'application/json',
      })
      expect(response.status, response.body).toBe(200)
    })
    const primary = primariesOf(sim, 'moved-count')[0] as string
    const read = await call(sim, primary, 'GET', `${path}?r=all&pr=3`)
    expect(JSON.parse(read.body)).toEqual({ value: 6 })
  })
})

describe('listing', () => {
  it('pages through live keys exactly once, in order, without deleted keys', async () => {
    const sim = await cluster(3)
    const keys = Array.from({ length: 23 }, (_, index) => `user/${String(index).padStart(2, '0')}`)
    for (const key of keys) await call(sim, 'n1', 'PUT', keyPath(key), key)
    await call(sim, 'n1', 'PUT', keyPath('other'), 'x')
    const read = observe(await call(sim, 'n2', 'GET', keyPath('user/05')))
    await call(sim, 'n2', 'DELETE', keyPath('user/05'), undefined, {
      'X-Murmur-Context': read.context,
    })
    const listed: string[] = []
    let cursor = ''
    for (let page = 0; page < 10; page++) {
      const query = `prefix=user%2F&limit=7${cursor === '' ? '' : `&cursor=${cursor}`}`
      const response = await call(sim, 'n3', 'GET', `/v1/kv/default?${query}`)
      expect(response.status).toBe(200)
      const body = JSON.parse(response.body) as { keys: string[]; cursor: string | null }
      expect(body.keys.length).toBeLessThanOrEqual(7)
      listed.push(...body.keys)
      if (body.cursor === null) break
      cursor = body.cursor
    }
    expect(listed).toEqual(keys.filter((key) => key !== 'user/05'))
  })
})
