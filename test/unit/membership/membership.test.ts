/**
 * Goal: the core's protocol paths: failure detection through probe, indirect probe, suspicion
 * and death; joining through a seed address with a push-pull; a graceful leave that is never
 * reported as a failure; refutation; and the restart rules that keep memberlist #311 away (a
 * member restarted with incarnation 0 learns the accusation from whoever it talks to and is
 * alive everywhere after one exchange).
 *
 * Method: a few cores on a synchronous in-process network (harness.ts) with time stepped from
 * deadline to deadline; unreachable cores are frozen like crashed processes.
 */

import { describe, expect, it } from 'vitest'
import { encodePart, framePacket } from '../../../src/membership/wire.js'
import { addressOf, makeCore, TestNetwork } from './harness.js'

const IDS = ['a', 'b', 'c', 'd']

function cluster(): TestNetwork {
  const network = new TestNetwork()
  for (const id of IDS) network.add(makeCore(id, { known: IDS }))
  return network
}

function eventTypes(network: TestNetwork, observer: string, id: string): string[] {
  return (network.events.get(observer) ?? [])
    .filter((event) => event.member.id === id)
    .map((event) => event.type)
}

describe('membership core', () => {
  it('suspects then declares dead a member that stopped answering', () => {
    const network = cluster()
    network.unreachable.add(addressOf('d'))
    network.runUntil(40_000, 0)
    for (const observer of ['a', 'b', 'c']) {
      expect(network.stateOf(observer, 'd')).toBe('dead@0')
      expect(eventTypes(network, observer, 'd')).toEqual(['suspect', 'dead'])
    }
    expect(network.stateOf('a', 'b')).toBe('alive@0')
  })

  it('joins through a seed address and learns everyone by push-pull', () => {
    const network = cluster()
    const newcomer = network.add(makeCore('e'))
    newcomer.join([addressOf('a')], 0)
    network.settle(0)
    expect(newcomer.members().map((member) => `${member.id}:${member.state}`)).toEqual([
      'a:alive',
      'b:alive',
      'c:alive',
      'd:alive',
      'e:alive',
    ])
    network.runUntil(3_000, 0)
    for (const observer of IDS) expect(network.stateOf(observer, 'e')).toBe('alive@0')
  })

  it('reports a graceful leave as left, never as a failure', () => {
    const network = cluster()
    const leaver = network.cores.get(addressOf('d'))!
    leaver.leave(0)
    network.runUntil(1_000, 0)
    expect(leaver.isLeaveSettled(1_000)).toBe(true)
    network.unreachable.add(addressOf('d'))
    network.runUntil(120_000, 1_000)
    for (const observer of ['a', 'b', 'c']) {
      expect(network.stateOf(observer, 'd')).toBe('left@0')
      expect(eventTypes(network, observer, 'd')).toEqual(['left'])
    }
  })

  it('refutes a suspicion with a higher incarnation sent back to the accuser', () => {
    const network = cluster()
    const b = network.cores.get(addressOf('b'))!
    const accusation = framePacket([
      encodePart({ type: 'suspect', incarnation: 0, id: 'b', fromId: 'c' }),
    ])
    b.receivePacket(addressOf('c'), accusation, 0)
    expect(b.incarnation).toBe(1)
    expect(b.awarenessScore).toBe(1)
    network.settle(0)
    expect(network.stateOf('c', 'b')).toBe('alive@1')
  })

  it('answers a member that restarted with an old incarnation with the accusation', () => {
    const network = cluster()
    const a = network.cores.get(addressOf('a'))!
    // a holds b at incarnation 3; b restarts at 0 and pings a.
    a.receivePacket(
      addressOf('c'),
      framePacket([
        encodePart({ type: 'alive', incarnation: 3, id: 'b', address: addressOf('b'), meta: {} }),
      ]),
      0,
    )
    a.drain()
    const restarted = makeCore('b', { known: IDS })
    const ping = framePacket([
      encodePart({ type: 'ping', seq: 1, targetId: 'a', sourceId: 'b', sourceIncarnation: 0 }),
    ])
    a.receivePacket(addressOf('b'), ping, 0)
    const replies = a.drain().packets.filter((packet) => packet.to === addressOf('b'))
    for (const reply of replies) restarted.receivePacket(addressOf('a'), reply.bytes, 0)
    expect(restarted.incarnation).toBe(4)
  })

  it('brings a member restarted with incarnation 0 and no state back to life everywhere', () => {
    const network = cluster()
    const c = network.cores.get(addressOf('c'))!
    for (let update = 0; update < 5; update++) c.updateMeta({ generation: String(update) }, 0)
    network.runUntil(2_000, 0)
    expect(network.stateOf('a', 'c')).toBe('alive@5')
    network.unreachable.add(addressOf('c'))
    network.runUntil(60_000, 2_000)
    for (const observer of ['a', 'b', 'd']) expect(network.stateOf(observer, 'c')).toBe('dead@5')

    // Restart: same id and address, incarnation 0, an empty view, one seed.
    network.unreachable.delete(addressOf('c'))
    const restarted = network.add(makeCore('c', { nowMs: 60_000 }))
    restarted.join([addressOf('a')], 60_000)
    network.settle(60_000)
    expect(restarted.incarnation).toBeGreaterThan(5)
    expect(network.stateOf('a', 'c')).toBe(`alive@${restarted.incarnation}`)
    network.runUntil(61_000, 60_000)
    for (const observer of ['a', 'b', 'd', 'c']) {
      expect(network.stateOf(observer, 'c')).toBe(`alive@${restarted.incarnation}`)
    }
    expect(restarted.members().filter((member) => member.state === 'alive')).toHaveLength(4)
  })

  it('produces the same effects for the same seed and inputs', () => {
    const runs = [0, 1].map(() => {
      const network = cluster()
      network.unreachable.add(addressOf('b'))
      network.runUntil(30_000, 0)
      return [network.packetsDelivered, JSON.stringify([...network.events.entries()])]
    })
    expect(runs[1]).toEqual(runs[0])
  })
})
