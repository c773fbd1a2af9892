/**
 * Goal: a strong-mode simulation replays exactly from its seed, so every failure the suite
 * reports can be reproduced. Method: run one seed of the strong workload twice and compare the
 * complete event logs (network deliveries and drops, node log lines, HTTP requests).
 */

import { expect, it } from 'vitest'
import { pickSeed } from '../seed.js'
import { DEFAULT_STRONG_SCENARIO, runStrongScenario } from './scenario.js'

it('replays the same run from the same seed', async () => {
  const seed = pickSeed('strong determinism')
  const options = { ...DEFAULT_STRONG_SCENARIO, chaosMs: 3000, clients: 3 }
  const first = await runStrongScenario(seed, options)
  const second = await runStrongScenario(seed, options)
  expect(first.eventLog.length).toBeGreaterThan(100)
  expect(second.eventLog).toEqual(first.eventLog)
  expect(second.operations).toBe(first.operations)
}, 60_000)
