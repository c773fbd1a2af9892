/**
 * Scenario "contrast": the same read/write workload on an eventual QUORUM keyspace, an
 * eventual ONE keyspace and a strong (Raft) keyspace of one 3-node cluster, with a partition
 * in the middle of each run: the Raft leader is isolated from the two other nodes
 * (MURMUR_FAULTS=1 and POST /v1/debug/faults on all three), then healed. Clients send every
 * request to the nodes in turn, so a third of them reach the isolated node.
 *
 * Each key has a single writer that writes increasing sequence numbers (eventual writes carry
 * the context of the writer's previous write, so they never conflict with themselves); readers
 * read random keys. A read is stale when the largest sequence number it returns is smaller
 * than that of a write acknowledged before the read started. Results: latency percentiles,
 * throughput and availability per second, stale reads, in bench/results/contrast.html (inline
 * SVG, bench/lib/svg.ts) and the usual Markdown summary and JSON.
 */

import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { MurmurClient } from '../../src/client/index.js'
import { eventually, type TestCluster } from '../../test/support/cluster.js'
import { RESULTS_DIR, type ScenarioReport, type Table } from '../lib/report.js'
import { benchCluster, type Scenario } from '../lib/scenario.js'
import { percentile, round } from '../lib/stats.js'
import { barChart, htmlPage, htmlTable, type LineChartSpec, lineChart } from '../lib/svg.js'

const KEYS = 60
const WRITERS = 4
const READERS = 8
const REQUEST_TIMEOUT_MS = 1000
const ATTEMPT_TIMEOUT_MS = 3000
const OPERATIONS_MAX = 2_000_000
const PERCENTILES = [50, 75, 90, 95, 99, 99.9] as const

type Mode = 'quorum' | 'one' | 'strong'
const MODES: readonly Mode[] = ['quorum', 'one', 'strong']
const LABELS: Readonly<Record<Mode, string>> = {
  quorum: 'eventual QUORUM',
  one: 'eventual ONE',
  strong: 'strong (Raft)',
}

interface Operation {
  readonly kind: 'read' | 'write'
  readonly key: number
  /** Milliseconds since the run started. */
  readonly startMs: number
  readonly endMs: number
  readonly ok: boolean
  /** Write: the sequence number written; read: the largest one returned (0 when none). */
  readonly sequence: number
  readonly error?: string
}

interface Run {
  readonly mode: Mode
  readonly isolated: string
  readonly partitionFromMs: number
  readonly partitionToMs: number
  readonly endMs: number
  readonly operations: Operation[]
}

interface Phases {
  readonly partitionFromMs: number
  readonly partitionToMs: number
  readonly endMs: number
}

// ---------------------------------------------------------------------------------------------
// The workload.

function sequenceOf(bytes: Uint8Array | null): number {
  const value = bytes === null ? Number.NaN : Number(Buffer.from(bytes).toString('utf8'))
  return Number.isSafeInteger(value) ? value : 0
}

async function readOnce(client: MurmurClient, mode: Mode, key: string): Promise<number> {
  if (mode === 'strong') return sequenceOf((await client.strong.get('strong', key)).value)
  const read = await client.kv.get(mode, key)
  return Math.max(0, ...read.siblings.map((sibling) => sequenceOf(sibling.value)))
}

class Workload {
  readonly operations: Operation[] = []
  private readonly contexts = new Map<number, string>()
  private readonly sequences = new Map<number, number>()
  private turn = 0

  constructor(
    private readonly mode: Mode,
    private readonly clients: readonly MurmurClient[],
    private readonly startMs: number,
    private readonly endMs: number,
  ) {}

  private client(): MurmurClient {
    this.turn = (this.turn + 1) % this.clients.length
    return this.clients[this.turn] as MurmurClient
  }

  private now(): number {
    return performance.now() - this.startMs
  }

  private async timed(kind: Operation['kind'], key: number, run: () => Promise<number>) {
    const startMs = this.now()
    try {
      const sequence = await run()
      this.operations.push({ kind, key, startMs, endMs: this.now(), ok: true, sequence })
      return true
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'internal'
      this.operations.push({
        kind,
        key,
        startMs,
        endMs: this.now(),
        ok: false,
        sequence: 0,
        error: code,
      })
      return false
    }
  }

  private async write(key: number): Promise<void> {
    const sequence = (this.sequences.get(key) ?? 0) + 1
    this.sequences.set(key, sequence)
    const client = this.client()
    await this.timed('write', key, async () => {
      if (this.mode === 'strong') {
        await client.strong.put('strong', `k${key}`, String(sequence), {
          timeoutMs: REQUEST_TIMEOUT_MS,
        })
      } else {
        const context = this.contexts.get(key)
        const written = await client.kv.put(this.mode, `k${key}`, String(sequence), {
          timeoutMs: REQUEST_TIMEOUT_MS,
          ...(context === undefined ? {} : { context }),
        })
        this.contexts.set(key, written.context)
      }
      return sequence
    })
  }

  async writer(index: number): Promise<void> {
    const owned = Array.from({ length: KEYS }, (_, key) => key).filter(
      (key) => key % WRITERS === index,
    )
    for (let step = 0; step < OPERATIONS_MAX && this.now() < this.endMs; step++) {
      await this.write(owned[step % owned.length] as number)
    }
  }

  async reader(index: number): Promise<void> {
    for (let step = 0; step < OPERATIONS_MAX && this.now() < this.endMs; step++) {
      const key = (step * 37 + index * 11) % KEYS
      const client = this.client()
      await this.timed('read', key, () => readOnce(client, this.mode, `k${key}`))
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The cluster, the partition and one run.

async function setFaults(cluster: TestCluster, id: string, blockPeers: readonly string[]) {
  const answer = await cluster.json(id, '/v1/debug/faults', {
    method: 'POST',
    body: JSON.stringify({ blockPeers }),
  })
  if (answer.status !== 200) throw new Error(`faults on ${id}: ${answer.status}`)
}

async function isolate(cluster: TestCluster, isolated: string | undefined): Promise<void> {
  const ids = cluster.nodes.map((node) => node.id)
  for (const id of ids) {
    const blocked =
      isolated === undefined
        ? []
        : id === isolated
          ? ids.filter((other) => other !== id)
          : [isolated]
    await setFaults(cluster, id, blocked)
  }
}

async function raftLeader(cluster: TestCluster): Promise<string> {
  let leader = ''
  await eventually(
    async () => {
      const view = (await cluster.json('n1', '/v1/raft')).body as { leader?: string | null }
      leader = view.leader ?? ''
      return leader !== ''
    },
    20_000,
    'no raft leader',
  )
  return leader
}

async function runMode(cluster: TestCluster, mode: Mode, phaseMs: number): Promise<Run> {
  const isolated = await raftLeader(cluster)
  const clients = cluster.nodes.map(
    (node) => new MurmurClient({ nodes: [node.url], retries: 0, timeoutMs: ATTEMPT_TIMEOUT_MS }),
  )
  const phases: Phases = {
    partitionFromMs: phaseMs,
    partitionToMs: 2 * phaseMs,
    endMs: 3 * phaseMs,
  }
  const workload = new Workload(mode, clients, performance.now(), phases.endMs)
  const workers = [
    ...Array.from({ length: WRITERS }, (_, index) => workload.writer(index)),
    ...Array.from({ length: READERS }, (_, index) => workload.reader(index)),
  ]
  const nemesis = (async () => {
    await new Promise((resolve) => setTimeout(resolve, phases.partitionFromMs))
    await isolate(cluster, isolated)
    console.log(`  ${mode}: ${isolated} isolated`)
    await new Promise((resolve) =>
      setTimeout(resolve, phases.partitionToMs - phases.partitionFromMs),
    )
    await isolate(cluster, undefined)
    console.log(`  ${mode}: healed`)
  })()
  await Promise.all([...workers, nemesis])
  return { mode, isolated, ...phases, operations: workload.operations }
}

// ---------------------------------------------------------------------------------------------
// Analysis.

/** Reads that missed a write acknowledged before they started. */
export function staleReads(operations: readonly Operation[]): Operation[] {
  const acknowledged = new Map<number, { endMs: number; sequence: number }[]>()
  for (const operation of operations) {
    if (operation.kind !== 'write' || !operation.ok) continue
    const list = acknowledged.get(operation.key) ?? []
    list.push({ endMs: operation.endMs, sequence: operation.sequence })
    acknowledged.set(operation.key, list)
  }
  return operations.filter((read) => {
    if (read.kind !== 'read' || !read.ok) return false
    const before = (acknowledged.get(read.key) ?? []).filter((write) => write.endMs < read.startMs)
    const required = Math.max(0, ...before.map((write) => write.sequence))
    return read.sequence < required
  })
}

function perSecond(run: Run, value: (inSecond: Operation[]) => number): [number, number][] {
  const seconds = Math.ceil(run.endMs / 1000)
  const buckets: Operation[][] = Array.from({ length: seconds }, () => [])
  for (const operation of run.operations)
    buckets[Math.min(seconds - 1, Math.floor(operation.endMs / 1000))]?.push(operation)
  return buckets.map((bucket, second) => [second + 0.5, value(bucket)])
}

function availability(operations: readonly Operation[]): number {
  return operations.length === 0
    ? Number.NaN
    : operations.filter((operation) => operation.ok).length / operations.length
}

function phaseOf(run: Run, operation: Operation): 'before' | 'during' | 'after' {
  if (operation.startMs < run.partitionFromMs) return 'before'
  return operation.startMs < run.partitionToMs ? 'during' : 'after'
}

function summaryRows(runs: readonly Run[]): (string | number)[][] {
  return runs.map((run) => {
    const ok = run.operations.filter((operation) => operation.ok)
    const latencies = (kind: Operation['kind']) =>
      ok
        .filter((operation) => operation.kind === kind)
        .map((operation) => operation.endMs - operation.startMs)
    const phase = (name: ReturnType<typeof phaseOf>) =>
      `${round(100 * availability(run.operations.filter((operation) => phaseOf(run, operation) === name)), 1)}%`
    const stale = staleReads(run.operations)
    const reads = ok.filter((operation) => operation.kind === 'read').length
    return [
      LABELS[run.mode],
      round(ok.length / (run.endMs / 1000), 0),
      round(percentile(latencies('read'), 0.5)),
      round(percentile(latencies('read'), 0.99)),
      round(percentile(latencies('write'), 0.5)),
      round(percentile(latencies('write'), 0.99)),
      phase('before'),
      phase('during'),
      phase('after'),
      `${stale.length} / ${reads}`,
    ]
  })
}

const SUMMARY_COLUMNS = [
  'keyspace',
  'ok ops/s',
  'read p50 ms',
  'read p99 ms',
  'write p50 ms',
  'write p99 ms',
  'available before',
  'during partition',
  'after heal',
  'stale reads / ok reads',
]

function charts(runs: readonly Run[]): { heading: string; html: string }[] {
  const first = runs[0] as Run
  const shade = {
    from: first.partitionFromMs / 1000,
    to: first.partitionToMs / 1000,
    label: 'leader isolated',
  }
  const latencyPoints = (run: Run) => {
    const latencies = run.operations
      .filter((operation) => operation.ok)
      .map((operation) => operation.endMs - operation.startMs)
    return PERCENTILES.map(
      (p, index) => [index, percentile(latencies, p / 100)] as [number, number],
    )
  }
  return [
    {
      heading: 'Latency distribution',
      html: `<p>Latency percentiles of successful operations, reads and writes together (log scale).</p>${lineChart(
        {
          title: 'Latency percentiles (ms)',
          xLabel: 'percentile',
          xTicks: PERCENTILES.map((p, index) => ({ value: index, label: `p${p}` })),
          yLabel: 'ms',
          yLog: true,
          series: runs.map((run) => ({ label: LABELS[run.mode], points: latencyPoints(run) })),
        },
      )}`,
    },
    {
      heading: 'Throughput over time',
      html: lineChart({
        title: 'Successful operations per second',
        xLabel: 'seconds',
        yLabel: 'ops/s',
        shade,
        series: runs.map((run) => ({
          label: LABELS[run.mode],
          points: perSecond(run, (bucket) => bucket.filter((operation) => operation.ok).length),
        })),
      }),
    },
    {
      heading: 'Availability during the partition',
      html: lineChart({
        title: 'Share of requests that succeeded, per second',
        xLabel: 'seconds',
        yLabel: '%',
        shade,
        yMin: 0,
        yMax: 100,
        series: runs.map((run) => ({
          label: LABELS[run.mode],
          points: perSecond(run, (bucket) => 100 * availability(bucket)),
        })),
      }),
    },
    { heading: 'Stale reads', html: staleCharts(runs, shade) },
  ]
}

/** Stale reads per second (with the partition shaded) and per phase. */
function staleCharts(runs: readonly Run[], shade: NonNullable<LineChartSpec['shade']>): string {
  return `${lineChart({
    title: 'Stale reads per second',
    xLabel: 'seconds',
    yLabel: 'reads',
    shade,
    series: runs.map((run) => {
      const stale = new Set(staleReads(run.operations))
      return {
        label: LABELS[run.mode],
        points: perSecond(
          run,
          (bucket) => bucket.filter((operation) => stale.has(operation)).length,
        ),
      }
    }),
  })}${barChart({
    title: 'Stale reads by phase',
    yLabel: 'reads',
    groups: ['before', 'during', 'after'],
    series: runs.map((run) => {
      const stale = staleReads(run.operations)
      return {
        label: LABELS[run.mode],
        values: (['before', 'during', 'after'] as const).map(
          (phase) => stale.filter((operation) => phaseOf(run, operation) === phase).length,
        ),
      }
    }),
  })}`
}

function errorCounts(run: Run): string {
  const counts = new Map<string, number>()
  for (const operation of run.operations)
    if (operation.error !== undefined)
      counts.set(operation.error, (counts.get(operation.error) ?? 0) + 1)
  return (
    [...counts]
      .sort()
      .map(([code, count]) => `${code} ${count}`)
      .join(', ') || 'none'
  )
}

function writeHtml(runs: readonly Run[], phaseSeconds: number): string {
  const path = join(RESULTS_DIR, 'contrast.html')
  const intro = `<p>One 3-node cluster on 127.0.0.1 (RocksDB, durability sync). For each keyspace: ${WRITERS} writers (one per key, ${KEYS} keys, increasing sequence numbers) and ${READERS} readers, requests to the three nodes in turn, no client retries, server timeout ${REQUEST_TIMEOUT_MS} ms. ${phaseSeconds} s healthy, ${phaseSeconds} s with the Raft leader isolated from both other nodes, ${phaseSeconds} s after healing. A read is <b>stale</b> when it misses a write acknowledged before it started.</p>`
  const summary = htmlTable(SUMMARY_COLUMNS, summaryRows(runs))
  const errors = htmlTable(
    ['keyspace', 'isolated node', 'failed requests by error code'],
    runs.map((run) => [LABELS[run.mode], run.isolated, errorCounts(run)]),
  )
  writeFileSync(
    path,
    htmlPage('murmur: eventual vs strong under a partition', intro, [
      { heading: 'Summary', html: summary + errors },
      ...charts(runs),
    ]),
  )
  return path
}

export const contrastScenario: Scenario = {
  name: 'contrast',
  description:
    'Eventual QUORUM vs eventual ONE vs strong keyspaces under one workload, with the Raft leader isolated midway: latency, throughput, availability and stale reads (HTML report: bench/results/contrast.html).',
  async run(options): Promise<ScenarioReport> {
    const cluster = await benchCluster({
      nodes: 3,
      env: { MURMUR_FAULTS: '1' },
      file: {
        keyspaces: {
          quorum: { replicas: 3, read: 'quorum', write: 'quorum', durability: 'sync' },
          one: { replicas: 3, read: 'one', write: 'one', durability: 'sync' },
          strong: { mode: 'strong', replicas: 3 },
        },
        raft: { tickMs: 100, electionTicks: 10 },
        requests: { timeoutMs: REQUEST_TIMEOUT_MS },
      },
    })
    const runs: Run[] = []
    try {
      await cluster.startAll()
      for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', 20_000)
      for (const mode of MODES) {
        console.log(`  ${mode}: ${3 * options.durationSeconds} s`)
        runs.push(await runMode(cluster, mode, options.durationSeconds * 1000))
      }
    } finally {
      await cluster.destroy()
    }
    const htmlPath = writeHtml(runs, options.durationSeconds)
    const table: Table = {
      title: 'Eventual vs strong under a partition',
      columns: SUMMARY_COLUMNS,
      rows: summaryRows(runs),
    }
    return {
      scenario: 'contrast',
      description: contrastScenario.description,
      parameters: {
        keys: KEYS,
        writers: WRITERS,
        readers: READERS,
        phaseSeconds: options.durationSeconds,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
      },
      tables: [table],
      notes: [
        `Charts: ${htmlPath.slice(process.cwd().length + 1)}.`,
        ...runs.map(
          (run) => `${LABELS[run.mode]}: isolated ${run.isolated}; failures: ${errorCounts(run)}.`,
        ),
        'A read is stale when it misses a write acknowledged before it started; availability is the share of requests that succeeded.',
      ],
      raw: runs.map((run) => ({ ...run, operations: run.operations.length })),
    }
  },
}
