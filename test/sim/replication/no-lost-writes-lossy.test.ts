/**
 * Goal: the no-lost-write rule of no-lost-writes.test.ts also holds on a smaller cluster with
 * a much worse network: four nodes (a single fallback per partition), one message in ten lost,
 * one in ten duplicated, and delays long enough to reorder requests and their repairs.
 * Method: 100 seeds of the same workload and checker with these fault rates; every run prints
 * its seed and a failure names the seed that replays it.
 */

import { describe, expect, it } from 'vitest'
import { runSeeds } from './run-seeds.js'
import { DEFAULT_SCENARIO } from './scenario.js'

describe('quorum replication on a lossy network', () => {
  it('loses no acknowledged write across 100 seeds of heavy loss, duplication and delay', async () => {
    const totals = await runSeeds('replication, four nodes, lossy', 100, {
      ...DEFAULT_SCENARIO,
      nodes: 4,
      rates: { lossProbability: 0.1, duplicateProbability: 0.1, delayMsMin: 1, delayMsMax: 60 },
    })
    expect(totals.acknowledged).toBeGreaterThan(totals.seeds * 5)
    expect(totals.writes).toBeGreaterThan(totals.acknowledged)
    expect(totals.hintsPeak).toBeGreaterThan(0)
  }, 300_000)
})
