/**
 * One seeded run of the CRDT workload: real nodes on the simulator; clients increment and
 * decrement counters (with and without Idempotency-Keys), add unique elements to a set and
 * remove them with the context of a read, and churn one element of another set, through random
 * coordinators at mixed levels, while the network drops, duplicates and delays messages,
 * partitions come and go, nodes lose power and restart, and nodes pause. A keyed update whose
 * outcome is unknown is retried with the same key through another random coordinator until it
 * succeeds (bounded). Then everything heals and the run checks:
 * - every primary of every key holds the same record (convergence, after repair and hints);
 * - the keyed counter equals the sum of its updates, each counted once;
 * - the plain counter lies between its acknowledged sum and that plus its uncertain updates;
 * - every acknowledged add whose element no remove attempt named is present (add wins over
 *   nothing), and every element an acknowledged remove saw in its context is gone unless an
 *   add of it could be concurrent (elements are added once, so none can);
 * - the churned set's metadata stays within a bound that does not grow with the churn.
 * Every choice comes from the run's seed.
 */

import * as ReplicatedSet from '../../../src/crdt/replicated-set.js'
import { recordsEqual } from '../../../src/replication/record.js'
import { partitionForKey } from '../../../src/ring/index.js'
import { SimCluster, type SimResponse } from '../cluster.js'
import type { FaultRates } from '../faults.js'
import { NO_FAULTS } from '../faults.js'
import { hintsHeld, pause, primariesOf, replicationConfig, settle } from '../replication/harness.js'

export interface CrdtScenarioOptions {
  readonly nodes: number
  readonly clients: number
  readonly chaosMs: number
  readonly rates: FaultRates
}

export const DEFAULT_CRDT_SCENARIO: CrdtScenarioOptions = {
  nodes: 5,
  clients: 3,
  chaosMs: 2000,
  rates: { lossProbability: 0.03, duplicateProbability: 0.03, delayMsMin: 1, delayMsMax: 15 },
}

export interface CrdtScenarioResult {
  readonly violations: string[]
  readonly updates: number
  readonly retries: number
  readonly crashes: number
  readonly churnBytes: number
}

const LEVELS_W = ['quorum', 'quorum', 'one', 'all', 'two']
const RETRIES_MAX = 40
const HEAL_LIMIT_MS = 30_000
const DRAIN_LIMIT_MS = 60_000
/** A churned set's metadata: clock and dots of at most a few dozen actors, whatever the churn. */
const CHURN_BYTES_MAX = 4096

const KEYED = 'keyed-counter'
const PLAIN = 'plain-counter'
const SET = 'tags'
const CHURN = 'churn'

export async function runCrdtScenario(
  seed: number,
  options: CrdtScenarioOptions = DEFAULT_CRDT_SCENARIO,
): Promise<CrdtScenarioResult> {
  const cluster = await SimCluster.create({
    seed,
    configText: replicationConfig(options.nodes),
    faults: options.rates,
  })
  const random = cluster.sim.random.fork('crdt workload')
  await cluster.converge(10_000)
  const pick = <T>(items: readonly T[]): T => items[random.int(items.length)] as T
  const running = (): string[] => cluster.nodeIds.filter((id) => cluster.isRunning(id))
  const stopAtMs = cluster.sim.nowMs + options.chaosMs
  const tally = { keyedSum: 0, keyedUncertain: 0, plainAcked: 0, plainUncertain: 0 }
  const sets = {
    added: new Set<string>(),
    named: new Set<string>(),
    removedSeen: new Set<string>(),
  }
  const counts = { updates: 0, retries: 0, crashes: 0 }
  let healing = false

  async function send(path: string, method: string, body?: unknown, headers = {}) {
    const node = pick(running())
    try {
      const text = body === undefined ? undefined : JSON.stringify(body)
      return await cluster.request(node, method, path, text, headers)
    } catch {
      return undefined
    }
  }

  /** A keyed update, retried with its key through random coordinators until it succeeds. */
  async function keyed(path: string, body: unknown, key: string): Promise<boolean> {
    for (let attempt = 0; attempt < RETRIES_MAX; attempt++) {
      if (attempt > 0) {
        counts.retries++
        await pause(cluster, 20 + random.int(200))
      }
      const query = `?w=${pick(LEVELS_W)}`
      const response = await send(path + query, 'POST', body, { 'Idempotency-Key': key })
      if (response?.status === 200) return true
    }
    return false
  }

  async function counterClient(index: number): Promise<void> {
    for (let op = 0; op < 200 && cluster.sim.nowMs < stopAtMs; op++) {
      await pause(cluster, 5 + random.int(60))
      counts.updates++
      const amount = 1 + random.int(9)
      if (random.chance(0.5)) {
        const signed = random.chance(0.3) ? -amount : amount
        const body = signed > 0 ? { increment: signed } : { decrement: -signed }
        if (await keyed(`/v1/counters/default/${KEYED}`, body, `c${index}-${op}`)) {
          tally.keyedSum += signed
        } else tally.keyedUncertain += Math.abs(signed)
      } else {
        const response = await send(`/v1/counters/default/${PLAIN}?w=${pick(LEVELS_W)}`, 'POST', {
          increment: amount,
        })
        if (response?.status === 200) tally.plainAcked += amount
        else if (!isDefinite(response)) tally.plainUncertain += amount
      }
    }
  }

  async function setClient(index: number): Promise<void> {
    for (let op = 0; op < 200 && cluster.sim.nowMs < stopAtMs; op++) {
      await pause(cluster, 5 + random.int(60))
      counts.updates++
      const choice = random.int(3)
      if (choice === 0) {
        const element = `e${index}.${op}`
        const response = await send(`/v1/sets/default/${SET}?w=${pick(LEVELS_W)}`, 'POST', {
          add: [element],
        })
        if (response?.status === 200) sets.added.add(element)
      } else if (choice === 1) {
        const read = await send(`/v1/sets/default/${SET}?r=${pick(['one', 'quorum'])}`, 'GET')
        if (read?.status !== 200) continue
        const seen = JSON.parse(read.body) as { elements: string[]; context: string }
        const victims = seen.elements.filter(() => random.chance(0.3))
        if (victims.length === 0) continue
        for (const victim of victims) sets.named.add(victim)
        const body = { remove: victims, context: seen.context }
        const response = await send(`/v1/sets/default/${SET}`, 'POST', body)
        if (response?.status === 200) for (const victim of victims) sets.removedSeen.add(victim)
      } else {
        await churn(`c${index}.${op}`)
      }
    }
  }

  /** Adds and removes the same element, so only metadata could grow. */
  async function churn(key: string): Promise<void> {
    await keyed(`/v1/sets/default/${CHURN}`, { add: ['x'] }, key)
    const read = await send(`/v1/sets/default/${CHURN}`, 'GET')
    if (read?.status !== 200) return
    const context = (JSON.parse(read.body) as { context: string }).context
    await send(`/v1/sets/default/${CHURN}`, 'POST', { remove: ['x'], context })
  }

  async function chaos(): Promise<void> {
    const impaired = new Set<string>()
    for (let round = 0; round < 50 && cluster.sim.nowMs < stopAtMs; round++) {
      await pause(cluster, 200 + random.int(500))
      const node = pick(cluster.nodeIds)
      const event = random.int(4)
      if (impaired.has(node) || impaired.size >= 2) continue
      if (event === 0) {
        impaired.add(node)
        counts.crashes++
        await cluster.crash(node)
        void pause(cluster, 300 + random.int(1500)).then(async () => {
          if (healing || cluster.isRunning(node)) return
          await cluster.start(node)
          impaired.delete(node)
        })
      } else if (event === 1) {
        impaired.add(node)
        cluster.pause(node)
        void pause(cluster, 300 + random.int(2000)).then(() => {
          if (healing) return
          cluster.resume(node)
          impaired.delete(node)
        })
      } else if (event === 2) {
        cluster.faults.isolate(
          node,
          cluster.nodeIds.filter((id) => id !== node),
        )
        await pause(cluster, 300 + random.int(1000))
        cluster.faults.heal()
      }
    }
  }

  const clients = Array.from({ length: options.clients }, (_, index) =>
    index % 2 === 0 ? counterClient(index) : setClient(index),
  )
  await settle(cluster, Promise.all([chaos(), ...clients]), options.chaosMs + 60_000)
  healing = true
  await heal(cluster)
  const violations: string[] = []
  const drained = await cluster.sim.runUntil(() => hintsHeld(cluster) === 0, {
    untilMs: cluster.sim.nowMs + DRAIN_LIMIT_MS,
  })
  if (!drained) violations.push('hints did not drain')
  const keyedValue = await counterValue(cluster, KEYED)
  const low = tally.keyedSum - tally.keyedUncertain
  const high = tally.keyedSum + tally.keyedUncertain
  if (keyedValue === undefined || keyedValue < low || keyedValue > high) {
    violations.push(
      `keyed counter is ${keyedValue}, expected ${tally.keyedSum} ± ${tally.keyedUncertain}`,
    )
  }
  const plainValue = await counterValue(cluster, PLAIN)
  const plainHigh = tally.plainAcked + tally.plainUncertain
  if ((plainValue ?? 0) < tally.plainAcked || (plainValue ?? 0) > plainHigh) {
    violations.push(`plain counter is ${plainValue}, expected ${tally.plainAcked}..${plainHigh}`)
  }
  violations.push(...(await checkSet(cluster, sets)))
  for (const key of [KEYED, PLAIN, SET, CHURN])
    violations.push(...(await checkReplicas(cluster, key)))
  const churnBytes = await churnSize(cluster)
  if (churnBytes > CHURN_BYTES_MAX) violations.push(`churned set holds ${churnBytes} bytes`)
  return { violations, ...counts, churnBytes }
}

function isDefinite(response: SimResponse | undefined): boolean {
  if (response === undefined) return false
  try {
    const body = JSON.parse(response.body) as { error?: { definite?: boolean } }
    return body.error?.definite === true
  } catch {
    return false
  }
}

async function heal(cluster: SimCluster): Promise<void> {
  cluster.faults.heal()
  cluster.faults.setRates(NO_FAULTS)
  for (const id of cluster.nodeIds) {
    if (!cluster.isRunning(id)) await cluster.start(id)
    else cluster.resume(id)
  }
  if (!(await cluster.converge(HEAL_LIMIT_MS))) throw new Error('membership did not converge')
}

async function readAll(cluster: SimCluster, path: string): Promise<SimResponse> {
  return settle(cluster, cluster.request('n1', 'GET', `${path}?r=all&repair=blocking`), 10_000)
}

async function counterValue(cluster: SimCluster, key: string): Promise<number | undefined> {
  const response = await readAll(cluster, `/v1/counters/default/${key}`)
  if (response.status === 404) return 0
  if (response.status !== 200) return undefined
  return (JSON.parse(response.body) as { value: number }).value
}

async function checkSet(
  cluster: SimCluster,
  sets: { added: Set<string>; named: Set<string>; removedSeen: Set<string> },
): Promise<string[]> {
  const response = await readAll(cluster, `/v1/sets/default/${SET}`)
  if (response.status === 404) return sets.added.size === 0 ? [] : ['the set is missing']
  const present = new Set((JSON.parse(response.body) as { elements: string[] }).elements)
  const violations: string[] = []
  for (const element of sets.added) {
    if (!sets.named.has(element) && !present.has(element)) violations.push(`${element} was lost`)
  }
  for (const element of sets.removedSeen) {
    if (present.has(element)) violations.push(`${element} survived a remove that saw it`)
  }
  return violations
}

/** After a blocking repair read, every primary must hold the same record. */
async function checkReplicas(cluster: SimCluster, key: string): Promise<string[]> {
  const kind = key === SET || key === CHURN ? 'sets' : 'counters'
  await readAll(cluster, `/v1/${kind}/default/${key}`)
  const ring = cluster.node('n1').ring
  const address = {
    partition: partitionForKey(ring.partitionCount, 'default', key),
    keyspace: 'default',
    key,
  }
  const records = await Promise.all(
    primariesOf(cluster, key).map((id) =>
      settle(cluster, cluster.node(id).kv.store.read(address), 1000),
    ),
  )
  const [first, ...rest] = records
  const same = (record: (typeof records)[number]) =>
    record === first || (record !== undefined && first !== undefined && recordsEqual(record, first))
  if (rest.every(same)) return []
  return [`replicas of ${key} differ after healing`]
}

async function churnSize(cluster: SimCluster): Promise<number> {
  const ring = cluster.node('n1').ring
  const address = {
    partition: partitionForKey(ring.partitionCount, 'default', CHURN),
    keyspace: 'default',
    key: CHURN,
  }
  const [primary] = primariesOf(cluster, CHURN)
  const record = await settle(cluster, cluster.node(primary as string).kv.store.read(address), 1000)
  if (record?.set === undefined) return 0
  // Marks are bounded separately by the idempotency policy; the set's own metadata must not grow.
  return ReplicatedSet.byteSize({ set: record.set.set, marks: new Map() })
}
