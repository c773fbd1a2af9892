/**
 * Scenario "antientropy": what Merkle-tree anti-entropy costs to repair a replica that missed
 * 1% and 10% of N keys (BENCH_AAE_KEYS, default 1,000,000), against streaming the whole
 * partition set to it.
 *
 * Setup, per fraction: a fresh 3-node cluster (RocksDB, 64 partitions, replicas 3, so every
 * node holds every key) is started once to create its data directories, stopped (SIGTERM),
 * and each node's RocksDB is loaded directly with N records of 100 random bytes: n1 and n2
 * hold all of them, n3 lacks the missed fraction. Loading the disks directly takes seconds
 * where N HTTP writes would take many minutes, and it makes the divergence exact.
 *
 * Measurement: the three nodes start; each builds its trees from disk before it serves (the
 * build time is read from n3's log). From the moment all are ready, anti-entropy runs with
 * its default rate limits (2000 keys/s, 4 MiB/s per node) and every tree in turn every
 * 6.4 s; the repair time is until n3's trees track all N keys (n3 lacked keys, so its key
 * count reaching N means every missed key arrived). Bytes are every exchange message of every
 * node (requests, answers and pushed records: the nodes' murmur_aae_bytes_* counters).
 * Meanwhile a GET load (wrk or autocannon, 16 connections, `duration` seconds) runs against
 * n1, and again after convergence, for the foreground p99 with and without the repair.
 *
 * Baseline: streaming the whole partition set to n3 would send every record once; its bytes
 * are the msgpack size of every (key, record) pair, counted while loading, and its time at the
 * same byte rate limit is bytes ÷ 4 MiB/s (the stream itself was not run).
 */

import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { encodeKeyRecord, type KeyRecord } from '../../src/replication/record.js'
import { partitionForKey } from '../../src/ring/index.js'
import type { WriteOp } from '../../src/storage/engine.js'
import { dataKey } from '../../src/storage/layout.js'
import { putRecordOp } from '../../src/storage/records.js'
import { RocksDbEngine } from '../../src/storage/rocksdb.js'
import { encode } from '../../src/wire/codec.js'
import { eventually, type TestCluster } from '../../test/support/cluster.js'
import { generateLoad, type LoadResult } from '../lib/load.js'
import type { ScenarioReport } from '../lib/report.js'
import { benchCluster, type Scenario } from '../lib/scenario.js'
import { median, round } from '../lib/stats.js'

export const PARTITIONS = 64
export const VALUE_BYTES = 100
const FRACTIONS = [0.01, 0.1] as const
const BATCH_RECORDS = 1000
const CONNECTIONS = 16
const BYTES_PER_SECOND = 4 * 1024 * 1024
const EXCHANGE_INTERVAL_MS = 6400
const REPAIR_TIMEOUT_MS = 3_600_000
const ACTOR = 'loader.bench'

interface RepairResult {
  readonly fraction: number
  readonly missed: number
  readonly buildMs: number | undefined
  readonly repairMs: number
  readonly aaeBytes: number
  readonly streamBytes: number
  readonly keysRepaired: number
  readonly during: LoadResult
  readonly idle: LoadResult
}

export function keyOf(index: number): string {
  return `key-${index.toString().padStart(8, '0')}`
}

function recordOf(value: Uint8Array): KeyRecord {
  return {
    kv: {
      clock: { vector: new Map([[ACTOR, 1]]), cloud: [] },
      siblings: [
        {
          dot: { actor: ACTOR, counter: 1 },
          payload: { kind: 'value', value, contentType: 'application/octet-stream' },
        },
      ],
    },
  }
}

/**
 * Writes N records of VALUE_BYTES random bytes into the RocksDB of each stopped node in
 * `nodeIds`, skipping those `holds` says a node lacks; returns the msgpack bytes of every
 * (key, record) pair, what streaming them all would send.
 */
export async function loadDisks(
  cluster: TestCluster,
  nodeIds: readonly string[],
  keys: number,
  holds: (nodeId: string, index: number) => boolean,
): Promise<number> {
  const engines = await Promise.all(
    nodeIds.map((id) => RocksDbEngine.open(join(cluster.dir, 'data', id))),
  )
  let streamBytes = 0
  try {
    for (let start = 0; start < keys; start += BATCH_RECORDS) {
      const batches: WriteOp[][] = nodeIds.map(() => [])
      for (let index = start; index < Math.min(keys, start + BATCH_RECORDS); index++) {
        const key = keyOf(index)
        const wire = encodeKeyRecord(recordOf(randomBytes(VALUE_BYTES)))
        const op = putRecordOp(
          dataKey(partitionForKey(PARTITIONS, 'default', key), 'default', key),
          wire,
        )
        streamBytes += encode([key, wire]).length
        nodeIds.forEach((id, node) => {
          if (holds(id, index)) batches[node]?.push(op)
        })
      }
      await Promise.all(
        engines.map(async (engine, node) => {
          const batch = batches[node] ?? []
          if (batch.length > 0) await engine.write(batch, { sync: false })
        }),
      )
    }
  } finally {
    await Promise.all(engines.map((engine) => engine.close()))
  }
  return streamBytes
}

/** Writes N records into each stopped node's RocksDB; n3 skips the missed ones. */
function load(cluster: TestCluster, keys: number, missed: ReadonlySet<number>) {
  return loadDisks(
    cluster,
    cluster.nodes.map((node) => node.id),
    keys,
    (id, index) => id !== 'n3' || !missed.has(index),
  )
}

interface AaeView {
  readonly antiEntropy: {
    readonly keys: number
    readonly keysRepaired: number
    readonly bytesSent: number
    readonly bytesReceived: number
  }
}

async function view(cluster: TestCluster, id: string): Promise<AaeView['antiEntropy']> {
  return ((await cluster.json(id, '/v1/cluster')).body as AaeView).antiEntropy
}

/** n3's tree build time at its last start (the one after loading), from its log line. */
function buildTimeMs(cluster: TestCluster): number | undefined {
  let elapsedMs: number | undefined
  for (const line of cluster.node('n3').output.join('').split('\n')) {
    if (!line.includes('anti-entropy trees rebuilt')) continue
    const match = /"elapsedMs":(\d+)/.exec(line)
    if (match?.[1] !== undefined) elapsedMs = Number(match[1])
  }
  return elapsedMs
}

async function repairOnce(keys: number, fraction: number, durationSeconds: number) {
  const cluster = await benchCluster({
    nodes: 3,
    file: {
      gossip: { preset: 'local' },
      ring: { partitions: PARTITIONS },
      keyspaces: { default: { replicas: 3, durability: 'async' } },
      replication: { antiEntropy: { exchangeIntervalMs: EXCHANGE_INTERVAL_MS } },
      log: { level: 'info' },
    },
  })
  try {
    await cluster.startAll()
    for (const node of cluster.nodes) await cluster.signal(node.id, 'SIGTERM')
    const missedCount = Math.round(keys * fraction)
    const missed = new Set<number>()
    for (let index = 0; missed.size < missedCount; index += Math.floor(1 / fraction)) {
      missed.add(index % keys)
    }
    const streamBytes = await load(cluster, keys, missed)
    await cluster.startAll(600_000)
    for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', 60_000)
    const startedMs = Date.now()
    const loadUrl = `${cluster.node('n1').url}/v1/kv/default/${keyOf(1)}?r=1`
    const during = generateLoad({ url: loadUrl, connections: CONNECTIONS, durationSeconds })
    await eventually(
      async () => (await view(cluster, 'n3')).keys >= keys,
      REPAIR_TIMEOUT_MS,
      'n3 repaired',
      200,
    )
    const repairMs = Date.now() - startedMs
    const duringResult = await during
    const idle = await generateLoad({ url: loadUrl, connections: CONNECTIONS, durationSeconds })
    const views = await Promise.all(cluster.nodes.map((node) => view(cluster, node.id)))
    return {
      fraction,
      missed: missedCount,
      buildMs: buildTimeMs(cluster),
      repairMs,
      aaeBytes: views.reduce((sum, part) => sum + part.bytesSent + part.bytesReceived, 0),
      streamBytes,
      keysRepaired: views.reduce((sum, part) => sum + part.keysRepaired, 0),
      during: duringResult,
      idle,
    } satisfies RepairResult
  } finally {
    await cluster.destroy()
  }
}

const MIB = 1024 * 1024

/** The per-measure medians of one fraction's runs (each measure on its own). */
function medianResult(runs: readonly RepairResult[]): RepairResult {
  const first = runs[0]
  if (first === undefined) throw new Error('no runs')
  const of = (pick: (result: RepairResult) => number) => median(runs.map(pick))
  const builds = runs.flatMap((result) => (result.buildMs === undefined ? [] : [result.buildMs]))
  const load = (pick: (result: RepairResult) => LoadResult): LoadResult => ({
    ...pick(first),
    requestsPerSecond: of((result) => pick(result).requestsPerSecond),
    p99Ms: of((result) => pick(result).p99Ms),
  })
  return {
    fraction: first.fraction,
    missed: first.missed,
    buildMs: builds.length === 0 ? undefined : median(builds),
    repairMs: of((result) => result.repairMs),
    aaeBytes: of((result) => result.aaeBytes),
    streamBytes: first.streamBytes,
    keysRepaired: of((result) => result.keysRepaired),
    during: load((result) => result.during),
    idle: load((result) => result.idle),
  }
}

export const antiEntropyScenario: Scenario = {
  name: 'antientropy',
  description:
    'Time and bytes for Merkle-tree anti-entropy to repair a replica that missed 1% and 10% of N keys, vs streaming every record; foreground GET p99 during the repair.',
  async run(options): Promise<ScenarioReport> {
    const keys = Number(process.env['BENCH_AAE_KEYS'] ?? 1_000_000)
    if (!Number.isSafeInteger(keys) || keys < 100) throw new Error('BENCH_AAE_KEYS must be >= 100')
    const runs: RepairResult[] = []
    const results: RepairResult[] = []
    for (const fraction of FRACTIONS) {
      const ofFraction: RepairResult[] = []
      for (let run = 0; run < options.runs; run++) {
        const result = await repairOnce(keys, fraction, options.durationSeconds)
        console.log(
          `  missed ${fraction * 100}%, run ${run + 1}/${options.runs}: repaired in ${result.repairMs} ms, ${result.aaeBytes} bytes (stream ${result.streamBytes})`,
        )
        ofFraction.push(result)
      }
      runs.push(...ofFraction)
      results.push(medianResult(ofFraction))
    }
    return {
      scenario: 'antientropy',
      description: this.description,
      parameters: {
        keys,
        valueBytes: VALUE_BYTES,
        partitions: PARTITIONS,
        segments: 4096,
        exchangeIntervalMs: EXCHANGE_INTERVAL_MS,
        keysPerSecond: 2000,
        bytesPerSecond: BYTES_PER_SECOND,
        loadConnections: CONNECTIONS,
        loadSeconds: options.durationSeconds,
      },
      tables: [
        {
          title: 'Repair of n3 (anti-entropy) vs streaming every record',
          columns: [
            'missed',
            'keys missed',
            'tree build at start (s)',
            'repair time (s)',
            'AAE MiB',
            'stream MiB',
            'AAE ÷ stream bytes',
            'stream time at 4 MiB/s (s)',
            'keys repaired',
          ],
          rows: results.map((result) => [
            `${result.fraction * 100}%`,
            result.missed,
            result.buildMs === undefined ? 'n/a' : round(result.buildMs / 1000, 1),
            round(result.repairMs / 1000, 1),
            round(result.aaeBytes / MIB, 2),
            round(result.streamBytes / MIB, 2),
            round(result.aaeBytes / result.streamBytes, 3),
            round(result.streamBytes / BYTES_PER_SECOND, 1),
            result.keysRepaired,
          ]),
        },
        {
          title: 'Foreground GET on n1 (r=1) during the repair and after it',
          columns: ['missed', 'req/s during', 'p99 ms during', 'req/s after', 'p99 ms after'],
          rows: results.map((result) => [
            `${result.fraction * 100}%`,
            Math.round(result.during.requestsPerSecond),
            round(result.during.p99Ms),
            Math.round(result.idle.requestsPerSecond),
            round(result.idle.p99Ms),
          ]),
        },
      ],
      notes: [
        'Medians of `runs` runs per fraction, each on a fresh cluster; raw holds every run.',
        'Repair time runs from the moment all three nodes are ready (trees built) until n3 tracks all N keys; it includes waiting for each tree’s turn (64 trees, one every 100 ms).',
        'Every node exchanges its own trees, so n1 and n2 also push to n3 while n3 pulls; keys repaired counts each side’s repairs.',
        'The load generator and the three nodes share the machine; the foreground load runs for a fixed time, which may end before the repair does.',
      ],
      raw: runs,
    }
  },
}
