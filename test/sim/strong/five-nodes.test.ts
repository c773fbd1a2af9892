/**
 * Goal: the strong guarantees hold on a 5-member Raft group too, where a majority survives two
 * impaired nodes and partitions split the group 2|3 or 1|4. Method: seeded runs of the strong
 * workload (scenario.ts) on 5-node clusters; every history must be linearizable.
 */

import { expect, it } from 'vitest'
import { failureWithSeed, pickSeeds } from '../seed.js'
import { DEFAULT_STRONG_SCENARIO, runStrongScenario } from './scenario.js'

it('keeps 5-node histories linearizable across seeded fault schedules', async () => {
  let acknowledged = 0
  for (const seed of pickSeeds('strong five nodes', 4)) {
    let result: Awaited<ReturnType<typeof runStrongScenario>>
    try {
      result = await runStrongScenario(seed, {
        ...DEFAULT_STRONG_SCENARIO,
        nodes: 5,
        chaosMs: 6000,
      })
    } catch (error) {
      throw failureWithSeed(seed, error)
    }
    if (result.violations.length > 0)
      throw failureWithSeed(seed, new Error(result.violations.join('; ')))
    acknowledged += result.acknowledgedWrites
  }
  expect(acknowledged).toBeGreaterThan(100)
}, 120_000)
