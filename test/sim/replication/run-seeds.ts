/**
 * Runs the replication workload over many seeds, failing with the seed that broke the rule
 * (replay it with MURMUR_SEED=<seed> MURMUR_SEED_COUNT=1) and summing what the runs did, so a
 * test can demand that the faults it meant to exercise really happened.
 */

import { failureWithSeed, pickSeeds } from '../seed.js'
import { runScenario, type ScenarioOptions } from './scenario.js'

export interface SeedTotals {
  seeds: number
  writes: number
  acknowledged: number
  crashes: number
  hintsPeak: number
  siblingsSeen: number
  reaped: number
  drainMsMax: number
}

export async function runSeeds(
  label: string,
  count: number,
  options: ScenarioOptions,
): Promise<SeedTotals> {
  const totals: SeedTotals = {
    seeds: 0,
    writes: 0,
    acknowledged: 0,
    crashes: 0,
    hintsPeak: 0,
    siblingsSeen: 0,
    reaped: 0,
    drainMsMax: 0,
  }
  const startedMs = performance.now()
  for (const seed of pickSeeds(label, count)) {
    let result: Awaited<ReturnType<typeof runScenario>>
    try {
      result = await runScenario(seed, options)
    } catch (error) {
      throw failureWithSeed(seed, error)
    }
    if (result.violations.length > 0) {
      throw failureWithSeed(seed, new Error(result.violations.slice(0, 10).join('; ')))
    }
    totals.seeds++
    totals.writes += result.writes
    totals.acknowledged += result.acknowledged
    totals.crashes += result.crashes
    totals.hintsPeak = Math.max(totals.hintsPeak, result.hintsPeak)
    totals.siblingsSeen += result.siblingsSeen
    totals.reaped += result.reaped
    totals.drainMsMax = Math.max(totals.drainMsMax, result.drainMs)
  }
  const wallS = ((performance.now() - startedMs) / 1000).toFixed(1)
  console.log(`[sim] ${label}: ${JSON.stringify(totals)} in ${wallS} s wall`)
  return totals
}
