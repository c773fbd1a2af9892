/**
 * Goal: the anti-entropy hash tree stays equal to a tree built from scratch under any sequence
 * of updates, hashes exactly the causal state (a witness's digests equal a full copy's values,
 * a tombstone differs from a value), and an exchange finds exactly the segments that hold the
 * keys two replicas disagree on, within depth + 2 rounds. Method: worked examples, and
 * fast-check properties over random key sets, records and update sequences; exchanges run the
 * state machine against a second in-memory tree standing for the peer.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as ReplicatedCounter from '../../../src/crdt/replicated-counter.js'
import {
  diffKeys,
  type KeyEntry,
  TreeExchange,
} from '../../../src/replication/antientropy/exchange.js'
import {
  HashTree,
  type KeyHash,
  recordHash,
  segmentOf,
  TREE_FANOUT,
} from '../../../src/replication/antientropy/tree.js'
import type { KeyRecord, KvPayload } from '../../../src/replication/record.js'
import { witnessForm } from '../../../src/replication/witness.js'
import { emptyVersioned, update, type Versioned } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR, vectorFromEntries } from '../../../src/versioning/version-vector.js'

const value = (text: string): KvPayload => ({
  kind: 'value',
  value: new TextEncoder().encode(text),
  contentType: 'text/plain',
})
const tombstone: KvPayload = { kind: 'tombstone', deletedAtMs: 1_800_000_000_000 }

function recordOf(...payloads: [string, KvPayload][]): KeyRecord {
  let kv: Versioned<KvPayload> = emptyVersioned()
  for (const [actor, payload] of payloads) kv = update(kv, EMPTY_VECTOR, actor, payload).versioned
  return { kv }
}

/** A record from a small random history: writes by three actors, some of them deletes. */
const recordArbitrary: fc.Arbitrary<KeyRecord> = fc
  .array(fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.boolean(), fc.string({ maxLength: 4 })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((writes) =>
    recordOf(
      ...writes.map(([actor, live, text]): [string, KvPayload] => [
        actor,
        live ? value(text) : tombstone,
      ]),
    ),
  )

const keyArbitrary = fc.string({ minLength: 1, maxLength: 12 })

function treeOf(depth: number, records: ReadonlyMap<string, KeyRecord>): HashTree {
  const tree = new HashTree(depth)
  for (const [key, record] of records) tree.update(key, undefined, recordHash(key, record))
  return tree
}

/** Runs an exchange of `local` against `remote` and returns its segments and hash rounds. */
function exchange(
  local: HashTree,
  remote: HashTree,
  nodesPerMessageMax = 4096,
): { segments: number[]; rounds: number } {
  const walk = new TreeExchange(local, nodesPerMessageMax)
  for (let step = 0; step < 10_000 && !walk.done; step++) {
    const request = walk.next()
    if (request === undefined) break
    walk.answer(remote.nodeBytes(request.level, request.indices))
  }
  expect(walk.done).toBe(true)
  return { segments: walk.differingSegments(), rounds: walk.rounds }
}

describe('record hashes', () => {
  it('a witness form hashes like the full record it came from', () => {
    const record = recordOf(['a', value('one')], ['b', value('two')])
    expect(recordHash('k', witnessForm(record))).toEqual(recordHash('k', record))
  })

  it('a tombstone, another key or another clock hashes differently', () => {
    const live = recordOf(['a', value('one')])
    const deleted: KeyRecord = {
      kv: {
        clock: { vector: vectorFromEntries([['a', 1]]), cloud: [] },
        siblings: [{ dot: { actor: 'a', counter: 1 }, payload: tombstone }],
      },
    }
    const hash = recordHash('k', live)
    expect(recordHash('k', deleted)).not.toEqual(hash)
    expect(recordHash('other', live)).not.toEqual(hash)
    expect(recordHash('k', recordOf(['a', value('one')], ['a', value('one')]))).not.toEqual(hash)
  })

  it('a counter update changes the hash, and equal counters hash alike', () => {
    const counter = ReplicatedCounter.update(ReplicatedCounter.empty(), 'a', 2)
    const more = ReplicatedCounter.update(counter, 'b', 1)
    const base = recordHash('k', { counter })
    expect(base).toBeDefined()
    expect(recordHash('k', { counter: more })).not.toEqual(base)
    expect(recordHash('k', { counter: ReplicatedCounter.merge(counter, counter) })).toEqual(base)
    expect(recordHash('k', { ...recordOf(['a', value('v')]), counter })).not.toEqual(base)
  })

  it('an absent or empty record has no hash', () => {
    expect(recordHash('k', undefined)).toBeUndefined()
    expect(recordHash('k', {})).toBeUndefined()
  })

  it('the clock order in memory does not matter', () => {
    const siblings = [{ dot: { actor: 'b', counter: 1 }, payload: value('x') }]
    const forward: KeyRecord = {
      kv: {
        clock: {
          vector: new Map([
            ['a', 2],
            ['b', 1],
          ]),
          cloud: [],
        },
        siblings,
      },
    }
    const backward: KeyRecord = {
      kv: {
        clock: {
          vector: new Map([
            ['b', 1],
            ['a', 2],
          ]),
          cloud: [],
        },
        siblings,
      },
    }
    expect(recordHash('k', forward)).toEqual(recordHash('k', backward))
  })
})

describe('HashTree', () => {
  it('has 16^depth segments and an empty tree is all zeros', () => {
    const tree = new HashTree(3)
    expect(tree.segments).toBe(4096)
    expect(tree.width(1)).toBe(TREE_FANOUT)
    expect(tree.node(0, 0)).toEqual({ high: 0, low: 0 })
    expect(() => new HashTree(0)).toThrow()
  })

  it('removing every key returns the tree to empty', () => {
    const tree = new HashTree(2)
    const hash = recordHash('k', recordOf(['a', value('v')])) as KeyHash
    tree.update('k', undefined, hash)
    expect(tree.keyCount).toBe(1)
    expect(tree.node(0, 0)).toEqual(hash)
    tree.update('k', hash, undefined)
    expect(tree.keyCount).toBe(0)
    expect(tree.equals(new HashTree(2))).toBe(true)
  })

  it('incremental updates equal a rebuild (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(keyArbitrary, fc.option(recordArbitrary, { nil: undefined })), {
          maxLength: 60,
        }),
        (operations) => {
          const tree = new HashTree(2)
          const current = new Map<string, KeyRecord>()
          for (const [key, record] of operations) {
            tree.update(key, recordHash(key, current.get(key)), recordHash(key, record))
            if (record === undefined) current.delete(key)
            else current.set(key, record)
          }
          const rebuilt = treeOf(2, current)
          expect(tree.equals(rebuilt)).toBe(true)
          expect(tree.keyCount).toBe(current.size)
        },
      ),
    )
  })

  it('adoptSegments keeps the chosen segments and takes the rest', () => {
    const other = Array.from({ length: 64 }, (_, index) => `b${index}`).find(
      (key) => segmentOf(key, 16) !== segmentOf('a', 16),
    ) as string
    const stale = treeOf(1, new Map([['a', recordOf(['x', value('1')])]]))
    const fresh = treeOf(1, new Map([[other, recordOf(['x', value('2')])]]))
    stale.adoptSegments(fresh, new Set([segmentOf('a', 16)]))
    const expected = new Map([
      ['a', recordOf(['x', value('1')])],
      [other, recordOf(['x', value('2')])],
    ])
    expect(stale.equals(treeOf(1, expected))).toBe(true)
    expect(stale.keyCount).toBe(2)
  })
})

describe('TreeExchange', () => {
  it('equal trees finish after the root', () => {
    const records = new Map([['a', recordOf(['x', value('1')])]])
    const result = exchange(treeOf(3, records), treeOf(3, records))
    expect(result).toEqual({ segments: [], rounds: 1 })
  })

  it('finds exactly the segments of the differing keys within depth + 1 hash rounds (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArbitrary, { minLength: 1, maxLength: 80 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: 3 }),
        recordArbitrary,
        (keys, picks, depth, common) => {
          fc.pre(recordHash('k', common) !== undefined)
          const shared = new Map(keys.map((key) => [key, common]))
          const diverged = new Map(shared)
          const differing = new Set(picks.map((pick) => keys[pick % keys.length] as string))
          for (const key of differing) {
            if (keys.indexOf(key) % 2 === 0) diverged.delete(key)
            else diverged.set(key, recordOf(['z', value(`${key}!`)]))
          }
          const local = treeOf(depth, shared)
          const remote = treeOf(depth, diverged)
          const result = exchange(local, remote)
          const segments = local.segments
          const expected = [...new Set([...differing].map((key) => segmentOf(key, segments)))]
          expect(result.segments).toEqual(expected.sort((left, right) => left - right))
          // depth + 1 hash rounds, then one key round: depth + 2 in all.
          expect(result.rounds).toBeLessThanOrEqual(depth + 1)
        },
      ),
    )
  })

  it('a small per-message bound splits a level into several messages', () => {
    const local = treeOf(2, new Map())
    const remote = treeOf(
      2,
      new Map(
        Array.from({ length: 200 }, (_, index) => [`k${index}`, recordOf(['a', value('v')])]),
      ),
    )
    const result = exchange(local, remote, 16)
    expect(result.segments.length).toBeGreaterThan(16)
    expect(result.rounds).toBeGreaterThan(3)
    expect(result.rounds).toBeLessThanOrEqual(1 + 1 + 16)
  })

  it('refuses a bound smaller than one node’s children', () => {
    expect(() => new TreeExchange(new HashTree(1), 8)).toThrow()
  })
})

describe('diffKeys', () => {
  const hash = (high: number): KeyHash => ({ high, low: 0 })
  const entries = (...pairs: [string, number][]): KeyEntry[] =>
    pairs.map(([key, high]) => ({ key, hash: hash(high) }))

  it('pulls what the peer holds differently or alone, pushes what only this replica holds', () => {
    const local = entries(['a', 1], ['b', 2], ['d', 4])
    const remote = entries(['b', 9], ['c', 3], ['d', 4], ['e', 5])
    expect(diffKeys(local, remote)).toEqual({ pull: ['b', 'c', 'e'], push: ['a'], compared: 5 })
  })

  it('equal lists differ in nothing', () => {
    const list = entries(['a', 1], ['b', 2])
    expect(diffKeys(list, list)).toEqual({ pull: [], push: [], compared: 2 })
    expect(diffKeys([], [])).toEqual({ pull: [], push: [], compared: 0 })
  })
})
