/**
 * Goal: strong keyspaces are linearizable between real processes under a nemesis, and lose no
 * acknowledged write: kill -9 of the leader, partitions of the leader and of a minority made
 * "via the transport" (MURMUR_FAULTS=1 and POST /v1/debug/faults), SIGSTOP of the leader for
 * longer than the election timeout, and kill -9 of every node followed by a restart of all.
 * Healing a partitioned follower must not change the leader or the term (pre-vote and
 * check-quorum). Method: `murmur start` processes on 127.0.0.1 (RocksDB, fsync), clients doing
 * get / put / compare-and-set against random nodes for the whole run, recorded as a CAS-register
 * history and checked with src/check; one 3-node and one 5-node cluster. Every wait is bounded.
 */

import { afterAll, describe, expect, it } from 'vitest'
import { HistoryRecorder } from '../../src/check/history.js'
import { checkLinearizability } from '../../src/check/linearizability.js'
import {
  casRegisterModel,
  type RegisterInput,
  type RegisterOutput,
} from '../../src/check/models.js'
import { eventually, sleep, TestCluster } from '../support/cluster.js'

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f']
/** Attempts of one write with the same request id before its outcome is left unknown. */
const WRITE_ATTEMPTS_MAX = 10
const REQUEST_TIMEOUT_MS = 2000
const FETCH_LIMIT_MS = 4000
const clusters: TestCluster[] = []

afterAll(async () => {
  await Promise.all(clusters.map((cluster) => cluster.destroy()))
}, 60_000)

async function startCluster(nodes: number): Promise<TestCluster> {
  const cluster = await TestCluster.create({
    nodes,
    env: { MURMUR_FAULTS: '1' },
    file: {
      keyspaces: { reg: { mode: 'strong', replicas: nodes } },
      raft: { tickMs: 100, electionTicks: 10 },
      requests: { timeoutMs: REQUEST_TIMEOUT_MS },
    },
  })
  clusters.push(cluster)
  await cluster.startAll()
  await leader(cluster)
  return cluster
}

interface RaftView {
  readonly role?: string
  readonly term?: number
  readonly leader?: string | null
}

async function raftView(cluster: TestCluster, id: string): Promise<RaftView | undefined> {
  if (!cluster.isRunning(id)) return undefined
  try {
    const response = await cluster.request(id, '/v1/raft', { signal: AbortSignal.timeout(1000) })
    return (await response.json()) as RaftView
  } catch {
    return undefined
  }
}

/** The node every running member agrees leads, within 15 s. */
async function leader(
  cluster: TestCluster,
  among = cluster.nodes.map((node) => node.id),
): Promise<string> {
  let found = ''
  await eventually(
    async () => {
      for (const id of among) {
        const view = await raftView(cluster, id)
        if (view?.role === 'leader') {
          found = id
          return true
        }
      }
      return false
    },
    15_000,
    'no leader elected',
  )
  return found
}

async function block(cluster: TestCluster, id: string, peers: readonly string[]): Promise<void> {
  const response = await cluster.request(id, '/v1/debug/faults', {
    method: 'POST',
    body: JSON.stringify({ blockPeers: peers }),
  })
  expect(response.status).toBe(200)
}

/** Cuts `group` off from the rest in both directions; `heal` undoes every cut. */
async function partition(cluster: TestCluster, group: readonly string[]): Promise<void> {
  const others = cluster.nodes.map((node) => node.id).filter((id) => !group.includes(id))
  for (const id of group) await block(cluster, id, others)
  for (const id of others) await block(cluster, id, group)
}

async function heal(cluster: TestCluster): Promise<void> {
  for (const node of cluster.nodes)
    if (cluster.isRunning(node.id)) await block(cluster, node.id, [])
}

/** Clients recording a CAS-register history until `stop()`. */
class Workload {
  readonly history = new HistoryRecorder<RegisterInput, RegisterOutput>()
  acknowledged = 0
  private running = true
  private readonly loops: Promise<void>[]
  private sequence = 0

  constructor(
    private readonly cluster: TestCluster,
    clients: number,
  ) {
    this.loops = Array.from({ length: clients }, (_, client) => this.loop(client))
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.loops)
  }

  private async loop(client: number): Promise<void> {
    const seen = new Map<string, { value: string; etag: string }>()
    for (let op = 0; op < 100_000 && this.running; op++) {
      const nodes = this.cluster.nodes.filter((node) => this.cluster.isRunning(node.id))
      const node = nodes[(client + op) % Math.max(1, nodes.length)]
      const key = KEYS[(op * 7 + client) % KEYS.length] as string
      if (node === undefined) {
        await sleep(50)
        continue
      }
      const choice = (op * 13 + client * 5) % 10
      if (choice < 4) {
        const observed = await this.read(client, node.id, key)
        if (observed === null) seen.delete(key)
        else if (observed !== undefined) seen.set(key, observed)
      } else {
        const expected = choice >= 7 ? seen.get(key) : undefined
        await this.write(client, node.id, key, `c${client}-${++this.sequence}`, expected)
      }
      await sleep(5)
    }
  }

  private anyRunningNode(salt: number): string {
    const nodes = this.cluster.nodes.filter((node) => this.cluster.isRunning(node.id))
    return nodes[salt % Math.max(1, nodes.length)]?.id ?? 'n1'
  }

  private async call(node: string, key: string, init: RequestInit): Promise<Response | undefined> {
    try {
      return await this.cluster.request(node, `/v1/kv/reg/${key}?timeout=${REQUEST_TIMEOUT_MS}`, {
        ...init,
        signal: AbortSignal.timeout(FETCH_LIMIT_MS),
      })
    } catch {
      return undefined
    }
  }

  private async read(client: number, node: string, key: string) {
    this.history.invoke(client, { kind: 'read', key }, performance.now())
    const response = await this.call(node, key, {})
    const text = response === undefined ? '' : await response.text().catch(() => '')
    if (response?.status === 200 || response?.status === 404) {
      const value = response.status === 200 ? text : null
      this.history.ok(client, { kind: 'read', value }, performance.now())
      return value === null ? null : { value, etag: response.headers.get('ETag') ?? '' }
    }
    this.history.fail(client, performance.now())
    return undefined
  }

  private async write(
    client: number,
    node: string,
    key: string,
    value: string,
    seen?: { value: string; etag: string },
  ) {
    const input: RegisterInput =
      seen === undefined
        ? { kind: 'write', key, value }
        : { kind: 'cas', key, expected: seen.value, value }
    this.history.invoke(client, input, performance.now())
    // A request id makes the write retry-safe: an attempt whose outcome is unknown (a timeout, a
    // lost connection, a 503 that is not definite) is sent again, through another node, until
    // one answer is definite. The state machine applies the id at most once and answers a
    // retry with the first result, so the operation still takes effect once, inside its
    // interval; only writes still unknown after every attempt stay pending in the history.
    const headers: Record<string, string> = {
      'X-Murmur-Request-Id': `w-${client}-${value}`,
      ...(seen === undefined ? {} : { 'If-Match': seen.etag }),
    }
    let response: Response | undefined
    let text = ''
    for (let attempt = 0; attempt < WRITE_ATTEMPTS_MAX; attempt++) {
      const target = attempt === 0 ? node : this.anyRunningNode(attempt + client)
      response = await this.call(target, key, { method: 'PUT', body: value, headers })
      text = response === undefined ? '' : await response.text().catch(() => '')
      const unknown =
        response === undefined || (response.status >= 500 && !text.includes('"definite":true'))
      if (!unknown || !this.running) break
      await sleep(100)
    }
    const now = performance.now()
    if (response?.status === 204) {
      this.acknowledged++
      this.history.ok(
        client,
        seen === undefined ? { kind: 'write' } : { kind: 'cas', swapped: true },
        now,
      )
    } else if (response?.status === 412 && seen !== undefined) {
      this.history.ok(client, { kind: 'cas', swapped: false }, now)
    } else if (response !== undefined && text.includes('"definite":true')) {
      this.history.fail(client, now)
    } else {
      this.history.info(client, now)
    }
  }

  /** Reads every key once more after recovery; each must succeed and is checked with the rest. */
  async finalReads(client: number): Promise<void> {
    for (const key of KEYS) {
      let done = false
      for (let attempt = 0; attempt < 40 && !done; attempt++) {
        const node = this.cluster.nodes[attempt % this.cluster.nodes.length]?.id ?? 'n1'
        done = (await this.read(client, node, key)) !== undefined
        if (!done) await sleep(250)
      }
      expect(done, `final read of ${key}`).toBe(true)
    }
  }
}

function checkHistory(workload: Workload): void {
  const { operations } = workload.history.finish()
  const pending = operations.filter((operation) => operation.status === 'pending').length
  console.log(`[strong] history: ${operations.length} operations, ${pending} pending`)
  const result = checkLinearizability(casRegisterModel, operations, { stepsMax: 20_000_000 })
  expect(result.violation?.description ?? '').toBe('')
  expect(result.verdict).toBe('linearizable')
  expect(workload.acknowledged).toBeGreaterThan(50)
}

describe('strong mode under a nemesis', () => {
  it('stays linearizable on 3 nodes through kill -9, partitions, SIGSTOP and a full restart', async () => {
    const cluster = await startCluster(3)
    const ids = cluster.nodes.map((node) => node.id)
    const workload = new Workload(cluster, 4)
    await sleep(1500)

    // kill -9 of the leader, restart after a new leader took over.
    const first = await leader(cluster)
    await cluster.kill(first)
    await leader(
      cluster,
      ids.filter((id) => id !== first),
    )
    await sleep(1000)
    await cluster.start(first)

    // The leader is partitioned away; the majority elects another and the old one rejoins.
    const second = await leader(cluster)
    await partition(cluster, [second])
    await leader(
      cluster,
      ids.filter((id) => id !== second),
    )
    await sleep(2000)
    await heal(cluster)

    // A follower is partitioned well past the election timeout; healing it changes nothing.
    const third = await leader(cluster)
    const term = (await raftView(cluster, third))?.term
    const follower = ids.find((id) => id !== third) as string
    await partition(cluster, [follower])
    await sleep(3500)
    await heal(cluster)
    await sleep(2000)
    for (const id of ids) {
      const view = await raftView(cluster, id)
      expect(view?.term, `term on ${id} after healing ${follower}`).toBe(term)
      expect(view?.leader).toBe(third)
    }

    // SIGSTOP of the leader for longer than the election timeout (1 to 2 s).
    await cluster.signal(third, 'SIGSTOP')
    await leader(
      cluster,
      ids.filter((id) => id !== third),
    )
    await sleep(1000)
    await cluster.signal(third, 'SIGCONT')
    await sleep(1500)

    // Every node is killed at once and restarted: nothing acknowledged may be lost.
    await Promise.all(ids.map((id) => cluster.kill(id)))
    await Promise.all(ids.map((id) => cluster.start(id)))
    await leader(cluster)
    await sleep(1500)
    await workload.stop()
    await workload.finalReads(100)
    checkHistory(workload)
  }, 150_000)

  it('stays linearizable on 5 nodes through a minority partition and leader failures', async () => {
    const cluster = await startCluster(5)
    const ids = cluster.nodes.map((node) => node.id)
    const workload = new Workload(cluster, 4)
    await sleep(1000)
    const first = await leader(cluster)
    const minority = ids.filter((id) => id !== first).slice(0, 2)
    await partition(cluster, minority)
    await sleep(2500)
    await heal(cluster)
    await cluster.kill(first)
    await leader(
      cluster,
      ids.filter((id) => id !== first),
    )
    await sleep(1000)
    await cluster.start(first)
    const second = await leader(cluster)
    await cluster.signal(second, 'SIGSTOP')
    await leader(
      cluster,
      ids.filter((id) => id !== second),
    )
    await sleep(1000)
    await cluster.signal(second, 'SIGCONT')
    await sleep(1500)
    await workload.stop()
    await workload.finalReads(100)
    checkHistory(workload)
  }, 120_000)
})
