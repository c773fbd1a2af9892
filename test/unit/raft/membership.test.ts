/**
 * Goal: single-server membership changes are safe (thesis §4.1 with Ongaro's 2015 fix): one
 * change at a time, only after the leader committed an entry of its term, taking effect when
 * applied; learners replicate without voting and can be promoted; a removed leader steps down.
 * Method: the synchronous test network, with joining nodes that start with an empty
 * configuration and learn it from the leader's log.
 */

import { describe, expect, it } from 'vitest'
import { TestNetwork } from './network.js'

const THREE = ['a', 'b', 'c']

function clusterWithLeader(): TestNetwork {
  const network = new TestNetwork(THREE)
  network.campaign('a')
  return network
}

describe('raft membership changes', () => {
  it('adds a learner that replicates but does not count toward the quorum', () => {
    const network = clusterWithLeader()
    network.add('d', {}, [])
    expect(network.node('a').proposeConfChange({ type: 'add_learner', nodeId: 'd' }).ok).toBe(true)
    network.flush()
    expect(network.node('a').confState()).toEqual({ voters: THREE, learners: ['d'] })
    network.propose('a', 'x')
    expect(network.appliedTexts('d')).toEqual(['x'])
    // With two voters cut off, the learner's acknowledgement does not make a quorum.
    network.isolate('b')
    network.isolate('c')
    network.propose('a', 'y')
    expect(network.appliedTexts('a')).toEqual(['x'])
    expect(network.node('d').confState()).toEqual({ voters: THREE, learners: ['d'] })
  })

  it('promotes a learner to a voter', () => {
    const network = clusterWithLeader()
    network.add('d', {}, [])
    network.node('a').proposeConfChange({ type: 'add_learner', nodeId: 'd' })
    network.flush()
    expect(network.node('a').proposeConfChange({ type: 'add_voter', nodeId: 'd' }).ok).toBe(true)
    network.flush()
    expect(network.node('a').confState()).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] })
    // Four voters need three acknowledgements: a, d and one more.
    network.isolate('b')
    network.isolate('c')
    network.propose('a', 'needs-three')
    expect(network.appliedTexts('a')).toEqual([])
    network.heal()
    network.tickAll(3)
    expect(network.appliedTexts('d')).toEqual(['needs-three'])
  })

  it('removes a voter, after which two nodes form the quorum', () => {
    const network = clusterWithLeader()
    expect(network.node('a').proposeConfChange({ type: 'remove_node', nodeId: 'c' }).ok).toBe(true)
    network.flush()
    expect(network.node('b').confState()).toEqual({ voters: ['a', 'b'], learners: [] })
    network.isolate('c')
    network.propose('a', 'two-of-two')
    expect(network.appliedTexts('b')).toEqual(['two-of-two'])
  })

  it('steps a removed leader down, and the others elect a new one', () => {
    const network = clusterWithLeader()
    network.node('a').proposeConfChange({ type: 'remove_node', nodeId: 'a' })
    network.flush()
    expect(network.node('a').status().role).toBe('follower')
    expect(network.node('a').campaign()).toEqual({ ok: false, reason: 'not_promotable' })
    network.isolate('a')
    network.tickAll(60)
    const leaders = network.leaders()
    expect(leaders).toHaveLength(1)
    expect(['b', 'c']).toContain(leaders[0]?.[0])
  })

  it('allows one uncommitted change at a time', () => {
    const network = clusterWithLeader()
    network.add('d', {}, [])
    network.add('e', {}, [])
    const leader = network.node('a')
    expect(leader.proposeConfChange({ type: 'add_learner', nodeId: 'd' }).ok).toBe(true)
    expect(leader.proposeConfChange({ type: 'add_learner', nodeId: 'e' })).toEqual({
      ok: false,
      reason: 'conf_change_pending',
    })
    network.flush()
    expect(leader.proposeConfChange({ type: 'add_learner', nodeId: 'e' }).ok).toBe(true)
  })

  it('refuses changes until the new leader committed an entry of its term', () => {
    const network = new TestNetwork(THREE)
    network.dropType('append')
    network.campaign('a')
    expect(network.node('a').status().role).toBe('leader')
    expect(network.node('a').proposeConfChange({ type: 'remove_node', nodeId: 'c' })).toEqual({
      ok: false,
      reason: 'conf_change_pending',
    })
    network.heal()
    network.tickAll(2)
    expect(network.node('a').proposeConfChange({ type: 'remove_node', nodeId: 'c' }).ok).toBe(true)
  })

  it('refuses invalid changes', () => {
    const network = clusterWithLeader()
    const leader = network.node('a')
    expect(leader.proposeConfChange({ type: 'add_voter', nodeId: 'b' })).toEqual({
      ok: false,
      reason: 'invalid_change',
    })
    expect(leader.proposeConfChange({ type: 'remove_node', nodeId: 'zz' })).toEqual({
      ok: false,
      reason: 'invalid_change',
    })
  })

  it('applies a change when its entry is applied, not when it is appended', () => {
    const network = clusterWithLeader()
    network.isolate('b')
    network.isolate('c')
    network.node('a').proposeConfChange({ type: 'remove_node', nodeId: 'c' })
    network.flush()
    // Appended on the leader but not committed: the configuration is unchanged.
    expect(network.node('a').confState().voters).toEqual(THREE)
    network.heal()
    network.tickAll(3)
    expect(network.node('a').confState().voters).toEqual(['a', 'b'])
  })
})
