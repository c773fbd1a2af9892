/**
 * Goal: requests served while ownership moves lose no acknowledged write. A 5-node cluster
 * whose ring holds n1..n3 (version 1) grows to all five: version 2 moves (writes need their
 * level among the owners of both rings, reads use the old owners), version 3 settles on the new
 * ring. Nodes switch versions at different moments, so requests cross versions and must be
 * fenced (`stale_ring`) and retried under the newer one.
 * Method: real nodes on the simulator with seeded message loss, duplication and delay; each node
 * acts on its own SimTopologyView. Clients read and write (read-modify-write and blind writes,
 * at quorum or all) through every node throughout. Between versions 2 and 3, once every node
 * acts on version 2, the moved partitions' records are copied from every old owner to each new
 * owner through the replica accept path (standing in for the partition transfer); keys written
 * only before the move reach their new owners that way alone. After the run heals and the
 * hints drain, every read quorum of each key's new owners (checked on their stores) and a
 * quorum read through every node must hold every acknowledged value not superseded
 * (History.check), and requests must have been fenced and retried under a newer version. A
 * second run crashes a node, leaves a hint for it, moves it out of the ring, and checks that
 * the hint drains to the partition's current holders. The seed is printed; MURMUR_SEED replays
 * a run.
 */

import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import {
  EMPTY_RECORD,
  type KeyRecord,
  kvState,
  mergeRecords,
} from '../../../src/replication/record.js'
import type { KeyspaceRef } from '../../../src/replication/requests.js'
import { buildRing, partitionForKey, preferenceList, type Ring } from '../../../src/ring/index.js'
import { SimCluster } from '../cluster.js'
import {
  History,
  hintsHeld,
  keyPath,
  observe,
  pause,
  replicationConfig,
  settle,
} from '../replication/harness.js'
import { SimTopologyLog, SimTopologyView } from '../replication/topology-view.js'
import { pickSeed } from '../seed.js'

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5']
const ZONES = ['a', 'b', 'c', 'd', 'e']
const PARTITIONS = 16
const REPLICAS = 3
const KEYS = Array.from({ length: 6 }, (_, index) => `key-${index}`)
/** Keys written once before the move and never again: only the copy carries them over. */
const COLD_KEYS = Array.from({ length: 24 }, (_, index) => `cold-${index}`)
const KEYSPACE: KeyspaceRef = { name: 'default', replicas: REPLICAS, durability: 'sync' }
/** Virtual times, from the start of the workload. */
const MOVE_STARTS_MS = 800
const MOVE_WINDOW_MS = 1500
const FINISH_STARTS_MS = 3200
const RUN_MS = 5500
const CLIENTS = 3
const OPS_PER_CLIENT_MAX = 400
/**
 * Anti-entropy off and the nodes' own partition transfers slowed to a crawl, so the copy below
 * is what carries the moved partitions over, and the run shows that it is needed.
 */
const HANDOFF_AT_A_CRAWL = `  antiEntropy: { enabled: false }
topology: { handoff: { keysPerSecond: 1, pageKeys: 1, concurrentTransfers: 1 } }`
const RECORDS_PAGE = 256
const PAGES_MAX = 64

/** A key written only by the probe of the move to `version`, and never again. */
function probeKey(version: number): string {
  return `probe-${version}`
}

function ringOf(ids: readonly string[], previous?: Ring): Ring {
  const nodes = ids.map((id) => ({ id, zone: ZONES[NODES.indexOf(id)] as string }))
  const options = { partitionCount: PARTITIONS, replicaSlots: REPLICAS }
  return buildRing(nodes, previous === undefined ? options : { ...options, previous })
}

describe('requests during a move', () => {
  it('lose no acknowledged write across fenced version changes', async () => {
    const seed = pickSeed('topology data plane')
    const small = ringOf(NODES.slice(0, 3))
    const large = ringOf(NODES, small)
    const log = new SimTopologyLog({ version: 1, current: small, next: undefined })
    const views = new Map(NODES.map((id) => [id, new SimTopologyView(log)]))
    const cluster = await SimCluster.create({
      seed,
      configText: replicationConfig(5, HANDOFF_AT_A_CRAWL),
      faults: { lossProbability: 0.02, duplicateProbability: 0.02, delayMsMin: 1, delayMsMax: 15 },
      topologyOf: (id) => views.get(id),
    })
    if (!(await cluster.converge(10_000))) throw new Error('membership did not converge')
    const random = cluster.sim.random.fork('workload')
    const history = new History()
    const pick = <T>(items: readonly T[]): T => items[random.int(items.length)] as T
    for (const key of COLD_KEYS) {
      await settle(cluster, put(pick(NODES), key, `${key}.value`, ''), 10_000)
    }
    const startMs = cluster.sim.nowMs

    async function client(index: number): Promise<void> {
      for (let op = 0; op < OPS_PER_CLIENT_MAX && cluster.sim.nowMs < startMs + RUN_MS; op++) {
        await pause(cluster, 5 + random.int(40))
        const key = pick(KEYS)
        let context = ''
        if (random.chance(0.6)) {
          const read = await attempt(() =>
            cluster.request(pick(NODES), 'GET', keyPath(key, 'r=quorum')),
          )
          if (read === undefined) continue
          const observed = observe(read)
          history.read(key, observed)
          context = observed.context
        }
        await put(pick(NODES), key, `c${index}.${op}.${random.u32().toString(36)}`, context)
      }
    }

    /** One write through `node`, as a client's. */
    async function put(node: string, key: string, value: string, context: string): Promise<void> {
      const write = history.begin(key, value, context, cluster.sim.nowMs)
      const headers: Record<string, string> = context === '' ? {} : { 'X-Murmur-Context': context }
      const query = `w=${random.chance(0.8) ? 'quorum' : 'all'}`
      const response = await attempt(() =>
        cluster.request(node, 'PUT', keyPath(key, query), value, headers),
      )
      history.finish(write, response, cluster.sim.nowMs)
    }

    /**
     * Moves every node to `version` at its own moment within the window. When the last one is
     * still behind at its moment, a write of a key nobody else writes goes through it first:
     * planned under the older version, it meets replicas that act on the newer one, so at least
     * that write is fenced, and only its retry under the newer version brings it to the new
     * owners.
     */
    async function moveAll(version: number, windowStartMs: number): Promise<void> {
      const moments = NODES.map((id) => ({ id, atMs: windowStartMs + random.int(MOVE_WINDOW_MS) }))
      moments.sort((a, b) => a.atMs - b.atMs)
      const probes: Promise<void>[] = []
      for (const [index, { id, atMs }] of moments.entries()) {
        await pause(cluster, Math.max(0, startMs + atMs - cluster.sim.nowMs))
        const view = views.get(id)
        if (index === moments.length - 1 && (view?.topology().version ?? version) < version) {
          probes.push(put(id, probeKey(version), `probe.${version}`, ''))
        }
        view?.moveTo(version)
        cluster.sim.record(`topology ${id} acts on version ${version}`)
      }
      await Promise.all(probes)
    }

    async function mover(): Promise<void> {
      await pause(cluster, MOVE_STARTS_MS)
      log.commit({ version: 2, current: small, next: large })
      await moveAll(2, MOVE_STARTS_MS)
      await copyMovedPartitions(cluster, small, large)
      await pause(cluster, Math.max(0, startMs + FINISH_STARTS_MS - cluster.sim.nowMs))
      log.commit({ version: 3, current: large, next: undefined })
      await moveAll(3, FINISH_STARTS_MS)
    }

    const work = Promise.all([mover(), ...Array.from({ length: CLIENTS }, (_, i) => client(i))])
    await settle(cluster, work, RUN_MS + 20_000)

    cluster.faults.heal()
    cluster.faults.setRates({
      lossProbability: 0,
      duplicateProbability: 0,
      delayMsMin: 1,
      delayMsMax: 1,
    })
    expect(await cluster.converge(30_000)).toBe(true)
    const drained = await cluster.sim.runUntil(() => hintsHeld(cluster) === 0, {
      untilMs: cluster.sim.nowMs + 60_000,
    })
    expect(drained).toBe(true)

    const violations: string[] = []
    const checked = [...KEYS, ...COLD_KEYS, probeKey(2), probeKey(3)]
    for (const key of checked) {
      violations.push(...(await quorumViolations(cluster, large, history, key)))
    }
    for (const key of checked) {
      for (const node of NODES) {
        const request = cluster.request(node, 'GET', keyPath(key, 'r=quorum&timeout=5000'))
        const response = await settle(cluster, request, 10_000)
        if (![200, 300, 404].includes(response.status)) {
          violations.push(`${key} via ${node}: final read answered ${response.status}`)
          continue
        }
        violations.push(...history.check(key, new Set(observe(response).values)))
      }
    }
    const retries = NODES.reduce(
      (sum, id) => sum + cluster.node(id).kv.coordinator().counters.topologyRetries,
      0,
    )
    const fenced = NODES.reduce(
      (sum, id) => sum + cluster.node(id).kv.liveCounters().requestsFenced,
      0,
    )
    console.log(
      `[sim] data plane: writes=${history.writes} acknowledged=${history.acknowledged()} ` +
        `fenced=${fenced} retries=${retries}`,
    )
    expect(violations).toEqual([])
    expect(NODES.every((id) => views.get(id)?.topology().version === 3)).toBe(true)
    expect(history.acknowledged()).toBeGreaterThan(20)
    expect(fenced).toBeGreaterThan(0)
    expect(retries).toBeGreaterThan(0)
  }, 120_000)
})

/**
 * Checks every read quorum of the key's owners in `ring` directly on their stores, before any
 * final read repairs them: the merge of each quorum's records must hold every acknowledged
 * value that was not superseded.
 */
async function quorumViolations(
  cluster: SimCluster,
  ring: Ring,
  history: History,
  key: string,
): Promise<string[]> {
  const partition = partitionForKey(ring.partitionCount, KEYSPACE.name, key)
  const owners = preferenceList(ring, partition, REPLICAS)
  const records: KeyRecord[] = []
  for (const owner of owners) {
    const stored = await cluster.node(owner).kv.store.read({ partition, keyspace: 'default', key })
    records.push(stored ?? EMPTY_RECORD)
  }
  const violations: string[] = []
  const quorum = Math.floor(REPLICAS / 2) + 1
  for (let mask = 0; mask < 1 << owners.length; mask++) {
    const members = owners.filter((_, index) => (mask & (1 << index)) !== 0)
    if (members.length !== quorum) continue
    let merged: KeyRecord = EMPTY_RECORD
    owners.forEach((_, index) => {
      if ((mask & (1 << index)) !== 0) merged = mergeRecords(merged, records[index] ?? EMPTY_RECORD)
    })
    const values = kvState(merged)
      .siblings.map((sibling) => sibling.payload)
      .filter((payload) => payload.kind === 'value')
      .map((payload) => Buffer.from(payload.value).toString())
    for (const violation of history.check(key, new Set(values))) {
      violations.push(`${violation} (owners ${members.join(',')})`)
    }
  }
  return violations
}

describe('hints while the ring changes', () => {
  it('hands a hint for a node that left the ring to the current holders', async () => {
    const seed = pickSeed('topology data plane hints')
    const ids = NODES.slice(0, 4)
    const four = ringOf(ids)
    const three = ringOf(ids.slice(0, 3), four)
    const log = new SimTopologyLog({ version: 1, current: four, next: undefined })
    const views = new Map(ids.map((id) => [id, new SimTopologyView(log)]))
    const cluster = await SimCluster.create({
      seed,
      configText: replicationConfig(4, HANDOFF_AT_A_CRAWL),
      topologyOf: (id) => views.get(id),
    })
    expect(await cluster.converge(10_000)).toBe(true)
    const key = KEYS.map((_, index) => `leaver-${index}`).find((candidate) =>
      preferenceList(four, partitionForKey(PARTITIONS, 'default', candidate), REPLICAS).includes(
        'n4',
      ),
    )
    if (key === undefined) throw new Error('no key has n4 among its owners')
    await cluster.crash('n4')
    const seenDead = await cluster.sim.runUntil(() => !cluster.node('n1').liveness.isUsable('n4'), {
      untilMs: cluster.sim.nowMs + 30_000,
    })
    expect(seenDead).toBe(true)
    const written = await settle(
      cluster,
      cluster.request('n1', 'PUT', keyPath(key, 'w=2'), 'kept'),
      10_000,
    )
    expect(written.status).toBe(204)
    expect(hintsHeld(cluster)).toBeGreaterThan(0)

    log.commit({ version: 2, current: four, next: three })
    log.commit({ version: 3, current: three, next: undefined })
    for (const id of ids.slice(0, 3)) views.get(id)?.moveTo(3)
    const drained = await cluster.sim.runUntil(() => hintsHeld(cluster) === 0, {
      untilMs: cluster.sim.nowMs + 10_000,
    })
    expect(drained).toBe(true)
    const partition = partitionForKey(PARTITIONS, 'default', key)
    for (const owner of preferenceList(three, partition, REPLICAS)) {
      const record = await cluster
        .node(owner)
        .kv.store.read({ partition, keyspace: 'default', key })
      const values = kvState(record ?? EMPTY_RECORD).siblings.map((sibling) => sibling.payload)
      expect(values.some((payload) => payload.kind === 'value')).toBe(true)
    }
    const redirected = ids
      .slice(0, 3)
      .reduce(
        (sum, id) => sum + (cluster.node(id).kv.background?.replayer.counters.redirected ?? 0),
        0,
      )
    expect(redirected).toBeGreaterThan(0)
  }, 60_000)
})

async function attempt<T>(request: () => Promise<T>): Promise<T | undefined> {
  try {
    return await request()
  } catch {
    return undefined
  }
}

/**
 * Stands in for the partition transfer: merges every record of each moved partition from every
 * old owner into each new owner that did not own it, through the new owner's accept path.
 */
async function copyMovedPartitions(cluster: SimCluster, from: Ring, to: Ring): Promise<void> {
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const sources = preferenceList(from, partition, REPLICAS)
    const receivers = preferenceList(to, partition, REPLICAS).filter((id) => !sources.includes(id))
    for (const receiver of receivers) {
      const coordinator = cluster.node(receiver).kv.coordinator()
      for (const source of sources) {
        const store = cluster.node(source).kv.store
        let after = ''
        for (let page = 0; page < PAGES_MAX; page++) {
          const records = await store.recordsAfter(partition, KEYSPACE.name, after, RECORDS_PAGE)
          for (const { key, record } of records) {
            const address = { partition, keyspace: KEYSPACE.name, key }
            await coordinator.acceptReplica(KEYSPACE, address, record, undefined)
            after = key
          }
          if (records.length < RECORDS_PAGE) break
        }
      }
      cluster.sim.record(`copied partition ${partition} to ${receiver}`)
    }
  }
}
