/**
 * Goal: the log's building blocks keep their invariants: RaftLog appends and truncates only
 * uncommitted suffixes and finds conflicts by term; the unstable tail hands entries out once and
 * ignores stale confirmations; the inflight window and progress states bound replication; quorum
 * arithmetic picks the right index and election outcome. Method: direct calls with small,
 * hand-built logs; invariant violations must throw assertions.
 */

import { describe, expect, it } from 'vitest'
import { AssertionError } from '../../../src/env/assert.js'
import { RaftLog } from '../../../src/raft/log.js'
import { Inflights, Progress } from '../../../src/raft/progress.js'
import { quorumIndex, voteOutcome } from '../../../src/raft/quorum.js'
import { MemoryRaftStorage } from '../../../src/raft/storage.js'
import type { Entry } from '../../../src/raft/types.js'

function entries(first: number, terms: readonly number[]): Entry[] {
  return terms.map((term, position) => ({
    kind: 'normal',
    term,
    index: first + position,
    data: new Uint8Array(),
  }))
}

function logWith(terms: readonly number[]): RaftLog {
  const storage = new MemoryRaftStorage()
  storage.append(entries(1, terms))
  return new RaftLog(storage)
}

describe('RaftLog', () => {
  it('appends after a match, truncating a conflicting uncommitted suffix', () => {
    const log = logWith([1, 1, 2, 2])
    expect(log.maybeAppend(2, 1, 2, entries(3, [3, 3]))).toBe(4)
    expect([log.mustTerm(3), log.mustTerm(4)]).toEqual([3, 3])
    expect(log.committed).toBe(2)
    expect(log.maybeAppend(4, 9, 4, [])).toBeUndefined()
    // Entries already present are not rewritten, and the commit follows the leader.
    expect(log.maybeAppend(1, 1, 4, entries(2, [1, 3]))).toBe(3)
    expect(log.lastIndex()).toBe(4)
    expect(log.committed).toBe(3)
  })

  it('never rewrites a committed entry and never lowers the commit', () => {
    const log = logWith([1, 1, 2])
    log.commitTo(3)
    expect(() => log.append(entries(2, [5]))).toThrow(AssertionError)
    log.commitTo(1)
    expect(log.committed).toBe(3)
    expect(() => log.commitTo(9)).toThrow(AssertionError)
  })

  it('finds the last entry at or below a term for fast backoff', () => {
    const log = logWith([1, 1, 1, 4, 4, 5, 5, 6, 6, 6])
    expect(log.findConflictByTerm(10, 3)).toEqual({ index: 3, term: 1 })
    expect(log.findConflictByTerm(10, 5)).toEqual({ index: 7, term: 5 })
    expect(log.findConflictByTerm(20, 9)).toEqual({ index: 10, term: 6 })
    expect(log.findConflictByTerm(10, 0)).toEqual({ index: 0, term: 0 })
  })

  it('judges which log is more up to date by last term, then length', () => {
    const log = logWith([1, 2, 2])
    expect(log.isUpToDate(3, 2)).toBe(true)
    expect(log.isUpToDate(2, 2)).toBe(false)
    expect(log.isUpToDate(1, 3)).toBe(true)
    expect(log.isUpToDate(9, 1)).toBe(false)
  })

  it('hands unstable entries out once and ignores confirmations of replaced ones', () => {
    const log = logWith([1])
    log.append(entries(2, [2, 2]))
    expect(log.unstable.nextEntries().map((entry) => entry.index)).toEqual([2, 3])
    log.unstable.acceptInProgress()
    expect(log.unstable.nextEntries()).toEqual([])
    // A new leader replaces index 3 while the first batch is being persisted.
    log.append(entries(3, [3]))
    expect(log.unstable.nextEntries().map((entry) => [entry.index, entry.term])).toEqual([[3, 3]])
    log.unstable.stableTo(3, 2)
    expect(log.mustTerm(3)).toBe(3)
    log.unstable.stableTo(2, 2)
    expect(log.unstable.offset).toBe(3)
  })
})

describe('progress tracking', () => {
  it('bounds the inflight window and frees acknowledged appends', () => {
    const inflights = new Inflights(3)
    inflights.add(5)
    inflights.add(7)
    inflights.add(9)
    expect(inflights.full()).toBe(true)
    expect(() => inflights.add(10)).toThrow(AssertionError)
    inflights.freeLE(7)
    expect(inflights.count).toBe(1)
    inflights.add(12)
    inflights.freeFirstOne()
    expect(inflights.count).toBe(1)
  })

  it('probes one append at a time and pipelines in replicate', () => {
    const progress = new Progress(5, false, 2)
    expect(progress.isPaused()).toBe(false)
    progress.sentEntries(1, 5)
    expect(progress.isPaused()).toBe(true)
    expect(progress.maybeUpdate(5)).toBe(true)
    progress.becomeReplicate()
    progress.sentEntries(2, 7)
    progress.sentEntries(1, 8)
    expect(progress.next).toBe(9)
    expect(progress.isPaused()).toBe(true)
    // A rejection in replicate falls back to just after the match.
    expect(progress.maybeDecrementTo(7, 6)).toBe(true)
    expect(progress.next).toBe(6)
    expect(progress.maybeDecrementTo(4, 0)).toBe(false)
  })

  it('computes the quorum index and election outcomes', () => {
    const matches = new Map([
      ['a', 5],
      ['b', 3],
      ['c', 9],
    ])
    expect(quorumIndex(['a', 'b', 'c'], (id) => matches.get(id) ?? 0)).toBe(5)
    expect(quorumIndex(['a', 'b', 'c', 'd'], (id) => matches.get(id) ?? 0)).toBe(3)
    const voters = ['a', 'b', 'c', 'd', 'e']
    expect(voteOutcome(voters, new Map([['a', true]]))).toBe('pending')
    const won = new Map([
      ['a', true],
      ['b', true],
      ['c', true],
    ])
    expect(voteOutcome(voters, won)).toBe('won')
    const lost = new Map([
      ['a', true],
      ['b', false],
      ['c', false],
      ['d', false],
    ])
    expect(voteOutcome(voters, lost)).toBe('lost')
  })
})
