/**
 * Runs a batch of seeded Raft schedules and sums what they exercised. Each schedule's options
 * derive from its seed alone (even seeds run 3 voters, odd seeds 5; every fourth seed turns on
 * lease reads), so a failing seed replays by itself with MURMUR_SEED=<seed>
 * MURMUR_SEED_COUNT=1; MURMUR_SEED_COUNT=<n> runs more schedules than the default.
 */

import { failureWithSeed, pickSeeds } from '../seed.js'
import { DEFAULT_SIM_OPTIONS, type RaftSimResult, runRaftSimulation } from './cluster.js'

export interface ScheduleSummary {
  readonly runs: number
  readonly wallMs: number
  readonly events: number
  readonly leaders: number
  readonly acknowledged: number
  readonly readsServed: number
  readonly crashes: number
  readonly snapshotsInstalled: number
  readonly messagesSent: number
  readonly messagesDropped: number
  readonly healedAfterMsMax: number
}

/** The cluster size a seed runs: both sizes appear in every batch, alternating. */
export function votersCountOf(seed: number): number {
  return seed % 2 === 0 ? 3 : 5
}

export function runSchedules(label: string, count: number): ScheduleSummary {
  const seeds = pickSeeds(label, count)
  const startMs = performance.now()
  const totals = {
    events: 0,
    leaders: 0,
    acknowledged: 0,
    readsServed: 0,
    crashes: 0,
    snapshotsInstalled: 0,
    messagesSent: 0,
    messagesDropped: 0,
    healedAfterMsMax: 0,
  }
  for (const seed of seeds) {
    let result: RaftSimResult
    try {
      result = runRaftSimulation({
        ...DEFAULT_SIM_OPTIONS,
        seed,
        votersCount: votersCountOf(seed),
        leaseReads: seed % 4 === 0,
      })
    } catch (error) {
      throw failureWithSeed(seed, error)
    }
    totals.events += result.events
    totals.leaders += result.leaders
    totals.acknowledged += result.acknowledged
    totals.readsServed += result.readsServed
    totals.crashes += result.crashes
    totals.snapshotsInstalled += result.snapshotsInstalled
    totals.messagesSent += result.messagesSent
    totals.messagesDropped += result.messagesDropped
    totals.healedAfterMsMax = Math.max(totals.healedAfterMsMax, result.healedAfterMs)
  }
  const wallMs = performance.now() - startMs
  const summary = { runs: seeds.length, wallMs, ...totals }
  console.log(
    `[sim] ${label}: ${seeds.length} schedules in ${(wallMs / 1000).toFixed(1)} s ` +
      `(${(wallMs / seeds.length).toFixed(1)} ms each); ${totals.events} events, ` +
      `${totals.leaders} leaders elected, ${totals.acknowledged} commands acknowledged, ` +
      `${totals.readsServed} reads, ${totals.crashes} crashes, ` +
      `${totals.snapshotsInstalled} snapshots installed, ${totals.messagesSent} messages ` +
      `(${totals.messagesDropped} dropped); slowest recovery ` +
      `${totals.healedAfterMsMax.toFixed(0)} ms of virtual time after healing`,
  )
  return summary
}
