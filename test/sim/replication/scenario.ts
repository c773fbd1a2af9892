/**
 * One seeded run of the replication workload: real nodes on the simulator, clients doing
 * reads, read-modify-writes, blind writes, overwrites carrying their last write's answered
 * context, and deletes at mixed consistency levels while the
 * network drops, duplicates and delays messages, partitions come and go, nodes lose power and
 * restart, and nodes pause. Then everything heals, and the run reports what the checker needs.
 * Every choice comes from the run's seed.
 */

import { partitionForKey } from '../../../src/ring/index.js'
import { SimCluster } from '../cluster.js'
import { type FaultRates, NO_FAULTS } from '../faults.js'
import {
  History,
  hintsHeld,
  keyPath,
  observe,
  pause,
  replicationConfig,
  settle,
} from './harness.js'

export interface ScenarioOptions {
  readonly nodes: number
  readonly keys: number
  readonly clients: number
  /** Virtual time of the faulty phase. */
  readonly chaosMs: number
  /** Message faults during the faulty phase. */
  readonly rates: FaultRates
  /** Nodes impaired (crashed, paused) at once at most. Default 2. */
  readonly impairedMax?: number
  /** The cluster's gossip settings (a YAML map). Default DEFAULT_GOSSIP. */
  readonly gossip?: string
  /** Witnesses among the keyspace's three replicas. Default 0. */
  readonly witnesses?: number
  /** Also checks every read against the writes acknowledged before it (History.checkReads). */
  readonly checkReads?: boolean
  /** Further checks once everything healed and hints drained; returns violations. */
  readonly afterDrain?: (cluster: SimCluster, keys: readonly string[]) => Promise<string[]>
}

export const DEFAULT_SCENARIO: ScenarioOptions = {
  nodes: 5,
  keys: 4,
  clients: 3,
  chaosMs: 2500,
  rates: { lossProbability: 0.03, duplicateProbability: 0.03, delayMsMin: 1, delayMsMax: 15 },
}

export interface ScenarioResult {
  readonly violations: string[]
  readonly writes: number
  readonly acknowledged: number
  readonly hintsPeak: number
  readonly drainMs: number
  readonly crashes: number
  readonly reaped: number
  readonly siblingsSeen: number
}

const LEVELS_W = ['quorum', 'quorum', 'quorum', 'one', 'all', 'two']
const LEVELS_R = ['quorum', 'quorum', 'one', 'all']
const HEAL_LIMIT_MS = 30_000
const DRAIN_LIMIT_MS = 60_000
const REAP_LIMIT_MS = 30_000

export async function runScenario(
  seed: number,
  options: ScenarioOptions = DEFAULT_SCENARIO,
): Promise<ScenarioResult> {
  const cluster = await SimCluster.create({
    seed,
    configText: replicationConfig(options.nodes, '', options.witnesses ?? 0, options.gossip),
    faults: options.rates,
  })
  const random = cluster.sim.random.fork('workload')
  const history = new History()
  const keys = Array.from({ length: options.keys }, (_, index) => `key-${index}`)
  await cluster.converge(10_000)
  const state = {
    crashes: 0,
    hintsPeak: 0,
    siblingsSeen: 0,
    healing: false,
    stopAtMs: cluster.sim.nowMs + options.chaosMs,
  }
  const pick = <T>(items: readonly T[]): T => items[random.int(items.length)] as T
  const running = (): string[] => cluster.nodeIds.filter((id) => cluster.isRunning(id))

  async function client(index: number): Promise<void> {
    // The context each of this client's acknowledged writes answered, by key: an overwrite
    // without a read in between carries it, as an HTTP client keeping its context does.
    const answered = new Map<string, string>()
    for (let op = 0; op < 400 && cluster.sim.nowMs < state.stopAtMs; op++) {
      await pause(cluster, 5 + random.int(60))
      const node = pick(running())
      const key = pick(keys)
      const choice = random.int(100)
      let context = choice >= 80 ? (answered.get(key) ?? '') : ''
      if (choice < 65) {
        const startedMs = cluster.sim.nowMs
        const read = await attempt(() =>
          cluster.request(node, 'GET', keyPath(key, `r=${pick(LEVELS_R)}`)),
        )
        if (read === undefined) continue
        history.readBetween(key, startedMs, cluster.sim.nowMs, read)
        const observed = observe(read)
        history.read(key, observed)
        if (observed.values.length > 1) state.siblingsSeen++
        context = observed.context
        if (choice >= 45) continue
      }
      const value = `c${index}.${op}.${random.u32().toString(36)}`
      const isDelete = context !== '' && random.chance(0.15)
      const write = history.begin(key, isDelete ? undefined : value, context, cluster.sim.nowMs)
      const headers: Record<string, string> = context === '' ? {} : { 'X-Murmur-Context': context }
      const query = `w=${pick(LEVELS_W)}${random.chance(0.2) ? '&pw=1' : ''}`
      const target = running().includes(node) ? node : pick(running())
      const response = await attempt(() =>
        cluster.request(
          target,
          isDelete ? 'DELETE' : 'PUT',
          keyPath(key, query),
          isDelete ? undefined : value,
          headers,
        ),
      )
      history.finish(write, response, cluster.sim.nowMs)
      const handed = response?.status === 204 ? response.headers.get('X-Murmur-Context') : null
      if (handed !== null && handed !== undefined) answered.set(key, handed)
      else answered.delete(key)
    }
  }

  async function attempt<T>(request: () => Promise<T>): Promise<T | undefined> {
    try {
      return await request()
    } catch {
      return undefined
    }
  }

  async function chaos(): Promise<void> {
    const impaired = new Set<string>()
    for (let round = 0; round < 50 && cluster.sim.nowMs < state.stopAtMs; round++) {
      await pause(cluster, 200 + random.int(500))
      state.hintsPeak = Math.max(state.hintsPeak, hintsHeld(cluster))
      const node = pick(cluster.nodeIds)
      const event = random.int(4)
      if (impaired.has(node) || impaired.size >= (options.impairedMax ?? 2)) continue
      if (event === 0) {
        impaired.add(node)
        state.crashes++
        await cluster.crash(node)
        void pause(cluster, 500 + random.int(2000)).then(async () => {
          if (state.healing || cluster.isRunning(node)) return
          await cluster.start(node)
          impaired.delete(node)
        })
      } else if (event === 1) {
        impaired.add(node)
        cluster.pause(node)
        void pause(cluster, 500 + random.int(3000)).then(() => {
          if (state.healing) return
          cluster.resume(node)
          impaired.delete(node)
        })
      } else if (event === 2) {
        const others = cluster.nodeIds.filter((id) => id !== node)
        cluster.faults.isolate(node, others)
        await pause(cluster, 300 + random.int(1500))
        cluster.faults.heal()
      }
    }
  }

  const work = Promise.all([
    chaos(),
    ...Array.from({ length: options.clients }, (_, i) => client(i)),
  ])
  await settle(cluster, work, options.chaosMs + 20_000)
  state.healing = true
  await heal(cluster)

  const drainStartMs = cluster.sim.nowMs
  const drained = await cluster.sim.runUntil(() => hintsHeld(cluster) === 0, {
    untilMs: cluster.sim.nowMs + DRAIN_LIMIT_MS,
  })
  const violations: string[] = drained ? [] : [`hints did not drain within ${DRAIN_LIMIT_MS} ms`]
  const drainMs = cluster.sim.nowMs - drainStartMs
  for (const key of keys) violations.push(...(await finalCheck(cluster, history, key)))
  if (options.checkReads === true) {
    for (const key of keys) violations.push(...history.checkReads(key))
  }
  if (options.afterDrain !== undefined)
    violations.push(...(await options.afterDrain(cluster, keys)))
  const reaped = await checkReaping(cluster, keys, violations)
  return {
    violations,
    writes: history.writes,
    acknowledged: history.acknowledged(),
    hintsPeak: state.hintsPeak,
    drainMs,
    crashes: state.crashes,
    reaped,
    siblingsSeen: state.siblingsSeen,
  }
}

/** Ends every fault: network healed and lossless, every node running and seen alive. */
async function heal(cluster: SimCluster): Promise<void> {
  cluster.faults.heal()
  cluster.faults.setRates(NO_FAULTS)
  for (const id of cluster.nodeIds) {
    if (!cluster.isRunning(id)) await cluster.start(id)
    else cluster.resume(id)
  }
  if (!(await cluster.converge(HEAL_LIMIT_MS))) throw new Error('membership did not converge')
}

/** Reads a key with r=all and blocking repair, and checks the rule on what it returns. */
async function finalCheck(cluster: SimCluster, history: History, key: string): Promise<string[]> {
  const node = cluster.nodeIds[0] as string
  const response = await settle(
    cluster,
    cluster.request(node, 'GET', keyPath(key, 'r=all&repair=blocking&timeout=5000')),
    10_000,
  )
  if (![200, 300, 404].includes(response.status)) {
    return [`${key}: final read answered ${response.status} ${response.body}`]
  }
  const observed = observe(response)
  return history.check(key, new Set(observed.values))
}

/**
 * Deletes one live key with its context, waits until no node holds a record of any fully
 * deleted key (the reaper removed the tombstones), and checks that reads still find nothing.
 */
async function checkReaping(
  cluster: SimCluster,
  keys: readonly string[],
  violations: string[],
): Promise<number> {
  const node = cluster.nodeIds[0] as string
  const get = (key: string, query: string) =>
    settle(cluster, cluster.request(node, 'GET', keyPath(key, query)), 10_000)
  for (const key of keys) {
    const read = observe(await get(key, 'r=all'))
    if (read.values.length === 0) continue
    const headers = { 'X-Murmur-Context': read.context }
    const request = cluster.request(node, 'DELETE', keyPath(key, 'w=all'), undefined, headers)
    const deleted = await settle(cluster, request, 10_000)
    if (deleted.status !== 204) violations.push(`${key}: final delete answered ${deleted.status}`)
    break
  }
  const deletedKeys: string[] = []
  for (const key of keys) {
    if ((await get(key, 'r=all&repair=blocking')).status === 404) deletedKeys.push(key)
  }
  let left = await recordsLeft(cluster, deletedKeys)
  for (let step = 0; step < REAP_LIMIT_MS / 500 && left > 0; step++) {
    await cluster.sim.runFor(500)
    left = await recordsLeft(cluster, deletedKeys)
  }
  if (left > 0) violations.push(`${left} tombstone records not reaped within ${REAP_LIMIT_MS} ms`)
  await cluster.sim.runFor(1000)
  for (const key of deletedKeys) {
    const read = await get(key, 'r=all&repair=blocking')
    if (read.status !== 404)
      violations.push(`${key}: deleted key answered ${read.status} after reaping`)
  }
  return deletedKeys.length
}

/** Records of `keys` still stored on any node. */
async function recordsLeft(cluster: SimCluster, keys: readonly string[]): Promise<number> {
  let count = 0
  for (const id of cluster.nodeIds) {
    const node = cluster.node(id)
    for (const key of keys) {
      const partition = partitionForKey(node.ring.partitionCount, 'default', key)
      if ((await node.kv.store.read({ partition, keyspace: 'default', key })) !== undefined) count++
    }
  }
  return count
}
