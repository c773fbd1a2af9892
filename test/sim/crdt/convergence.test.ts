/**
 * Goal: under message loss, duplication and reordering, partitions, power loss and pauses,
 * with clients retrying keyed updates through random coordinators, CRDT keys converge on every
 * replica, counters count every acknowledged update exactly once, sets keep add-wins and
 * observed-remove semantics and a churned set's metadata stays bounded; and a negative control
 * shows that a retry without an Idempotency-Key can count twice where a keyed one does not.
 * Method: scenario.ts over many seeds (MURMUR_SEED / MURMUR_SEED_COUNT replay one), plus one
 * targeted run of an update whose outcome is unknown, retried elsewhere with and without a key.
 */

import { describe, expect, it } from 'vitest'
import { SimCluster } from '../cluster.js'
import { replicationConfig, settle } from '../replication/harness.js'
import { failureWithSeed, pickSeed, pickSeeds } from '../seed.js'
import { runCrdtScenario } from './scenario.js'

describe('CRDT replication under faults', () => {
  it('converges and counts every update once across many seeds', async () => {
    const totals = { seeds: 0, updates: 0, retries: 0, crashes: 0, churnBytesMax: 0 }
    const startedMs = performance.now()
    for (const seed of pickSeeds('crdt convergence', 64)) {
      let result: Awaited<ReturnType<typeof runCrdtScenario>>
      try {
        result = await runCrdtScenario(seed)
      } catch (error) {
        throw failureWithSeed(seed, error)
      }
      if (result.violations.length > 0) {
        throw failureWithSeed(seed, new Error(result.violations.slice(0, 10).join('; ')))
      }
      totals.seeds++
      totals.updates += result.updates
      totals.retries += result.retries
      totals.crashes += result.crashes
      totals.churnBytesMax = Math.max(totals.churnBytesMax, result.churnBytes)
    }
    const wallS = ((performance.now() - startedMs) / 1000).toFixed(1)
    console.log(`[sim] crdt convergence: ${JSON.stringify(totals)} in ${wallS} s wall`)
    // The faults the test means to exercise really happened.
    expect(totals.retries).toBeGreaterThan(0)
    expect(totals.crashes).toBeGreaterThan(0)
  }, 120_000)

  it('negative control: a retry without a key counts twice, with a key once', async () => {
    const cluster = await SimCluster.create({
      seed: pickSeed('crdt retry control'),
      configText: replicationConfig(3),
    })
    expect(await cluster.converge(10_000)).toBe(true)
    const call = (node: string, path: string, body: unknown, headers = {}) =>
      settle(cluster, cluster.request(node, 'POST', path, JSON.stringify(body), headers), 10_000)
    for (const [key, headers] of [
      ['bare', {}],
      ['keyed', { 'Idempotency-Key': 'retry-1' }],
    ] as const) {
      const path = `/v1/counters/default/${key}`
      // n1 is cut off: it applies the update, cannot reach a quorum, and cannot tell whether it
      // counted (503, definite false); the client retries through n2.
      cluster.pause('n1')
      const first = await call('n1', `${path}?w=quorum&timeout=300`, { increment: 1 }, headers)
      expect(first.status).toBe(503)
      expect(JSON.parse(first.body).error.definite).toBe(false)
      const retry = await call('n2', path, { increment: 1 }, headers)
      expect(retry.status).toBe(200)
      cluster.resume('n1')
      const read = await settle(
        cluster,
        cluster.request('n3', 'GET', `${path}?r=all&repair=blocking`),
        10_000,
      )
      expect(JSON.parse(read.body).value).toBe(key === 'bare' ? 2 : 1)
    }
  })
})
