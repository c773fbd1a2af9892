/**
 * Goal: membership news (a join, a crash, a graceful leave, a metadata update) reaches every
 * member within a bounded number of gossip rounds at 1 % and 10 % packet loss, with no false
 * deaths, in clusters of 100 and 1000 members; and the product target: one update reaches all
 * of 1000 members within 10 gossip rounds at 1 % loss in at least 99 % of seeds.
 *
 * Method: pure cores on the simulator's virtual clock (runPure), LAN preset, seeded loss and
 * 1-5 ms delays; each run prints its seed and the observed rounds. Rounds are counted from the
 * first member holding the news (for a crash: the first death declaration; for a leave: the
 * leave call) to the last one.
 * CI runs one fresh seed per cluster size and loss rate, plus recorded seeds that once failed,
 * and 3 seeds of the product target. MURMUR_SEED_COUNT=300 runs 300 seeds of each scenario
 * (about 1 s per seed at n=100; filter with -t) and prints the worst rounds;
 * MURMUR_DISSEMINATION_SEEDS=1000 runs the full product target (about 1.5 s per seed).
 * MURMUR_SEED replays any single run.
 */

import { describe, expect, it } from 'vitest'
import { MEMBERSHIP_PRESETS } from '../../../src/membership/config.js'
import { failureWithSeed, pickSeeds } from '../seed.js'
import { MembershipCluster, memberName, summarize } from './cluster.js'
import { disseminationRoundsBound, Spread } from './spread.js'

const config = MEMBERSHIP_PRESETS.lan
const gossipMs = config.gossipIntervalMs

function faultRates(loss: number) {
  return { lossProbability: loss, duplicateProbability: 0, delayMsMin: 1, delayMsMax: 5 }
}

interface ScenarioResult {
  joinRounds: number
  crashDetectionMs: number
  crashRounds: number
  leaveRounds: number
  falseDeaths: number
}

/**
 * One cluster of n members: a newcomer joins; once it knows everyone, a member crashes and
 * another leaves at the same moment (overlapping the two keeps runs short).
 */
function joinCrashLeave(n: number, loss: number, seed: number): ScenarioResult {
  const cluster = new MembershipCluster({ seed, config, rates: faultRates(loss) })
  cluster.bootstrap(n)
  const sim = cluster.sim
  const newcomer = memberName(n)
  const victim = memberName(n - 1)
  const leaver = memberName(1)
  let falseDeaths = 0
  let learnedByNewcomer = 0
  cluster.onEvent((observer, event) => {
    if (event.type === 'dead' && event.member.id !== victim) falseDeaths++
    if (observer === newcomer && event.type === 'joined') learnedByNewcomer++
  })
  sim.runPureFor(500)

  const joined = new Spread(
    cluster,
    (event) => event.type === 'joined' && event.member.id === newcomer,
  )
  cluster.start(newcomer, { seeds: [memberName(0)] })
  sim.runPureUntil(() => joined.count === n && learnedByNewcomer === n, {
    untilMs: sim.nowMs + 40 * gossipMs,
  })
  expect(joined.count, 'members that saw the join').toBe(n)
  expect(learnedByNewcomer, 'members the newcomer learned').toBe(n)

  const dead = new Spread(cluster, (event) => event.type === 'dead' && event.member.id === victim)
  const left = new Spread(cluster, (event) => event.type === 'left' && event.member.id === leaver)
  const crashMs = sim.nowMs
  cluster.crash(victim)
  const leaving = cluster.node(leaver)
  leaving.core.leave(crashMs)
  leaving.flush()
  sim.runPureUntil(
    () => {
      // The runtime stops a leaving member once its announcement has gone out.
      if (!leaving.crashed && leaving.core.isLeaveSettled(sim.nowMs)) cluster.crash(leaver)
      return left.count === n - 1 && dead.count === n - 1
    },
    { untilMs: crashMs + 120_000 },
  )
  expect(left.count, 'members that saw the leave').toBe(n - 1)
  expect(dead.count, 'members that declared the crash').toBe(n - 1)
  return {
    joinRounds: joined.roundsSince(joined.firstMs, gossipMs),
    crashDetectionMs: dead.firstMs - crashMs,
    crashRounds: dead.roundsSince(dead.firstMs, gossipMs),
    leaveRounds: left.roundsSince(crashMs, gossipMs),
    falseDeaths,
  }
}

/**
 * Seeds that once broke a bound, replayed on every run. 3550978203: at n=100 and 10% loss one
 * member received 3 of the ~1180 copies of a leave, all lost, and learned it 65 s later.
 */
const RECORDED_SEEDS = [{ n: 100, loss: 0.1, seed: 3_550_978_203 }]

/** Runs one scenario, prints its rounds, and fails naming the seed when a bound is broken. */
function checkJoinCrashLeave(
  n: number,
  loss: number,
  seed: number,
  quiet: boolean,
): ScenarioResult {
  const startedMs = performance.now()
  const bound = disseminationRoundsBound(n, config.gossipNodes, loss)
  try {
    const result = joinCrashLeave(n, loss, seed)
    if (!quiet) {
      console.log(
        `[sim] n=${n} loss=${loss}: join ${result.joinRounds.toFixed(1)} rounds, crash detected after ${(result.crashDetectionMs / 1000).toFixed(1)} s then ${result.crashRounds.toFixed(1)} rounds, leave ${result.leaveRounds.toFixed(1)} rounds (bound ${bound}); ${((performance.now() - startedMs) / 1000).toFixed(1)} s wall`,
      )
    }
    expect(result.falseDeaths).toBe(0)
    expect(result.joinRounds).toBeLessThanOrEqual(bound)
    expect(result.crashRounds).toBeLessThanOrEqual(bound)
    expect(result.leaveRounds).toBeLessThanOrEqual(bound)
    return result
  } catch (error) {
    throw failureWithSeed(seed, error)
  }
}

/** Seeds for the product target: 3 in CI; MURMUR_DISSEMINATION_SEEDS=1000 for the full run. */
function productTargetSeeds(): number {
  const fromEnv = process.env['MURMUR_DISSEMINATION_SEEDS']
  if (fromEnv === undefined || fromEnv === '') return 3
  const count = Number(fromEnv)
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new Error(`MURMUR_DISSEMINATION_SEEDS must be a positive integer, got ${fromEnv}`)
  }
  return count
}

describe('membership dissemination', () => {
  for (const n of [100, 1000]) {
    for (const loss of [0.01, 0.1]) {
      it(`join, crash and leave reach all ${n} members at ${loss * 100}% loss`, () => {
        const seeds = pickSeeds(`membership join/crash/leave n=${n} loss=${loss}`, 1)
        const startedMs = performance.now()
        const results = seeds.map((seed) => checkJoinCrashLeave(n, loss, seed, seeds.length > 1))
        if (seeds.length > 1) {
          const rounds = (pick: (result: ScenarioResult) => number) => summarize(results.map(pick))
          console.log(
            `[sim] n=${n} loss=${loss}, ${seeds.length} seeds: join rounds ${rounds((result) => result.joinRounds)}; crash rounds ${rounds((result) => result.crashRounds)}; leave rounds ${rounds((result) => result.leaveRounds)}; ${((performance.now() - startedMs) / 1000).toFixed(1)} s wall`,
          )
        }
      }, 3_600_000)
    }
  }

  for (const { n, loss, seed } of RECORDED_SEEDS) {
    it(`recorded seed ${seed}: join, crash and leave reach all ${n} members at ${loss * 100}% loss`, () => {
      checkJoinCrashLeave(n, loss, seed, false)
    }, 120_000)
  }

  it('product target: one update reaches 1000 members within 10 rounds at 1% loss', () => {
    const seeds = pickSeeds('membership dissemination product target', productTargetSeeds())
    const startedMs = performance.now()
    const rounds: number[] = []
    for (const seed of seeds) {
      const cluster = new MembershipCluster({ seed, config, rates: faultRates(0.01) })
      const nodes = cluster.bootstrap(1000)
      cluster.sim.runPureFor(300)
      const source = nodes[cluster.sim.random.int(nodes.length)]!
      const updated = new Spread(
        cluster,
        (event) => event.type === 'updated' && event.member.id === source.id,
      )
      const startMs = cluster.sim.nowMs
      source.core.updateMeta({ version: '2' }, startMs)
      source.flush()
      cluster.sim.runPureUntil(() => updated.count === 999, { untilMs: startMs + 30 * gossipMs })
      rounds.push(updated.count === 999 ? updated.roundsSince(startMs, gossipMs) : Infinity)
    }
    const within = rounds.filter((value) => value <= 10).length / rounds.length
    console.log(
      `[sim] product target: ${(within * 100).toFixed(1)}% of ${seeds.length} seeds within 10 rounds; rounds ${summarize(rounds)}; ${((performance.now() - startedMs) / 1000).toFixed(1)} s wall`,
    )
    expect(within).toBeGreaterThanOrEqual(0.99)
  }, 3_600_000)
})
