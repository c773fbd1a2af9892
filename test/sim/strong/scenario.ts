/**
 * One seeded run of the strong-mode workload: real MurmurNodes (Raft runtime, durable Raft
 * storage on MemoryDisks, strong routes) on the simulator's virtual clock. Clients read, write
 * unique values and compare-and-set through random nodes, recorded as a CAS-register history
 * (src/check). A nemesis isolates the leader or a minority, pauses nodes for longer than the
 * election timeout, and cuts power to nodes (unsynced writes are lost) while messages are
 * dropped, duplicated and delayed. Then everything heals, optionally every node loses power at
 * once and restarts, and each key is read once more; the whole history must be linearizable,
 * which also proves that no acknowledged write was lost. Every choice comes from the seed.
 *
 * Outcomes map onto the history as Jepsen's do: a success is `ok`; a refusal or failure that
 * certainly had no effect (`definite: true`, or any failed read) is `fail`; anything else
 * (`definite: false`, a timeout, a node that died mid-request) is `info`: it may or may not have
 * happened. Unique written values make a version equivalent to the value it wrote, so
 * `If-Match: <version>` is exactly the model's cas(expected value, new value).
 */

import { HistoryRecorder } from '../../../src/check/history.js'
import { type CheckResult, checkLinearizability } from '../../../src/check/linearizability.js'
import {
  casRegisterModel,
  type RegisterInput,
  type RegisterOutput,
} from '../../../src/check/models.js'
import type { Random } from '../../../src/env/random.js'
import { SimCluster as Cluster, type SimCluster, type SimResponse } from '../cluster.js'
import { type FaultRates, NO_FAULTS } from '../faults.js'
import { pause, settle } from '../replication/harness.js'

export interface StrongScenarioOptions {
  readonly nodes: number
  readonly keys: number
  readonly clients: number
  /** Virtual time of the faulty phase. */
  readonly chaosMs: number
  readonly rates: FaultRates
  /** Cut power to every node at once after the faulty phase, then restart them all. */
  readonly powerLossOfAll: boolean
}

export const DEFAULT_STRONG_SCENARIO: StrongScenarioOptions = {
  nodes: 3,
  keys: 3,
  clients: 8,
  chaosMs: 8000,
  rates: { lossProbability: 0.02, duplicateProbability: 0.02, delayMsMin: 1, delayMsMax: 12 },
  powerLossOfAll: true,
}

export interface StrongScenarioResult {
  readonly violations: string[]
  readonly operations: number
  readonly acknowledgedWrites: number
  readonly indefinite: number
  readonly faults: number
  readonly termMax: number
  readonly snapshotsSent: number
  readonly check: CheckResult<RegisterInput, RegisterOutput>
  /** The simulation's event log, for determinism checks. */
  readonly eventLog: readonly string[]
}

const KEYSPACE = 'reg'
const REQUEST_TIMEOUT_MS = 1500
/** Virtual time a client waits for a request past its timeout before calling it lost. */
const REQUEST_LIMIT_MS = REQUEST_TIMEOUT_MS + 1000
const RECOVERY_LIMIT_MS = 30_000
const CHECK_STEPS_MAX = 5_000_000

export function strongConfig(nodes: number): string {
  const list = Array.from({ length: nodes }, (_, index) => `{ id: n${index + 1} }`).join(', ')
  // Small snapshot thresholds, so runs snapshot, compact and stream snapshots to laggards.
  return `
nodes: [${list}]
keyspaces:
  ${KEYSPACE}: { mode: strong, replicas: ${nodes} }
raft: { tickMs: 100, electionTicks: 10, snapshotEntries: 20, retainEntries: 4 }
requests: { timeoutMs: ${REQUEST_TIMEOUT_MS} }
`
}

type Recorder = HistoryRecorder<RegisterInput, RegisterOutput>

/** What one request's answer means for the history. */
type Outcome =
  | { readonly kind: 'ok'; readonly output: RegisterOutput }
  | { readonly kind: 'fail' | 'info' }

/** A value a client read, with its version. */
interface Seen {
  readonly value: string
  readonly etag: string
}

function isDefinite(response: SimResponse): boolean {
  try {
    return (
      (JSON.parse(response.body) as { error?: { definite?: boolean } }).error?.definite === true
    )
  } catch {
    return false
  }
}

/** The clients and the nemesis of one run, sharing the run's random stream and counters. */
class StrongRun {
  readonly history: Recorder = new HistoryRecorder()
  readonly keys: readonly string[]
  faults = 0
  acknowledged = 0
  indefinite = 0
  private readonly random: Random
  private readonly stopAtMs: number

  constructor(
    private readonly cluster: SimCluster,
    options: StrongScenarioOptions,
  ) {
    this.random = cluster.sim.random.fork('workload')
    this.keys = Array.from({ length: options.keys }, (_, index) => `k${index}`)
    this.stopAtMs = cluster.sim.nowMs + options.chaosMs
  }

  private pick<T>(items: readonly T[]): T {
    return items[this.random.int(items.length)] as T
  }

  private running(): string[] {
    return this.cluster.nodeIds.filter((id) => this.cluster.isRunning(id))
  }

  /** Sends one request, bounded in virtual time; undefined when no answer came. */
  private async send(
    node: string,
    method: string,
    key: string,
    body?: string,
    headers?: Record<string, string>,
  ) {
    if (!this.cluster.isRunning(node)) return undefined
    const request = this.cluster.request(node, method, `/v1/kv/${KEYSPACE}/${key}`, body, headers)
    request.catch(() => undefined)
    const timeout = pause(this.cluster, REQUEST_LIMIT_MS).then(() => undefined)
    try {
      return await Promise.race([request, timeout])
    } catch {
      return undefined
    }
  }

  private record(client: number, input: RegisterInput, outcome: Outcome): void {
    const now = this.cluster.sim.nowMs
    if (outcome.kind === 'ok') this.history.ok(client, outcome.output, now)
    else if (outcome.kind === 'fail') this.history.fail(client, now)
    else {
      this.indefinite++
      this.history.info(client, now)
    }
    if (outcome.kind === 'ok' && input.kind !== 'read') this.acknowledged++
  }

  private async read(client: number, key: string, node: string): Promise<Seen | null | undefined> {
    const input: RegisterInput = { kind: 'read', key }
    this.history.invoke(client, input, this.cluster.sim.nowMs)
    const response = await this.send(node, 'GET', key)
    if (response?.status === 200) {
      this.record(client, input, { kind: 'ok', output: { kind: 'read', value: response.body } })
      return { value: response.body, etag: response.headers.get('ETag') ?? '' }
    }
    if (response?.status === 404) {
      this.record(client, input, { kind: 'ok', output: { kind: 'read', value: null } })
      return null
    }
    this.record(client, input, { kind: 'fail' })
    return undefined
  }

  private async write(client: number, key: string, node: string, value: string, seen?: Seen) {
    const input: RegisterInput =
      seen === undefined
        ? { kind: 'write', key, value }
        : { kind: 'cas', key, expected: seen.value, value }
    this.history.invoke(client, input, this.cluster.sim.nowMs)
    const headers: Record<string, string> = seen === undefined ? {} : { 'If-Match': seen.etag }
    const response = await this.send(node, 'PUT', key, value, headers)
    let outcome: Outcome
    if (response?.status === 204) {
      outcome = {
        kind: 'ok',
        output: input.kind === 'cas' ? { kind: 'cas', swapped: true } : { kind: 'write' },
      }
    } else if (response?.status === 412 && input.kind === 'cas') {
      outcome = { kind: 'ok', output: { kind: 'cas', swapped: false } }
    } else if (response !== undefined && isDefinite(response)) {
      outcome = { kind: 'fail' }
    } else {
      outcome = { kind: 'info' }
    }
    this.record(client, input, outcome)
  }

  async client(index: number): Promise<void> {
    const seen = new Map<string, Seen>()
    for (let op = 0; op < 2000 && this.cluster.sim.nowMs < this.stopAtMs; op++) {
      await pause(this.cluster, 5 + this.random.int(40))
      const nodes = this.running()
      if (nodes.length === 0) continue
      const node = this.pick(nodes)
      const key = this.pick(this.keys)
      const choice = this.random.int(100)
      if (choice < 40) {
        const observed = await this.read(index, key, node)
        if (observed === null) seen.delete(key)
        else if (observed !== undefined) seen.set(key, observed)
        continue
      }
      const expected = choice < 70 ? undefined : seen.get(key)
      await this.write(index, key, node, `c${index}-${op}`, expected)
    }
  }

  private leader(): string | undefined {
    let best: { id: string; term: number } | undefined
    for (const id of this.running()) {
      const view = this.cluster.node(id).strong.view()
      const term = view['term'] as number
      if (view['role'] === 'leader' && (best === undefined || term > best.term)) best = { id, term }
    }
    return best?.id
  }

  async nemesis(): Promise<void> {
    const { cluster, random } = this
    for (let round = 0; round < 100 && cluster.sim.nowMs < this.stopAtMs; round++) {
      await pause(cluster, 300 + random.int(900))
      const target = random.chance(0.6)
        ? (this.leader() ?? this.pick(cluster.nodeIds))
        : this.pick(cluster.nodeIds)
      const others = cluster.nodeIds.filter((id) => id !== target)
      const event = random.int(4)
      this.faults++
      if (event === 0) {
        cluster.faults.isolate(target, others)
        await pause(cluster, 500 + random.int(2500))
        cluster.faults.heal()
      } else if (event === 1 && cluster.isRunning(target)) {
        // Longer than the election timeout (1 to 2 s), so the others elect a new leader.
        cluster.pause(target)
        await pause(cluster, 1500 + random.int(2000))
        cluster.resume(target)
      } else if (event === 2 && cluster.isRunning(target)) {
        await cluster.crash(target)
        await pause(cluster, 300 + random.int(3000))
        if (!cluster.isRunning(target)) await cluster.start(target)
      } else {
        const shuffled = [...cluster.nodeIds].sort(() => random.float() - 0.5)
        const cut = 1 + random.int(cluster.nodeIds.length - 1)
        cluster.faults.partition([shuffled.slice(0, cut), shuffled.slice(cut)])
        await pause(cluster, 500 + random.int(2000))
        cluster.faults.heal()
      }
    }
  }
}

export async function runStrongScenario(
  seed: number,
  options: StrongScenarioOptions = DEFAULT_STRONG_SCENARIO,
): Promise<StrongScenarioResult> {
  const configText = strongConfig(options.nodes)
  const cluster = await Cluster.create({ seed, configText, faults: options.rates })
  const run = new StrongRun(cluster, options)
  const clients = Array.from({ length: options.clients }, (_, index) => run.client(index))
  await settle(cluster, Promise.all([run.nemesis(), ...clients]), options.chaosMs + 60_000)
  await recover(cluster)
  if (options.powerLossOfAll) {
    for (const id of cluster.nodeIds) await cluster.crash(id)
    for (const id of cluster.nodeIds) await cluster.start(id)
  }
  const violations: string[] = []
  for (const key of run.keys) {
    const problem = await finalRead(cluster, run.history, options.clients, key)
    if (problem !== undefined) violations.push(problem)
  }
  const recorded = run.history.finish()
  const check = checkLinearizability(casRegisterModel, recorded.operations, {
    stepsMax: CHECK_STEPS_MAX,
  })
  if (check.verdict !== 'linearizable') {
    violations.push(
      `history is ${check.verdict}: ${check.violation?.description ?? 'search budget exhausted'}`,
    )
  }
  const views = cluster.nodeIds.map((id) => cluster.node(id).strong.view())
  const counters = views.map((view) => view['counters'] as { snapshotsSent: number })
  return {
    violations,
    operations: recorded.operations.length,
    acknowledgedWrites: run.acknowledged,
    indefinite: run.indefinite,
    faults: run.faults,
    termMax: Math.max(...views.map((view) => view['term'] as number)),
    snapshotsSent: counters.reduce((sum, each) => sum + each.snapshotsSent, 0),
    check,
    eventLog: cluster.sim.log,
  }
}

/** Heals the network, resumes and restarts every node, and waits for a leader. */
async function recover(cluster: SimCluster): Promise<void> {
  cluster.faults.heal()
  cluster.faults.setRates(NO_FAULTS)
  for (const id of cluster.nodeIds) {
    if (!cluster.isRunning(id)) await cluster.start(id)
    else cluster.resume(id)
  }
}

/**
 * Reads `key` linearizably until a read succeeds (within RECOVERY_LIMIT_MS) and records it:
 * it must see the last acknowledged write (or a later indefinite one), or the history fails.
 */
async function finalRead(
  cluster: SimCluster,
  history: Recorder,
  client: number,
  key: string,
): Promise<string | undefined> {
  const deadlineMs = cluster.sim.nowMs + RECOVERY_LIMIT_MS
  for (let attempt = 0; cluster.sim.nowMs < deadlineMs && attempt < 1000; attempt++) {
    const node = cluster.nodeIds[attempt % cluster.nodeIds.length] as string
    const input: RegisterInput = { kind: 'read', key }
    history.invoke(client, input, cluster.sim.nowMs)
    const response = await settle(
      cluster,
      cluster.request(node, 'GET', `/v1/kv/${KEYSPACE}/${key}`),
      REQUEST_LIMIT_MS,
    )
    if (response.status === 200 || response.status === 404) {
      const value = response.status === 200 ? response.body : null
      history.ok(client, { kind: 'read', value }, cluster.sim.nowMs)
      return undefined
    }
    history.fail(client, cluster.sim.nowMs)
    await settle(cluster, pause(cluster, 100), 1000)
  }
  return `${key}: no final read succeeded within ${RECOVERY_LIMIT_MS} ms after recovery`
}
