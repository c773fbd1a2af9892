/**
 * Goal: partition handoff moves a partition's data to the node that gains it and removes the
 * old owner's copy only once the move settled. A receiver that crashes mid-transfer resumes
 * from its persisted cursor and ends with exactly the keys (and record states) of a replica
 * that holds everything, including writes its source missed (reconciliation with the other old
 * owners, also one it suspected for a moment) and deletes (tombstones move, values do not come
 * back); a receiver that becomes a
 * witness gets the witness form only; cleanup deletes nothing while moving or within the grace
 * after settling, then deletes exactly the partitions the node no longer owns.
 * Method: four real nodes on the simulator (n4 standby), each acting on its own
 * SimTopologyView over one log of versions: version 1 is n1..n3, version 2 moves to n1..n4,
 * version 3 settles on it. Writes go through the REST app (one old owner cut off for some, so a
 * source may lack them), transfers run on the virtual clock, throttled so a crash lands mid-way.
 * Records are compared by their anti-entropy hashes. Each test prints its seed (replay with
 * MURMUR_SEED).
 */

import { describe, expect, it } from 'vitest'
import { recordHash } from '../../../src/replication/antientropy/tree.js'
import {
  type PlannedTransfer,
  progressFromUntrusted,
  receivedTransfers,
} from '../../../src/replication/handoff.js'
import { kvAbsent } from '../../../src/replication/record.js'
import { holdsValues } from '../../../src/replication/witness.js'
import { buildRing, type Ring } from '../../../src/ring/index.js'
import type { Topology } from '../../../src/ring/topology.js'
import { transferMetaName } from '../../../src/runtime/topology/transfer.js'
import { metaKey } from '../../../src/storage/layout.js'
import { ANY_RECORD, getRecord } from '../../../src/storage/records.js'
import { SimCluster } from '../cluster.js'
import { call, keyPath, settle } from '../replication/harness.js'
import { SimTopologyLog, SimTopologyView } from '../replication/topology-view.js'
import { pickSeed } from '../seed.js'

const NODES = ['n1', 'n2', 'n3', 'n4'] as const
const ZONES = ['a', 'b', 'c', 'd']
const PARTITIONS = 16
const GRACE_MS = 5000

function config(witnesses: number): string {
  return `
nodes:
  - { id: n1, zone: a }
  - { id: n2, zone: b }
  - { id: n3, zone: c }
  - { id: n4, zone: d, standby: true }
ring: { partitions: ${PARTITIONS} }
keyspaces: { default: { replicas: 3, witnesses: ${witnesses}, durability: sync } }
storage: { engine: memory }
gossip: { preset: local, gossipIntervalMs: 200 }
requests: { timeoutMs: 1500, peerTimeoutMs: 400 }
replication:
  tombstoneGraceMs: 3600000
  reaperIntervalMs: 3600000
  hintReplayIntervalMs: 86400000
  antiEntropy: { exchangeIntervalMs: 604800000, segments: 256 }
topology:
  startWaitMs: 0
  handoff: { keysPerSecond: 200, pageKeys: 8, retryDelayMs: 200, cleanupGraceMs: ${GRACE_MS} }
`
}

function ringOf(ids: readonly string[], previous?: Ring): Ring {
  const nodes = ids.map((id) => ({ id, zone: ZONES[NODES.indexOf(id as 'n1')] as string }))
  const options = { partitionCount: PARTITIONS, replicaSlots: 3 }
  return buildRing(nodes, previous === undefined ? options : { ...options, previous })
}

interface Run {
  readonly cluster: SimCluster
  readonly log: SimTopologyLog
  readonly views: Map<string, SimTopologyView>
  readonly moving: Topology
}

async function startRun(label: string, witnesses: number): Promise<Run> {
  const small = ringOf(NODES.slice(0, 3))
  const large = ringOf(NODES, small)
  const log = new SimTopologyLog({ version: 1, current: small, next: undefined })
  const views = new Map(NODES.map((id) => [id as string, new SimTopologyView(log)]))
  const cluster = await SimCluster.create({
    seed: pickSeed(label),
    configText: config(witnesses),
    topologyOf: (id) => views.get(id),
  })
  if (!(await cluster.converge(10_000))) throw new Error('membership did not converge')
  const moving = { version: 2, current: small, next: large }
  return { cluster, log, views, moving }
}

/** Commits `topology` and makes every node act on it, old owners first. */
function moveAll(run: Run, topology: Topology): void {
  run.log.commit(topology)
  for (const id of NODES) run.views.get(id)?.moveTo(topology.version)
}

const keys = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prefix}-${index}`)

async function put(cluster: SimCluster, key: string, w: string): Promise<void> {
  const response = await call(cluster, 'n1', 'PUT', keyPath(key, `w=${w}`), `v-${key}`)
  expect(response.status, `PUT ${key}`).toBeLessThan(300)
}

async function remove(cluster: SimCluster, key: string): Promise<void> {
  const read = await call(cluster, 'n1', 'GET', keyPath(key, 'r=all'))
  const context = read.headers.get('X-Murmur-Context') ?? ''
  const response = await call(cluster, 'n1', 'DELETE', keyPath(key, 'w=all'), undefined, {
    'X-Murmur-Context': context,
  })
  expect(response.status, `DELETE ${key}`).toBeLessThan(300)
}

/** Every record a node holds in one partition, with its anti-entropy hash. */
async function recordsOf(cluster: SimCluster, node: string, partition: number) {
  const records = await settle(
    cluster,
    cluster.node(node).kv.store.recordsAfter(partition, 'default', '', 100_000),
    5000,
  )
  return records
}

async function hashesOf(cluster: SimCluster, node: string, partition: number) {
  const records = await recordsOf(cluster, node, partition)
  return records.map(({ key, record }) => {
    const hash = recordHash(key, record)
    return `${key}:${hash?.high}:${hash?.low}`
  })
}

function transfersDone(cluster: SimCluster, node: string, count: number): boolean {
  const transfers = cluster.node(node).kv.transfers()
  return transfers.length === count && transfers.every((transfer) => transfer.state === 'done')
}

/** Runs until n4's transfers are done, then checks it holds the records n1 (which saw every write) holds. */
async function expectReceivedAll(cluster: SimCluster, planned: readonly PlannedTransfer[]) {
  const done = await cluster.sim.runUntil(() => transfersDone(cluster, 'n4', planned.length), {
    untilMs: cluster.sim.nowMs + 60_000,
  })
  expect(done).toBe(true)
  for (const plan of planned) {
    expect(await hashesOf(cluster, 'n4', plan.partition)).toEqual(
      await hashesOf(cluster, 'n1', plan.partition),
    )
  }
}

/** Writes `count` keys at w=all, then `late` more at w=2 while n3 is cut off. */
async function load(cluster: SimCluster, count: number, late: number): Promise<string[]> {
  const all = keys('k', count)
  for (const key of all) await put(cluster, key, 'all')
  cluster.faults.partition([['n3'], ['n1', 'n2', 'n4']])
  for (const key of keys('late', late)) await put(cluster, key, '2')
  cluster.faults.heal()
  if (!(await cluster.converge(30_000))) throw new Error('membership did not converge')
  return [...all, ...keys('late', late)]
}

describe('partition handoff', () => {
  it('a receiver crashed mid-transfer resumes from its cursor and ends with every record', async () => {
    const run = await startRun('handoff crash and resume', 0)
    const { cluster } = run
    const all = await load(cluster, 240, 24)
    const deleted = all.slice(0, 20)
    for (const key of deleted) await remove(cluster, key)
    const planned = receivedTransfers(run.moving, 'n4', [
      { name: 'default', replicas: 3, witnesses: 0 },
    ])
    expect(planned.length).toBeGreaterThan(0)
    moveAll(run, run.moving)

    // Crash n4 once a transfer merged a few pages, but before all are done.
    const midway = await cluster.sim.runUntil(
      () =>
        cluster
          .node('n4')
          .kv.transfers()
          .some((transfer) => transfer.state === 'streaming' && transfer.keysMoved >= 16),
      { untilMs: cluster.sim.nowMs + 30_000 },
    )
    expect(midway).toBe(true)
    await cluster.crash('n4')
    const saved = new Map<number, number>()
    await cluster.start('n4')
    for (const plan of planned) {
      const key = metaKey(transferMetaName(2, plan.partition))
      const stored = await getRecord(cluster.node('n4').env.storage, ANY_RECORD, key)
      const progress = stored === undefined ? undefined : progressFromUntrusted(stored)
      if (progress !== undefined) saved.set(plan.partition, progress.keysMoved)
    }
    expect([...saved.values()].some((moved) => moved > 0)).toBe(true)
    // The restarted receiver starts each transfer where its cursor stood.
    for (const transfer of cluster.node('n4').kv.transfers()) {
      expect(transfer.keysMoved).toBe(saved.get(transfer.partition) ?? 0)
    }
    // n1 holds every write; after streaming and reconciling, n4 holds the same records.
    await expectReceivedAll(cluster, planned)
    for (const key of deleted) {
      const response = await call(cluster, 'n4', 'GET', keyPath(key, 'r=all'))
      expect(response.status, `${key} stays deleted`).toBe(404)
    }
  }, 120_000)

  it('a receiver waits for an old owner it suspects for a moment before it reconciles', async () => {
    const run = await startRun('handoff reconcile waits', 0)
    const { cluster } = run
    await load(cluster, 60, 24)
    const planned = receivedTransfers(run.moving, 'n4', [
      { name: 'default', replicas: 3, witnesses: 0 },
    ])
    // n4 loses sight of n1 and n2, which hold the writes n3 missed, and the move starts.
    cluster.faults.partition([
      ['n1', 'n2'],
      ['n3', 'n4'],
    ])
    const liveness = cluster.node('n4').liveness
    const suspected = await cluster.sim.runUntil(
      () => !liveness.isUsable('n1') && !liveness.isUsable('n2'),
      { untilMs: cluster.sim.nowMs + 30_000 },
    )
    expect(suspected).toBe(true)
    moveAll(run, run.moving)
    await cluster.sim.runFor(3000)
    cluster.faults.heal()
    await expectReceivedAll(cluster, planned)
  }, 120_000)

  it('a witness receiver gets the witness form only, a full receiver the values', async () => {
    const run = await startRun('handoff witness form', 1)
    const { cluster } = run
    await load(cluster, 120, 0)
    const planned = receivedTransfers(run.moving, 'n4', [
      { name: 'default', replicas: 3, witnesses: 1 },
    ])
    const forms = new Set(planned.map((plan) => plan.parts[0]?.form))
    expect(forms).toEqual(new Set(['full', 'witness']))
    moveAll(run, run.moving)
    const done = await cluster.sim.runUntil(() => transfersDone(cluster, 'n4', planned.length), {
      untilMs: cluster.sim.nowMs + 60_000,
    })
    expect(done).toBe(true)
    for (const plan of planned) {
      const mine = await recordsOf(cluster, 'n4', plan.partition)
      const reference = await recordsOf(cluster, 'n1', plan.partition)
      expect(mine.map(({ key }) => key)).toEqual(reference.map(({ key }) => key))
      for (const { key, record } of mine) {
        const expected = plan.parts[0]?.form === 'full' && !kvAbsent(record)
        expect(holdsValues(record), `${key} in partition ${plan.partition}`).toBe(expected)
      }
    }
  }, 120_000)

  it('answers only transfer pages stamped with a ring version', async () => {
    const run = await startRun('handoff stamped pages', 0)
    const { cluster } = run
    await load(cluster, 40, 0)
    moveAll(run, run.moving)
    const [plan] = receivedTransfers(run.moving, 'n4', [
      { name: 'default', replicas: 3, witnesses: 0 },
    ])
    const source = plan?.sources[0]
    expect(source).toBeDefined()
    const page = { type: 'transfer.page', keyspace: 'default', partition: plan?.partition }
    const ask = (body: Record<string, unknown>) =>
      settle(
        cluster,
        cluster.node('n4').env.peers.request(source as string, { ...page, ...body }, 1000),
        5000,
      ).then(
        (answer) => ({ answer, code: undefined }),
        (error: { code?: string }) => ({ answer: undefined, code: error.code }),
      )
    expect((await ask({ after: '', limit: 8 })).code).toBe('invalid_request')
    const stamped = await ask({ after: '', limit: 8, ringVersion: run.moving.version })
    expect(stamped.code).toBeUndefined()
    expect(stamped.answer).toMatchObject({ complete: expect.any(Boolean) })
  }, 60_000)

  it("cleanup removes the old owner's copy only after the move settled and the grace passed", async () => {
    const run = await startRun('handoff cleanup', 0)
    const { cluster } = run
    const all = await load(cluster, 120, 0)
    const planned = receivedTransfers(run.moving, 'n4', [
      { name: 'default', replicas: 3, witnesses: 0 },
    ])
    moveAll(run, run.moving)
    const done = await cluster.sim.runUntil(() => transfersDone(cluster, 'n4', planned.length), {
      untilMs: cluster.sim.nowMs + 60_000,
    })
    expect(done).toBe(true)
    const large = run.moving.next as Ring
    const lost = planned.map((plan) => {
      const losers = (run.moving.current.preferences[plan.partition] ?? []).filter(
        (node) => !(large.preferences[plan.partition] ?? []).includes(node),
      )
      return { partition: plan.partition, loser: losers[0] as string }
    })
    const counts = async () =>
      Promise.all(
        lost.map(
          async ({ partition, loser }) => (await recordsOf(cluster, loser, partition)).length,
        ),
      )
    // While moving, every old owner keeps its copy however long the move lasts.
    await cluster.sim.runUntil(() => false, { untilMs: cluster.sim.nowMs + 2 * GRACE_MS })
    expect((await counts()).every((count) => count > 0)).toBe(true)

    moveAll(run, { version: 3, current: large, next: undefined })
    await cluster.sim.runUntil(() => false, { untilMs: cluster.sim.nowMs + GRACE_MS / 2 })
    expect((await counts()).every((count) => count > 0)).toBe(true)
    const cleaned = await cluster.sim.runUntil(
      () =>
        lost.every(({ loser }) => cluster.node(loser).kv.handoff?.cleanup.counters.passes === 1),
      { untilMs: cluster.sim.nowMs + 4 * GRACE_MS },
    )
    expect(cleaned).toBe(true)
    await settle(
      cluster,
      Promise.all(NODES.map((id) => cluster.node(id).kv.handoff?.cleanup.settled())),
      30_000,
    )
    expect((await counts()).every((count) => count === 0)).toBe(true)
    for (const { partition, loser } of lost) {
      expect(cluster.node(loser).kv.antiEntropy?.trees.slot('default', partition)).toBeUndefined()
    }
    // Every owner of the settled ring kept its data: every key reads back at quorum.
    for (const key of all) {
      const response = await call(cluster, 'n2', 'GET', keyPath(key, 'r=quorum'))
      expect(response.status, `GET ${key}`).toBe(200)
    }
  }, 120_000)
})
