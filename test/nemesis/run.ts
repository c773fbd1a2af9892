/**
 * One nemesis run: a 5-node cluster of real processes with eventual, witness, CRDT and strong
 * keyspaces; clients running mixed workloads for the whole fault phase; the seeded schedule;
 * then healing (every fault cleared, every node up), a bounded wait for anti-entropy to make
 * every replica of every key equal, final reads at r=all, and the checkers. The result is a
 * summary (printed as one line, and written as JSON under `MURMUR_NEMESIS_OUT` when set) whose
 * `violations` must be empty; instances of known, reported issues are listed apart.
 */

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkLinearizability } from '../../src/check/linearizability.js'
import { casRegisterModel } from '../../src/check/models.js'
import { SeededRandom } from '../../src/env/random.js'
import { TestCluster } from '../support/cluster.js'
import {
  checkCounter,
  checkRegister,
  checkSetElement,
  expectedMembership,
  KNOWN_ISSUES,
  registerDecided,
  type Violation,
} from './checkers.js'
import { type Answer, call, errorCode, sleep } from './http.js'
import { Nemesis } from './nemesis.js'
import { buildSchedule, describeStep } from './schedule.js'
import {
  ClientContext,
  CounterClient,
  type CounterTally,
  liveValues,
  OperationCounts,
  RegisterClient,
  type RegisterKey,
  SetClient,
  StrongClient,
  strongHistory,
} from './workloads.js'

export interface RunOptions {
  readonly seed: number
  readonly steps: number
  readonly holdMsMin: number
  readonly holdMsMax: number
  /** Time anti-entropy gets to make every replica equal after healing. */
  readonly convergeMsMax: number
  readonly outputDir: string | undefined
}

export interface RunSummary {
  readonly seed: number
  readonly startedAt: string
  readonly durationMs: number
  readonly schedule: readonly string[]
  readonly operations: Record<string, number>
  readonly operationsTotal: number
  readonly failures: Record<string, number>
  readonly faults: Record<string, number>
  readonly corruption: { injected: number; detected: number; repaired: number }
  readonly convergedAfterMs: number | null
  readonly checked: Record<string, number>
  readonly violations: readonly Violation[]
  /** Instances of known, reported issues (checkers.ts KNOWN_ISSUES); they do not fail a run. */
  readonly knownIssues: readonly Violation[]
}

const NODES = 5
const KEYSPACES = { eventual: 'ev', witness: 'wit', crdt: 'crdt', strong: 'reg' } as const
const ARCHIVE_KEYS = Array.from({ length: 12 }, (_, index) => `a-${index}`)
const COUNTER_KEYS = ['k-0', 'k-1', 'k-2']
const STRONG_KEYS = ['s-0', 's-1', 's-2']
const FINAL_READ_ATTEMPTS_MAX = 20

function clusterFile(): Record<string, unknown> {
  return {
    gossip: { preset: 'local' },
    ring: { partitions: 16 },
    keyspaces: {
      [KEYSPACES.eventual]: { replicas: 3, read: 'quorum', write: 'quorum' },
      [KEYSPACES.witness]: { replicas: 3, witnesses: 1, read: 'quorum', write: 'quorum' },
      [KEYSPACES.crdt]: { replicas: 3, read: 'quorum', write: 'quorum' },
      [KEYSPACES.strong]: { mode: 'strong', replicas: 3 },
    },
    raft: { tickMs: 100, electionTicks: 10 },
    requests: { timeoutMs: 2500, peerTimeoutMs: 1000 },
    replication: {
      hintReplayIntervalMs: 1000,
      // Tombstones become reapable within a run, so reaping runs under the faults too.
      tombstoneGraceMs: 5000,
      reaperIntervalMs: 2000,
      antiEntropy: { exchangeIntervalMs: 1000, segments: 256 },
    },
  }
}

export async function runNemesis(
  options: RunOptions,
  log: (line: string) => void,
): Promise<RunSummary> {
  const startedAtMs = Date.now()
  const cluster = await TestCluster.create({
    nodes: NODES,
    env: { MURMUR_FAULTS: '1' },
    file: clusterFile(),
  })
  try {
    await cluster.startAll(30_000)
    for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', 30_000)
    return await runOn(cluster, options, startedAtMs, log)
  } finally {
    await cluster.destroy()
  }
}

/** Every client of a run, and the loops running them. */
interface Clients {
  readonly registers: readonly RegisterClient[]
  readonly tallies: readonly CounterTally[]
  readonly sets: readonly SetClient[]
  readonly strong: readonly StrongClient[]
  readonly history: ReturnType<typeof strongHistory>
  readonly loops: readonly Promise<void>[]
}

function startClients(context: ClientContext, random: SeededRandom): Clients {
  const { eventual, witness, crdt } = KEYSPACES
  const registers = [
    ...[0, 1].map(
      (client) => new RegisterClient(context, random.fork(`ev${client}`), eventual, client, 4),
    ),
    ...[2, 3].map(
      (client) => new RegisterClient(context, random.fork(`wit${client}`), witness, client, 4),
    ),
  ]
  const tallies: CounterTally[] = COUNTER_KEYS.map((key) => ({
    key,
    acknowledged: 0,
    unknownIncrements: 0,
    unknownDecrements: 0,
  }))
  const counters = [0, 1].map(
    (client) => new CounterClient(context, random.fork(`counter${client}`), crdt, client, tallies),
  )
  const sets = [0, 1].map(
    (client) => new SetClient(context, random.fork(`set${client}`), crdt, client, 2),
  )
  const history = strongHistory()
  const strong = [0, 1].map(
    (client) =>
      new StrongClient(
        context,
        random.fork(`strong${client}`),
        KEYSPACES.strong,
        client,
        STRONG_KEYS,
        history,
      ),
  )
  const loops = [...registers, ...counters, ...sets, ...strong].map((client) => client.run())
  return { registers, tallies, sets, strong, history, loops }
}

async function runOn(
  cluster: TestCluster,
  options: RunOptions,
  startedAtMs: number,
  log: (line: string) => void,
): Promise<RunSummary> {
  const counts = new OperationCounts()
  const context = new ClientContext(cluster, counts, `t${options.seed}`)
  const nemesis = new Nemesis(cluster, { keyspace: KEYSPACES.eventual, keys: ARCHIVE_KEYS }, log)
  await writeArchive(cluster)
  const clients = startClients(context, new SeededRandom(options.seed))
  const schedule = buildSchedule({
    seed: options.seed,
    nodeIds: cluster.nodes.map((node) => node.id),
    wipeable: ['n4', 'n5'],
    steps: options.steps,
    holdMsMin: options.holdMsMin,
    holdMsMax: options.holdMsMax,
  })
  for (const [index, step] of schedule.entries()) {
    log(`step ${index + 1}/${schedule.length}: ${describeStep(step)}`)
    await nemesis.runStep(step)
  }
  await nemesis.healAll()
  context.running = false
  await Promise.all(clients.loops)
  for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', 30_000)

  const violations: Violation[] = [...nemesis.violations]
  const keys = trackedKeys(clients.registers, clients.sets)
  const convergedAfterMs = await awaitConvergence(cluster, nemesis, keys, options.convergeMsMax)
  const diverged = convergedAfterMs === null ? await divergentKeys(nemesis, keys) : []
  if (convergedAfterMs === null) {
    for (const key of diverged.slice(0, 5))
      log(`diverged ${await describeKey(nemesis, clients, key)}`)
  }
  const wiped = (nemesis.describeKinds()['wipe'] ?? 0) > 0
  violations.push(...(await checkFinalState(cluster, clients, wiped)))
  if (diverged.length > 0) {
    // The final reads repair before they answer (r=all, repair=blocking): replicas that still
    // differ afterwards break the promise; ones that only anti-entropy left apart are a finding.
    const still = await divergentKeys(nemesis, keys)
    const hints = await nodesHoldingHints(cluster)
    log(`after the final r=all reads ${still.length} keys still differ: ${still.join(',')}`)
    for (const key of still.slice(0, 5)) log(`still ${await describeKey(nemesis, clients, key)}`)
    violations.push({
      check: 'replicas-converged',
      key: (still.length > 0 ? still : diverged).join(','),
      detail: `${diverged.length} keys differed between replicas ${options.convergeMsMax} ms after healing (hints held on [${hints.join(', ')}]); ${still.length} still differ after the final blocking-repair reads`,
      ...(still.length === 0 ? { knownIssue: KNOWN_ISSUES.antiEntropyLag } : {}),
    })
  }
  const strongChecked = await checkStrong(cluster, clients.strong, clients.history, violations)
  const summary: RunSummary = {
    seed: options.seed,
    startedAt: new Date(startedAtMs).toISOString(),
    durationMs: Date.now() - startedAtMs,
    schedule: schedule.map(describeStep),
    operations: Object.fromEntries([...counts.byOutcome].sort()),
    operationsTotal: counts.total(),
    failures: Object.fromEntries([...counts.byError].sort()),
    faults: nemesis.describeKinds(),
    corruption: { ...nemesis.corruption },
    convergedAfterMs,
    checked: checkedCounts(clients, strongChecked, keys.length),
    violations: violations.filter((violation) => violation.knownIssue === undefined),
    knownIssues: violations.filter((violation) => violation.knownIssue !== undefined),
  }
  report(summary, options.outputDir, log)
  return summary
}

/** How much each checker covered; "decided" counts states no unknown outcome left open. */
function checkedCounts(clients: Clients, strongOperations: number, convergenceKeys: number) {
  const registerKeys = clients.registers.flatMap((client) => client.keys)
  const elements = clients.sets.flatMap((client) => client.elements)
  return {
    registerKeys: registerKeys.length,
    registerKeysDecided: registerKeys.filter(registerDecided).length,
    archiveKeys: ARCHIVE_KEYS.length,
    counterKeys: clients.tallies.length,
    counterKeysExact: clients.tallies.filter(
      (tally) => tally.unknownIncrements + tally.unknownDecrements === 0,
    ).length,
    setElements: elements.length,
    setElementsDecided: elements.filter((element) => expectedMembership(element) !== undefined)
      .length,
    strongOperations,
    convergenceKeys,
  }
}

/** Writes the archive keys once at w=all; they are read-only afterwards (corruption targets). */
async function writeArchive(cluster: TestCluster): Promise<void> {
  for (const key of ARCHIVE_KEYS) {
    let stored = false
    for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS_MAX && !stored; attempt++) {
      const node = cluster.nodes[attempt % cluster.nodes.length]?.id ?? 'n1'
      const answer = await call(cluster, node, `/v1/kv/${KEYSPACES.eventual}/${key}?w=all`, {
        method: 'PUT',
        body: `archive-${key}`,
      })
      stored = answer?.status === 204
      if (!stored) await sleep(200)
    }
    if (!stored) throw new Error(`could not write archive key ${key} at w=all`)
  }
}

interface TrackedKey {
  readonly keyspace: string
  readonly key: string
}

function trackedKeys(
  registers: readonly RegisterClient[],
  sets: readonly SetClient[],
): TrackedKey[] {
  const keys: TrackedKey[] = ARCHIVE_KEYS.map((key) => ({ keyspace: KEYSPACES.eventual, key }))
  for (const client of registers)
    for (const state of client.keys) keys.push({ keyspace: state.keyspace, key: state.key })
  for (const key of COUNTER_KEYS) keys.push({ keyspace: KEYSPACES.crdt, key })
  const setKeys = new Set(sets.flatMap((client) => client.elements.map((element) => element.key)))
  for (const key of [...setKeys].sort()) keys.push({ keyspace: KEYSPACES.crdt, key })
  return keys
}

/** Every replica's record of `name` (keyspace/key) and, for a register, its client's writes. */
async function describeKey(nemesis: Nemesis, clients: Clients, name: string): Promise<string> {
  const [keyspace = '', ...rest] = name.split('/')
  const key = rest.join('/')
  const roles = await nemesis.roles(keyspace, key)
  const replicas = [...roles.full, ...roles.witnesses]
  const states = await Promise.all(replicas.map((node) => nemesis.inspect(node, keyspace, key)))
  const lines = replicas.map((node, index) => {
    const role = roles.witnesses.includes(node) ? 'witness' : 'full'
    return `  ${node} (${role}): ${JSON.stringify(states[index])}`
  })
  const owner = clients.registers
    .flatMap((client) => client.keys)
    .find((state) => state.keyspace === keyspace && state.key === key)
  const writes = owner === undefined ? '' : `\n  writes: ${JSON.stringify(owner.writes.slice(-12))}`
  return `${name}\n${lines.join('\n')}${writes}`
}

/** The keys whose replicas do not all hold the same healthy record (or all none). */
async function divergentKeys(nemesis: Nemesis, keys: readonly TrackedKey[]): Promise<string[]> {
  const differing: string[] = []
  for (const { keyspace, key } of keys) {
    const replicas = await nemesis.replicas(keyspace, key)
    const states = await Promise.all(
      replicas.map((replica) => nemesis.inspect(replica, keyspace, key)),
    )
    const hashes = new Set(
      states.map((state) => (state === undefined || state.corrupt ? 'bad' : state.hash)),
    )
    if (hashes.size !== 1 || hashes.has('bad')) differing.push(`${keyspace}/${key}`)
  }
  return differing
}

/** The nodes that still hold hints (or do not answer), as `node:count` entries. */
async function nodesHoldingHints(cluster: TestCluster): Promise<string[]> {
  const holding: string[] = []
  for (const node of cluster.nodes) {
    const answer = await call(cluster, node.id, '/v1/cluster')
    if (answer?.status !== 200) {
      holding.push(`${node.id}:no-answer`)
      continue
    }
    const view = JSON.parse(answer.text) as { replication?: { hintsHeld?: Record<string, number> } }
    const held = Object.values(view.replication?.hintsHeld ?? {}).reduce(
      (sum, count) => sum + count,
      0,
    )
    if (held > 0) holding.push(`${node.id}:${held}`)
  }
  return holding
}

/**
 * Milliseconds until every tracked key converged and every hint was handed off, or null when
 * that did not happen within `limitMs`.
 */
async function awaitConvergence(
  cluster: TestCluster,
  nemesis: Nemesis,
  keys: readonly TrackedKey[],
  limitMs: number,
): Promise<number | null> {
  const startMs = Date.now()
  while (Date.now() - startMs < limitMs) {
    const converged = (await divergentKeys(nemesis, keys)).length === 0
    if (converged && (await nodesHoldingHints(cluster)).length === 0) return Date.now() - startMs
    await sleep(500)
  }
  return null
}

/** A final read that never succeeded; `allStale` when every attempt was refused as stale. */
class FinalReadError extends Error {
  constructor(
    message: string,
    readonly allStale: boolean,
  ) {
    super(message)
  }
}

/** GET `path` at r=all through each node in turn until one answers with a usable status. */
async function finalRead(cluster: TestCluster, path: string, statuses: readonly number[]) {
  const seen: string[] = []
  let allStale = true
  for (let attempt = 0; attempt < FINAL_READ_ATTEMPTS_MAX; attempt++) {
    const node = cluster.nodes[attempt % cluster.nodes.length]?.id ?? 'n1'
    const answer = await call(cluster, node, path)
    if (answer !== undefined && statuses.includes(answer.status)) return answer
    seen.push(`${node}: ${errorCode(answer)}`)
    allStale &&= answer?.status === 503 && answer.text.includes('"stale":true')
    await sleep(250)
  }
  throw new FinalReadError(
    `final read ${path} did not succeed in ${FINAL_READ_ATTEMPTS_MAX} attempts (${seen.join(', ')})`,
    allStale,
  )
}

/**
 * The final read of a register, or a known-issue violation when a key of the witness keyspace
 * was refused as stale on every attempt in a run that wiped a node (KNOWN_ISSUES.witnessCustodyLost).
 */
async function finalRegisterRead(
  cluster: TestCluster,
  state: RegisterKey,
  wiped: boolean,
): Promise<{ answer: Answer } | { violation: Violation }> {
  const path = `/v1/kv/${state.keyspace}/${state.key}?r=all&repair=blocking`
  try {
    return { answer: await finalRead(cluster, path, [200, 300, 404]) }
  } catch (error) {
    const known =
      error instanceof FinalReadError &&
      error.allStale &&
      wiped &&
      state.keyspace === KEYSPACES.witness
    if (!known) throw error
    const violation: Violation = {
      check: 'final-read',
      key: `${state.keyspace}/${state.key}`,
      detail: error.message,
      knownIssue: KNOWN_ISSUES.witnessCustodyLost,
    }
    return { violation }
  }
}

async function checkFinalState(
  cluster: TestCluster,
  clients: Clients,
  wiped: boolean,
): Promise<Violation[]> {
  const { registers, tallies, sets } = clients
  const violations: Violation[] = []
  const all = 'r=all&repair=blocking'
  for (const client of registers) {
    for (const state of client.keys) {
      const read = await finalRegisterRead(cluster, state, wiped)
      if ('violation' in read) violations.push(read.violation)
      else violations.push(...checkRegister(state, liveValues(read.answer) ?? []))
    }
  }
  for (const key of ARCHIVE_KEYS) {
    const answer = await finalRead(
      cluster,
      `/v1/kv/${KEYSPACES.eventual}/${key}?${all}`,
      [200, 300, 404],
    )
    if (answer.status !== 200 || answer.text !== `archive-${key}`)
      violations.push({
        check: 'archive-unchanged',
        key,
        detail: `read ${answer.status} ${answer.text.slice(0, 80)}`,
      })
  }
  for (const tally of tallies) {
    const answer = await finalRead(
      cluster,
      `/v1/counters/${KEYSPACES.crdt}/${tally.key}?${all}`,
      [200, 404],
    )
    const value = answer.status === 404 ? 0 : (JSON.parse(answer.text) as { value: number }).value
    violations.push(...checkCounter(tally, value))
  }
  for (const client of sets) {
    const byKey = new Map<string, Set<string>>()
    for (const element of client.elements) {
      let members = byKey.get(element.key)
      if (members === undefined) {
        const answer = await finalRead(
          cluster,
          `/v1/sets/${KEYSPACES.crdt}/${element.key}?${all}`,
          [200, 404],
        )
        members = new Set(
          answer.status === 404 ? [] : (JSON.parse(answer.text) as { elements: string[] }).elements,
        )
        byKey.set(element.key, members)
      }
      violations.push(...checkSetElement(element, members))
    }
  }
  return violations
}

/** Final strong reads of every key, then the linearizability check; returns operations checked. */
async function checkStrong(
  cluster: TestCluster,
  clients: readonly StrongClient[],
  history: ReturnType<typeof strongHistory>,
  violations: Violation[],
): Promise<number> {
  const reader = clients[0]
  for (const key of STRONG_KEYS) {
    let done = false
    for (
      let attempt = 0;
      attempt < FINAL_READ_ATTEMPTS_MAX && !done && reader !== undefined;
      attempt++
    ) {
      done = await reader.read(cluster.nodes[attempt % cluster.nodes.length]?.id ?? 'n1', key)
      if (!done) await sleep(250)
    }
    if (!done)
      violations.push({ check: 'strong-final-read', key, detail: 'no final read succeeded' })
  }
  const { operations } = history.finish()
  const result = checkLinearizability(casRegisterModel, operations, { stepsMax: 20_000_000 })
  if (result.verdict !== 'linearizable') {
    violations.push({
      check: 'strong-linearizable',
      key: STRONG_KEYS.join(','),
      detail: `${result.verdict}: ${result.violation?.description ?? 'search budget exhausted'}`,
    })
  }
  return operations.length
}

function report(
  summary: RunSummary,
  outputDir: string | undefined,
  log: (line: string) => void,
): void {
  const outcomes = { ok: 0, fail: 0, unknown: 0 }
  for (const [name, count] of Object.entries(summary.operations)) {
    const outcome = name.slice(name.lastIndexOf('.') + 1) as keyof typeof outcomes
    outcomes[outcome] += count
  }
  log(
    `seed=${summary.seed} duration=${(summary.durationMs / 1000).toFixed(1)}s ` +
      `operations=${summary.operationsTotal} (ok ${outcomes.ok}, fail ${outcomes.fail}, unknown ${outcomes.unknown}) ` +
      `faults=${JSON.stringify(summary.faults)} corruption=${JSON.stringify(summary.corruption)} ` +
      `converged=${summary.convergedAfterMs ?? 'no'}ms violations=${summary.violations.length} ` +
      `known-issues=${summary.knownIssues.length}`,
  )
  for (const violation of summary.violations.slice(0, 20))
    log(`VIOLATION ${violation.check} ${violation.key}: ${violation.detail}`)
  for (const issue of summary.knownIssues.slice(0, 20))
    log(`KNOWN ISSUE ${issue.knownIssue} ${issue.key}: ${issue.detail}`)
  if (outputDir === undefined) return
  mkdirSync(outputDir, { recursive: true })
  writeFileSync(
    join(outputDir, `nemesis-${summary.seed}.json`),
    `${JSON.stringify(summary, null, 2)}\n`,
  )
}
