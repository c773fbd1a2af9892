/**
 * Goal: a keyspace of three replicas, one of them a witness, keeps the replication promises
 * under faults: no acknowledged write is lost, nothing superseded comes back, no read returns
 * a value older than an acknowledged write it must see (a replica it asked acknowledged that
 * write), hints drain, tombstones are reaped, and after healing no witness holds a value.
 * Method: 100 seeds of the replication workload (test/sim/replication/scenario.ts) with
 * `witnesses: 1` on three nodes, reads at r=quorum/one/all and writes at w=quorum/one/two/all,
 * one node at a time crashing, pausing or cut off, under message loss, duplication and delay.
 * Three nodes have no fallbacks, so a down full replica's writes go to the promoted witness;
 * no-lost-writes-fallbacks.test.ts runs five nodes. Every run prints its seed, and a failure
 * names the seed that replays it.
 */

import { describe, expect, it } from 'vitest'
import { runSeeds } from '../replication/run-seeds.js'
import { witnessScenario } from './witness-state.js'

describe('witness replicas under faults', () => {
  it('loses no acknowledged write and serves no stale read on three nodes, 100 seeds', async () => {
    const { options, activity } = witnessScenario()
    const totals = await runSeeds('witness, three nodes', 100, {
      ...options,
      nodes: 3,
      impairedMax: 1,
      // Faster failure detection, so that crashes outlast suspicion and witnesses get promoted.
      gossip: '{ preset: local, gossipIntervalMs: 200, probeIntervalMs: 400 }',
    })
    expect(totals.acknowledged).toBeGreaterThan(totals.seeds * 10)
    expect(totals.crashes).toBeGreaterThan(0)
    // Three nodes have no fallbacks: every hint is a promoted witness's temporary value.
    expect(totals.hintsPeak).toBeGreaterThan(0)
    expect(totals.reaped).toBeGreaterThan(0)
    // Witnesses coordinated writes of their own keys, keeping and releasing the values.
    console.log(`[sim] witness activity: ${JSON.stringify(activity)}`)
    expect(activity.writesWitnessCoordinated).toBeGreaterThan(totals.seeds)
    expect(activity.custodyReleased).toBeGreaterThan(0)
  }, 300_000)
})
