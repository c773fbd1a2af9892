/**
 * Goal: the broadcast queue's contract: least-sent then newest first, one pending update per
 * member, each update sent exactly retransmitMult · ceil(log10(n + 1)) times, and every packet
 * within packetBytesMax however many updates are pending.
 *
 * Method: the queue driven directly, and cores whose outgoing datagrams are decoded and
 * counted over many gossip ticks.
 */

import { describe, expect, it } from 'vitest'
import { BroadcastQueue } from '../../../src/membership/broadcasts.js'
import {
  type AliveMessage,
  decodePacket,
  encodePart,
  framePacket,
  partCostBytes,
} from '../../../src/membership/wire.js'
import { addressOf, lan, makeCore } from './harness.js'

const part = (byte: number, length = 10): Uint8Array => new Uint8Array(length).fill(byte)

describe('BroadcastQueue', () => {
  it('hands out least-sent first, newest first among equals, up to the limit', () => {
    const queue = new BroadcastQueue(10)
    queue.enqueue('a', part(1), 1)
    queue.enqueue('b', part(2), 1)
    queue.enqueue('c', part(3), 1)
    const one = partCostBytes(10)
    const order: number[] = []
    for (let take = 0; take < 9; take++) {
      const [taken] = queue.take(one, 3, 10, partCostBytes)
      order.push(taken?.[0] ?? 0)
    }
    expect(order).toEqual([3, 2, 1, 3, 2, 1, 3, 2, 1])
    expect(queue.size).toBe(0)
    expect(queue.take(1_000, 3, 10, partCostBytes)).toEqual([])
  })

  it('keeps one update per member, the newest', () => {
    const queue = new BroadcastQueue(10)
    queue.enqueue('a', part(1), 1)
    queue.enqueue('a', part(2), 1)
    expect(queue.size).toBe(1)
    expect(queue.take(1_000, 5, 10, partCostBytes).map((taken) => taken[0])).toEqual([2])
  })

  it('fills a packet up to the budget', () => {
    const queue = new BroadcastQueue(100)
    for (let index = 0; index < 50; index++) queue.enqueue(`m${index}`, part(index, 30), 1)
    const taken = queue.take(10 * partCostBytes(30) + 5, 4, 255, partCostBytes)
    expect(taken.length).toBe(10)
  })
})

function aliveAbout(packets: readonly { bytes: Uint8Array }[], id: string): number {
  let count = 0
  for (const packet of packets) {
    const decoded = decodePacket(packet.bytes, lan)
    if (!decoded.ok) throw new Error(`own packet rejected: ${decoded.reason}`)
    // Join pings to dead members carry an introduction that is not a gossip transmission.
    if (decoded.value.some((message) => message.type === 'ping' && message.targetId === ''))
      continue
    for (const message of decoded.value) if (message.type === 'alive' && message.id === id) count++
  }
  return count
}

describe('dissemination limits', () => {
  it.each([
    [5, 4],
    [100, 12],
    [1000, 16],
  ])('with n=%i an update is sent exactly %i times', (n, expected) => {
    const ids = Array.from({ length: n }, (_, index) => `m${index}`)
    const core = makeCore('m0', { known: ids })
    core.drain()
    core.updateMeta({ zone: 'b' }, 0)
    const packets = []
    for (let nowMs = 0; nowMs <= 60_000; nowMs = core.nextDeadlineMs()) {
      core.tick(nowMs)
      packets.push(...core.drain().packets)
    }
    expect(lan.retransmitMult * Math.ceil(Math.log10(n + 1))).toBe(expected)
    expect(aliveAbout(packets, 'm0')).toBe(expected)
  })

  it('packs many pending updates into packets of at most packetBytesMax', () => {
    const core = makeCore('m0', { known: ['m0', 'm1'] })
    const meta = { zone: 'z'.repeat(100), http: 'h'.repeat(100), peer: 'p'.repeat(200) }
    for (let index = 0; index < 400; index++) {
      const id = `newcomer-${String(index).padStart(4, '0')}`
      const alive: AliveMessage = {
        type: 'alive',
        incarnation: 0,
        id,
        address: addressOf(id),
        meta,
      }
      core.receivePacket(addressOf(id), framePacket([encodePart(alive)]), 0)
    }
    expect(core.pendingBroadcasts).toBeGreaterThanOrEqual(400)
    let largest = 0
    let parts = 0
    for (let nowMs = 0; nowMs <= 5_000; nowMs = core.nextDeadlineMs()) {
      core.tick(nowMs)
      for (const packet of core.drain().packets) {
        largest = Math.max(largest, packet.bytes.length)
        const decoded = decodePacket(packet.bytes, lan)
        expect(decoded.ok).toBe(true)
        if (decoded.ok) parts = Math.max(parts, decoded.value.length)
      }
    }
    expect(largest).toBeLessThanOrEqual(lan.packetBytesMax)
    expect(largest).toBeGreaterThan(lan.packetBytesMax - 500)
    expect(parts).toBeGreaterThan(1)
  })
})
