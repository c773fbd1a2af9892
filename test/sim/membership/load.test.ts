/**
 * Goal: SWIM's constant per-member load: in a quiet cluster, messages per member per second
 * (datagrams plus push-pull messages) stay flat from 10 to 1000 members.
 *
 * Method: converged clusters of 10, 100 and 1000 members on the virtual clock with no faults;
 * after a warm-up, count every datagram and push-pull message for a measurement window, print
 * the table, and bound the ratio of the largest to the smallest rate.
 */

import { describe, expect, it } from 'vitest'
import { MEMBERSHIP_PRESETS } from '../../../src/membership/config.js'
import { pickSeed } from '../seed.js'
import { MembershipCluster } from './cluster.js'

const WARM_UP_MS = 5_000
const WINDOW_MS = 20_000

function messagesPerMemberPerSecond(n: number, seed: number): number {
  const config = MEMBERSHIP_PRESETS.lan
  const rates = { lossProbability: 0, duplicateProbability: 0, delayMsMin: 1, delayMsMax: 5 }
  const cluster = new MembershipCluster({ seed, config, rates })
  cluster.bootstrap(n)
  cluster.sim.runPureFor(WARM_UP_MS)
  const total = (): number =>
    cluster.network.counters.sent + [...cluster.pushPullsBy.values()].reduce((a, b) => a + b, 0)
  const before = total()
  cluster.sim.runPureFor(WINDOW_MS)
  return (total() - before) / n / (WINDOW_MS / 1000)
}

describe('membership load', () => {
  it('messages per member per second stay flat from 10 to 1000 members', () => {
    const seed = pickSeed('membership load')
    const rows: [number, number, number][] = []
    for (const n of [10, 100, 1000]) {
      const startedMs = performance.now()
      rows.push([n, messagesPerMemberPerSecond(n, seed), performance.now() - startedMs])
    }
    console.log('[sim] members | messages/member/s | wall s')
    for (const [n, rate, wallMs] of rows) {
      console.log(
        `[sim] ${String(n).padStart(7)} | ${rate.toFixed(3).padStart(17)} | ${(wallMs / 1000).toFixed(1)}`,
      )
    }
    const rates = rows.map(([, rate]) => rate)
    const ratio = Math.max(...rates) / Math.min(...rates)
    console.log(`[sim] largest / smallest = ${ratio.toFixed(3)}`)
    expect(Math.min(...rates)).toBeGreaterThan(0)
    expect(ratio).toBeLessThanOrEqual(1.5)
  }, 120_000)
})
