/**
 * Goal: Merkle-tree anti-entropy heals replicas that missed writes. Replicas diverged by
 * dropped writes (a node cut off while writes at w=2 went on) converge after one exchange per
 * tree and pair, and the exchange moves exactly the differing keys; deletes stay deleted (a
 * replica that missed a delete takes the tombstone, never the other way round) and a reaped
 * tombstone does not come back; in a keyspace with witnesses a witness gets digests only and a
 * full replica never takes a witness's digests as its data.
 * Method: three real nodes on the simulator, writes through the REST app while the fault
 * injector cuts one node off, then exchanges driven directly on the nodes' AntiEntropy; the
 * replicas' records are compared by their anti-entropy hashes before and after. Background
 * exchanges are scheduled far beyond the test's virtual time. Each test prints its seed
 * (replay with MURMUR_SEED).
 */

import { describe, expect, it } from 'vitest'
import { recordHash } from '../../../src/replication/antientropy/tree.js'
import { isEmptyRecord, kvAbsent } from '../../../src/replication/record.js'
import { holdsDigests, holdsValues } from '../../../src/replication/witness.js'
import { partitionForKey, preferenceList } from '../../../src/ring/index.js'
import type { ExchangeReport } from '../../../src/runtime/antientropy/anti-entropy.js'
import type { SimCluster } from '../cluster.js'
import { call, convergedCluster, keyPath, settle } from '../replication/harness.js'

const NODES = ['n1', 'n2', 'n3'] as const

function config(witnesses: number, tombstoneGraceMs = 3_600_000, reaperIntervalMs = 3_600_000) {
  return `
nodes: [{ id: n1, zone: a }, { id: n2, zone: b }, { id: n3, zone: c }]
ring: { partitions: 16 }
keyspaces: { default: { replicas: 3, witnesses: ${witnesses}, durability: sync } }
storage: { engine: memory }
gossip: { preset: local, gossipIntervalMs: 200 }
requests: { timeoutMs: 1500, peerTimeoutMs: 400 }
replication:
  tombstoneGraceMs: ${tombstoneGraceMs}
  reaperIntervalMs: ${reaperIntervalMs}
  hintReplayIntervalMs: 86400000
  antiEntropy: { exchangeIntervalMs: 604800000, segments: 256 }
topology: { startWaitMs: 0 }
`
}

const keys = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prefix}-${index}`)

async function put(sim: SimCluster, node: string, key: string, value: string, w: string) {
  const response = await call(sim, node, 'PUT', keyPath(key, `w=${w}`), value)
  expect(response.status, `PUT ${key} via ${node}`).toBeLessThan(300)
}

/** Deletes with the context of a read, so the tombstone supersedes what the read saw. */
async function remove(sim: SimCluster, node: string, key: string, w: string) {
  const read = await call(sim, node, 'GET', keyPath(key, 'r=2'))
  const context = read.headers.get('X-Murmur-Context') ?? ''
  const response = await call(sim, node, 'DELETE', keyPath(key, `w=${w}`), undefined, {
    'X-Murmur-Context': context,
  })
  expect(response.status, `DELETE ${key} via ${node}`).toBeLessThan(300)
}

function recordOn(sim: SimCluster, node: string, key: string) {
  const partition = partitionForKey(
    sim.node(node).topology.topology().current.partitionCount,
    'default',
    key,
  )
  return settle(sim, sim.node(node).kv.store.read({ partition, keyspace: 'default', key }), 1000)
}

/** Keys whose records (as anti-entropy hashes them) differ between two nodes. */
async function differing(sim: SimCluster, left: string, right: string, all: readonly string[]) {
  const found: string[] = []
  for (const key of all) {
    const a = recordHash(key, await recordOn(sim, left, key))
    const b = recordHash(key, await recordOn(sim, right, key))
    if (a?.high !== b?.high || a?.low !== b?.low) found.push(key)
  }
  return found
}

/** One exchange of every tree `from` shares with `to`; the reports summed. */
async function exchangeAll(sim: SimCluster, from: string, to: string) {
  const antiEntropy = sim.node(from).kv.antiEntropy
  if (antiEntropy === undefined) throw new Error(`anti-entropy is off on ${from}`)
  const reports: ExchangeReport[] = []
  for (const slot of antiEntropy.trees.slots) {
    if (!slot.peers.includes(to)) continue
    reports.push(await settle(sim, antiEntropy.exchange(slot, to), 60_000))
  }
  const sum = (field: 'keysPulled' | 'keysPushed' | 'keysRepaired' | 'keysSkipped') =>
    reports.reduce((total, report) => total + report[field], 0)
  const depth = antiEntropy.trees.slots[0]?.tree.depth ?? 0
  for (const report of reports) expect(report.hashRounds).toBeLessThanOrEqual(depth + 1)
  return {
    pulled: sum('keysPulled'),
    pushed: sum('keysPushed'),
    repaired: sum('keysRepaired'),
    skipped: sum('keysSkipped'),
  }
}

function treesEqual(sim: SimCluster, left: string, right: string): boolean {
  const mine = sim.node(left).kv.antiEntropy?.trees
  const theirs = sim.node(right).kv.antiEntropy?.trees
  if (mine === undefined || theirs === undefined) return false
  return mine.slots.every((slot) => {
    const other = theirs.slot(slot.keyspace.name, slot.partition)
    return other === undefined || other.tree.equals(slot.tree)
  })
}

/** Cuts `node` off, runs `work`, and heals; writes meanwhile reach the other two nodes only. */
async function whileCutOff(sim: SimCluster, node: string, work: () => Promise<void>) {
  sim.faults.partition([[node], NODES.filter((other) => other !== node)])
  await work()
  sim.faults.heal()
  expect(await sim.converge(30_000)).toBe(true)
}

describe('anti-entropy exchanges', () => {
  it('a replica that missed writes converges after one exchange that moves only those keys', async () => {
    const sim = await convergedCluster('aae missed writes', config(0))
    const before = keys('k', 40)
    for (const key of before) await put(sim, 'n1', key, `v1-${key}`, 'all')
    await whileCutOff(sim, 'n3', async () => {
      for (const key of before.slice(0, 10)) await put(sim, 'n1', key, `v2-${key}`, '2')
      for (const key of keys('new', 8)) await put(sim, 'n2', key, `v-${key}`, '2')
    })
    const all = [...before, ...keys('new', 8)]
    const missed = await differing(sim, 'n3', 'n1', all)
    expect(missed.length).toBe(18)
    expect(treesEqual(sim, 'n3', 'n1')).toBe(false)

    const moved = await exchangeAll(sim, 'n3', 'n1')
    expect(moved).toEqual({ pulled: 18, pushed: 0, repaired: 18, skipped: 0 })
    expect(await differing(sim, 'n3', 'n1', all)).toEqual([])
    expect(await differing(sim, 'n3', 'n2', all)).toEqual([])
    expect(treesEqual(sim, 'n3', 'n1')).toBe(true)
    // A second exchange finds nothing left to move.
    expect(await exchangeAll(sim, 'n1', 'n3')).toEqual({
      pulled: 0,
      pushed: 0,
      repaired: 0,
      skipped: 0,
    })
  }, 60_000)

  it('three replicas that each missed other writes converge after one exchange per pair', async () => {
    const sim = await convergedCluster('aae three-way', config(0))
    const groups = new Map<string, string[]>()
    for (const cut of NODES) {
      const writer = NODES.find((node) => node !== cut) as string
      const written = keys(`missed-by-${cut}`, 6)
      groups.set(cut, written)
      await whileCutOff(sim, cut, async () => {
        for (const key of written) await put(sim, writer, key, `v-${key}`, '2')
      })
    }
    const all = [...groups.values()].flat()
    expect((await differing(sim, 'n1', 'n2', all)).length).toBe(12)
    const first = await exchangeAll(sim, 'n1', 'n2')
    const second = await exchangeAll(sim, 'n1', 'n3')
    const third = await exchangeAll(sim, 'n2', 'n3')
    // n1 and n2 swap what each lacked, n1 then hands n3 what n3 lacked; n2 and n3 are equal.
    expect(first.pulled + first.pushed).toBe(12)
    expect(second.pulled + second.pushed).toBe(6)
    expect(third.pulled + third.pushed).toBe(0)
    for (const [left, right] of [
      ['n1', 'n2'],
      ['n1', 'n3'],
      ['n2', 'n3'],
    ] as const) {
      expect(await differing(sim, left, right, all)).toEqual([])
      expect(treesEqual(sim, left, right)).toBe(true)
    }
  }, 60_000)

  it('a replica that missed deletes takes the tombstones, and no exchange brings the values back', async () => {
    const sim = await convergedCluster('aae deletes', config(0))
    const all = keys('d', 12)
    for (const key of all) await put(sim, 'n1', key, `v-${key}`, 'all')
    const deleted = all.slice(0, 5)
    await whileCutOff(sim, 'n3', async () => {
      for (const key of deleted) await remove(sim, 'n1', key, '2')
    })
    expect((await differing(sim, 'n3', 'n1', all)).sort()).toEqual([...deleted].sort())
    // n1 starts: it pushes its tombstones to n3 and takes nothing from n3's stale values.
    const moved = await exchangeAll(sim, 'n1', 'n3')
    expect(moved.repaired).toBe(5)
    for (const key of deleted) {
      for (const node of NODES) {
        const record = await recordOn(sim, node, key)
        expect(record !== undefined && kvAbsent(record), `${key} deleted on ${node}`).toBe(true)
      }
      const read = await call(sim, 'n3', 'GET', keyPath(key, 'r=1'))
      expect(read.status).toBe(404)
    }
    expect(await differing(sim, 'n3', 'n2', all)).toEqual([])
  }, 60_000)

  it('a reaped tombstone does not come back through an exchange', async () => {
    const sim = await convergedCluster('aae reaped', config(0, 200, 300))
    // Keys whose first primary, the node that proposes them for reaping, is n3.
    const ring = sim.node('n1').topology.topology().current
    const all = keys('r', 200)
      .filter((key) => preferenceList(ring, partitionForKey(16, 'default', key), 3)[0] === 'n3')
      .slice(0, 8)
    expect(all.length).toBe(8)
    for (const key of all) await put(sim, 'n1', key, `v-${key}`, 'all')
    await whileCutOff(sim, 'n3', async () => {
      for (const key of all) await remove(sim, 'n1', key, '2')
    })
    // n3 holds the old values, so it never proposes these keys for reaping until an exchange
    // hands it the tombstones; then the reaper removes them everywhere.
    expect((await exchangeAll(sim, 'n1', 'n3')).pushed).toBe(all.length)
    for (const key of all) {
      const record = await recordOn(sim, 'n3', key)
      expect(record === undefined || kvAbsent(record), `${key} deleted on n3`).toBe(true)
    }
    const reaped = async () => {
      for (const node of NODES)
        for (const key of all) if ((await recordOn(sim, node, key)) !== undefined) return false
      return true
    }
    let gone = false
    for (let round = 0; round < 60 && !gone; round++) {
      await settle(
        sim,
        new Promise((resolve) => sim.sim.schedule(500, () => resolve(undefined))),
        1000,
      )
      gone = await reaped()
    }
    expect(gone).toBe(true)
    for (const [left, right] of [
      ['n1', 'n2'],
      ['n3', 'n1'],
      ['n2', 'n3'],
    ] as const) {
      const moved = await exchangeAll(sim, left, right)
      expect(moved.pulled + moved.pushed).toBe(0)
    }
    expect(await reaped()).toBe(true)
    for (const node of NODES) expect(sim.node(node).kv.antiEntropy?.trees.keyCount()).toBe(0)
  }, 60_000)

  it('with witnesses: a witness gets digests only, a full replica never takes digests', async () => {
    const sim = await convergedCluster('aae witnesses', config(1))
    const all = keys('w', 30)
    await whileCutOff(sim, 'n3', async () => {
      for (const key of all) await put(sim, 'n1', key, `v-${key}`, '2')
    })
    const peers = ['n1', 'n2']
    const before = await differing(sim, 'n3', 'n1', all)
    expect(before.length).toBe(all.length)
    // Exchanging with each peer in turn: a peer that is the key's witness sends digests, which
    // n3 refuses where it is a full replica; the full peer then supplies the value.
    let pulled = 0
    for (const peer of peers) pulled += (await exchangeAll(sim, 'n3', peer)).pulled
    expect(pulled).toBeGreaterThanOrEqual(all.length)
    for (const key of all) {
      const record = await recordOn(sim, 'n3', key)
      expect(record === undefined || isEmptyRecord(record)).toBe(false)
      const partition = partitionForKey(16, 'default', key)
      const slot = sim.node('n3').kv.antiEntropy?.trees.slot('default', partition)
      const witness = slot?.witnesses.includes('n3') ?? false
      if (record === undefined) continue
      if (witness) expect(holdsValues(record), `${key} on witness n3`).toBe(false)
      else expect(holdsDigests(record), `${key} on full n3`).toBe(false)
    }
    expect(await differing(sim, 'n3', 'n1', all)).toEqual([])
    expect(await differing(sim, 'n3', 'n2', all)).toEqual([])
  }, 60_000)
})
