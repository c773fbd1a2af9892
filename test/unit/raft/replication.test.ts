/**
 * Goal: log replication, conflict resolution and the commit rule follow the Raft paper (§5.3,
 * §5.4.2, Figures 7 and 8), with etcd-style flow control (probe/replicate, an inflight window,
 * batching, fast backoff). Method: clusters on the synchronous test network, some started from
 * prepared logs; messages are held back or crafted to build the exact interleavings.
 */

import { describe, expect, it } from 'vitest'
import type { AppendMessage, Message } from '../../../src/raft/types.js'
import { storageWithLog, storedTerms, TestNetwork } from './network.js'

const THREE = ['a', 'b', 'c']

function appendsTo(messages: readonly Message[], to: string): AppendMessage[] {
  return messages.filter((message): message is AppendMessage => {
    return message.type === 'append' && message.to === to
  })
}

describe('raft log replication', () => {
  it('replicates and applies proposals on every node in order', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    for (const text of ['x', 'y', 'z']) expect(network.propose('a', text).ok).toBe(true)
    for (const id of THREE) expect(network.appliedTexts(id)).toEqual(['x', 'y', 'z'])
  })

  it('commits only with a quorum', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('b')
    network.isolate('c')
    const result = network.propose('a', 'lonely')
    expect(result.ok).toBe(true)
    expect(network.appliedTexts('a')).toEqual([])
    network.heal()
    network.tickAll(3)
    for (const id of THREE) expect(network.appliedTexts(id)).toEqual(['lonely'])
  })

  it('refuses proposals on followers with a hint to the leader', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    expect(network.node('b').propose(new Uint8Array([1]))).toEqual({
      ok: false,
      reason: 'not_leader',
      leaderHint: 'a',
    })
  })

  // Figure 7 of the Raft paper: the leader of term 8 and six possible follower logs.
  const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
  const followerLogs: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  }
  for (const [name, followerLog] of Object.entries(followerLogs)) {
    it(`brings follower (${name}) of Figure 7 in line with the leader`, () => {
      const voters = ['leader', 'follower', 'voter']
      const network = new TestNetwork([])
      network.add('leader', {}, [], storageWithLog(voters, leaderLog, 7))
      network.add('follower', {}, [], storageWithLog(voters, followerLog))
      network.add('voter', {}, [], storageWithLog(voters, []))
      network.campaign('leader')
      expect(network.node('leader').status().role).toBe('leader')
      expect(network.propose('leader', 'after').ok).toBe(true)
      const expected = [...leaderLog, 8, 8]
      expect(storedTerms(network.driver('leader').storage)).toEqual(expected)
      expect(storedTerms(network.driver('follower').storage)).toEqual(expected)
      // The leader's entries, and only they, are applied on the follower.
      expect(network.driver('follower').appliedIndex).toBe(expected.length)
      expect(network.driver('follower').digest).toBe(network.driver('leader').digest)
      if (name === 'f') {
        // Term hints skip whole terms: few rejections despite eight conflicting entries.
        const rejections = network.delivered.filter(
          (message) => message.type === 'append_response' && message.reject,
        )
        expect(rejections.length).toBeLessThanOrEqual(3)
      }
    })
  }

  it('never commits an entry of an earlier term by counting replicas (Figure 8)', () => {
    const voters = ['a', 'b', 'c']
    const network = new TestNetwork([])
    // a holds an entry of term 2 that no follower has; it becomes leader of term 3.
    network.add('a', {}, [], storageWithLog(voters, [1, 2], 2))
    network.add('b', {}, [], storageWithLog(voters, [1], 2))
    network.add('c', {}, [], storageWithLog(voters, [1], 2))
    // Votes pass but appends are lost; the leader then gets crafted acknowledgements.
    network.dropType('append')
    network.node('a').campaign()
    network.flush()
    expect(network.leaders()).toEqual([['a', 3]])
    const leader = network.node('a')
    const before = leader.status().commit
    leader.step({
      type: 'append_response',
      from: 'b',
      to: 'a',
      term: 3,
      index: 2,
      reject: false,
      rejectHint: 0,
      logTerm: 0,
    })
    network.flush()
    // A quorum (a, b) holds index 2, but it is from term 2: it must not commit yet.
    expect(leader.status().commit).toBe(before)
    expect(before).toBeLessThan(2)
    leader.step({
      type: 'append_response',
      from: 'b',
      to: 'a',
      term: 3,
      index: 3,
      reject: false,
      rejectHint: 0,
      logTerm: 0,
    })
    network.flush()
    // The no-op of term 3 at index 3 commits, and index 2 with it.
    expect(leader.status().commit).toBe(3)
  })

  it('batches the proposals of one turn into one append per follower', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    const leader = network.node('a')
    for (let count = 0; count < 10; count++) {
      expect(leader.propose(new Uint8Array([count])).ok).toBe(true)
    }
    const messages = network.hold()
    for (const to of ['b', 'c']) {
      const appends = appendsTo(messages, to)
      expect(appends).toHaveLength(1)
      expect(appends[0]?.entries).toHaveLength(10)
    }
  })

  it('pipelines at most maxInflightMsgs unacknowledged appends', () => {
    const network = new TestNetwork(THREE, { maxInflightMsgs: 2 })
    network.campaign('a')
    const leader = network.node('a')
    const sent: AppendMessage[] = []
    for (let round = 0; round < 5; round++) {
      leader.propose(new Uint8Array([round]))
      sent.push(...appendsTo(network.hold(), 'b').filter((append) => append.entries.length > 0))
    }
    // Two appends fill the window; the rest wait for acknowledgements.
    expect(sent).toHaveLength(2)
    expect(leader.progress().get('b')?.state).toBe('replicate')
    for (const append of sent) network.deliver(append)
    network.flush()
    expect(leader.progress().get('b')?.match).toBe(leader.status().lastIndex)
  })

  it('splits appends at maxSizePerMsgBytes', () => {
    const network = new TestNetwork(THREE, { maxSizePerMsgBytes: 100 })
    network.campaign('a')
    network.isolate('c')
    for (let count = 0; count < 12; count++) network.propose('a', `command-${count}`)
    network.heal()
    const before = network.delivered.length
    network.tickAll(4)
    const appends = appendsTo(network.delivered.slice(before), 'c')
    expect(appends.length).toBeGreaterThan(1)
    for (const append of appends) expect(append.entries.length).toBeLessThanOrEqual(3)
    expect(network.appliedTexts('c')).toHaveLength(12)
  })

  it('refuses proposals beyond maxUncommittedEntriesBytes', () => {
    const network = new TestNetwork(THREE, { maxUncommittedEntriesBytes: 100 })
    network.campaign('a')
    network.isolate('b')
    network.isolate('c')
    const leader = network.node('a')
    expect(leader.propose(new Uint8Array(60)).ok).toBe(true)
    expect(leader.propose(new Uint8Array(60))).toEqual({ ok: false, reason: 'size_limit' })
    network.heal()
    network.tickAll(3)
    // Once applied, the budget is free again.
    expect(leader.propose(new Uint8Array(60)).ok).toBe(true)
  })

  it('sends only one probe per heartbeat to a follower whose log position is unknown', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('c')
    for (let count = 0; count < 5; count++) network.propose('a', `p${count}`)
    const leader = network.node('a')
    leader.reportUnreachable('c')
    expect(leader.progress().get('c')?.state).toBe('probe')
    for (let count = 0; count < 3; count++) leader.propose(new Uint8Array([count]))
    const appends = appendsTo(network.hold(), 'c')
    expect(appends.length).toBeLessThanOrEqual(1)
  })
})
