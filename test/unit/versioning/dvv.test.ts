/**
 * Goal: dotted version vectors keep their contract: `sync` is a lattice join, `compare` and
 * `descends` are its order (also with a payload choice between a value and its digest), a
 * write's context supersedes exactly the siblings it covers, and the compact encoding round-trips and rejects malformed input with the caller's code.
 * Method: worked examples for each rule, then fast-check properties over states drawn from
 * random reachable histories (test/unit/versioning/histories.ts).
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AssertionError } from '../../../src/env/assert.js'
import { isMurmurError, MurmurError } from '../../../src/env/errors.js'
import {
  contextCovers,
  contextJoin,
  type DotContext,
  EMPTY_DOT_CONTEXT,
} from '../../../src/versioning/dot-context.js'
import {
  compare,
  compareDots,
  context,
  decodeVersioned,
  descends,
  dominatesAll,
  emptyVersioned,
  encodeVersioned,
  isTombstone,
  mapPayload,
  payloads,
  SIBLINGS_DECODED_COUNT_MAX,
  siblingCount,
  sync,
  update,
  type Versioned,
} from '../../../src/versioning/dvv.js'
import {
  type Dot,
  dotEquals,
  EMPTY_VECTOR,
  VECTOR_ENTRIES_MAX,
  type VersionVector,
  vectorFromEntries,
} from '../../../src/versioning/version-vector.js'
import { decode, encode } from '../../../src/wire/codec.js'
import { type History, historyArbitrary } from './histories.js'

/** The clock entry a minting actor's own dot gives: every counter of its up to the dot. */
function ownDot(dot: Dot): DotContext {
  return { vector: new Map([[dot.actor, dot.counter]]), cloud: [] }
}

const A = 'n1.3f9a'
const B = 'n2.40a1'

/** The canonical form of a state: equal states have equal canonical forms. */
function canonical(versioned: Versioned<string>): unknown {
  return encodeVersioned(versioned, (payload) => payload)
}

function pick(history: History, index: number): Versioned<string> {
  const state = history.snapshots[index % history.snapshots.length]
  if (state === undefined) throw new Error('history without snapshots')
  return state
}

const historyWithPicks = fc.tuple(historyArbitrary(), fc.nat(), fc.nat(), fc.nat())

function write(
  local: Versioned<string>,
  seen: VersionVector | DotContext,
  actor: string,
  value: string,
) {
  return update(local, seen, actor, value).versioned
}

describe('update', () => {
  it('mints the first dot of an actor on an empty key', () => {
    const { versioned, dot } = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'v1')
    expect(dot).toEqual({ actor: A, counter: 1 })
    expect(payloads(versioned)).toEqual(['v1'])
    expect([...versioned.clock.vector]).toEqual([[A, 1]])
    expect(versioned.clock.cloud).toEqual([])
  })

  it('keeps siblings a write without context has not seen', () => {
    const first = write(emptyVersioned(), EMPTY_VECTOR, A, 'v1')
    const second = write(first, EMPTY_VECTOR, A, 'v2')
    expect(payloads(second)).toEqual(['v1', 'v2'])
    expect(siblingCount(second)).toBe(2)
  })

  it('supersedes exactly the siblings its context covers', () => {
    const first = write(emptyVersioned(), EMPTY_VECTOR, A, 'v1')
    const seen = context(first)
    const concurrent = write(first, EMPTY_VECTOR, B, 'v2')
    const next = write(concurrent, seen, A, 'v3')
    expect(payloads(next)).toEqual(['v3', 'v2'])
    expect(next.siblings.map((sibling) => sibling.dot)).toEqual([
      { actor: A, counter: 2 },
      { actor: B, counter: 1 },
    ])
  })

  it('mints a dot above what the context has seen from the same actor', () => {
    // The coordinator lags: the client read A's second write from another replica.
    const lagging = write(emptyVersioned(), EMPTY_VECTOR, A, 'v1')
    const seen = vectorFromEntries([[A, 2]])
    const { versioned, dot } = update(lagging, seen, A, 'v3')
    expect(dot).toEqual({ actor: A, counter: 3 })
    expect(payloads(versioned)).toEqual(['v3'])
  })

  it('treats a delete as a version and reports tombstones', () => {
    type Payload = { value: string; deleted: boolean }
    const isDeleted = (payload: Payload) => payload.deleted
    const live = update(emptyVersioned<Payload>(), EMPTY_VECTOR, A, { value: 'x', deleted: false })
    expect(isTombstone(live.versioned, isDeleted)).toBe(false)
    const deleted = update(live.versioned, context(live.versioned), A, { value: '', deleted: true })
    expect(isTombstone(deleted.versioned, isDeleted)).toBe(true)
    const revived = update(deleted.versioned, EMPTY_VECTOR, B, { value: 'y', deleted: false })
    expect(isTombstone(revived.versioned, isDeleted)).toBe(false)
    expect(isTombstone(emptyVersioned<Payload>(), isDeleted)).toBe(false)
  })

  it('rejects a forged context that would overflow a counter', () => {
    const forged = vectorFromEntries([[A, Number.MAX_SAFE_INTEGER]])
    expect(() => update(emptyVersioned<string>(), forged, A, 'v')).toThrow(
      expect.objectContaining({ code: 'invalid_context' }),
    )
  })

  it('rejects a forged context that would grow the clock past the actor bound', () => {
    const forged = vectorFromEntries(
      Array.from({ length: VECTOR_ENTRIES_MAX }, (_, index): [string, number] => [`x${index}`, 1]),
    )
    expect(() => update(emptyVersioned<string>(), forged, A, 'v')).toThrow(MurmurError)
  })

  it('asserts that the local state keeps the container invariants', () => {
    const uncovered: Versioned<string> = {
      clock: EMPTY_DOT_CONTEXT,
      siblings: [{ dot: { actor: A, counter: 1 }, payload: 'v' }],
    }
    expect(() => update(uncovered, EMPTY_VECTOR, A, 'v')).toThrow(AssertionError)
    expect(() => update(emptyVersioned<string>(), EMPTY_VECTOR, '', 'v')).toThrow(AssertionError)
  })
})

describe('sync and compare', () => {
  it('keeps concurrent siblings and drops superseded ones', () => {
    const base = write(emptyVersioned(), EMPTY_VECTOR, A, 'v1')
    const atA = write(base, context(base), A, 'v2')
    const atB = write(base, EMPTY_VECTOR, B, 'v3')
    const merged = sync(atA, atB)
    expect(payloads(merged)).toEqual(['v2', 'v3'])
    expect(compare(atA, atB)).toBe('concurrent')
    expect(compare(base, merged)).toBe('before')
    expect(compare(merged, atA)).toBe('after')
    expect(compare(merged, sync(atB, atA))).toBe('equal')
  })

  it('orders by dots as well as clocks', () => {
    // Equal clocks, but `holding` still has a sibling that `superseded` has seen and dropped;
    // only corrupt or forged input produces this pair, and sync resolves it to `superseded`.
    const clock = { vector: vectorFromEntries([[A, 2]]), cloud: [] }
    const holding: Versioned<string> = {
      clock,
      siblings: [
        { dot: { actor: A, counter: 1 }, payload: 'v1' },
        { dot: { actor: A, counter: 2 }, payload: 'v2' },
      ],
    }
    const superseded: Versioned<string> = { clock, siblings: holding.siblings.slice(1) }
    expect(compare(holding, superseded)).toBe('before')
    expect(descends(superseded, holding)).toBe(true)
    expect(canonical(sync(holding, superseded))).toEqual(canonical(superseded))
  })

  it('checks that a full replica dominates what witnesses report', () => {
    const digest = (value: string) => `#${value.length}`
    const full = write(emptyVersioned(), EMPTY_VECTOR, A, 'value')
    const witness = mapPayload(full, digest)
    expect(payloads(witness)).toEqual(['#5'])
    expect(dominatesAll(full, [witness])).toBe(true)
    const witnessAhead = mapPayload(write(full, context(full), B, 'newer'), digest)
    expect(dominatesAll(full, [witness, witnessAhead])).toBe(false)
    expect(descends(witnessAhead, full)).toBe(true)
  })

  it('is commutative, associative and idempotent up to canonical form', () => {
    fc.assert(
      fc.property(historyWithPicks, ([history, i, j, k]) => {
        const [a, b, c] = [pick(history, i), pick(history, j), pick(history, k)]
        expect(sync(a, b)).toEqual(sync(b, a))
        expect(canonical(sync(a, b))).toEqual(canonical(sync(b, a)))
        expect(canonical(sync(sync(a, b), c))).toEqual(canonical(sync(a, sync(b, c))))
        expect(canonical(sync(a, a))).toEqual(canonical(a))
        expect(canonical(sync(a, sync(a, b)))).toEqual(canonical(sync(a, b)))
      }),
    )
  })

  it('stays a join when a payload choice keeps the fuller of two forms of a dot', () => {
    // A payload is a value or its digest ('#' + value); the choice keeps the value.
    const fuller = (left: string, right: string) => (left.startsWith('#') ? right : left)
    const digested = (state: Versioned<string>, mask: number) =>
      mapPayload(state, (payload, dot) =>
        (dot.counter + mask) % 2 === 0 ? `#${payload}` : payload,
      )
    fc.assert(
      fc.property(historyWithPicks, fc.nat(), fc.nat(), ([history, i, j, k], maskA, maskB) => {
        const a = digested(pick(history, i), maskA)
        const b = digested(pick(history, j), maskB)
        const c = pick(history, k)
        const join = (x: Versioned<string>, y: Versioned<string>) => sync(x, y, fuller)
        expect(canonical(join(a, b))).toEqual(canonical(join(b, a)))
        expect(canonical(join(join(a, b), c))).toEqual(canonical(join(a, join(b, c))))
        expect(canonical(join(a, a))).toEqual(canonical(a))
        // The full form absorbs its own digests.
        expect(canonical(join(a, c))).toEqual(canonical(join(c, a)))
        const full = pick(history, i)
        expect(canonical(join(a, full))).toEqual(canonical(full))
      }),
    )
  })

  it('is an inflation: the result descends both inputs', () => {
    fc.assert(
      fc.property(historyWithPicks, ([history, i, j]) => {
        const [a, b] = [pick(history, i), pick(history, j)]
        const merged = sync(a, b)
        expect(descends(merged, a)).toBe(true)
        expect(descends(merged, b)).toBe(true)
      }),
    )
  })

  it('orders states exactly as sync does', () => {
    fc.assert(
      fc.property(historyWithPicks, ([history, i, j]) => {
        const [a, b] = [pick(history, i), pick(history, j)]
        expect(descends(a, b)).toBe(
          JSON.stringify(canonical(sync(a, b))) === JSON.stringify(canonical(a)),
        )
        const forward = compare(a, b)
        const backward = compare(b, a)
        const mirror = {
          equal: 'equal',
          before: 'after',
          after: 'before',
          concurrent: 'concurrent',
        }
        expect(backward).toBe(mirror[forward])
        expect(forward === 'equal').toBe(
          JSON.stringify(canonical(a)) === JSON.stringify(canonical(b)),
        )
      }),
    )
  })
})

describe('context supersession', () => {
  it('removes exactly what the context covers, also after syncing with another replica', () => {
    fc.assert(
      fc.property(historyWithPicks, fc.constantFrom(A, B), ([history, i, j, k], actor) => {
        const local = pick(history, i)
        const other = pick(history, j)
        const seen = context(pick(history, k))
        const { versioned, dot } = update(local, seen, actor, 'new')
        // Directly: covered siblings are gone, uncovered ones stay.
        for (const sibling of local.siblings) {
          const kept = versioned.siblings.some((held) => dotEquals(held.dot, sibling.dot))
          expect(kept).toBe(!contextCovers(seen, sibling.dot))
        }
        expect(descends(versioned, local)).toBe(true)
        expect(compare(versioned, local)).toBe('after')
        // After a sync: the same as syncing without the write, minus what the context covers.
        const withWrite = sync(versioned, other)
        const withoutWrite = sync(local, other)
        const expected: Versioned<string> = {
          clock: contextJoin(contextJoin(withoutWrite.clock, seen), ownDot(dot)),
          siblings: [
            ...withoutWrite.siblings.filter((sibling) => !contextCovers(seen, sibling.dot)),
            { dot, payload: 'new' },
          ].sort((left, right) => compareDots(left.dot, right.dot)),
        }
        expect(canonical(withWrite)).toEqual(canonical(expected))
      }),
    )
  })
})

describe('encodeVersioned and decodeVersioned', () => {
  const decodeString = (raw: unknown): string => {
    if (typeof raw !== 'string') throw new MurmurError('corrupt_record', 'payload must be a string')
    return raw
  }

  it('round-trips through msgpack bytes', () => {
    fc.assert(
      fc.property(historyWithPicks, ([history, i]) => {
        const state = pick(history, i)
        const bytes = encode(encodeVersioned(state, (payload) => payload))
        const decoded = decodeVersioned(decode(bytes), decodeString, 'corrupt_record')
        expect(canonical(decoded)).toEqual(canonical(state))
        expect(compare(decoded, state)).toBe('equal')
      }),
    )
  })

  it('rejects arbitrary garbage with the given code and nothing else', () => {
    fc.assert(
      fc.property(fc.anything(), (raw) => {
        try {
          decodeVersioned(raw, decodeString, 'invalid_request')
        } catch (error) {
          expect(isMurmurError(error, 'invalid_request')).toBe(true)
        }
      }),
    )
  })

  it('rejects each malformed shape', () => {
    const dot = [A, 1]
    const clock = [[A, 1]]
    const cases: unknown[] = [
      null,
      [clock],
      [clock, [[dot, 'v']], 'extra'],
      [[[A, 0]], []],
      [clock, 'siblings'],
      [clock, [[dot]]],
      [clock, [[[A, 2], 'v']]],
      [
        clock,
        [
          [dot, 'v'],
          [dot, 'v'],
        ],
      ],
      [clock, [[[A, 1.5], 'v']]],
      [clock, [[dot, 7]]],
      [[[A, 1]], Array.from({ length: SIBLINGS_DECODED_COUNT_MAX + 1 }, () => [dot, 'v'])],
    ]
    for (const raw of cases) {
      expect(() => decodeVersioned(raw, decodeString, 'corrupt_record')).toThrow(
        expect.objectContaining({ code: 'corrupt_record' }),
      )
    }
  })

  it('puts decoded siblings in canonical order', () => {
    const raw = [
      [
        [B, 1],
        [A, 2],
      ],
      [
        [[B, 1], 'b'],
        [[A, 2], 'a2'],
        [[A, 1], 'a1'],
      ],
    ]
    const decoded = decodeVersioned(raw, decodeString, 'corrupt_record')
    expect(payloads(decoded)).toEqual(['a1', 'a2', 'b'])
    expect(encodeVersioned(decoded, (payload) => payload)).toEqual([
      [
        [A, 2],
        [B, 1],
      ],
      [
        [[A, 1], 'a1'],
        [[A, 2], 'a2'],
        [[B, 1], 'b'],
      ],
    ])
  })
})
