/**
 * Goal: strong keyspaces stay linearizable and lose no acknowledged write under partitions of
 * the leader or a minority, pauses longer than the election timeout, power loss of single nodes
 * and of every node at once, and lossy, reordering networks. Method: many seeded runs of the
 * strong workload (scenario.ts) on 3-node clusters; every run's whole history (including a final
 * read of each key after recovery) must pass the linearizability checker. Totals across seeds
 * must show that the faults and the interesting paths (elections, snapshots sent to laggards,
 * indefinite outcomes) really happened.
 */

import { expect, it } from 'vitest'
import { failureWithSeed, pickSeeds } from '../seed.js'
import { DEFAULT_STRONG_SCENARIO, runStrongScenario } from './scenario.js'

it('keeps every history linearizable across seeded fault schedules', async () => {
  const totals = {
    seeds: 0,
    operations: 0,
    acknowledged: 0,
    indefinite: 0,
    faults: 0,
    elections: 0,
    snapshotsSent: 0,
  }
  const startedMs = performance.now()
  for (const seed of pickSeeds('strong linearizable', 16)) {
    let result: Awaited<ReturnType<typeof runStrongScenario>>
    try {
      result = await runStrongScenario(seed, DEFAULT_STRONG_SCENARIO)
    } catch (error) {
      throw failureWithSeed(seed, error)
    }
    if (result.violations.length > 0)
      throw failureWithSeed(seed, new Error(result.violations.join('; ')))
    totals.seeds++
    totals.operations += result.operations
    totals.acknowledged += result.acknowledgedWrites
    totals.indefinite += result.indefinite
    totals.faults += result.faults
    totals.elections += result.termMax
    totals.snapshotsSent += result.snapshotsSent
  }
  console.log(
    `[sim] strong linearizable: ${JSON.stringify(totals)} in ${((performance.now() - startedMs) / 1000).toFixed(1)} s wall`,
  )
  expect(totals.acknowledged).toBeGreaterThan(totals.seeds * 20)
  expect(totals.faults).toBeGreaterThan(totals.seeds * 3)
  expect(totals.elections).toBeGreaterThan(totals.seeds * 3)
}, 120_000)
