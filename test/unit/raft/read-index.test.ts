/**
 * Goal: ReadIndex gives linearizable read points (thesis §6.4): the leader answers only after a
 * quorum confirms its leadership in a heartbeat round, a new leader waits until it committed an
 * entry of its term, followers get the index from the leader, and opt-in lease reads skip the
 * round only while a quorum acknowledged a heartbeat within the lease. Method: the synchronous
 * test network, counting heartbeats and inspecting the read states each node collects.
 */

import { describe, expect, it } from 'vitest'
import { TestNetwork } from './network.js'

const THREE = ['a', 'b', 'c']
const context = (value: number) => new Uint8Array([value])

describe('raft ReadIndex', () => {
  it('answers on the leader after a heartbeat quorum, at the commit index', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.propose('a', 'x')
    const heartbeatsBefore = network.delivered.filter((m) => m.type === 'heartbeat').length
    expect(network.node('a').readIndex(context(1))).toEqual({ ok: true })
    network.flush()
    const heartbeats = network.delivered.filter((m) => m.type === 'heartbeat').length
    expect(heartbeats).toBeGreaterThan(heartbeatsBefore)
    expect(network.driver('a').readStates).toEqual([
      { index: network.node('a').status().commit, context: context(1) },
    ])
  })

  it('never answers without a quorum', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('b')
    network.isolate('c')
    network.node('a').readIndex(context(2))
    network.tick('a', 5)
    network.flush()
    expect(network.driver('a').readStates).toEqual([])
    network.heal()
    network.tickAll(2)
    expect(network.driver('a').readStates.map((state) => state.context)).toEqual([context(2)])
  })

  it('serves a follower through the leader', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.propose('a', 'x')
    expect(network.node('b').readIndex(context(3))).toEqual({ ok: true })
    network.flush()
    expect(network.driver('b').readStates).toEqual([
      { index: network.node('a').status().commit, context: context(3) },
    ])
  })

  it('refuses a read on a node that knows no leader', () => {
    const network = new TestNetwork(THREE)
    expect(network.node('b').readIndex(context(4))).toEqual({
      ok: false,
      reason: 'not_leader',
      leaderHint: '',
    })
  })

  it('holds reads on a new leader until it commits an entry of its term', () => {
    const network = new TestNetwork(THREE)
    network.dropType('append')
    network.campaign('a')
    expect(network.node('a').readIndex(context(5))).toEqual({ ok: true })
    network.flush()
    expect(network.driver('a').readStates).toEqual([])
    network.heal()
    network.tickAll(2)
    const [state] = network.driver('a').readStates
    // The read point includes the new term's no-op.
    expect(state?.index).toBe(network.node('a').status().commit)
    expect(state?.index).toBeGreaterThanOrEqual(network.node('a').status().lastIndex)
  })

  it('answers from the lease without a heartbeat round, and not once it expires', () => {
    const network = new TestNetwork(THREE, { leaseReads: true, leaseTicks: 5 })
    // With lease reads, restarted nodes refuse votes for an election timeout.
    network.tickAll(10)
    network.campaign('a')
    network.tickAll(2)
    const leader = network.node('a')
    expect(leader.status().role).toBe('leader')
    leader.readIndex(context(6))
    const released = network.hold()
    expect(released.filter((m) => m.type === 'heartbeat')).toHaveLength(0)
    expect(network.driver('a').readStates.map((state) => state.context)).toEqual([context(6)])
    // Cut off, the lease runs out after leaseTicks and reads need a round again.
    network.isolate('b')
    network.isolate('c')
    network.tick('a', 6)
    network.flush()
    leader.readIndex(context(7))
    network.flush()
    expect(network.driver('a').readStates).toHaveLength(1)
  })
})
