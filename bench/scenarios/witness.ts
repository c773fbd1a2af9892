/**
 * Scenario "witness": what a witness replica saves and what it costs. One 3-node murmur
 * cluster (RocksDB, durability sync, 64 partitions) holds two keyspaces under the same load:
 * `full` (replicas 3) and `witnessed` (replicas 3, witnesses 1).
 *
 * Disk: 20,000 keys of 1 KiB of random bytes (incompressible, since RocksDB compresses table
 * files with ZSTD, and large enough that values dominate the metadata) are written at w=all
 * into `full`, then the same keys into `witnessed`. Before the first load and after each,
 * every node is stopped (SIGTERM) and its RocksDB opened directly: opening replays the WAL into
 * a table file, so the table files hold everything written, and a scan of the data sublevel
 * gives each keyspace's exact record bytes and how many records hold values. Each keyspace's
 * disk bytes are the growth of the table files its load caused, summed over the nodes (nothing
 * is overwritten or deleted, so every byte of them is live data).
 *
 * Throughput: QUORUM PUT (fresh keys) and QUORUM GET (the preloaded keys) on each keyspace at
 * 32 connections with wrk, spread over the three nodes, `runs` alternating runs, medians.
 *
 * Availability: kill -9 of one node (a full replica of about two thirds of the witnessed
 * keyspace's partitions and the witness of the rest), then 2,000 quorum writes and reads of
 * fresh keys per keyspace through the surviving nodes: once starting right after the kill
 * (before the failure is detected) and once after both survivors see the node dead. A write succeeds on 204, a read
 * when it returns the value written.
 *
 * Targets this scenario reports on: witnessed value storage about two thirds of full; the same
 * availability for the single failure; throughput of witnessed ≥ 0.9× full.
 */

import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { ClusterRingView } from '../../src/api/cluster-routes.js'
import { holdsValues } from '../../src/replication/witness.js'
import { partitionForKey } from '../../src/ring/index.js'
import { KEY_RECORD_TYPE } from '../../src/runtime/kv/store.js'
import { decodeDataKey, sublevelRange } from '../../src/storage/layout.js'
import { decodeStoredRecord } from '../../src/storage/records.js'
import { RocksDbEngine } from '../../src/storage/rocksdb.js'
import { eventually, REPO_ROOT, type TestCluster } from '../../test/support/cluster.js'
import { generateLoad, type LoadResult } from '../lib/load.js'
import type { ScenarioReport, Table } from '../lib/report.js'
import {
  alternate,
  benchCluster,
  medianRps,
  type Scenario,
  type Series,
  SUMMARY_COLUMNS,
  summaryRow,
} from '../lib/scenario.js'
import { median, round } from '../lib/stats.js'

const KEYSPACES = ['full', 'witnessed'] as const
type KeyspaceName = (typeof KEYSPACES)[number]

const PARTITIONS = 64
const CONNECTIONS = 32
const KEYS = 20_000
const VALUE_BYTES = 1024
const PRELOAD_CONCURRENCY = 64
const AVAILABILITY_KEYS = 2000
/** Concurrent clients per keyspace in an availability pass. */
const AVAILABILITY_CONCURRENCY = 16
const REQUEST_TIMEOUT_MS = 10_000
const WARMUP_SECONDS = 2
const DEAD_WAIT_MS = 30_000
const DEAD_POLL_MS = 100
const VICTIM = 'n3'
const SCRIPT = join(REPO_ROOT, 'bench/scenarios/kv.lua')

/** Seconds since `startedMs` (a `performance.now()` reading), to a tenth. */
function secondsSince(startedMs: number): number {
  return round((performance.now() - startedMs) / 1000, 1)
}

/** Runs `task(0..count-1)` with at most `concurrency` in flight. */
async function forEachBounded(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(count, concurrency) }, worker))
}

function keyPath(keyspace: KeyspaceName, key: string, query: string): string {
  return `/v1/kv/${keyspace}/${encodeURIComponent(key)}?${query}`
}

/** The preloaded key `index`, named as kv.lua names the keys its GETs read. */
function benchKey(index: number): string {
  return `bench/${String(index).padStart(8, '0')}`
}

/** Writes a value; true when the write was acknowledged (204). */
async function put(url: string, path: string, value: Uint8Array): Promise<boolean> {
  try {
    const response = await fetch(`${url}${path}`, {
      method: 'PUT',
      body: value,
      headers: { 'Content-Type': 'application/octet-stream' },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    await response.arrayBuffer()
    return response.status === 204
  } catch {
    return false
  }
}

/** Reads a key; true when it answers 200 with exactly `expected`. */
async function getMatches(url: string, path: string, expected: Uint8Array): Promise<boolean> {
  try {
    const response = await fetch(`${url}${path}`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    const body = new Uint8Array(await response.arrayBuffer())
    return response.status === 200 && Buffer.compare(body, expected) === 0
  } catch {
    return false
  }
}

/** Writes every key of the key space once at w=all, spread over the nodes. */
async function preload(urls: readonly string[], keyspace: KeyspaceName): Promise<void> {
  let failures = 0
  await forEachBounded(KEYS, PRELOAD_CONCURRENCY, async (index) => {
    const url = urls[index % urls.length] as string
    if (!(await put(url, keyPath(keyspace, benchKey(index), 'w=all'), randomBytes(VALUE_BYTES))))
      failures++
  })
  if (failures > 0) throw new Error(`preload of ${keyspace}: ${failures} writes failed`)
}

/** One metric's samples in the /metrics text of every node of `urls`, summed. */
async function metricSum(urls: readonly string[], name: string): Promise<number> {
  const pattern = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm')
  let sum = 0
  for (const url of urls) {
    const response = await fetch(`${url}/metrics`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    const text = await response.text()
    for (const match of text.matchAll(pattern)) sum += Number(match[1])
  }
  return sum
}

async function startReady(cluster: TestCluster): Promise<void> {
  await cluster.startAll()
  for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', 20_000)
}

// Disk.

interface KeyspaceDisk {
  records: number
  /** Stored key plus stored record bytes, summed. */
  recordBytes: number
  recordsWithValues: number
}

interface NodeDisk {
  readonly node: string
  readonly liveDataBytes: number
  readonly tableFilesBytes: number
  readonly memtableBytes: number
  readonly keyspaces: Readonly<Record<KeyspaceName, KeyspaceDisk>>
}

interface DiskSnapshot {
  readonly label: string
  readonly nodes: readonly NodeDisk[]
}

/** One stopped node's RocksDB: its size estimates and the data records of each keyspace. */
async function inspectNode(cluster: TestCluster, node: string): Promise<NodeDisk> {
  const engine = await RocksDbEngine.open(join(cluster.dir, 'data', node))
  try {
    const stats = await engine.stats()
    const keyspaces: Record<KeyspaceName, KeyspaceDisk> = {
      full: { records: 0, recordBytes: 0, recordsWithValues: 0 },
      witnessed: { records: 0, recordBytes: 0, recordsWithValues: 0 },
    }
    for await (const [key, value] of engine.iterate(sublevelRange('data'))) {
      const address = decodeDataKey(key)
      if (address === undefined) continue
      const entry = keyspaces[address.keyspace as KeyspaceName] as KeyspaceDisk | undefined
      if (entry === undefined) continue
      entry.records++
      entry.recordBytes += key.length + value.length
      if (holdsValues(decodeStoredRecord(KEY_RECORD_TYPE, key, value))) entry.recordsWithValues++
    }
    return {
      node,
      liveDataBytes: stats.liveDataBytes,
      tableFilesBytes: stats.tableFilesBytes ?? Number.NaN,
      memtableBytes: stats.memtableBytes ?? Number.NaN,
      keyspaces,
    }
  } finally {
    await engine.close()
  }
}

/** Stops every node, inspects each one's storage, and starts the cluster again. */
async function snapshotDisk(cluster: TestCluster, label: string): Promise<DiskSnapshot> {
  const startedMs = performance.now()
  for (const node of cluster.nodes) await cluster.signal(node.id, 'SIGTERM')
  const nodes: NodeDisk[] = []
  for (const node of cluster.nodes) nodes.push(await inspectNode(cluster, node.id))
  await startReady(cluster)
  const bytes = tableBytesOf({ label, nodes })
  console.log(`  disk ${label}: ${bytes} table file bytes (${secondsSince(startedMs)} s)`)
  return { label, nodes }
}

/** Empty cluster, then each keyspace loaded in turn, with the storage inspected after each. */
async function measureDisk(cluster: TestCluster): Promise<DiskSnapshot[]> {
  const urls = cluster.nodes.map((node) => node.url)
  const snapshots = [await snapshotDisk(cluster, 'empty')]
  for (const keyspace of KEYSPACES) {
    const startedMs = performance.now()
    await preload(urls, keyspace)
    console.log(`  preloaded ${keyspace} in ${secondsSince(startedMs)} s`)
    snapshots.push(await snapshotDisk(cluster, `after ${keyspace}`))
  }
  return snapshots
}

function tableBytesOf(snapshot: DiskSnapshot | undefined): number {
  return (snapshot?.nodes ?? []).reduce((sum, node) => sum + node.tableFilesBytes, 0)
}

function diskTables(snapshots: readonly DiskSnapshot[]): Table[] {
  const last = snapshots.at(-1)
  const sum = (keyspace: KeyspaceName, field: keyof KeyspaceDisk): number =>
    (last?.nodes ?? []).reduce((total, node) => total + node.keyspaces[keyspace][field], 0)
  // Each keyspace's disk bytes are what its load added to the snapshot before it.
  const grown = KEYSPACES.map(
    (_, index) => tableBytesOf(snapshots[index + 1]) - tableBytesOf(snapshots[index]),
  )
  const rows: (string | number)[][] = KEYSPACES.map((keyspace, index) => [
    keyspace,
    sum(keyspace, 'records'),
    sum(keyspace, 'recordsWithValues'),
    sum(keyspace, 'recordBytes'),
    grown[index] as number,
  ])
  rows.push([
    'witnessed ÷ full (target ≈ 0.67)',
    '',
    round(sum('witnessed', 'recordsWithValues') / sum('full', 'recordsWithValues'), 3),
    round(sum('witnessed', 'recordBytes') / sum('full', 'recordBytes'), 3),
    round((grown[1] as number) / (grown[0] as number), 3),
  ])
  const nodeRows = snapshots.flatMap((snapshot) =>
    snapshot.nodes.map((node) => [
      snapshot.label,
      node.node,
      node.liveDataBytes,
      node.tableFilesBytes,
      node.memtableBytes,
    ]),
  )
  return [
    {
      title: `Storage of ${KEYS} keys × ${VALUE_BYTES} B per keyspace, summed over the 3 nodes`,
      columns: [
        'keyspace',
        'records',
        'records holding values',
        'record bytes (key + record)',
        'RocksDB table file bytes (growth)',
      ],
      rows,
    },
    {
      title: 'RocksDB per node, opened directly after the nodes stopped',
      columns: ['step', 'node', 'live data bytes', 'table files bytes', 'memtable bytes'],
      rows: nodeRows,
    },
  ]
}

// Throughput.

function load(
  urls: readonly string[],
  keyspace: KeyspaceName,
  op: 'put' | 'get',
  seconds: number,
): Promise<LoadResult> {
  return generateLoad({
    url: urls[0] as string,
    connections: CONNECTIONS,
    durationSeconds: seconds,
    threads: urls.length,
    wrkScript: SCRIPT,
    wrkEnv: {
      MURMUR_TARGETS: urls.map((url) => new URL(url).host).join(','),
      MURMUR_KEYSPACE: keyspace,
      MURMUR_OP: op,
      MURMUR_FRESH: '1',
      MURMUR_KEYS: String(KEYS),
      MURMUR_VLEN: String(VALUE_BYTES),
      MURMUR_QUERY: op === 'put' ? 'w=quorum' : 'r=quorum',
    },
  })
}

interface Throughput {
  readonly series: Series[]
  /** Writes the nodes forwarded and coordinated since their last restart (the disk phase's). */
  readonly writesForwarded: number
  readonly writesCoordinated: number
}

async function measureThroughput(
  cluster: TestCluster,
  runs: number,
  seconds: number,
): Promise<Throughput> {
  const urls = cluster.nodes.map((node) => node.url)
  const cases = (['put', 'get'] as const).flatMap((op) =>
    KEYSPACES.map((keyspace) => ({ keyspace, op })),
  )
  // The nodes were just restarted: one short discarded run of each warms caches and connections.
  for (const { keyspace, op } of cases) await load(urls, keyspace, op, WARMUP_SECONDS)
  const series = await alternate(
    runs,
    cases.map(({ keyspace, op }) => ({
      label: `${keyspace} QUORUM ${op.toUpperCase()}`,
      measure: () => load(urls, keyspace, op, seconds),
    })),
  )
  return {
    series,
    writesForwarded: await metricSum(urls, 'murmur_kv_writes_forwarded_total'),
    writesCoordinated: await metricSum(urls, 'murmur_kv_writes_coordinated_total'),
  }
}

function throughputRatios(series: readonly Series[]): (string | number)[][] {
  const find = (label: string) => series.find((entry) => entry.label === label) as Series
  const p99 = (entry: Series) => median(entry.results.map((result) => result.p99Ms))
  return (['PUT', 'GET'] as const).flatMap((op) => {
    const full = find(`full QUORUM ${op}`)
    const witnessed = find(`witnessed QUORUM ${op}`)
    return [
      [
        `QUORUM ${op} req/s, witnessed ÷ full (target ≥ 0.9)`,
        round(medianRps(witnessed) / medianRps(full), 3),
      ],
      [`QUORUM ${op} p99, witnessed ÷ full`, round(p99(witnessed) / p99(full), 3)],
    ]
  })
}

// Availability.

/** The victim's role for a key: a full replica, a witness, or not a replica of it. */
type Role = 'full' | 'witness' | 'none'

function roleOf(ring: ClusterRingView, keyspace: KeyspaceName, key: string): Role {
  const partition = partitionForKey(ring.partitions, keyspace, key)
  const place = ring.keyspaces
    .find((candidate) => candidate.name === keyspace)
    ?.partitions.find((candidate) => candidate.partition === partition)
  if (place?.full.includes(VICTIM) === true) return 'full'
  return place?.witnesses.includes(VICTIM) === true ? 'witness' : 'none'
}

interface PassResult {
  readonly pass: string
  readonly keyspace: KeyspaceName
  readonly writesAcknowledged: number
  readonly readsMatched: number
  readonly victimFullKeys: number
  readonly victimWitnessKeys: number
  readonly seconds: number
}

/**
 * Quorum writes of fresh keys through the surviving nodes, then a quorum read of each through
 * another surviving node than the one that took its write.
 */
async function availabilityPass(
  urls: readonly string[],
  ring: ClusterRingView,
  keyspace: KeyspaceName,
  pass: string,
): Promise<PassResult> {
  const startedMs = performance.now()
  const values = Array.from({ length: AVAILABILITY_KEYS }, () => randomBytes(VALUE_BYTES))
  const keys = values.map((_, index) => `avail/${pass}/${index}`)
  const written = new Set<number>()
  let readsMatched = 0
  await forEachBounded(AVAILABILITY_KEYS, AVAILABILITY_CONCURRENCY, async (index) => {
    const path = keyPath(keyspace, keys[index] as string, 'w=quorum')
    if (await put(urls[index % urls.length] as string, path, values[index] as Uint8Array))
      written.add(index)
  })
  await forEachBounded(AVAILABILITY_KEYS, AVAILABILITY_CONCURRENCY, async (index) => {
    const path = keyPath(keyspace, keys[index] as string, 'r=quorum')
    const url = urls[(index + 1) % urls.length] as string
    if (await getMatches(url, path, values[index] as Uint8Array)) readsMatched++
  })
  const roles = keys.map((key) => roleOf(ring, keyspace, key))
  return {
    pass,
    keyspace,
    writesAcknowledged: written.size,
    readsMatched,
    victimFullKeys: roles.filter((role) => role === 'full').length,
    victimWitnessKeys: roles.filter((role) => role === 'witness').length,
    seconds: secondsSince(startedMs),
  }
}

async function seenDead(url: string): Promise<boolean> {
  const response = await fetch(`${url}/v1/cluster`, {
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  const body = (await response.json()) as { members: { id: string; state: string }[] }
  return body.members.find((member) => member.id === VICTIM)?.state === 'dead'
}

interface Availability {
  readonly passes: readonly PassResult[]
  readonly detectionSeconds: number
  /** Summed over the surviving nodes after both passes. */
  readonly metrics: Readonly<Record<string, number>>
}

/** Kills the victim, runs a pass at once and another once the survivors see it dead. */
async function measureAvailability(cluster: TestCluster): Promise<Availability> {
  const survivors = cluster.nodes.filter((node) => node.id !== VICTIM).map((node) => node.url)
  const ring = (await cluster.json('n1', '/v1/cluster/ring')).body as ClusterRingView
  const killedMs = performance.now()
  await cluster.kill(VICTIM)
  // Detection is watched while the first pass runs, so its time is not the pass's length.
  const detection = eventually(
    async () => (await Promise.all(survivors.map(seenDead))).every(Boolean),
    DEAD_WAIT_MS,
    `${VICTIM} seen dead by the survivors`,
    DEAD_POLL_MS,
  ).then(() => secondsSince(killedMs))
  detection.catch(() => undefined)
  const passes: PassResult[] = []
  const runPass = async (pass: string) => {
    // Both keyspaces at the same time, so they meet the same moment of the failure.
    const results = await Promise.all(
      KEYSPACES.map((keyspace) => availabilityPass(survivors, ring, keyspace, pass)),
    )
    for (const result of results) {
      console.log(
        `  ${pass} ${result.keyspace}: ${result.writesAcknowledged}/${AVAILABILITY_KEYS} writes, ${result.readsMatched}/${AVAILABILITY_KEYS} reads`,
      )
    }
    passes.push(...results)
  }
  await runPass('at once')
  const detectionSeconds = await detection
  await runPass('after detection')
  const metrics: Record<string, number> = {}
  for (const name of [
    'murmur_kv_reads_witness_extended_total',
    'murmur_kv_reads_witness_stale_total',
    'murmur_hints_pending',
  ]) {
    metrics[name] = await metricSum(survivors, name)
  }
  return { passes, detectionSeconds, metrics }
}

function availabilityTable(availability: Availability): Table {
  const percent = (count: number) => `${round((100 * count) / AVAILABILITY_KEYS, 2)}%`
  return {
    title: `Availability with ${VICTIM} killed (kill -9): ${AVAILABILITY_KEYS} quorum writes, then quorum reads, per keyspace through the survivors`,
    columns: [
      'pass',
      'keyspace',
      'writes acknowledged',
      'reads returning the value',
      `keys ${VICTIM} is full for / witness for`,
      'seconds',
    ],
    rows: availability.passes.map((pass) => [
      pass.pass,
      pass.keyspace,
      percent(pass.writesAcknowledged),
      percent(pass.readsMatched),
      `${pass.victimFullKeys} / ${pass.victimWitnessKeys}`,
      pass.seconds,
    ]),
  }
}

export const witnessScenario: Scenario = {
  name: 'witness',
  description:
    'A 3-node murmur cluster (RocksDB, durability sync) with keyspaces `full` (replicas 3) and `witnessed` (replicas 3, witnesses 1) under the same load: disk bytes after 20000 keys × 1 KiB each, QUORUM PUT and QUORUM GET at 32 connections (alternating runs), and quorum writes and reads with one node killed.',
  async run(options): Promise<ScenarioReport> {
    const cluster = await benchCluster({
      nodes: 3,
      file: {
        ring: { partitions: PARTITIONS },
        keyspaces: {
          full: { replicas: 3, durability: 'sync' },
          witnessed: { replicas: 3, witnesses: 1, durability: 'sync' },
        },
        storage: { engine: 'rocksdb' },
      },
    })
    try {
      await startReady(cluster)
      const startedMs = performance.now()
      const disk = await measureDisk(cluster)
      const diskSeconds = secondsSince(startedMs)
      const throughput = await measureThroughput(cluster, options.runs, options.durationSeconds)
      const series = throughput.series
      const throughputSeconds = secondsSince(startedMs) - diskSeconds
      const availability = await measureAvailability(cluster)
      const phaseSeconds = {
        disk: diskSeconds,
        throughput: round(throughputSeconds, 1),
        availability: round(secondsSince(startedMs) - diskSeconds - throughputSeconds, 1),
      }
      return {
        scenario: 'witness',
        description: this.description,
        parameters: {
          connections: CONNECTIONS,
          durationSeconds: options.durationSeconds,
          runs: options.runs,
          keys: KEYS,
          valueBytes: VALUE_BYTES,
          partitions: PARTITIONS,
          availabilityKeys: AVAILABILITY_KEYS,
          tool: series[0]?.results[0]?.tool,
        },
        tables: [
          ...diskTables(disk),
          {
            title: 'Throughput and latency at 32 connections (medians)',
            columns: SUMMARY_COLUMNS,
            rows: series.map(summaryRow),
          },
          {
            title: 'Throughput targets',
            columns: ['measure', 'value'],
            rows: throughputRatios(series),
          },
          availabilityTable(availability),
        ],
        notes: notes(throughput, availability, phaseSeconds),
        raw: { disk, throughput, availability, phaseSeconds },
      }
    } finally {
      await cluster.destroy()
    }
  },
}

function notes(
  throughput: Throughput,
  availability: Availability,
  phaseSeconds: Readonly<Record<'disk' | 'throughput' | 'availability', number>>,
): string[] {
  const metric = (name: string) => availability.metrics[name] ?? 0
  return [
    `Values are ${VALUE_BYTES} bytes of random data, so RocksDB's ZSTD compression cannot shrink them and values dominate each record; keys are bench/00000000 to bench/${String(KEYS - 1).padStart(8, '0')}, the same names in both keyspaces (different partitions, since the partition hashes keyspace and key). Preload writes at w=all, 64 at a time, round-robin over the nodes.`,
    "Both keyspaces share each node's RocksDB, so they are loaded in sequence: the cluster starts empty, every node is stopped (SIGTERM) and its RocksDB opened directly, `full` is loaded, the nodes are stopped and inspected again, then `witnessed`. Opening a database replays its WAL into a table file (the memtables are empty afterwards), so the table files hold every write; a keyspace's disk bytes are the growth its load caused. Nothing is overwritten or deleted, so every table file byte is live data. RocksDB's own live-data estimate (estimate-live-data-size, in the per-node table) counts each key range once, in its newest level, so it undercounts as soon as the second load's table file overlaps the first (data keys sort by partition, so both keyspaces span the whole key range); it matches the table files after the first load. Record bytes are exact: a scan of the data sublevel, stored key plus stored record, per keyspace.",
    'A witness keeps the causal metadata and a 16-byte digest of each value, so the witnessed keyspace holds values on two nodes of three; the records and bytes it still keeps on its witnesses are the metadata every record carries in both keyspaces.',
    `Throughput: wrk with one thread per node and the connections divided evenly; QUORUM PUT writes fresh keys (a PUT without a context on an existing key would add a sibling), QUORUM GET reads the preloaded keys. A write that reaches a witness of its key is coordinated there (the witness holds the value until a full replica acknowledges); writes are forwarded only by nodes outside a key's replicas: the nodes forwarded ${throughput.writesForwarded} writes and coordinated ${throughput.writesCoordinated} in this phase, (every node is a replica of every key of both keyspaces, so none should be). A quorum read asks at least one full replica, and a witness answers without the value. Each operation ran once for ${WARMUP_SECONDS} s, discarded, before the measured runs, because the nodes had just restarted.`,
    `Availability: ${VICTIM} is killed with SIGKILL; the "at once" pass starts as soon as its process has exited, before the survivors detect the failure (both see it dead ${availability.detectionSeconds} s after the kill, while that pass runs for the seconds shown), and the "after detection" pass once both see it dead. Each pass writes ${AVAILABILITY_KEYS} fresh keys per keyspace at w=quorum, ${AVAILABILITY_CONCURRENCY} at a time per keyspace, both keyspaces at once, then reads each at r=quorum through the other survivor and counts a read only when it returns the value written.`,
    `After both passes the survivors counted ${metric('murmur_kv_reads_witness_extended_total')} witness-extended reads, ${metric('murmur_kv_reads_witness_stale_total')} reads refused as stale, and held ${metric('murmur_hints_pending')} hints (promoted witnesses keep the values of the writes ${VICTIM} missed as hints).`,
    `Three murmur nodes and wrk share the same machine. The phases took ${phaseSeconds.disk} s (disk: loads and restarts), ${phaseSeconds.throughput} s (throughput) and ${phaseSeconds.availability} s (availability).`,
  ]
}
