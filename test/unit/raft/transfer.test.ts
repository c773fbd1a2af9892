/**
 * Goal: leadership transfer (thesis §3.10) hands leadership to a chosen voter without waiting
 * for an election timeout, catches the target up first, refuses proposals meanwhile, and is
 * abandoned after one election timeout if the target does not take over. Method: the
 * synchronous test network.
 */

import { describe, expect, it } from 'vitest'
import { TestNetwork } from './network.js'

const THREE = ['a', 'b', 'c']

describe('raft leadership transfer', () => {
  it('hands leadership to an up-to-date voter at once', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    const term = network.node('a').status().term
    expect(network.node('a').transferLeadership('b')).toEqual({ ok: true })
    network.flush()
    expect(network.leaders()).toEqual([['b', term + 1]])
  })

  it('catches a lagging target up before handing over', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('c')
    for (let count = 0; count < 5; count++) network.propose('a', `c${count}`)
    network.heal()
    network.node('a').transferLeadership('c')
    expect(network.node('a').propose(new Uint8Array([1]))).toEqual({
      ok: false,
      reason: 'transferring',
    })
    network.flush()
    expect(network.leaders().map(([id]) => id)).toEqual(['c'])
    expect(network.appliedTexts('c')).toHaveLength(5)
  })

  it('abandons a transfer the target cannot complete', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('c')
    network.node('a').transferLeadership('c')
    network.tickAll(11)
    expect(network.node('a').status().leadTransferee).toBe('')
    expect(network.node('a').status().role).toBe('leader')
    expect(network.node('a').propose(new Uint8Array([1])).ok).toBe(true)
  })

  it('refuses invalid targets and non-leaders', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    expect(network.node('a').transferLeadership('a')).toEqual({
      ok: false,
      reason: 'invalid_target',
    })
    expect(network.node('a').transferLeadership('zz')).toEqual({
      ok: false,
      reason: 'invalid_target',
    })
    expect(network.node('b').transferLeadership('c')).toEqual({
      ok: false,
      reason: 'not_leader',
      leaderHint: 'a',
    })
  })
})
