/**
 * Scenario "membership": failure detection and join visibility between real processes on
 * loopback with the lan gossip preset, measured the way the serf anchor is
 * (shared anchors/serf): 5 nodes; kill -9 a node and poll every survivor's view every 100 ms
 * until the first and then every survivor shows it dead; start a new node and poll until the
 * first and then every member (the newcomer included) shows it alive. Upper bounds are the
 * times the poll that first showed the new state returned; lower bounds (in brackets) the
 * times that poll round started. When serf and the anchor scripts are present, serf runs the
 * same trials in the same invocation.
 */

import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT, sleep, type TestCluster } from '../../test/support/cluster.js'
import type { ScenarioReport, Table } from '../lib/report.js'
import { benchCluster, type Scenario } from '../lib/scenario.js'
import { median } from '../lib/stats.js'

const run = promisify(execFile)
const POLL_MS = 100
const NODES = 5
const DETECT_WAIT_MS = 30_000
const SERF_ANCHORS =
  process.env['SERF_ANCHORS'] ?? join(REPO_ROOT, '..', 'shared', 'anchors', 'serf')

interface Timing {
  readonly firstMs: number
  readonly allMs: number
  readonly firstLowMs: number
  readonly allLowMs: number
}

async function stateIn(
  cluster: TestCluster,
  observer: string,
  subject: string,
): Promise<string | undefined> {
  try {
    const { body } = await cluster.json(observer, '/v1/cluster')
    return (body as { members: { id: string; state: string }[] }).members.find(
      (member) => member.id === subject,
    )?.state
  } catch {
    return undefined
  }
}

/** Polls `observers` every 100 ms from `startMs` until each shows `subject` in `state`. */
async function pollUntil(
  cluster: TestCluster,
  observers: readonly string[],
  subject: string,
  state: string,
  startMs: number,
): Promise<Timing> {
  const seenAt = new Map<string, { upper: number; lower: number }>()
  while (seenAt.size < observers.length) {
    const roundStart = performance.now()
    if (roundStart - startMs > DETECT_WAIT_MS)
      throw new Error(`${subject} not ${state} everywhere within ${DETECT_WAIT_MS} ms`)
    const pending = observers.filter((observer) => !seenAt.has(observer))
    await Promise.all(
      pending.map(async (observer) => {
        if ((await stateIn(cluster, observer, subject)) === state)
          seenAt.set(observer, { upper: performance.now() - startMs, lower: roundStart - startMs })
      }),
    )
    const elapsed = performance.now() - roundStart
    if (elapsed < POLL_MS) await sleep(POLL_MS - elapsed)
  }
  const times = [...seenAt.values()]
  const first = times.reduce((best, time) => (time.upper < best.upper ? time : best))
  const last = times.reduce((worst, time) => (time.upper > worst.upper ? time : worst))
  return { firstMs: first.upper, allMs: last.upper, firstLowMs: first.lower, allLowMs: last.lower }
}

async function converged(cluster: TestCluster, ids: readonly string[]): Promise<void> {
  const deadline = Date.now() + 60_000
  for (const subject of ids) {
    for (;;) {
      const states = await Promise.all(ids.map((observer) => stateIn(cluster, observer, subject)))
      if (states.every((state) => state === 'alive')) break
      if (Date.now() > deadline)
        throw new Error(`cluster did not converge: views of ${subject}: ${states.join(', ')}`)
      await sleep(50)
    }
  }
}

async function detectionTrial(trial: number): Promise<Timing> {
  const cluster = await benchCluster({
    nodes: NODES,
    file: { gossip: { preset: 'lan' }, keyspaces: {} },
  })
  try {
    await cluster.startAll()
    const ids = cluster.nodes.map((node) => node.id)
    await converged(cluster, ids)
    await sleep(3000)
    const victim = ids[1 + (trial % (NODES - 1))] as string
    const startMs = performance.now()
    await cluster.kill(victim)
    return await pollUntil(
      cluster,
      ids.filter((id) => id !== victim),
      victim,
      'dead',
      startMs,
    )
  } finally {
    await cluster.destroy()
  }
}

/** Join trials reuse one cluster: each trial starts a node id never seen before. */
async function joinTrials(trials: number): Promise<{ launch: Timing[]; joinStart: Timing[] }> {
  const cluster = await benchCluster({
    nodes: NODES + trials,
    file: { gossip: { preset: 'lan' }, keyspaces: {}, log: { level: 'info' } },
  })
  const launch: Timing[] = []
  const joinStart: Timing[] = []
  try {
    const initial = cluster.nodes.slice(0, NODES).map((node) => node.id)
    await Promise.all(initial.map((id) => cluster.start(id)))
    await converged(cluster, initial)
    for (let trial = 0; trial < trials; trial++) {
      const newcomer = cluster.nodes[NODES + trial]?.id as string
      await sleep(1000)
      const launchedAtWall = Date.now()
      const startMs = performance.now()
      const started = cluster.start(newcomer, 20_000)
      const timing = await pollUntil(cluster, [...initial, newcomer], newcomer, 'alive', startMs)
      await started
      launch.push(timing)
      // The node logs "node started" right after its membership began joining.
      const line = cluster
        .node(newcomer)
        .output.join('')
        .split('\n')
        .find((text) => text.includes('"msg":"node started"'))
      const joinedAtWall =
        line === undefined
          ? launchedAtWall
          : Date.parse((JSON.parse(line) as { time: string }).time)
      const offset = joinedAtWall - launchedAtWall
      joinStart.push({
        firstMs: timing.firstMs - offset,
        allMs: timing.allMs - offset,
        firstLowMs: timing.firstLowMs - offset,
        allLowMs: timing.allLowMs - offset,
      })
      initial.push(newcomer)
    }
  } finally {
    await cluster.destroy()
  }
  return { launch, joinStart }
}

function summary(
  label: string,
  timings: readonly Timing[],
  pick: (timing: Timing) => [number, number],
): (string | number)[] {
  const uppers = timings.map((timing) => pick(timing)[0])
  const lowers = timings.map((timing) => pick(timing)[1])
  const format = (upper: number, lower: number) => `${Math.round(upper)} [${Math.round(lower)}]`
  const sorted = [...timings].sort((a, b) => pick(a)[0] - pick(b)[0])
  const min = sorted[0] as Timing
  const max = sorted[sorted.length - 1] as Timing
  return [
    label,
    timings.length,
    format(...pick(min)),
    format(median(uppers), median(lowers)),
    format(...pick(max)),
  ]
}

async function serfAnchor(
  detectTrials: number,
  joinTrialsCount: number,
): Promise<{ detect: Timing[]; join: Timing[] } | undefined> {
  if (!existsSync(join(SERF_ANCHORS, 'detect.sh'))) return undefined
  try {
    await run('serf', ['version'])
  } catch {
    return undefined
  }
  const dir = mkdtempSync(join(tmpdir(), 'murmur-serf-'))
  const parse = (path: string): Timing[] =>
    readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((line) => {
        const fields = line.split(',')
        return {
          firstMs: Number(fields[4]),
          allMs: Number(fields[5]),
          firstLowMs: Number(fields[6]),
          allLowMs: Number(fields[7]),
        }
      })
  console.log('  serf anchor: detection trials')
  await run(
    'bash',
    [join(SERF_ANCHORS, 'detect.sh'), String(detectTrials), join(dir, 'detect.csv')],
    { maxBuffer: 64 * 1024 * 1024 },
  )
  console.log('  serf anchor: join trials')
  await run(
    'bash',
    [join(SERF_ANCHORS, 'join.sh'), String(joinTrialsCount), join(dir, 'join.csv')],
    { maxBuffer: 64 * 1024 * 1024 },
  )
  return { detect: parse(join(dir, 'detect.csv')), join: parse(join(dir, 'join.csv')) }
}

export const membershipScenario: Scenario = {
  name: 'membership',
  description: `kill -9 detection and join visibility, ${NODES} real nodes on loopback, lan preset, ${POLL_MS} ms polling of /v1/cluster; serf (same trials) when installed.`,
  async run(options): Promise<ScenarioReport> {
    const detectTrials = Math.max(9, options.runs)
    const joinCount = Math.max(15, options.runs)
    const detections: Timing[] = []
    for (let trial = 0; trial < detectTrials; trial++) {
      const timing = await detectionTrial(trial)
      console.log(
        `  detection trial ${trial + 1}: first ${Math.round(timing.firstMs)} ms, all ${Math.round(timing.allMs)} ms`,
      )
      detections.push(timing)
    }
    const joins = await joinTrials(joinCount)
    const serf = await serfAnchor(detectTrials, joinCount)
    const columns = ['measure', 'trials', 'min ms', 'median ms', 'max ms']
    const firstPick = (timing: Timing): [number, number] => [timing.firstMs, timing.firstLowMs]
    const allPick = (timing: Timing): [number, number] => [timing.allMs, timing.allLowMs]
    const rows: (string | number)[][] = [
      summary('murmur: kill -9 → first survivor shows dead', detections, firstPick),
      summary('murmur: kill -9 → all survivors show dead', detections, allPick),
      summary(
        'murmur: process launch → first member lists newcomer alive',
        joins.launch,
        firstPick,
      ),
      summary('murmur: process launch → all 6 list it alive', joins.launch, allPick),
      summary('murmur: join start → all 6 list it alive', joins.joinStart, allPick),
    ]
    if (serf !== undefined) {
      rows.push(
        summary('serf: kill -9 → first survivor shows failed', serf.detect, firstPick),
        summary('serf: kill -9 → all survivors show failed', serf.detect, allPick),
        summary('serf: agent launch → first member lists it alive', serf.join, firstPick),
        summary('serf: agent launch → all 6 list it alive', serf.join, allPick),
      )
    }
    const tables: Table[] = [
      { title: 'Detection and join (upper bound [lower bound])', columns, rows },
    ]
    return {
      scenario: 'membership',
      description: this.description,
      parameters: {
        nodes: NODES,
        preset: 'lan',
        pollMs: POLL_MS,
        detectTrials,
        joinTrials: joinCount,
        serf: serf !== undefined,
      },
      tables,
      notes: [
        'Targets: detection (all survivors) median ≤ 5.5 s and max ≤ 7.0 s; join seen by all median ≤ 200 ms.',
        '"process launch" includes starting Node.js and opening RocksDB; "join start" is measured from the moment the node logged that its membership started joining.',
        'Each detection trial uses a fresh cluster and waits 3 s after convergence before the kill, as the serf anchor does.',
      ],
      raw: { detections, joins, serf },
    }
  },
}
