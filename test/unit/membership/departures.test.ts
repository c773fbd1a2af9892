/**
 * Goal: the dissemination budget of departures and the graceful leave's wait. A member that
 * learns a leave or a death re-gossips it membershipChangeRetransmitMult · ceil(log10(n + 1))
 * times (twice an ordinary update's budget in the presets, because nothing repairs a missed
 * departure quickly); the leaver reports its leave settled only once its own announcement has
 * used that whole budget, or once leaveTimeoutMs has passed; a settled leave never asks for a
 * timer in the past; members started together spread their first push-pulls over the whole
 * push-pull interval instead of all exchanging state in the same second.
 *
 * Method: single cores whose outgoing datagrams are decoded and counted while time steps from
 * deadline to deadline (every loop bounded in steps and virtual time).
 */

import { describe, expect, it } from 'vitest'
import { MEMBERSHIP_PRESETS, type MembershipConfig } from '../../../src/membership/config.js'
import type { Membership } from '../../../src/membership/membership.js'
import {
  type AliveMessage,
  decodePacket,
  encodePart,
  framePacket,
} from '../../../src/membership/wire.js'
import { addressOf, lan, makeCore } from './harness.js'

const STEPS_MAX = 100_000

function memberIds(n: number): string[] {
  return Array.from({ length: n }, (_, index) => `m${index}`)
}

/** Dead messages about `id` in `packets` whose sender is `fromId` (equal to id: a leave). */
function departuresAbout(
  packets: readonly { readonly bytes: Uint8Array }[],
  id: string,
  fromId: string,
): number {
  let count = 0
  for (const packet of packets) {
    const decoded = decodePacket(packet.bytes, lan)
    if (!decoded.ok) throw new Error(`own packet rejected: ${decoded.reason}`)
    for (const message of decoded.value) {
      if (message.type === 'dead' && message.id === id && message.fromId === fromId) count++
    }
  }
  return count
}

/** Ticks `core` from deadline to deadline until `untilMs`, collecting what it sends. */
function runAlone(core: Membership, fromMs: number, untilMs: number) {
  const packets = [...core.drain().packets]
  let nowMs = fromMs
  for (let step = 0; step < STEPS_MAX && nowMs <= untilMs; step++) {
    core.tick(nowMs)
    packets.push(...core.drain().packets)
    nowMs = core.nextDeadlineMs()
  }
  return packets
}

describe('departure dissemination', () => {
  it.each([
    [5, 8],
    [100, 16],
    [1000, 24],
  ])('with n=%i a member re-gossips a leave it learns exactly %i times', (n, expected) => {
    const core = makeCore('m0', { known: memberIds(n) })
    core.drain()
    const leave = framePacket([
      encodePart({ type: 'dead', incarnation: 0, id: 'm1', fromId: 'm1' }),
    ])
    core.receivePacket(addressOf('m1'), leave, 0)
    expect(core.member('m1')?.state).toBe('left')
    // The leaver no longer counts: n - 1 members remain.
    expect(lan.membershipChangeRetransmitMult * Math.ceil(Math.log10(n))).toBe(expected)
    expect(departuresAbout(runAlone(core, 0, 30_000), 'm1', 'm1')).toBe(expected)
  })

  it('re-gossips a death it learns with the member-change budget', () => {
    const core = makeCore('m0', { known: memberIds(100) })
    core.drain()
    const death = framePacket([
      encodePart({ type: 'dead', incarnation: 0, id: 'm1', fromId: 'm2' }),
    ])
    core.receivePacket(addressOf('m2'), death, 0)
    expect(core.member('m1')?.state).toBe('dead')
    expect(departuresAbout(runAlone(core, 0, 30_000), 'm1', 'm2')).toBe(16)
  })

  it('gives an ordinary update the ordinary budget', () => {
    const core = makeCore('m0', { known: memberIds(100) })
    core.drain()
    const alive: AliveMessage = {
      type: 'alive',
      incarnation: 1,
      id: 'm1',
      address: addressOf('m1'),
      meta: {},
    }
    core.receivePacket(addressOf('m2'), framePacket([encodePart(alive)]), 0)
    let count = 0
    for (const packet of runAlone(core, 0, 30_000)) {
      const decoded = decodePacket(packet.bytes, lan)
      if (!decoded.ok) throw new Error(`own packet rejected: ${decoded.reason}`)
      for (const message of decoded.value) {
        if (message.type === 'alive' && message.id === 'm1' && message.incarnation === 1) count++
      }
    }
    expect(count).toBe(lan.retransmitMult * Math.ceil(Math.log10(101)))
  })
})

describe('graceful leave', () => {
  it('settles only once the leave has been sent its whole budget, within the timeout', () => {
    const leaver = makeCore('m0', { known: memberIds(100) })
    leaver.drain()
    leaver.leave(0)
    const packets = [...leaver.drain().packets]
    let nowMs = 0
    for (let step = 0; step < STEPS_MAX && !leaver.isLeaveSettled(nowMs); step++) {
      nowMs = leaver.nextDeadlineMs()
      leaver.tick(nowMs)
      packets.push(...leaver.drain().packets)
    }
    expect(leaver.isLeaveSettled(nowMs)).toBe(true)
    expect(nowMs).toBeLessThan(lan.leaveTimeoutMs)
    // 99 members remain in the leaver's own view.
    const budget = lan.membershipChangeRetransmitMult * Math.ceil(Math.log10(100))
    expect(departuresAbout(packets, 'm0', 'm0')).toBe(budget)
  })

  it('settles at leaveTimeoutMs when the budget cannot be spent in time', () => {
    const config: MembershipConfig = { ...lan, leaveTimeoutMs: 300 }
    const leaver = makeCore('m0', { known: memberIds(1000), config })
    leaver.drain()
    leaver.leave(0)
    expect(leaver.isLeaveSettled(299)).toBe(false)
    leaver.tick(299)
    expect(leaver.isLeaveSettled(299)).toBe(false)
    expect(leaver.isLeaveSettled(300)).toBe(true)
  })

  it('asks for no timer in the past once the leave deadline has passed', () => {
    const leaver = makeCore('m0', { known: memberIds(10) })
    leaver.drain()
    leaver.leave(0)
    let nowMs = 0
    for (let step = 0; step < STEPS_MAX && nowMs <= 3 * lan.leaveTimeoutMs; step++) {
      leaver.tick(nowMs)
      leaver.drain()
      const nextMs = leaver.nextDeadlineMs()
      expect(nextMs).toBeGreaterThan(nowMs)
      nowMs = nextMs
    }
    expect(nowMs).toBeGreaterThan(3 * lan.leaveTimeoutMs)
    expect(leaver.isLeaveSettled(nowMs)).toBe(true)
  })
})

describe('push-pull phases', () => {
  it('spreads the first push-pulls of members started together over the interval', () => {
    // Probes are rare here, so no member is suspected and a partner is always alive.
    const config: MembershipConfig = { ...MEMBERSHIP_PRESETS.lan, probeIntervalMs: 600_000 }
    const ids = memberIds(10)
    const firstMs: number[] = []
    for (const id of ids) {
      const core = makeCore(id, { known: ids, config })
      core.drain()
      let nowMs = 0
      for (let step = 0; step < STEPS_MAX && nowMs <= config.pushPullIntervalMs; step++) {
        core.tick(nowMs)
        if (core.drain().pushPulls.length > 0) {
          firstMs.push(nowMs)
          break
        }
        nowMs = core.nextDeadlineMs()
      }
    }
    expect(firstMs).toHaveLength(ids.length)
    expect(Math.max(...firstMs)).toBeLessThan(config.pushPullIntervalMs)
    expect(Math.max(...firstMs) - Math.min(...firstMs)).toBeGreaterThan(
      config.pushPullIntervalMs / 2,
    )
  })
})
