/**
 * Goal: a node's /metrics exposes every documented metric in valid Prometheus text, and the
 * values move with what the node does: requests and their latency, hints while a replica is
 * down and their replay once it is back, suspicions and deaths, siblings on reads, Raft
 * leadership, proposals and commit latency. /v1/stats serves the same values as JSON and
 * /v1/stats/cluster gathers every member's summary. Method: real nodes in the deterministic
 * simulator (virtual clock, in-memory network and disks), scraped through their REST apps;
 * each test prints its seed (replay with MURMUR_SEED).
 */

import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import type { ClusterStatsEntry } from '../../../src/metrics/cluster-stats.js'
import type { StatsSnapshot } from '../../../src/metrics/stats.js'
import { SimCluster } from '../../sim/cluster.js'
import { keyPath, primariesOf, settle } from '../../sim/replication/harness.js'
import { pickSeed } from '../../sim/seed.js'
import { REPO_ROOT } from '../../support/cluster.js'
import { type PromFamily, parsePrometheusText, sumOf } from './prometheus.js'

const CONFIG = `
nodes: [{ id: n1, zone: a }, { id: n2, zone: b }, { id: n3, zone: c }, { id: n4, zone: d }]
ring: { partitions: 16 }
keyspaces:
  default: { replicas: 3, durability: sync }
  reg: { mode: strong, replicas: 3 }
storage: { engine: memory }
gossip: { preset: local, gossipIntervalMs: 200 }
requests: { timeoutMs: 1500, peerTimeoutMs: 400 }
replication: { hintReplayIntervalMs: 500 }
raft: { tickMs: 100, electionTicks: 10 }
`

async function cluster(label: string): Promise<SimCluster> {
  const created = await SimCluster.create({ seed: pickSeed(label), configText: CONFIG })
  expect(await created.converge(10_000)).toBe(true)
  return created
}

async function call(sim: SimCluster, node: string, method: string, path: string, body?: string) {
  return settle(sim, sim.request(node, method, path, body), 10_000)
}

async function scrape(sim: SimCluster, node: string): Promise<Map<string, PromFamily>> {
  const response = await call(sim, node, 'GET', '/metrics')
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
  return parsePrometheusText(response.body)
}

/** The sum of one metric over every running node. */
async function clusterSum(sim: SimCluster, name: string, where: Record<string, string> = {}) {
  let sum = 0
  for (const id of sim.nodeIds.filter((node) => sim.isRunning(node))) {
    sum += sumOf(await scrape(sim, id), name, where)
  }
  return sum
}

async function runUntil(sim: SimCluster, limitMs: number, check: () => boolean): Promise<void> {
  expect(await sim.sim.runUntil(check, { untilMs: sim.sim.nowMs + limitMs })).toBe(true)
}

function stateOf(sim: SimCluster, observer: string, subject: string): string | undefined {
  return sim
    .node(observer)
    .membership.members()
    .find((member) => member.id === subject)?.state
}

/** Metric names documented in docs/OPERATIONS.md (in backquotes). */
function documentedMetrics(): Set<string> {
  const text = readFileSync(`${REPO_ROOT}/docs/OPERATIONS.md`, 'utf8')
  return new Set([...text.matchAll(/`(murmur_[a-z0-9_]+)`/g)].map((match) => match[1] ?? ''))
}

describe('node metrics', () => {
  it('exposes every documented metric as valid Prometheus text, and documents each one', async () => {
    const sim = await cluster('metrics exposition')
    await call(sim, 'n1', 'PUT', keyPath('a'), 'v')
    const families = await scrape(sim, 'n1')
    const exposed = [...families.keys()].filter((name) => name.startsWith('murmur_'))
    const documented = documentedMetrics()
    expect(exposed.filter((name) => !documented.has(name))).toEqual([])
    // Registered by the node process around the transports it opens (src/runtime/process.ts),
    // not by the in-process node; test/integration/security.test.ts and gossip-fuzz.test.ts
    // scrape them.
    const processOnly = new Set([
      'murmur_peer_connections_rejected_total',
      'murmur_gossip_packets_dropped_total',
    ])
    const missing = [...documented].filter((name) => !families.has(name) && !processOnly.has(name))
    expect(missing).toEqual([])
    expect(families.get('murmur_http_request_duration_seconds')?.type).toBe('histogram')
    expect(families.get('murmur_hints_stored_total')?.type).toBe('counter')
    expect(families.get('murmur_members')?.type).toBe('gauge')
    for (const family of families.values()) expect(family.help.length).toBeGreaterThan(10)
  })

  it('counts and times requests by route and level', async () => {
    const sim = await cluster('metrics requests')
    const kv = { route: '/v1/kv/:keyspace/:key', keyspace: 'default', method: 'PUT', level: 'two' }
    const before = await scrape(sim, 'n2')
    for (let index = 0; index < 7; index++) {
      expect((await call(sim, 'n2', 'PUT', keyPath(`k${index}`, 'w=two'), 'v')).status).toBe(204)
    }
    const after = await scrape(sim, 'n2')
    const delta = (name: string, where: Record<string, string>) =>
      sumOf(after, name, where) - sumOf(before, name, where)
    expect(delta('murmur_http_requests_total', { ...kv, status: '204' })).toBe(7)
    expect(delta('murmur_http_request_duration_seconds_count', kv)).toBe(7)
    expect(delta('murmur_http_request_duration_seconds_bucket', { ...kv, le: '+Inf' })).toBe(7)
    expect(
      delta('murmur_kv_writes_coordinated_total', {}) +
        delta('murmur_kv_writes_forwarded_total', {}),
    ).toBe(7)
  })

  it('counts suspicion and death, then hints while a replica is down and their replay', async () => {
    const sim = await cluster('metrics hints')
    await sim.crash('n4')
    await runUntil(sim, 60_000, () => stateOf(sim, 'n1', 'n4') === 'dead')
    const events = await scrape(sim, 'n1')
    expect(sumOf(events, 'murmur_membership_events_total', { type: 'suspect' })).toBeGreaterThan(0)
    expect(sumOf(events, 'murmur_membership_events_total', { type: 'dead' })).toBeGreaterThan(0)
    expect(sumOf(events, 'murmur_members', { state: 'dead' })).toBe(1)
    expect(sumOf(events, 'murmur_member_state', { member: 'n4', state: 'dead' })).toBe(1)

    const keys = Array.from({ length: 40 }, (_, index) => `hinted-${index}`)
      .filter((key) => primariesOf(sim, key).includes('n4'))
      .slice(0, 5)
    expect(keys.length).toBe(5)
    const storedBefore = await clusterSum(sim, 'murmur_hints_stored_total')
    // w=all waits for the fallback's acknowledgement, so each hint is stored before the answer.
    for (const key of keys) {
      expect((await call(sim, 'n1', 'PUT', keyPath(key, 'w=all'), 'v')).status).toBe(204)
    }
    expect((await clusterSum(sim, 'murmur_hints_stored_total')) - storedBefore).toBe(5)
    expect(await clusterSum(sim, 'murmur_hints_pending', { target: 'n4' })).toBe(5)

    await sim.start('n4')
    await runUntil(sim, 30_000, () =>
      sim.nodeIds.every((id) => sim.node(id).kv.store.hintCount('n4') === 0),
    )
    expect(await clusterSum(sim, 'murmur_hints_delivered_total')).toBe(5)
    expect(await clusterSum(sim, 'murmur_hints_pending')).toBe(0)
  })

  it('counts reads that return siblings', async () => {
    const sim = await cluster('metrics siblings')
    const writes = await settle(
      sim,
      Promise.all([
        sim.request('n1', 'PUT', keyPath('cart'), 'apple'),
        sim.request('n2', 'PUT', keyPath('cart'), 'pear'),
      ]),
      10_000,
    )
    expect(writes.map((response) => response.status)).toEqual([204, 204])
    expect((await call(sim, 'n3', 'GET', keyPath('cart', 'r=all'))).status).toBe(300)
    const families = await scrape(sim, 'n3')
    expect(sumOf(families, 'murmur_kv_reads_with_siblings_total')).toBe(1)
    expect(sumOf(families, 'murmur_kv_siblings_read_total')).toBe(2)
  })

  it('reports Raft leadership, proposals and commit latency', async () => {
    const sim = await cluster('metrics raft')
    await runUntil(sim, 20_000, () =>
      ['n1', 'n2', 'n3'].some((id) => sim.node(id).strong.raftView()?.status.role === 'leader'),
    )
    for (let index = 0; index < 4; index++) {
      expect((await call(sim, 'n4', 'PUT', `/v1/kv/reg/r${index}`, 'v')).status).toBe(204)
    }
    const scrapes = await Promise.all(['n1', 'n2', 'n3', 'n4'].map((id) => scrape(sim, id)))
    const leaders = scrapes.filter((families) => sumOf(families, 'murmur_raft_is_leader') === 1)
    expect(leaders.length).toBe(1)
    const leader = leaders[0] as Map<string, PromFamily>
    expect(sumOf(leader, 'murmur_raft_proposals_received_total')).toBe(4)
    expect(sumOf(leader, 'murmur_raft_proposals_committed_total')).toBe(4)
    expect(sumOf(leader, 'murmur_raft_commit_latency_seconds_count')).toBe(4)
    // Each write's append carried the commit notice the previous write left held.
    expect(sumOf(leader, 'murmur_raft_commit_notices_replaced_total')).toBeGreaterThan(0)
    expect(sumOf(leader, 'murmur_raft_term')).toBeGreaterThan(0)
    expect(sumOf(leader, 'murmur_raft_role', { role: 'leader' })).toBe(1)
    expect(leader.get('murmur_raft_replica_match_index')?.samples.length).toBe(3)
    for (const families of scrapes.slice(0, 3)) {
      expect(sumOf(families, 'murmur_raft_has_leader')).toBe(1)
      expect(sumOf(families, 'murmur_raft_leader_changes_total')).toBeGreaterThan(0)
      expect(sumOf(families, 'murmur_raft_applied_index')).toBeGreaterThanOrEqual(4)
    }
    // n4 is not a voter: it forwards, and has no Raft series of its own.
    expect(scrapes[3]?.get('murmur_raft_term')).toBeUndefined()
  })

  it('serves the same samples as JSON, and every member summary from any node', async () => {
    const sim = await cluster('metrics stats')
    await call(sim, 'n1', 'PUT', keyPath('x'), 'v')
    const text = await scrape(sim, 'n1')
    const stats = JSON.parse((await call(sim, 'n1', 'GET', '/v1/stats')).body) as StatsSnapshot
    expect(stats.node).toBe('n1')
    for (const [name, family] of text) {
      // Request metrics moved with the scrape itself; everything else stood still.
      if (name.startsWith('murmur_http_')) continue
      const samples = stats.metrics[name]?.samples ?? []
      expect(samples.map((sample) => sample.value)).toEqual(family.samples.map((s) => s.value))
    }
    await sim.crash('n3')
    await runUntil(sim, 60_000, () => stateOf(sim, 'n2', 'n3') === 'dead')
    const response = await call(sim, 'n2', 'GET', '/v1/stats/cluster')
    const nodes = (JSON.parse(response.body) as { nodes: ClusterStatsEntry[] }).nodes
    expect(nodes.map((entry) => [entry.node, entry.state])).toEqual([
      ['n1', 'alive'],
      ['n2', 'alive'],
      ['n3', 'dead'],
      ['n4', 'alive'],
    ])
    expect(nodes.filter((entry) => entry.summary !== null).map((entry) => entry.node)).toEqual([
      'n1',
      'n2',
      'n4',
    ])
    expect(nodes[0]?.summary?.requests).toBe(1)
    expect(nodes[2]?.error).toBe('member is dead')
  })
})
