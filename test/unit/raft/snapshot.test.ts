/**
 * Goal: log compaction and InstallSnapshot let a follower that fell behind the compaction point
 * catch up (thesis chapter 5), a lost snapshot is retried, and restarts recover from what was
 * persisted. Method: the synchronous test network with nodes that snapshot and compact their
 * MemoryRaftStorage; MemoryRaftStorage's typed results are checked directly.
 */

import { describe, expect, it } from 'vitest'
import { MemoryRaftStorage } from '../../../src/raft/storage.js'
import type { Entry } from '../../../src/raft/types.js'
import { TestNetwork } from './network.js'

const THREE = ['a', 'b', 'c']

function normal(index: number, term: number): Entry {
  return { kind: 'normal', index, term, data: new Uint8Array([index]) }
}

describe('raft snapshots', () => {
  it('sends a snapshot to a follower behind the compaction point', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('c')
    for (let count = 0; count < 20; count++) network.propose('a', `c${count}`)
    const leader = network.driver('a')
    expect(leader.compact(0)).toBe(true)
    expect(leader.storage.firstIndex()).toBeGreaterThan(20)
    network.heal()
    network.tickAll(5)
    const follower = network.driver('c')
    const snapshots = network.delivered.filter((message) => message.type === 'snapshot')
    expect(snapshots.length).toBeGreaterThanOrEqual(1)
    expect(follower.appliedIndex).toBe(leader.appliedIndex)
    expect(follower.digest).toBe(leader.digest)
    // The follower's log now starts after the snapshot it installed.
    expect(follower.storage.firstIndex()).toBeGreaterThan(20)
    // Replication continues normally after the snapshot.
    network.propose('a', 'after')
    expect(network.appliedTexts('c')).toEqual(['after'])
    expect(follower.digest).toBe(leader.digest)
  })

  it('retries a lost snapshot after an election timeout', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    network.isolate('c')
    for (let count = 0; count < 5; count++) network.propose('a', `c${count}`)
    network.driver('a').compact(0)
    network.heal()
    network.dropType('snapshot')
    network.tickAll(3)
    expect(network.node('a').progress().get('c')?.state).toBe('snapshot')
    network.heal()
    network.tickAll(30)
    expect(network.node('a').progress().get('c')?.state).toBe('replicate')
    expect(network.driver('c').appliedIndex).toBe(network.driver('a').appliedIndex)
  })

  it('restarts a node from its persisted state', () => {
    const network = new TestNetwork(THREE)
    network.campaign('a')
    for (let count = 0; count < 5; count++) network.propose('a', `c${count}`)
    const follower = network.driver('b')
    follower.compact(2)
    const before = follower.node.status()
    const digest = follower.digest
    follower.restart()
    const after = follower.node.status()
    expect(after.term).toBe(before.term)
    expect(after.vote).toBe(before.vote)
    expect(after.commit).toBe(before.commit)
    expect(after.role).toBe('follower')
    // The state machine restarts at the snapshot and re-applies the committed rest.
    network.flush()
    expect(follower.appliedIndex).toBe(before.applied)
    expect(follower.digest).toBe(digest)
  })
})

describe('MemoryRaftStorage', () => {
  it('reports compacted and unavailable ranges as typed results', () => {
    const storage = new MemoryRaftStorage()
    storage.append([normal(1, 1), normal(2, 1), normal(3, 2), normal(4, 2)])
    expect(storage.term(4)).toEqual({ ok: true, value: 2 })
    expect(storage.term(5)).toEqual({ ok: false, error: 'unavailable' })
    expect(storage.createSnapshot(3, { voters: ['a'], learners: [] }, new Uint8Array([9]))).toEqual(
      {
        ok: true,
      },
    )
    expect(storage.compact(2)).toEqual({ ok: true })
    expect(storage.firstIndex()).toBe(3)
    expect(storage.term(2)).toEqual({ ok: true, value: 1 })
    expect(storage.term(1)).toEqual({ ok: false, error: 'compacted' })
    expect(storage.entries(2, 4, 1000)).toEqual({ ok: false, error: 'compacted' })
    const entries = storage.entries(3, 5, 1000)
    expect(entries.ok && entries.value.map((entry) => entry.index)).toEqual([3, 4])
    expect(storage.compact(2)).toEqual({ ok: false, reason: 'stale' })
    expect(storage.createSnapshot(3, { voters: ['a'], learners: [] }, new Uint8Array())).toEqual({
      ok: false,
      reason: 'stale',
    })
  })

  it('limits entries by bytes but always returns at least one', () => {
    const storage = new MemoryRaftStorage()
    storage.append([normal(1, 1), normal(2, 1), normal(3, 1)])
    const one = storage.entries(1, 4, 1)
    expect(one.ok && one.value).toHaveLength(1)
    const all = storage.entries(1, 4, 10_000)
    expect(all.ok && all.value).toHaveLength(3)
  })

  it('hands out copies, so appends that replace the tail leave entries read earlier alone', () => {
    const storage = new MemoryRaftStorage()
    storage.append([normal(1, 1), normal(2, 1), normal(3, 1)])
    const before = storage.entries(1, 4, 10_000)
    storage.append([normal(2, 2), normal(3, 2), normal(4, 2)])
    expect(before.ok && before.value.map((entry) => entry.term)).toEqual([1, 1, 1])
    const after = storage.entries(1, 5, 10_000)
    expect(after.ok && after.value.map((entry) => entry.term)).toEqual([1, 2, 2, 2])
    expect(storage.createSnapshot(2, { voters: ['a'], learners: [] }, new Uint8Array())).toEqual({
      ok: true,
    })
    expect(storage.compact(2)).toEqual({ ok: true })
    storage.append([normal(5, 3)])
    const tail = storage.entries(3, 6, 10_000)
    expect(tail.ok && tail.value.map((entry) => [entry.index, entry.term])).toEqual([
      [3, 2],
      [4, 2],
      [5, 3],
    ])
  })

  it('replaces a conflicting tail on append and the whole log on applySnapshot', () => {
    const storage = new MemoryRaftStorage()
    storage.append([normal(1, 1), normal(2, 1), normal(3, 1)])
    storage.append([normal(2, 2)])
    expect(storage.lastIndex()).toBe(2)
    expect(storage.term(2)).toEqual({ ok: true, value: 2 })
    const snapshot = {
      metadata: { index: 10, term: 3, confState: { voters: ['a', 'b'], learners: [] } },
      data: new Uint8Array([1]),
    }
    expect(storage.applySnapshot(snapshot)).toEqual({ ok: true })
    expect(storage.firstIndex()).toBe(11)
    expect(storage.lastIndex()).toBe(10)
    expect(storage.term(10)).toEqual({ ok: true, value: 3 })
    expect(storage.initialState().confState.voters).toEqual(['a', 'b'])
    expect(storage.initialState().confStateIndex).toBe(10)
    expect(storage.applySnapshot(snapshot)).toEqual({ ok: false, reason: 'stale' })
  })
})
