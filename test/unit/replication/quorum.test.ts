/**
 * Goal: quorum tallies never report success below the requested level, report failure as soon
 * as success is impossible, replace failed targets with spares holding a hint for the right
 * primary (each spare once), tell a definite write failure from an indefinite one, and read
 * repair exactly the primaries whose answer differs from the merge.
 * Method: tables of event sequences, then a fast-check property over random sequences of
 * acknowledgements and failures checked against an independent count.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { ReplicaPlan } from '../../../src/replication/plan.js'
import { QuorumTally, ReadTally, WriteTally } from '../../../src/replication/quorum.js'
import { EMPTY_RECORD, type KeyRecord } from '../../../src/replication/record.js'
import { emptyVersioned, update } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'

const PLAN: Pick<ReplicaPlan, 'targets' | 'spares'> = {
  targets: [
    { node: 'p1', hintFor: undefined },
    { node: 'p2', hintFor: undefined },
    { node: 'f1', hintFor: 'p3' },
  ],
  spares: ['s1', 's2'],
}

describe('QuorumTally', () => {
  it('is met at w acknowledgements with enough primaries, and stays met', () => {
    const tally = new QuorumTally(PLAN, { total: 2, primaries: 1 })
    tally.succeed('f1')
    expect(tally.outcome).toBe('pending')
    tally.succeed('p2')
    expect(tally.outcome).toBe('met')
    expect(tally.fail('p1')).toBeUndefined()
    expect(tally.outcome).toBe('met')
  })

  it('does not count fallbacks toward the primary requirement', () => {
    const tally = new QuorumTally(PLAN, { total: 2, primaries: 2 })
    tally.succeed('p1')
    tally.succeed('f1')
    expect(tally.outcome).toBe('pending')
    tally.fail('p2')
    expect(tally.outcome).toBe('unreachable')
  })

  it('replaces a failed target with the next spare, holding a hint for the same primary', () => {
    const tally = new QuorumTally(PLAN, { total: 3, primaries: 0 })
    expect(tally.fail('p2')).toEqual({ node: 's1', hintFor: 'p2' })
    expect(tally.fail('f1')).toEqual({ node: 's2', hintFor: 'p3' })
    expect(tally.fail('s1')).toBeUndefined()
    expect(tally.outcome).toBe('unreachable')
  })

  it('asks held-back targets first when an asked one fails, and counts them as reachable', () => {
    const tally = new QuorumTally(PLAN, { total: 2, primaries: 2 }, 2)
    expect(tally.targets().map((target) => target.node)).toEqual(['p1', 'p2'])
    expect(tally.fail('p2')).toEqual({ node: 'f1', hintFor: 'p3' })
    expect(tally.outcome).toBe('unreachable')
    const reserve = new QuorumTally(PLAN, { total: 3, primaries: 0 }, 1)
    expect(reserve.outcome).toBe('pending')
    expect(reserve.fail('p1')).toEqual({ node: 'p2', hintFor: undefined })
    expect(reserve.fail('p2')).toEqual({ node: 'f1', hintFor: 'p3' })
    expect(reserve.fail('f1')).toEqual({ node: 's1', hintFor: 'p3' })
  })

  it('gives up on pending targets when the time is up', () => {
    const tally = new QuorumTally(PLAN, { total: 2, primaries: 0 })
    tally.succeed('p1')
    tally.expire()
    expect(tally.outcome).toBe('unreachable')
    expect(tally.settled).toBe(true)
  })

  const eventArbitrary = fc.array(
    fc.tuple(fc.constantFrom('p1', 'p2', 'f1', 's1', 's2'), fc.boolean()),
    { maxLength: 12 },
  )

  it('never reports success below the requested level', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 2 }),
        eventArbitrary,
        (total, primaries, events) => {
          const tally = new QuorumTally(PLAN, { total, primaries })
          const succeeded = new Set<string>()
          const asked = new Set(['p1', 'p2', 'f1'])
          let wasMet = false
          for (const [node, ok] of events) {
            if (!asked.has(node) || tally.statusOf(node) !== 'pending') continue
            if (ok) {
              tally.succeed(node)
              succeeded.add(node)
            } else {
              const replacement = tally.fail(node)
              if (replacement !== undefined) asked.add(replacement.node)
            }
            const primariesAcked = [...succeeded].filter((n) => n.startsWith('p')).length
            const enough = succeeded.size >= total && primariesAcked >= primaries
            if (tally.outcome === 'met') wasMet = true
            expect(tally.outcome === 'met').toBe(enough || wasMet)
            if (wasMet) expect(enough || tally.outcome === 'met').toBe(true)
            if (tally.outcome === 'met') {
              expect(tally.counts().succeeded).toBeGreaterThanOrEqual(total)
              expect(tally.counts().primariesSucceeded).toBeGreaterThanOrEqual(primaries)
            }
          }
        },
      ),
    )
  })
})

describe('WriteTally', () => {
  it('is definite only when nothing was stored and nothing may have been', () => {
    const refused = new WriteTally(PLAN, { total: 3, primaries: 0 })
    refused.expire()
    expect(refused.failure().definite).toBe(false)
    const clean = new WriteTally({ targets: PLAN.targets, spares: [] }, { total: 3, primaries: 0 })
    for (const target of PLAN.targets) clean.fail(target.node, true)
    expect(clean.failure()).toEqual({
      required: 3,
      acknowledged: 0,
      primariesRequired: 0,
      primariesAcknowledged: 0,
      fullAcknowledged: 0,
      definite: true,
    })
    const timedOut = new WriteTally(
      { targets: PLAN.targets, spares: [] },
      { total: 3, primaries: 0 },
    )
    timedOut.fail('p1', false)
    expect(timedOut.failure().definite).toBe(false)
    const stored = new WriteTally({ targets: PLAN.targets, spares: [] }, { total: 3, primaries: 0 })
    stored.markStored()
    stored.fail('p1', true)
    expect(stored.failure().definite).toBe(false)
  })

  it('reports what was acknowledged', () => {
    const tally = new WriteTally(PLAN, { total: 3, primaries: 2 })
    tally.acknowledge('p1')
    tally.acknowledge('f1')
    tally.expire()
    expect(tally.failure()).toMatchObject({
      required: 3,
      acknowledged: 2,
      primariesAcknowledged: 1,
    })
  })
})

describe('ReadTally', () => {
  const x = update(emptyVersioned(), EMPTY_VECTOR, 'n1.a', 'x').versioned
  const y = update(x, x.clock, 'n2.b', 'y').versioned
  const recordX = { kv: x } as KeyRecord
  const recordY = { kv: y } as KeyRecord

  it('counts not-found answers toward r and merges what it got', () => {
    const tally = new ReadTally(PLAN, { total: 2, primaries: 0 })
    tally.answer('p1', EMPTY_RECORD)
    tally.answer('f1', recordX)
    expect(tally.quorum.outcome).toBe('met')
    expect(tally.merged()).toEqual(recordX)
  })

  it('repairs primaries that are stale or missing, never fallbacks', () => {
    const tally = new ReadTally(PLAN, { total: 3, primaries: 0 })
    tally.answer('p1', recordY)
    tally.answer('p2', EMPTY_RECORD)
    tally.answer('f1', recordX)
    expect(tally.staleTargets()).toEqual([
      { target: { node: 'p2', hintFor: undefined }, record: tally.merged() },
    ])
    const current = new ReadTally(PLAN, { total: 2, primaries: 0 })
    current.answer('p1', recordX)
    current.answer('p2', recordY)
    expect(current.staleTargets().map((stale) => stale.target.node)).toEqual(['p1'])
  })

  it('repairs nothing when no replica holds the key', () => {
    const tally = new ReadTally(PLAN, { total: 1, primaries: 0 })
    tally.answer('p1', EMPTY_RECORD)
    expect(tally.staleTargets()).toEqual([])
  })
})
