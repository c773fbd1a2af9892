/**
 * Scenario "topology": the time to move ownership when a node joins a cluster holding N keys
 * (BENCH_TOPOLOGY_KEYS, default 1,000,000), and the foreground GET p99 while it moves.
 *
 * Setup: a fresh 4-node cluster (RocksDB, 64 partitions, replicas 3, durability async) whose
 * n4 is `standby: true`, so version 1 of the ring holds n1..n3 and each of them holds every
 * key. It is started once to create its data directories, stopped (SIGTERM), and n1..n3's
 * RocksDB are loaded directly with N records of 100 random bytes (as the antientropy scenario
 * does: seconds instead of many minutes of HTTP writes).
 *
 * Measurement: the four nodes start; once all are ready, n4 is joined through the admin REST
 * API (stage `join n4`, commit at the current version). The move time runs from the commit
 * until the ring version is two past the one committed against and not moving (every
 * transfer done, the finish committed). Keys and bytes moved are n4's
 * `murmur_handoff_{keys,bytes}_moved_total`. Meanwhile a GET load (16 connections, `duration`
 * seconds) runs against n1, and again after the move.
 *
 * Transfers run at the default `topology.handoff` rates (20000 keys/s, 32 MiB/s per receiver,
 * 2 partitions at a time), which bound the time from below. Zones are z1, z2, z3, z1 (the
 * test cluster's), and every list keeps one node per zone, so n4 shares z1's places with n1
 * and about N/2 keys reach it.
 */

import { readFileSync, writeFileSync } from 'node:fs'
import { parse, stringify } from 'yaml'
import { eventually, type TestCluster } from '../../test/support/cluster.js'
import { generateLoad, type LoadResult } from '../lib/load.js'
import type { ScenarioReport } from '../lib/report.js'
import { benchCluster, type Scenario } from '../lib/scenario.js'
import { median, round } from '../lib/stats.js'
import { keyOf, loadDisks, PARTITIONS, VALUE_BYTES } from './antientropy.js'

const CONNECTIONS = 16
const MOVE_TIMEOUT_MS = 3_600_000
const MIB = 1024 * 1024
const LOADED_NODES = ['n1', 'n2', 'n3'] as const

interface MoveResult {
  readonly moveMs: number
  readonly keysMoved: number
  readonly bytesMoved: number
  readonly streamBytes: number
  readonly during: LoadResult
  readonly idle: LoadResult
}

interface AdminTopology {
  readonly version: number
  readonly moving: boolean
}

async function adminTopology(cluster: TestCluster): Promise<AdminTopology> {
  const { status, body } = await cluster.json('n1', '/v1/admin/topology')
  if (status !== 200) throw new Error(`GET /v1/admin/topology answered ${status}`)
  return body as AdminTopology
}

async function post(cluster: TestCluster, path: string, body: unknown): Promise<void> {
  const { status, body: answer } = await cluster.json('n1', path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  if (status !== 200) throw new Error(`POST ${path} answered ${status}: ${JSON.stringify(answer)}`)
}

/** One counter of a node's /metrics text (0 when absent). */
async function counter(cluster: TestCluster, id: string, name: string): Promise<number> {
  const text = await (await cluster.request(id, '/metrics')).text()
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? 0 : Number(line.split(' ')[1])
}

/**
 * Marks nodes of a created (not yet started) cluster `standby: true` in its cluster.yml: they
 * run and coordinate but own nothing until joined.
 */
export function markStandby(cluster: TestCluster, ids: readonly string[]): void {
  const file = parse(readFileSync(cluster.configPath, 'utf8')) as {
    nodes: { id: string; standby?: boolean }[]
  }
  for (const node of file.nodes) if (ids.includes(node.id)) node.standby = true
  writeFileSync(cluster.configPath, stringify(file))
}

/** A 4-node cluster file with n4 standby, started once so the data directories exist. */
async function preparedCluster(): Promise<TestCluster> {
  const cluster = await benchCluster({
    nodes: 4,
    file: {
      gossip: { preset: 'local' },
      ring: { partitions: PARTITIONS },
      keyspaces: { default: { replicas: 3, durability: 'async' } },
      log: { level: 'info' },
    },
  })
  markStandby(cluster, ['n4'])
  await cluster.startAll()
  for (const node of cluster.nodes) await cluster.signal(node.id, 'SIGTERM')
  return cluster
}

async function moveOnce(keys: number, durationSeconds: number): Promise<MoveResult> {
  const cluster = await preparedCluster()
  try {
    const streamBytes = await loadDisks(cluster, LOADED_NODES, keys, () => true)
    await cluster.startAll(600_000)
    for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', 60_000)
    const before = await adminTopology(cluster)
    await post(cluster, '/v1/admin/topology/stage', { action: 'join', node: 'n4' })
    const loadUrl = `${cluster.node('n1').url}/v1/kv/default/${keyOf(1)}?r=1`
    const startedMs = Date.now()
    await post(cluster, '/v1/admin/topology/commit', { version: before.version })
    const during = generateLoad({ url: loadUrl, connections: CONNECTIONS, durationSeconds })
    await eventually(
      async () => {
        const now = await adminTopology(cluster)
        return now.version >= before.version + 2 && !now.moving
      },
      MOVE_TIMEOUT_MS,
      'the move finished',
      200,
    )
    const moveMs = Date.now() - startedMs
    const duringResult = await during
    const idle = await generateLoad({ url: loadUrl, connections: CONNECTIONS, durationSeconds })
    return {
      moveMs,
      keysMoved: await counter(cluster, 'n4', 'murmur_handoff_keys_moved_total'),
      bytesMoved: await counter(cluster, 'n4', 'murmur_handoff_bytes_moved_total'),
      streamBytes,
      during: duringResult,
      idle,
    }
  } finally {
    await cluster.destroy()
  }
}

export const topologyScenario: Scenario = {
  name: 'topology',
  description:
    'Time to move ownership when a node joins a 3-node cluster holding N keys (partition handoff), and the foreground GET p99 during the move.',
  async run(options): Promise<ScenarioReport> {
    const keys = Number(process.env['BENCH_TOPOLOGY_KEYS'] ?? 1_000_000)
    if (!Number.isSafeInteger(keys) || keys < 100) {
      throw new Error('BENCH_TOPOLOGY_KEYS must be >= 100')
    }
    const runs: MoveResult[] = []
    for (let run = 0; run < options.runs; run++) {
      const result = await moveOnce(keys, options.durationSeconds)
      console.log(
        `  run ${run + 1}/${options.runs}: moved ${result.keysMoved} keys in ${result.moveMs} ms`,
      )
      runs.push(result)
    }
    const of = (pick: (result: MoveResult) => number) => median(runs.map(pick))
    const moveMs = of((result) => result.moveMs)
    const keysMoved = of((result) => result.keysMoved)
    return {
      scenario: 'topology',
      description: this.description,
      parameters: {
        keys,
        valueBytes: VALUE_BYTES,
        partitions: PARTITIONS,
        replicas: 3,
        handoff: 'defaults (20000 keys/s, 32 MiB/s, 2 partitions at a time)',
        loadConnections: CONNECTIONS,
        loadSeconds: options.durationSeconds,
      },
      tables: [
        {
          title: 'Join n4 to n1..n3 (3 → 4 nodes)',
          columns: ['keys', 'move time (s)', 'keys moved', 'MiB moved', 'keys/s', 'all keys MiB'],
          rows: [
            [
              keys,
              round(moveMs / 1000, 1),
              keysMoved,
              round(of((result) => result.bytesMoved) / MIB, 1),
              Math.round(keysMoved / Math.max(0.001, moveMs / 1000)),
              round((runs[0]?.streamBytes ?? 0) / MIB, 1),
            ],
          ],
        },
        {
          title: 'Foreground GET on n1 (r=1) during the move and after it',
          columns: ['req/s during', 'p99 ms during', 'req/s after', 'p99 ms after'],
          rows: [
            [
              Math.round(of((result) => result.during.requestsPerSecond)),
              round(of((result) => result.during.p99Ms)),
              Math.round(of((result) => result.idle.requestsPerSecond)),
              round(of((result) => result.idle.p99Ms)),
            ],
          ],
        },
      ],
      notes: [
        'Medians of `runs` runs, each on a fresh cluster; raw holds every run.',
        'The move time includes the reconciliation exchanges with the other old owners and the control plane noticing that every transfer is done (topology.finishCheckIntervalMs).',
        'n4 shares zone z1 with n1 and lists keep one node per zone, so about half of the keys move.',
        'The load generator and the four nodes share the machine; the foreground load runs for a fixed time, which may end before the move does.',
      ],
      raw: runs,
    }
  },
}
