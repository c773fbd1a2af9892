/**
 * Goal: Merkle-tree anti-entropy heals a replica between real processes, with nothing else to
 * heal it: writes at w=1 and deletes at w=2 go on while one node is down (three nodes, three
 * replicas, so there is no fallback to hold a hint), and once it is back, reads at r=1 from
 * that node alone (answered from its own record, so read repair cannot help) return every
 * written value and no deleted one. /v1/cluster and /metrics report the repairs.
 * Method: three `murmur start` processes on 127.0.0.1 (RocksDB) with anti-entropy every
 * second over 256-segment trees and hint replay pushed out of the way; the node is stopped
 * with SIGKILL and restarted on its data directory. Every wait is bounded.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, TestCluster } from '../support/cluster.js'

const BEFORE = Array.from({ length: 20 }, (_, index) => `old-${index}`)
const DELETED = BEFORE.slice(0, 8)
const WRITTEN = Array.from({ length: 60 }, (_, index) => `new-${index}`)
const VICTIM = 'n3'

let cluster: TestCluster

beforeAll(async () => {
  cluster = await TestCluster.create({
    nodes: 3,
    file: {
      gossip: { preset: 'local' },
      ring: { partitions: 16 },
      requests: { timeoutMs: 3000, peerTimeoutMs: 1000 },
      replication: {
        hintReplayIntervalMs: 3_600_000,
        antiEntropy: { exchangeIntervalMs: 1000, segments: 256 },
      },
    },
  })
  await cluster.startAll()
  for (const id of ['n1', 'n2', 'n3']) await cluster.waitFor(id, '/ready', 15_000)
}, 60_000)

afterAll(async () => {
  await cluster.destroy()
}, 30_000)

async function put(node: string, key: string, value: string, w: string): Promise<void> {
  const response = await cluster.request(node, `/v1/kv/default/${key}?w=${w}`, {
    method: 'PUT',
    body: value,
  })
  await response.arrayBuffer()
  expect(response.status, `PUT ${key}`).toBeLessThan(300)
}

async function remove(node: string, key: string): Promise<void> {
  const read = await cluster.request(node, `/v1/kv/default/${key}?r=2`)
  await read.arrayBuffer()
  const context = read.headers.get('X-Murmur-Context') ?? ''
  const response = await cluster.request(node, `/v1/kv/default/${key}?w=2`, {
    method: 'DELETE',
    headers: { 'X-Murmur-Context': context },
  })
  await response.arrayBuffer()
  expect(response.status, `DELETE ${key}`).toBeLessThan(300)
}

/** What `node` alone holds for `key`: its value, or undefined when absent or deleted. */
async function localValue(node: string, key: string): Promise<string | undefined> {
  const response = await cluster.request(node, `/v1/kv/default/${key}?r=1`)
  const text = await response.text()
  if (response.status === 404) return undefined
  expect(response.status, `GET ${key} from ${node}`).toBe(200)
  return text
}

describe('anti-entropy between processes', () => {
  it('a node that missed writes and deletes while down converges without hints or reads', async () => {
    for (const key of BEFORE) await put('n1', key, `v-${key}`, 'all')
    await cluster.kill(VICTIM)
    for (const key of WRITTEN) await put('n1', key, `v-${key}`, '1')
    for (const key of DELETED) await remove('n2', key)
    await cluster.start(VICTIM)
    await cluster.waitFor(VICTIM, '/ready', 15_000)

    const expected = new Map<string, string | undefined>()
    for (const key of [...BEFORE, ...WRITTEN]) expected.set(key, `v-${key}`)
    for (const key of DELETED) expected.set(key, undefined)
    const stale = async () => {
      const wrong: string[] = []
      for (const [key, value] of expected) {
        if ((await localValue(VICTIM, key)) !== value) wrong.push(key)
      }
      return wrong
    }
    await eventually(async () => (await stale()).length === 0, 40_000, 'the node converged', 500)

    let repaired = 0
    let exchanges = 0
    for (const id of ['n1', 'n2', 'n3']) {
      const view = (await cluster.json(id, '/v1/cluster')).body as {
        antiEntropy: { enabled: boolean; exchanges: number; keysRepaired: number; trees: number }
      }
      expect(view.antiEntropy.enabled).toBe(true)
      expect(view.antiEntropy.trees).toBe(16)
      repaired += view.antiEntropy.keysRepaired
      exchanges += view.antiEntropy.exchanges
    }
    expect(exchanges).toBeGreaterThan(0)
    expect(repaired).toBeGreaterThanOrEqual(WRITTEN.length + DELETED.length)
    const metrics = await (await cluster.request('n1', '/metrics')).text()
    expect(metrics).toMatch(/^murmur_aae_keys_repaired_total \d+/m)
  }, 120_000)
})
