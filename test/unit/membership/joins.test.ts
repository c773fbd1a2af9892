/**
 * Goal: a member that missed the gossip about a join still learns the newcomer quickly. A
 * probe from a member it does not know makes it ask that member to introduce itself (a join
 * ping, whose answer carries the alive message and leads to a push-pull); and a newcomer, once
 * its first push-pull has given it a view, gossips its own alive message to that view as
 * memberlist does on start.
 *
 * Method: single cores fed hand-built packets, their replies decoded; a small in-process
 * network (harness.ts) for the newcomer's own announcement.
 */

import { describe, expect, it } from 'vitest'
import type { PacketEffect } from '../../../src/membership/membership.js'
import type { GossipMessage } from '../../../src/membership/wire.js'
import { decodePacket, encodePart, framePacket } from '../../../src/membership/wire.js'
import { addressOf, lan, makeCore, TestNetwork } from './harness.js'

function messagesTo(packets: readonly { to: string; bytes: Uint8Array }[], to: string) {
  const messages: GossipMessage[] = []
  for (const packet of packets) {
    if (packet.to !== to) continue
    const decoded = decodePacket(packet.bytes, lan)
    if (!decoded.ok) throw new Error(`own packet rejected: ${decoded.reason}`)
    messages.push(...decoded.value)
  }
  return messages
}

describe('missed joins', () => {
  it('asks a member it does not know that probes it to introduce itself', () => {
    const core = makeCore('a', { known: ['a', 'b'] })
    core.drain()
    const probe = encodePart({
      type: 'ping',
      seq: 7,
      targetId: 'a',
      sourceId: 'u',
      sourceIncarnation: 0,
    })
    core.receivePacket(addressOf('u'), framePacket([probe]), 0)
    const replies = messagesTo(core.drain().packets, addressOf('u'))
    expect(replies.some((message) => message.type === 'ack' && message.seq === 7)).toBe(true)
    const joinPing = replies.find((message) => message.type === 'ping')
    expect(joinPing?.type === 'ping' && joinPing.targetId).toBe('')
    if (joinPing?.type !== 'ping') return

    // The stranger answers as any member answers a join ping: an ack and its alive message.
    const answer = framePacket([
      encodePart({ type: 'ack', seq: joinPing.seq, sourceId: 'u', sourceIncarnation: 0 }),
      encodePart({ type: 'alive', incarnation: 0, id: 'u', address: addressOf('u'), meta: {} }),
    ])
    core.receivePacket(addressOf('u'), answer, 1)
    expect(core.member('u')?.state).toBe('alive')
    const effects = core.drain()
    expect(effects.events.map((event) => `${event.type} ${event.member.id}`)).toEqual(['joined u'])
    expect(effects.pushPulls.map((exchange) => exchange.toMemberId)).toEqual(['u'])
  })

  it('asks nothing of members it knows, or after leaving', () => {
    const core = makeCore('a', { known: ['a', 'b'] })
    core.drain()
    const known = encodePart({
      type: 'ping',
      seq: 1,
      targetId: 'a',
      sourceId: 'b',
      sourceIncarnation: 0,
    })
    core.receivePacket(addressOf('b'), framePacket([known]), 0)
    expect(messagesTo(core.drain().packets, addressOf('b')).map((message) => message.type)).toEqual(
      ['ack'],
    )
    core.leave(0)
    core.drain()
    const stranger = encodePart({
      type: 'ping',
      seq: 2,
      targetId: 'a',
      sourceId: 'u',
      sourceIncarnation: 0,
    })
    core.receivePacket(addressOf('u'), framePacket([stranger]), 1)
    const replies = messagesTo(core.drain().packets, addressOf('u'))
    expect(replies.filter((message) => message.type === 'ping')).toEqual([])
  })

  it('re-gossips a newcomer with the member-change budget', () => {
    const ids = Array.from({ length: 100 }, (_, index) => `m${index}`)
    const core = makeCore('m0', { known: ids })
    core.drain()
    const alive = encodePart({
      type: 'alive',
      incarnation: 0,
      id: 'u',
      address: addressOf('u'),
      meta: {},
    })
    core.receivePacket(addressOf('m1'), framePacket([alive]), 0)
    expect(core.member('u')?.state).toBe('alive')
    const sent: PacketEffect[] = []
    let nowMs = 0
    for (let step = 0; step < 10_000 && nowMs <= 30_000; step++) {
      core.tick(nowMs)
      sent.push(...core.drain().packets)
      nowMs = core.nextDeadlineMs()
    }
    let copies = 0
    for (const packet of sent) {
      const decoded = decodePacket(packet.bytes, lan)
      if (!decoded.ok) throw new Error(`own packet rejected: ${decoded.reason}`)
      for (const message of decoded.value) {
        // Join pings to dead members carry our own alive message, never the newcomer's.
        if (message.type === 'alive' && message.id === 'u') copies++
      }
    }
    // 101 members: ceil(log10(102)) = 3.
    expect(copies).toBe(lan.membershipChangeRetransmitMult * 3)
  })

  it('has a newcomer gossip its own alive message once its first push-pull synced it', () => {
    const network = new TestNetwork()
    const ids = ['a', 'b', 'c', 'd']
    for (const id of ids) network.add(makeCore(id, { known: ids }))
    const newcomer = network.add(makeCore('e'))
    expect(newcomer.pendingBroadcasts).toBe(0)
    newcomer.join([addressOf('a')], 0)
    network.settle(0)
    // The four members learned by push-pull are queued for gossip, and so is the newcomer.
    expect(newcomer.pendingBroadcasts).toBe(ids.length + 1)
    const sent: PacketEffect[] = []
    let nowMs = 0
    for (let step = 0; step < 10_000 && nowMs <= 2_000; step++) {
      newcomer.tick(nowMs)
      sent.push(...newcomer.drain().packets)
      nowMs = newcomer.nextDeadlineMs()
    }
    const ownAlive = ids.flatMap((id) =>
      messagesTo(sent, addressOf(id)).filter(
        (message) => message.type === 'alive' && message.id === 'e',
      ),
    )
    expect(ownAlive.length).toBeGreaterThan(0)
  })
})
