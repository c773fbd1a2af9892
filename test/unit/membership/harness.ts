/**
 * A tiny synchronous network for unit tests of the membership core: cores keyed by address,
 * packets and push-pulls delivered in rounds at a fixed time, with a set of addresses that
 * cannot be reached. Events are collected per core.
 */

import { SeededRandom } from '../../../src/env/random.js'
import { MEMBERSHIP_PRESETS, type MembershipConfig } from '../../../src/membership/config.js'
import type { MemberId, MemberSnapshot } from '../../../src/membership/member.js'
import { Membership, type MembershipEvent } from '../../../src/membership/membership.js'

export const lan = MEMBERSHIP_PRESETS.lan
const ROUNDS_MAX = 100

export function addressOf(id: MemberId): string {
  return `${id}.test:7946`
}

export function snapshotOf(id: MemberId, incarnation = 0): MemberSnapshot {
  return { id, address: addressOf(id), meta: {}, incarnation, state: 'alive', stateChangedMs: 0 }
}

export function makeCore(
  id: MemberId,
  options: {
    known?: readonly MemberId[]
    incarnation?: number
    config?: MembershipConfig
    nowMs?: number
  } = {},
): Membership {
  return new Membership({
    config: options.config ?? lan,
    local: { id, address: addressOf(id), meta: {} },
    incarnation: options.incarnation ?? 0,
    random: new SeededRandom(id.length * 7919 + id.charCodeAt(id.length - 1)),
    nowMs: options.nowMs ?? 0,
    knownMembers: (options.known ?? []).map((known) => snapshotOf(known)),
  })
}

export class TestNetwork {
  readonly cores = new Map<string, Membership>()
  readonly events = new Map<MemberId, MembershipEvent[]>()
  readonly unreachable = new Set<string>()
  packetsDelivered = 0

  add(core: Membership): Membership {
    this.cores.set(addressOf(core.localId), core)
    this.events.set(core.localId, [])
    return core
  }

  /** Delivers everything the cores emit, and what that provokes, at `nowMs`. */
  settle(nowMs: number): void {
    for (let round = 0; round < ROUNDS_MAX; round++) {
      let moved = false
      for (const [address, core] of this.cores) {
        const effects = core.drain()
        this.events.get(core.localId)?.push(...effects.events)
        for (const packet of effects.packets) {
          moved = true
          const target = this.cores.get(packet.to)
          if (
            target === undefined ||
            this.unreachable.has(packet.to) ||
            this.unreachable.has(address)
          )
            continue
          this.packetsDelivered++
          target.receivePacket(address, packet.bytes, nowMs)
        }
        for (const exchange of effects.pushPulls) {
          moved = true
          const target = this.cores.get(addressOf(exchange.toMemberId))
          if (target === undefined || this.unreachable.has(addressOf(exchange.toMemberId))) continue
          const response = target.answerPushPull(exchange.bytes, nowMs)
          if (response !== undefined) core.receivePushPull(response, nowMs)
        }
      }
      if (!moved) return
    }
    throw new Error('network did not settle')
  }

  /**
   * Ticks every reachable core at each of its deadlines up to `untilMs`, settling after each
   * tick. Unreachable cores are frozen, like crashed processes.
   */
  runUntil(untilMs: number, fromMs: number): void {
    let nowMs = fromMs
    for (let step = 0; step < 100_000; step++) {
      let next = untilMs
      for (const [address, core] of this.cores) {
        if (!this.unreachable.has(address)) next = Math.min(next, core.nextDeadlineMs())
      }
      nowMs = Math.max(nowMs, next)
      if (nowMs >= untilMs) return
      for (const [address, core] of this.cores) {
        if (!this.unreachable.has(address) && core.nextDeadlineMs() <= nowMs) core.tick(nowMs)
      }
      this.settle(nowMs)
    }
    throw new Error('runUntil did not finish')
  }

  stateOf(observer: MemberId, id: MemberId): string | undefined {
    const member = this.cores.get(addressOf(observer))?.member(id)
    return member === undefined ? undefined : `${member.state}@${member.incarnation}`
  }
}
