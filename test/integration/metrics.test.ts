/**
 * Goal: real node processes expose valid Prometheus text with the process metrics (event-loop
 * lag) and RocksDB sizes; request counters and latency histograms move by exactly the requests
 * sent; a node that is down makes hints grow on the others, and they drain once it is back;
 * logs are JSON lines naming their node, none of them per request. Method: four `murmur start`
 * processes on loopback (N=3, so each down node has fallbacks), scraped with fetch and read
 * with the strict Prometheus text reader; every wait is bounded.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { partitionForKey } from '../../src/ring/index.js'
import { eventually, TestCluster } from '../support/cluster.js'
import { type PromFamily, parsePrometheusText, sumOf } from '../unit/metrics/prometheus.js'

let cluster: TestCluster | undefined

beforeAll(async () => {
  cluster = await TestCluster.create({
    nodes: 4,
    file: {
      gossip: { preset: 'local' },
      keyspaces: { default: { replicas: 3 } },
      replication: { hintReplayIntervalMs: 500 },
    },
    env: { MURMUR_LOG_LEVEL: 'info' },
  })
  await cluster.startAll()
  // Every node answers /health before every view lists every member alive; a write made
  // before that would count n4 out and leave hints for it that later tests do not expect.
  const nodes = cluster.nodes.map((node) => node.id)
  await eventually(
    async () => (await clusterSum(nodes, 'murmur_members', { state: 'alive' })) === 16,
    30_000,
    'not every node saw all four members alive',
    250,
  )
}, 120_000)

afterAll(async () => {
  await cluster?.destroy()
}, 60_000)

function running(): TestCluster {
  if (cluster === undefined) throw new Error('the cluster did not start')
  return cluster
}

async function scrape(node: string): Promise<Map<string, PromFamily>> {
  const response = await running().request(node, '/metrics')
  expect(response.status).toBe(200)
  return parsePrometheusText(await response.text())
}

async function clusterSum(nodes: readonly string[], name: string, where = {}): Promise<number> {
  const scrapes = await Promise.all(nodes.map((node) => scrape(node)))
  return scrapes.reduce((sum, families) => sum + sumOf(families, name, where), 0)
}

async function put(node: string, key: string, query = ''): Promise<number> {
  const path = `/v1/kv/default/${encodeURIComponent(key)}${query === '' ? '' : `?${query}`}`
  const response = await running().request(node, path, { method: 'PUT', body: 'value' })
  await response.arrayBuffer()
  return response.status
}

/** JSON log lines a node wrote to stderr so far. */
function logLines(node: string): Record<string, unknown>[] {
  return running()
    .node(node)
    .output.join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

describe('metrics of real processes', () => {
  it('exposes valid Prometheus text with process metrics and storage sizes', async () => {
    expect(await put('n1', 'warm-up')).toBe(204)
    const families = await scrape('n1')
    expect(sumOf(families, 'murmur_node_info', { node: 'n1' })).toBe(1)
    expect(families.get('nodejs_eventloop_lag_p99_seconds')?.samples[0]?.value).toBeGreaterThan(0)
    expect(families.get('process_cpu_seconds_total')?.type).toBe('counter')
    expect(sumOf(families, 'murmur_storage_keys_estimate')).toBeGreaterThan(0)
    const bytes =
      sumOf(families, 'murmur_storage_memtable_bytes') +
      sumOf(families, 'murmur_storage_table_files_bytes')
    expect(bytes).toBeGreaterThan(0)
    expect(sumOf(families, 'murmur_members', { state: 'alive' })).toBe(4)
  })

  it('moves request counters and histograms by the requests sent, and logs none of them', async () => {
    const linesBefore = logLines('n2').length
    const route = { route: '/v1/kv/:keyspace/:key', keyspace: 'default' }
    const writes = { ...route, method: 'PUT', level: 'quorum' }
    const reads = { ...route, method: 'GET', level: 'one' }
    const before = await scrape('n2')
    for (let index = 0; index < 40; index++) {
      expect(await put('n2', `load-${index}`, 'w=quorum')).toBe(204)
    }
    for (let index = 0; index < 25; index++) {
      const response = await running().request('n2', `/v1/kv/default/load-${index}?r=one`)
      expect(response.status).toBe(200)
      await response.arrayBuffer()
    }
    const after = await scrape('n2')
    const delta = (name: string, where: Record<string, string>) =>
      sumOf(after, name, where) - sumOf(before, name, where)
    expect(delta('murmur_http_requests_total', { ...writes, status: '204' })).toBe(40)
    expect(delta('murmur_http_request_duration_seconds_count', writes)).toBe(40)
    expect(delta('murmur_http_request_duration_seconds_sum', writes)).toBeGreaterThan(0)
    expect(delta('murmur_http_requests_total', { ...reads, status: '200' })).toBe(25)
    expect(delta('murmur_http_request_duration_seconds_count', reads)).toBe(25)
    // Raft elections may log a role change meanwhile; nothing else may appear, and certainly
    // not a line per request.
    const added = logLines('n2').slice(linesBefore)
    expect(added.filter((line) => line['msg'] !== 'raft role changed')).toEqual([])
    expect(added.length).toBeLessThan(5)
  })

  it('writes JSON log lines that name their node', () => {
    for (const node of ['n1', 'n2', 'n3', 'n4']) {
      const lines = logLines(node)
      expect(lines.some((line) => line['msg'] === 'node started')).toBe(true)
      for (const line of lines) {
        expect(line).toMatchObject({ node, level: expect.any(String), msg: expect.any(String) })
        expect(Number.isNaN(Date.parse(String(line['time'])))).toBe(false)
      }
    }
  })

  it('counts hints while a node is down and their replay once it is back', async () => {
    const ring = (await (await running().request('n1', '/v1/cluster/ring')).json()) as {
      partitions: number
      keyspaces: { name: string; partitions: { partition: number; full: string[] }[] }[]
    }
    const places = ring.keyspaces.find((keyspace) => keyspace.name === 'default')?.partitions ?? []
    const keys = Array.from({ length: 200 }, (_, index) => `hinted-${index}`)
      .filter((key) =>
        places[partitionForKey(ring.partitions, 'default', key)]?.full.includes('n4'),
      )
      .slice(0, 8)
    expect(keys.length).toBe(8)
    const others = ['n1', 'n2', 'n3']
    const storedBefore = await clusterSum(others, 'murmur_hints_stored_total')
    await running().kill('n4')
    // Once n4 is dead everywhere, plans send n4's copy to a fallback as a hint at once (while
    // it is only suspect, a write that meets its quorum first needs no stand-in).
    await eventually(
      async () =>
        (await clusterSum(others, 'murmur_member_state', { member: 'n4', state: 'dead' })) === 3,
      30_000,
      'n4 was not seen dead by every other node',
      250,
    )
    // w=all waits for the fallback's acknowledgement, so each hint is stored before the answer.
    for (const key of keys) expect(await put('n1', key, 'w=all')).toBe(204)
    const stored = (await clusterSum(others, 'murmur_hints_stored_total')) - storedBefore
    expect(stored).toBe(keys.length)
    expect(await clusterSum(others, 'murmur_hints_pending', { target: 'n4' })).toBe(stored)

    await running().start('n4')
    await eventually(
      async () => (await clusterSum(others, 'murmur_hints_pending', { target: 'n4' })) === 0,
      30_000,
      'hints for n4 were not replayed',
      250,
    )
    expect(await clusterSum(others, 'murmur_hints_delivered_total')).toBeGreaterThanOrEqual(stored)
  }, 90_000)
})
