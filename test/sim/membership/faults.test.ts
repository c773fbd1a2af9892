/**
 * Goal: membership survives the faults users report against memberlist and serf: a long
 * partition heals into one view with no operator action (memberlist #222), a stalled or
 * CPU-starved member is never declared dead and never declares others dead (Lifeguard's case),
 * a member restarted with incarnation 0 and no state is alive everywhere within seconds
 * (memberlist #311), and a run replays exactly from its seed.
 *
 * Method: pure cores on the simulator's virtual clock, LAN preset, seeded faults; each test
 * prints its seed (replay with MURMUR_SEED) and its measurements, and checks convergence in
 * bounded steps of virtual time.
 */

import { describe, expect, it } from 'vitest'
import { MEMBERSHIP_PRESETS } from '../../../src/membership/config.js'
import type { MemberId, MemberState } from '../../../src/membership/member.js'
import { failureWithSeed, pickSeed } from '../seed.js'
import { MembershipCluster, memberName } from './cluster.js'

const config = MEMBERSHIP_PRESETS.lan
const CHECK_STEP_MS = 100

function rates(loss: number) {
  return { lossProbability: loss, duplicateProbability: 0, delayMsMin: 1, delayMsMax: 5 }
}

/** True when every running member sees exactly `expected` members in state alive. */
function allSeeAlive(cluster: MembershipCluster, expected: readonly MemberId[]): boolean {
  return cluster.running().every((node) => {
    const alive = node.core
      .members()
      .filter((member) => member.state === 'alive')
      .map((member) => member.id)
    return alive.length === expected.length && alive.every((id, index) => id === expected[index])
  })
}

/** Advances in steps until `predicate` holds or `limitMs` of virtual time passed; returns ms. */
function timeUntil(cluster: MembershipCluster, predicate: () => boolean, limitMs: number): number {
  const startMs = cluster.sim.nowMs
  while (!predicate()) {
    if (cluster.sim.nowMs - startMs >= limitMs) return Number.POSITIVE_INFINITY
    cluster.sim.runPureFor(CHECK_STEP_MS)
  }
  return cluster.sim.nowMs - startMs
}

function countEvents(cluster: MembershipCluster, type: string): Map<MemberId, number> {
  const counts = new Map<MemberId, number>()
  cluster.onEvent((_, event) => {
    if (event.type === type) counts.set(event.member.id, (counts.get(event.member.id) ?? 0) + 1)
  })
  return counts
}

function withSeed(label: string, body: (seed: number) => void): void {
  const seed = pickSeed(label)
  const startedMs = performance.now()
  try {
    body(seed)
  } catch (error) {
    throw failureWithSeed(seed, error)
  } finally {
    console.log(`[sim] ${label}: ${((performance.now() - startedMs) / 1000).toFixed(1)} s wall`)
  }
}

describe('membership under faults', () => {
  it('a 60 s two-way partition heals into one view by itself', () => {
    withSeed('membership partition heal', (seed) => {
      const cluster = new MembershipCluster({ seed, config, rates: rates(0.01) })
      const nodes = cluster.bootstrap(20)
      const ids = nodes.map((node) => node.id)
      cluster.sim.runPureFor(2_000)
      cluster.faults.partition([
        nodes.slice(0, 10).map((node) => node.address),
        nodes.slice(10).map((node) => node.address),
      ])
      cluster.sim.runPureFor(60_000)
      const split = cluster.node(ids[0] as MemberId).core.members()
      expect(split.filter((member) => member.state === 'dead').length).toBe(10)
      cluster.faults.heal()
      const healMs = timeUntil(cluster, () => allSeeAlive(cluster, ids), 120_000)
      // Bound: one re-join interval for the first contact across, plus 15 s to refute and gossip.
      const boundMs = config.rejoinIntervalMs + 15_000
      console.log(
        `[sim] partition of 20 healed ${(healMs / 1000).toFixed(1)} s after the heal (bound ${boundMs / 1000} s)`,
      )
      expect(healMs).toBeLessThanOrEqual(boundMs)
    })
  }, 60_000)

  it('a member whose event loop stalls 1.5 s every 10 s is never declared dead', () => {
    withSeed('membership stalls', (seed) => {
      const cluster = new MembershipCluster({ seed, config, rates: rates(0.01) })
      const nodes = cluster.bootstrap(5)
      const deaths = countEvents(cluster, 'dead')
      const suspicions = countEvents(cluster, 'suspect')
      const stalled = nodes[2]!
      for (let round = 0; round < 60; round++) {
        cluster.sim.runPureFor(10_000 - 1_500)
        stalled.stall(1_500)
        cluster.sim.runPureFor(1_500)
      }
      // The last stall just ended: give the stalled member time to refute its suspicions.
      cluster.sim.runPureFor(8_000)
      console.log(
        `[sim] stalls: ${[...suspicions.values()].reduce((a, b) => a + b, 0)} suspicions, ${deaths.size} deaths over 10 min; stalled member's awareness ${stalled.core.awarenessScore}`,
      )
      expect([...deaths.keys()]).toEqual([])
      expect(
        allSeeAlive(
          cluster,
          nodes.map((node) => node.id),
        ),
      ).toBe(true)
    })
  }, 60_000)

  it('a CPU-starved member is never declared dead and declares no one dead', () => {
    withSeed('membership starved member', (seed) => {
      const cluster = new MembershipCluster({ seed, config, rates: rates(0.01) })
      const nodes = cluster.bootstrap(5)
      const deaths = countEvents(cluster, 'dead')
      const suspicions = countEvents(cluster, 'suspect')
      const starved = nodes[3]!
      // Every packet and timer the member handles waits up to 1 s: twice the probe timeout.
      starved.starve(1_000)
      cluster.sim.runPureFor(600_000)
      console.log(
        `[sim] starved: ${[...suspicions.values()].reduce((a, b) => a + b, 0)} suspicions, ${deaths.size} deaths over 10 min; starved member's awareness ${starved.core.awarenessScore}`,
      )
      expect([...deaths.keys()]).toEqual([])
    })
  }, 60_000)

  it('a member restarted with incarnation 0 and no state is alive everywhere within 5 s', () => {
    withSeed('membership restart', (seed) => {
      const cluster = new MembershipCluster({ seed, config, rates: rates(0.01) })
      const nodes = cluster.bootstrap(10)
      const ids = nodes.map((node) => node.id)
      const victim = nodes[4]!
      cluster.sim.runPureFor(1_000)
      // Raise the victim's incarnation so the views hold it well above 0.
      for (let update = 0; update < 3; update++) {
        victim.core.updateMeta({ generation: String(update) }, cluster.sim.nowMs)
        victim.flush()
        cluster.sim.runPureFor(2_000)
      }
      cluster.crash(victim.id)
      const deadMs = timeUntil(
        cluster,
        () => cluster.running().every((node) => stateOf(node.core.members(), victim.id) === 'dead'),
        120_000,
      )
      expect(deadMs).toBeLessThan(Number.POSITIVE_INFINITY)
      const restarted = cluster.start(victim.id, { seeds: [ids[0] as MemberId], incarnation: 0 })
      const aliveMs = timeUntil(cluster, () => allSeeAlive(cluster, ids), 30_000)
      console.log(
        `[sim] restart: dead everywhere after ${(deadMs / 1000).toFixed(1)} s; restarted at incarnation 0, alive everywhere ${(aliveMs / 1000).toFixed(2)} s later at incarnation ${restarted.core.incarnation}`,
      )
      expect(aliveMs).toBeLessThanOrEqual(5_000)
      expect(restarted.core.incarnation).toBeGreaterThan(3)
    })
  }, 60_000)

  it('a member restarted before anyone noticed is never declared dead', () => {
    withSeed('membership quick restart', (seed) => {
      const cluster = new MembershipCluster({ seed, config, rates: rates(0.01) })
      const nodes = cluster.bootstrap(10)
      const ids = nodes.map((node) => node.id)
      const deaths = countEvents(cluster, 'dead')
      const victim = nodes[6]!
      cluster.sim.runPureFor(1_000)
      victim.core.updateMeta({ generation: '1' }, cluster.sim.nowMs)
      victim.flush()
      cluster.sim.runPureFor(2_000)
      cluster.crash(victim.id)
      cluster.sim.runPureFor(200)
      const restarted = cluster.start(victim.id, { seeds: [ids[0] as MemberId], incarnation: 0 })
      const aliveMs = timeUntil(cluster, () => allSeeAlive(cluster, ids), 30_000)
      console.log(`[sim] quick restart: one view after ${(aliveMs / 1000).toFixed(2)} s`)
      expect(aliveMs).toBeLessThanOrEqual(5_000)
      expect(restarted.core.incarnation).toBeGreaterThan(1)
      cluster.sim.runPureFor(30_000)
      expect([...deaths.keys()]).toEqual([])
    })
  }, 60_000)

  it('the same seed replays the same event log', () => {
    withSeed('membership determinism', (seed) => {
      const logs = [0, 1].map(() => {
        const cluster = new MembershipCluster({ seed, config, rates: rates(0.05) })
        cluster.recordEvents = true
        cluster.bootstrap(20)
        cluster.sim.runPureFor(1_000)
        cluster.crash(memberName(7))
        cluster.start(memberName(20), { seeds: [memberName(0)] })
        cluster.sim.runPureFor(30_000)
        return cluster.sim.log
      })
      expect(logs[0]!.length).toBeGreaterThan(20)
      expect(logs[1]).toEqual(logs[0])
    })
  }, 60_000)
})

function stateOf(
  members: readonly { id: MemberId; state: MemberState }[],
  id: MemberId,
): MemberState | undefined {
  return members.find((member) => member.id === id)?.state
}
