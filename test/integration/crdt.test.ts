/**
 * Goal: replicated counters between real processes count every acknowledged increment exactly
 * once through kill -9 and restart of a node while increments are in flight: increments whose
 * outcome is unknown (a killed coordinator, a timeout) are retried with the same
 * Idempotency-Key through another node until they succeed, and the final value equals the sum
 * of the increments, on every node. Sets keep what was added through the same faults.
 * Method: three `murmur start` processes on 127.0.0.1 (RocksDB, sync durability), keyspace
 * `default` with N=3; two writers increment one counter with unique keys through random nodes
 * while n2 is killed with SIGKILL and restarted; then every node reads with r=all. Every loop
 * and wait is bounded in count and time.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, sleep, TestCluster } from '../support/cluster.js'

let cluster: TestCluster
const NODES = ['n1', 'n2', 'n3']
const ATTEMPTS_MAX = 60

beforeAll(async () => {
  cluster = await TestCluster.create({
    nodes: 3,
    file: {
      gossip: { preset: 'local' },
      keyspaces: { default: { replicas: 3 } },
      requests: { timeoutMs: 2000, peerTimeoutMs: 800 },
      replication: { hintReplayIntervalMs: 500 },
    },
  })
  await cluster.startAll()
  for (const id of NODES) await cluster.waitFor(id, '/ready', 15_000)
}, 60_000)

afterAll(async () => {
  await cluster.destroy()
}, 30_000)

async function post(node: string, path: string, body: unknown, key?: string): Promise<number> {
  try {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' }
    if (key !== undefined) headers['Idempotency-Key'] = key
    const response = await cluster.request(node, path, {
      method: 'POST',
      body: JSON.stringify(body),
      headers,
    })
    await response.arrayBuffer()
    return response.status
  } catch {
    return -1
  }
}

/** Sends a keyed update until some node acknowledges it; each retry goes to another node. */
async function untilAcknowledged(path: string, body: unknown, key: string, first: number) {
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    const candidates = NODES.filter((id) => cluster.isRunning(id))
    const node = candidates[(first + attempt) % candidates.length] as string
    if ((await post(node, path, body, key)) === 200) return attempt
    await sleep(100)
  }
  throw new Error(`update ${key} was not acknowledged in ${ATTEMPTS_MAX} attempts`)
}

describe('replicated counters across real processes', () => {
  it('count every increment once through kill -9 and restart', async () => {
    let sum = 0
    let retried = 0
    const path = '/v1/counters/default/visits?w=quorum'
    const writer = async (name: string) => {
      for (let op = 0; op < 60; op++) {
        const amount = 1 + (op % 5)
        retried += await untilAcknowledged(path, { increment: amount }, `${name}-${op}`, op)
        sum += amount
        await untilAcknowledged(
          '/v1/sets/default/seen?w=quorum',
          { add: [`${name}-${op}`] },
          `set-${name}-${op}`,
          op + 1,
        )
      }
    }
    const faults = async () => {
      await sleep(300)
      await cluster.kill('n2')
      await sleep(1500)
      await cluster.restart('n2')
    }
    await Promise.all([writer('a'), writer('b'), faults()])
    console.log(`[crdt integration] sum=${sum} retried=${retried}`)
    for (const node of NODES) {
      await eventually(
        async () => {
          const read = await cluster.json(node, '/v1/counters/default/visits?r=all')
          return read.status === 200 && (read.body as { value: number }).value === sum
        },
        15_000,
        `${node} reads the acknowledged sum ${sum}`,
      )
    }
    const set = await cluster.json('n3', '/v1/sets/default/seen?r=all')
    expect((set.body as { size: number }).size).toBe(120)
  }, 120_000)
})
