/**
 * Goal: the promises of no-lost-writes.test.ts also hold where fallbacks exist: no
 * acknowledged write is lost, nothing superseded comes back, no read misses a write it must
 * see, hints drain, tombstones are reaped, and after healing no witness holds a value.
 * Method: 40 seeds of the replication workload with `witnesses: 1` on five nodes, where
 * fallbacks stand in for down replicas (a fallback for a witness keeps metadata only) and two
 * nodes may be impaired at once. Every run prints its seed; a failure names the seed.
 */

import { describe, expect, it } from 'vitest'
import { runSeeds } from '../replication/run-seeds.js'
import { witnessScenario } from './witness-state.js'

describe('witness replicas with fallbacks under faults', () => {
  it('loses no acknowledged write and serves no stale read on five nodes, 40 seeds', async () => {
    const { options, activity } = witnessScenario()
    const totals = await runSeeds('witness, five nodes', 40, { ...options, nodes: 5 })
    expect(totals.acknowledged).toBeGreaterThan(totals.seeds * 10)
    expect(totals.crashes).toBeGreaterThan(0)
    expect(totals.siblingsSeen).toBeGreaterThan(0)
    // Witnesses coordinated writes of their own keys, keeping and releasing the values.
    console.log(`[sim] witness activity: ${JSON.stringify(activity)}`)
    expect(activity.writesWitnessCoordinated).toBeGreaterThan(totals.seeds)
    expect(activity.custodyReleased).toBeGreaterThan(0)
  }, 300_000)
})
