/**
 * Scenario "crdt": counters and sets of a 3-node murmur cluster (N=3, RocksDB, durability
 * sync). Throughput and latency of counter increments and set adds at `w=quorum` and `w=one`,
 * with and without a unique Idempotency-Key per request (keys spread over 1000 counters or
 * sets), each measured `runs` times in alternating order with wrk; the report keeps medians.
 *
 * Storage: the record must stay O(actors) (plus the bounded idempotency ledger), not
 * O(increments). First the pure core: 1,000,000 increments from three coordinators (actors)
 * that merge each other's records now and then, plain and keyed, and the stored size of the
 * resulting record. Then the cluster: one counter of a `durability: async` keyspace receives
 * increments through all three nodes, plain and keyed; the nodes stop and each node's RocksDB
 * is opened to read the counter's stored record and the store's live data estimate.
 * MURMUR_BENCH_CRDT_INCREMENTS and MURMUR_BENCH_CRDT_KEYED_INCREMENTS set the cluster's
 * increments per counter (defaults 100,000 and 10,000: one hot key's updates are serialized by
 * its lock, and a keyed counter replicates its whole ledger with every update, so a million
 * takes hours; the pure-core figure covers the million).
 */

import { join } from 'node:path'
import * as ReplicatedCounter from '../../src/crdt/replicated-counter.js'
import { encodeKeyRecord } from '../../src/replication/record.js'
import { partitionForKey } from '../../src/ring/index.js'
import { dataKey } from '../../src/storage/layout.js'
import { RocksDbEngine } from '../../src/storage/rocksdb.js'
import { encodeRecord } from '../../src/wire/codec.js'
import { REPO_ROOT, type TestCluster } from '../../test/support/cluster.js'
import { generateLoad, type LoadResult } from '../lib/load.js'
import type { ScenarioReport } from '../lib/report.js'
import {
  alternate,
  benchCluster,
  type Scenario,
  SUMMARY_COLUMNS,
  summaryRow,
} from '../lib/scenario.js'

const CONNECTIONS = 32
const KEYS = 1000
const PARTITIONS = 256
const SCRIPT = join(REPO_ROOT, 'bench/scenarios/crdt.lua')
const INCREMENTS = Number(process.env['MURMUR_BENCH_CRDT_INCREMENTS'] ?? 100_000)
const KEYED_INCREMENTS = Number(process.env['MURMUR_BENCH_CRDT_KEYED_INCREMENTS'] ?? 10_000)
const CORE_INCREMENTS = 1_000_000
const CORE_ACTORS = ['n1.6b0c7e2f19a3d845.1', 'n2.f3a81c0de2b47961.1', 'n3.0d9e4b7a5c2f1863.1']
const LEDGER = { windowMs: 86_400_000, entriesMax: 1000 }
const STORAGE_CONCURRENCY = 96

function load(
  url: string,
  seconds: number,
  type: 'counter' | 'set',
  query: string,
  keyed: boolean,
): Promise<LoadResult> {
  return generateLoad({
    url,
    connections: CONNECTIONS,
    durationSeconds: seconds,
    wrkScript: SCRIPT,
    wrkEnv: {
      MURMUR_TYPE: type,
      MURMUR_KEYS: String(KEYS),
      MURMUR_QUERY: query,
      MURMUR_KEYED: keyed ? '1' : '0',
    },
  })
}

/** Sends `count` increments of 1 to one counter, round-robin over the nodes. */
async function increment(urls: readonly string[], key: string, count: number, keyed: boolean) {
  let next = 0
  let failures = 0
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++
      const headers: Record<string, string> = { 'Content-Type': 'application/json' }
      if (keyed) headers['Idempotency-Key'] = `${key}-${index}`
      const url = `${urls[index % urls.length]}/v1/counters/bulk/${key}?w=quorum`
      const response = await fetch(url, { method: 'POST', body: '{"increment":1}', headers })
      await response.arrayBuffer()
      if (response.status !== 200) failures++
    }
  }
  await Promise.all(Array.from({ length: STORAGE_CONCURRENCY }, worker))
  return failures
}

/** The stored size of a counter record after `count` increments by three coordinators. */
function coreRecordBytes(count: number, keyed: boolean): { bytes: number; value: number } {
  let states = CORE_ACTORS.map(() => ReplicatedCounter.empty())
  for (let index = 0; index < count; index++) {
    const at = index % CORE_ACTORS.length
    const actor = CORE_ACTORS[at] as string
    const state = states[at] as ReplicatedCounter.ReplicatedCounter
    const updated = keyed
      ? ReplicatedCounter.compact(
          ReplicatedCounter.updateKeyed(state, actor, `k${index}.content`, 1, index),
          index,
          LEDGER,
        )
      : ReplicatedCounter.update(state, actor, 1)
    states[at] = updated
    // Replicas exchange records; a coordinator mints on what it has merged.
    if (index % 97 === 0) states = states.map((other) => ReplicatedCounter.merge(other, updated))
  }
  const counter = states.reduce(ReplicatedCounter.merge)
  return {
    bytes: encodeRecord(encodeKeyRecord({ counter })).length,
    value: ReplicatedCounter.value(counter),
  }
}

interface StorageRow {
  readonly counter: string
  readonly node: string
  readonly recordBytes: number
  readonly liveDataBytes: number
}

/** Opens each stopped node's RocksDB and measures the counters' records and its live data. */
async function measureStorage(
  cluster: TestCluster,
  keys: readonly string[],
): Promise<StorageRow[]> {
  const rows: StorageRow[] = []
  for (const node of cluster.nodes) {
    const engine = await RocksDbEngine.open(join(cluster.dir, 'data', node.id))
    try {
      await engine.flush()
      const stats = await engine.stats()
      for (const key of keys) {
        const partition = partitionForKey(PARTITIONS, 'bulk', key)
        const stored = await engine.get(dataKey(partition, 'bulk', key))
        rows.push({
          counter: key,
          node: node.id,
          recordBytes: stored?.length ?? 0,
          liveDataBytes: stats.liveDataBytes,
        })
      }
    } finally {
      await engine.close()
    }
  }
  return rows
}

export const crdtScenario: Scenario = {
  name: 'crdt',
  description:
    'A 3-node murmur cluster (N=3, RocksDB, durability sync): counter increments and set adds at w=quorum and w=one, with and without Idempotency-Keys, over 1000 keys at 32 connections; then the bytes stored per counter after many increments from 3 coordinators.',
  async run(options): Promise<ScenarioReport> {
    const cluster = await benchCluster({
      nodes: 3,
      file: {
        ring: { partitions: PARTITIONS },
        keyspaces: {
          default: { replicas: 3, durability: 'sync' },
          bulk: { replicas: 3, durability: 'async' },
        },
        storage: { engine: 'rocksdb' },
      },
    })
    try {
      await cluster.startAll()
      for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', 20_000)
      const url = cluster.node('n1').url
      const seconds = options.durationSeconds
      const measurements = (['counter', 'set'] as const).flatMap((type) =>
        ['w=quorum', 'w=one'].flatMap((query) =>
          [false, true].map((keyed) => ({
            label: `${type} ${type === 'set' ? 'add' : 'increment'} ${query}${keyed ? ' keyed' : ''}`,
            measure: () => load(url, seconds, type, query, keyed),
          })),
        ),
      )
      const series = await alternate(options.runs, measurements)
      const core = [false, true].map((keyed) => ({
        keyed,
        ...coreRecordBytes(CORE_INCREMENTS, keyed),
      }))
      for (const row of core)
        console.log(
          `  core record after ${CORE_INCREMENTS} ${row.keyed ? 'keyed ' : ''}increments: ${row.bytes} bytes`,
        )
      const urls = cluster.nodes.map((node) => node.url)
      const startedMs = performance.now()
      const plainFailures = await increment(urls, 'storage-plain', INCREMENTS, false)
      const plainSeconds = (performance.now() - startedMs) / 1000
      const keyedFailures = await increment(urls, 'storage-keyed', KEYED_INCREMENTS, true)
      const keyedSeconds = (performance.now() - startedMs) / 1000 - plainSeconds
      const values = await Promise.all(
        ['storage-plain', 'storage-keyed'].map(async (key) => {
          const read = await cluster.json('n2', `/v1/counters/bulk/${key}?r=all`)
          return (read.body as { value: number }).value
        }),
      )
      for (const node of cluster.nodes) await cluster.kill(node.id)
      const storage = await measureStorage(cluster, ['storage-plain', 'storage-keyed'])
      return {
        scenario: 'crdt',
        description: this.description,
        parameters: {
          connections: CONNECTIONS,
          durationSeconds: seconds,
          runs: options.runs,
          keys: KEYS,
          incrementsPerCounter: INCREMENTS,
          keyedIncrementsPerCounter: KEYED_INCREMENTS,
          coreIncrementsPerCounter: CORE_INCREMENTS,
          idempotencyEntriesMax: 1000,
          tool: series[0]?.results[0]?.tool,
        },
        tables: [
          {
            title: 'Throughput and latency (medians)',
            columns: SUMMARY_COLUMNS,
            rows: series.map(summaryRow),
          },
          {
            title: `Stored record of one counter after ${CORE_INCREMENTS} increments by 3 coordinators (pure core)`,
            columns: ['increments', 'value', 'record bytes'],
            rows: core.map((row) => [
              row.keyed ? 'keyed (unique Idempotency-Keys)' : 'plain',
              row.value,
              row.bytes,
            ]),
          },
          {
            title: `Bytes stored per counter after ${INCREMENTS} plain or ${KEYED_INCREMENTS} keyed increments through 3 coordinators (cluster)`,
            columns: ['counter', 'node', 'record bytes', 'RocksDB live data bytes (whole node)'],
            rows: storage.map((row) => [row.counter, row.node, row.recordBytes, row.liveDataBytes]),
          },
        ],
        notes: [
          `Final values: storage-plain ${values[0]}, storage-keyed ${values[1]} (requests that failed, mostly timeouts of updates that were applied anyway: ${plainFailures} plain, ${keyedFailures} keyed); one hot counter took ${Math.round(INCREMENTS / plainSeconds)} plain or ${Math.round(KEYED_INCREMENTS / keyedSeconds)} keyed increments/s from ${STORAGE_CONCURRENCY} concurrent clients.`,
          'A plain counter stores one total per actor (node incarnation); a keyed one adds at most idempotencyEntriesMax (1000) recent entries per coordinator, folded into per-actor totals beyond, so neither grows with the number of increments.',
          'Live data is the RocksDB estimate for the whole node after a flush, including the throughput phase keys. The storage counters live in a keyspace with durability async, so the phase is bounded by the per-key lock and CPU rather than by fsync.',
          'Three murmur nodes and wrk share the same machine; the load goes through node n1, which forwards nothing (every node is a primary with N=3).',
        ],
        raw: { series, core, storage, values },
      }
    } finally {
      await cluster.destroy()
    }
  },
}
