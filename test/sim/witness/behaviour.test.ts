/**
 * Goal: each witness behaviour shown on its own, on three nodes with one witness per key: a
 * witness stores digests and coordinates its own writes, keeping the value in custody until a
 * full replica holds it (or hands it off when none took it, or sends it with a later write), and answers a returnbody write
 * with siblings it holds as digests by reading them from a full replica; a quorum read that meets a
 * witness reporting a write its full answer lacks asks the other full replica, and refuses
 * (503) when none holds it; while a full replica is down the promoted witness keeps the value
 * as a hint, serves it, hands it back and drops it; counters work in a witness keyspace.
 * Method: real nodes on the simulator without message faults, driven through the REST app and
 * cut off with the fault injector; each test prints its seed (replay with MURMUR_SEED).
 */

import { describe, expect, it } from 'vitest'
import { holdsDigests, holdsValues } from '../../../src/replication/witness.js'
import { partitionForKey } from '../../../src/ring/index.js'
import type { SimCluster } from '../cluster.js'
import {
  call,
  convergedCluster,
  hintsHeld,
  keyPath,
  replicationConfig,
} from '../replication/harness.js'
import { fullReplicasOf, witnessesOf } from './witness-state.js'

const FAST_GOSSIP = '{ preset: local, gossipIntervalMs: 200, probeIntervalMs: 400 }'

function cluster(): Promise<SimCluster> {
  return convergedCluster('witness behaviour', replicationConfig(3, '', 1, FAST_GOSSIP))
}

async function recordOn(sim: SimCluster, node: string, key: string) {
  const partition = partitionForKey(sim.node(node).ring.partitionCount, 'default', key)
  return sim.node(node).kv.store.read({ partition, keyspace: 'default', key })
}

/** Runs until every other running node sees `node` dead, within 30 s of virtual time. */
async function untilDead(sim: SimCluster, node: string): Promise<void> {
  const others = sim.nodeIds.filter((id) => id !== node && sim.isRunning(id))
  const dead = await sim.sim.runUntil(
    () =>
      others.every(
        (id) =>
          sim
            .node(id)
            .membership.members()
            .find((member) => member.id === node)?.state === 'dead',
      ),
    { untilMs: sim.sim.nowMs + 30_000 },
  )
  expect(dead).toBe(true)
}

function roles(sim: SimCluster, key: string): { full: [string, string]; witness: string } {
  const [first, second] = fullReplicasOf(sim, key)
  const [witness] = witnessesOf(sim, key)
  if (first === undefined || second === undefined || witness === undefined) {
    throw new Error('three replicas, one of them a witness')
  }
  return { full: [first, second], witness }
}

/**
 * A write the witness coordinates while both full replicas are unreachable but not yet seen
 * down: it fails, and the witness keeps the value in custody (one hint) beside its digest.
 */
async function failInCustody(sim: SimCluster, key: string, value: string): Promise<void> {
  const { full, witness } = roles(sim, key)
  sim.faults.isolate(witness, full)
  const failed = await call(sim, witness, 'PUT', keyPath(key, 'w=1&timeout=1000'), value)
  expect(failed.status).toBe(503)
  const kept = await recordOn(sim, witness, key)
  expect(kept !== undefined && holdsDigests(kept) && !holdsValues(kept)).toBe(true)
  expect(hintsHeld(sim)).toBe(1)
  sim.faults.heal()
}

describe('witness replicas', () => {
  it('keep digests only, and coordinate their own writes with the value in custody', async () => {
    const sim = await cluster()
    const { full, witness } = roles(sim, 'k')
    const written = await call(sim, witness, 'PUT', keyPath('k', 'w=all'), 'hello')
    expect(written.status).toBe(204)
    expect(written.headers.get('X-Murmur-Coordinator')).toBe(witness)
    const counters = sim.node(witness).kv.coordinator().counters
    expect([counters.writesForwarded, counters.writesWitnessCoordinated]).toEqual([0, 1])
    const kept = await recordOn(sim, witness, 'k')
    expect(kept !== undefined && holdsDigests(kept) && !holdsValues(kept)).toBe(true)
    for (const node of full) {
      const record = await recordOn(sim, node, 'k')
      expect(record !== undefined && holdsValues(record)).toBe(true)
    }
    // The value was kept as a hint until a full replica acknowledged it, then released.
    expect(
      await sim.sim.runUntil(() => hintsHeld(sim) === 0, { untilMs: sim.sim.nowMs + 1000 }),
    ).toBe(true)
    expect(counters.witnessCustodyReleased).toBe(1)
    const read = await call(sim, witness, 'GET', keyPath('k', 'r=all'))
    expect([read.status, read.body]).toEqual([200, 'hello'])
  })

  it('keep a witness-coordinated value when no full replica took it, and hand it off', async () => {
    const sim = await cluster()
    const { full } = roles(sim, 'lone')
    await failInCustody(sim, 'lone', 'kept')
    expect(
      await sim.sim.runUntil(() => hintsHeld(sim) === 0, { untilMs: sim.sim.nowMs + 30_000 }),
    ).toBe(true)
    // The digest the witness kept is never left without its value: the key reads.
    const read = await call(sim, full[1], 'GET', keyPath('lone', 'r=all'))
    expect([read.status, read.body]).toEqual([200, 'kept'])
  })

  it('send the values in their custody with a later write, never a digest alone', async () => {
    const sim = await cluster()
    const { full, witness } = roles(sim, 'held')
    await failInCustody(sim, 'held', 'first')
    // A concurrent write the witness coordinates carries 'first' as a sibling: with its value,
    // which only the witness's custody holds, not as a bare digest.
    const second = await call(sim, witness, 'PUT', keyPath('held', 'w=all'), 'second')
    expect(second.status).toBe(204)
    for (const node of full) {
      const record = await recordOn(sim, node, 'held')
      expect(record !== undefined && holdsDigests(record)).toBe(false)
      expect(record?.kv?.siblings).toHaveLength(2)
    }
  })

  it('answer a returnbody write with every sibling, read from a full replica', async () => {
    const sim = await cluster()
    const { full, witness } = roles(sim, 'both')
    expect((await call(sim, full[0], 'PUT', keyPath('both', 'w=all'), 'one')).status).toBe(204)
    // No context: the witness's write is concurrent with "one", which it holds as a digest.
    const written = await call(sim, witness, 'PUT', keyPath('both', 'w=2&returnbody=true'), 'two')
    expect(written.headers.get('X-Murmur-Coordinator')).toBe(witness)
    expect(written.status).toBe(300)
    const { siblings } = JSON.parse(written.body) as { siblings: { value: string }[] }
    const values = siblings.map((sibling) => Buffer.from(sibling.value, 'base64').toString())
    expect(values.sort()).toEqual(['one', 'two'])
  })

  it('asks the other full replica when a witness reports a newer write, or refuses', async () => {
    const sim = await cluster()
    const { full, witness } = roles(sim, 'k')
    const [stale, fresh] = full
    const first = await call(sim, fresh, 'PUT', keyPath('k', 'w=all'), 'old')
    expect(first.status).toBe(204)
    const seen = { 'X-Murmur-Context': first.headers.get('X-Murmur-Context') ?? '' }
    sim.faults.isolate(
      stale,
      sim.nodeIds.filter((id) => id !== stale),
    )
    expect((await call(sim, fresh, 'PUT', keyPath('k', 'w=2'), 'new', seen)).status).toBe(204)
    sim.faults.heal()
    const before = sim.node(witness).kv.coordinator().counters.readsWitnessExtended
    // The witness asks itself and the stale full replica first; its own digest sends it on.
    const answered = await call(sim, witness, 'GET', keyPath('k', 'r=2'))
    expect([answered.status, answered.body]).toEqual([200, 'new'])
    expect(sim.node(witness).kv.coordinator().counters.readsWitnessExtended).toBeGreaterThan(before)
    // Were the fresh copy unreachable, the stale full answer would be refused, not served.
    sim.faults.isolate(
      fresh,
      sim.nodeIds.filter((id) => id !== fresh),
    )
    const refused = await call(sim, stale, 'GET', keyPath('k', 'r=2&timeout=1000'))
    expect(refused.status).toBe(503)
    expect(refused.body).toMatch(/witness/)
    sim.faults.heal()
  })

  it('promote the witness while a full replica is down, then hand the value back', async () => {
    const sim = await cluster()
    const { full, witness } = roles(sim, 'k')
    const [down, up] = full
    await sim.crash(down)
    await untilDead(sim, down)
    const written = await call(sim, up, 'PUT', keyPath('k', 'w=quorum'), 'while-down')
    expect(written.status).toBe(204)
    expect(written.headers.get('X-Murmur-Hinted')).toBe(`${witness}>${down}`)
    const kept = await recordOn(sim, witness, 'k')
    expect(kept !== undefined && holdsValues(kept)).toBe(false)
    expect(sim.node(witness).kv.store.hintCount(down)).toBe(1)
    sim.faults.isolate(
      up,
      sim.nodeIds.filter((id) => id !== up),
    )
    const served = await call(sim, witness, 'GET', keyPath('k', 'r=1'))
    expect([served.status, served.body]).toEqual([200, 'while-down'])
    sim.faults.heal()
    await sim.start(down)
    expect(
      await sim.sim.runUntil(() => hintsHeld(sim) === 0, { untilMs: sim.sim.nowMs + 30_000 }),
    ).toBe(true)
    const handed = await recordOn(sim, down, 'k')
    expect(handed !== undefined && holdsValues(handed)).toBe(true)
    expect(sim.node(witness).kv.store.hintCount(down)).toBe(0)
  })

  it('answer a returnbody write a witness had to coordinate with the context alone', async () => {
    const sim = await cluster()
    const { full, witness } = roles(sim, 'solo')
    expect((await call(sim, full[0], 'PUT', keyPath('solo', 'w=all'), 'first')).status).toBe(204)
    for (const node of full) await sim.crash(node)
    await untilDead(sim, full[0])
    await untilDead(sim, full[1])
    // The witness holds "first" as a digest only: a body would show it as deleted.
    const written = await call(sim, witness, 'PUT', keyPath('solo', 'w=1&returnbody=true'), 'x')
    expect(written.status).toBe(204)
    expect(written.headers.get('X-Murmur-Coordinator')).toBe(witness)
    expect(written.headers.get('X-Murmur-Context')).not.toBeNull()
  })

  it('count counter updates made through a witness and while a full replica is down', async () => {
    const sim = await cluster()
    const { full, witness } = roles(sim, 'c')
    const path = '/v1/counters/default/c'
    const increment = (node: string, amount: number) =>
      call(sim, node, 'POST', path, JSON.stringify({ increment: amount }))
    expect((await increment(witness, 2)).status).toBe(200)
    await sim.crash(full[0])
    await untilDead(sim, full[0])
    expect((await increment(full[1], 3)).status).toBe(200)
    expect((await increment(witness, 4)).status).toBe(200)
    await sim.start(full[0])
    expect(
      await sim.sim.runUntil(() => hintsHeld(sim) === 0, { untilMs: sim.sim.nowMs + 30_000 }),
    ).toBe(true)
    for (const node of sim.nodeIds) {
      const read = await call(sim, node, 'GET', `${path}?r=all`)
      expect(JSON.parse(read.body)).toEqual({ value: 9 })
    }
    const kept = await recordOn(sim, witness, 'c')
    expect(kept?.counter).toBeDefined()
  })
})
