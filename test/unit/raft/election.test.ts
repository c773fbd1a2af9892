/**
 * Goal: leader election behaves as the Raft paper (§5.2, §5.4.1) and thesis (§9.6 pre-vote,
 * check-quorum) require. Method: small clusters on the synchronous test network; elections are
 * forced with campaign() or driven by ticks with the seeded randomized timeouts, and partitions
 * are made by isolating nodes.
 */

import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../../src/env/random.js'
import { RawNode } from '../../../src/raft/raw-node.js'
import { MemoryRaftStorage } from '../../../src/raft/storage.js'
import { NO_NODE } from '../../../src/raft/types.js'
import { storageWithLog, TestNetwork } from './network.js'

const THREE = ['a', 'b', 'c']
const FIVE = ['a', 'b', 'c', 'd', 'e']

describe('raft elections', () => {
  it('elects the campaigning node as the single leader', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    // Bootstrap entries are at term 1, so the first election is in term 2.
    expect(network.leaders()).toEqual([['a', 2]])
    for (const id of ['b', 'c']) {
      const status = network.node(id).status()
      expect(status.role).toBe('follower')
      expect(status.leader).toBe('a')
      expect(status.term).toBe(2)
    }
  })

  it('persists the bootstrap term and commit with the bootstrap entries, so a restart can campaign', () => {
    const storage = new MemoryRaftStorage()
    const config = (seed: number) => ({
      id: 'a',
      voters: THREE,
      electionTicks: 10,
      heartbeatTicks: 1,
      maxInflightMsgs: 8,
      maxSizePerMsgBytes: 65_536,
      random: new SeededRandom(seed),
    })
    const founder = new RawNode(config(1), storage)
    const ready = founder.ready()
    expect(ready.entries.map((entry) => entry.index)).toEqual([1, 2, 3])
    expect(ready.hardState).toEqual({ term: 1, vote: NO_NODE, commit: 3 })
    storage.append(ready.entries)
    if (ready.hardState !== undefined) storage.setHardState(ready.hardState)
    // Crash before applying anything: the restarted node still knows its voters and campaigns.
    const restarted = new RawNode(config(2), storage)
    const replay = restarted.ready()
    expect(replay.committedEntries.map((entry) => entry.index)).toEqual([1, 2, 3])
    restarted.advance()
    expect(restarted.campaign()).toMatchObject({ ok: true })
    expect(restarted.status().role).toBe('pre_candidate')
  })

  it('resolves split votes through randomized timeouts, one leader per term', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const network = new TestNetwork(FIVE, {}, () => ({}), seed)
      const leaderOfTerm = new Map<number, string>()
      for (let tick = 0; tick < 300 && network.leaders().length === 0; tick++) {
        network.tickAll(1)
        for (const [id, term] of network.leaders()) {
          expect(leaderOfTerm.get(term) ?? id).toBe(id)
          leaderOfTerm.set(term, id)
        }
      }
      expect(network.leaders()).toHaveLength(1)
    }
  })

  it('grants at most one vote per term', () => {
    const network = new TestNetwork(THREE)
    const vote = (from: string) =>
      network.node('c').step({
        type: 'vote',
        from,
        to: 'c',
        term: 5,
        index: 3,
        logTerm: 1,
        transfer: false,
      })
    vote('a')
    vote('b')
    vote('a')
    const answers = network.hold().filter((message) => message.type === 'vote_response')
    expect(
      answers.map((message) => [message.to, message.type === 'vote_response' && message.reject]),
    ).toEqual([
      ['a', false],
      ['b', true],
      ['a', false],
    ])
    expect(network.node('c').status().vote).toBe('a')
  })

  it('refuses to elect a candidate whose log is behind', () => {
    const network = new TestNetwork([])
    network.add('a', {}, [], storageWithLog(THREE, [1]))
    network.add('b', {}, [], storageWithLog(THREE, [1, 2]))
    network.add('c', {}, [], storageWithLog(THREE, [1, 2]))
    network.campaign('a')
    expect(network.node('a').status().role).not.toBe('leader')
    network.campaign('b')
    expect(network.leaders()).toEqual([['b', 3]])
  })

  it('never lets a learner campaign', () => {
    const network = new TestNetwork(THREE)
    network.add('d', {}, [])
    network.campaign('a')
    network.node('a').proposeConfChange({ type: 'add_learner', nodeId: 'd' })
    network.flush()
    network.isolate('a')
    expect(network.node('d').campaign()).toEqual({ ok: false, reason: 'not_promotable' })
    network.tickAll(100)
    expect(network.node('d').status().role).toBe('follower')
  })
})

describe('pre-vote and check-quorum', () => {
  it('keeps a partitioned follower from inflating its term', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    const term = network.node('a').status().term
    network.isolate('c')
    network.tick('c', 200)
    network.flush()
    // c keeps asking whether it could win, but never enters a new term.
    expect(network.node('c').status().term).toBe(term)
    expect(network.node('c').status().role).toBe('pre_candidate')
    network.heal()
    network.tickAll(30)
    // Rejoining changed nothing: same leader, same term.
    expect(network.leaders()).toEqual([['a', term]])
    expect(network.node('c').status().leader).toBe('a')
  })

  it('steps a leader down when it loses contact with a quorum', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('a')
    // One election timeout to notice, one more to run the check.
    for (let tick = 0; tick < 25; tick++) network.tick('a')
    network.flush()
    expect(network.node('a').status().role).toBe('follower')
    expect(network.node('a').status().leader).toBe(NO_NODE)
    network.tickAll(60)
    const leaders = network.leaders().filter(([id]) => id !== 'a')
    expect(leaders).toHaveLength(1)
  })

  it('ignores vote requests while followers hear from a live leader', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    const term = network.node('a').status().term
    // A disruptive node that skipped pre-vote sends a vote at a higher term.
    network.node('b').step({
      type: 'vote',
      from: 'c',
      to: 'b',
      term: term + 5,
      index: 100,
      logTerm: term + 5,
      transfer: false,
    })
    network.flush()
    expect(network.node('b').status().term).toBe(term)
    expect(network.leaders()).toEqual([['a', term]])
  })

  it('makes a stale leader step down when it hears of a newer term', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('a')
    network.tickAll(60)
    const [newLeader] = network.leaders().filter(([id]) => id !== 'a')
    expect(newLeader).toBeDefined()
    const [newLeaderId, newTerm] = newLeader ?? ['', 0]
    expect(network.node('a').status().role).toBe('leader')
    network.heal()
    network.tickAll(3)
    expect(network.node('a').status().role).toBe('follower')
    expect(network.node('a').status().term).toBe(newTerm)
    expect(network.leaders()).toEqual([[newLeaderId, newTerm]])
  })
})

describe('forgetting a leader the transport lost', () => {
  /** Ticks the reachable nodes until one other than `old` leads; returns the ticks it took. */
  function ticksToNewLeader(network: TestNetwork, old: string, limit: number): number {
    const replaced = () => network.leaders().some(([id]) => id !== old)
    let ticks = 0
    for (; ticks < limit && !replaced(); ticks++) network.tickAll(1)
    expect(replaced()).toBe(true)
    return ticks
  }

  it('elects a new leader within half an election timeout once the followers forget the dead one', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const network = new TestNetwork(THREE, {}, () => ({}), seed)
      network.campaign('a')
      network.isolate('a')
      expect(network.node('b').forgetLeader('a')).toBe(true)
      expect(network.node('c').forgetLeader('a')).toBe(true)
      expect(network.node('b').status().leader).toBe(NO_NODE)
      // electionTicks is 10; b, first of the other voters, campaigns on its first tick and c
      // on its second, so the vote never splits.
      expect(ticksToNewLeader(network, 'a', 40)).toBe(1)
      expect(
        network
          .leaders()
          .filter(([id]) => id !== 'a')
          .map(([id]) => id),
      ).toEqual(['b'])
    }
  })

  it('waits out a whole election timeout without the hint', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('a')
    expect(ticksToNewLeader(network, 'a', 40)).toBeGreaterThanOrEqual(10)
  })

  it('does not depose a leader that one follower merely lost its link to', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    const term = network.node('a').status().term
    expect(network.node('b').forgetLeader('a')).toBe(true)
    network.tickAll(50)
    expect(network.leaders()).toEqual([['a', term]])
    expect(network.node('b').status().leader).toBe('a')
  })

  it('ignores the hint about another node, on the leader itself, and with lease reads', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    expect(network.node('b').forgetLeader('c')).toBe(false)
    expect(network.node('a').forgetLeader('a')).toBe(false)
    const leased = new TestNetwork(THREE, { leaseReads: true })
    for (let tick = 0; tick < 60 && leased.leaders().length === 0; tick++) leased.tickAll(1)
    const [[leader] = ['']] = leased.leaders()
    const follower = THREE.find((id) => id !== leader) as string
    expect(leased.node(follower).status().leader).toBe(leader)
    expect(leased.node(follower).forgetLeader(leader)).toBe(false)
    expect(leased.node(follower).status().leader).toBe(leader)
  })
})
