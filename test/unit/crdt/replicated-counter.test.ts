/**
 * Goal: the replicated counter's idempotency ledger counts every keyed update exactly once,
 * whichever replicas applied copies of it and whichever folded them, as long as copies meet
 * within the window; folding keeps the ledger bounded; and a fold done before copies met is
 * shown (negative control) to count twice, which is the documented edge of the window.
 * Method: fast-check drives three replicas through plain updates, keyed updates (a key maps
 * to one amount, so applying it on another replica is a retry through another coordinator),
 * full-state merges and folds. A fold runs only where every copy of every update the replica
 * holds has arrived (the window assumption); a reference model sums plain updates and each
 * distinct keyed update once. After quiescence every replica's value equals the model, and at
 * every fold, merging the folded state with any replica gives the value the unfolded one did.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as ReplicatedCounter from '../../../src/crdt/replicated-counter.js'
import { decode as decodeMsgpack, encode as encodeMsgpack } from '../../../src/wire/codec.js'
import { ACTORS } from './worlds.js'

type State = ReplicatedCounter.ReplicatedCounter

type Command =
  | { readonly kind: 'plain'; readonly replica: number; readonly amount: number }
  | { readonly kind: 'keyed'; readonly replica: number; readonly key: number }
  | { readonly kind: 'merge'; readonly from: number; readonly to: number }
  | { readonly kind: 'fold'; readonly replica: number; readonly entriesMax: number }

const replica = fc.nat({ max: ACTORS.length - 1 })
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant('plain' as const),
    replica,
    amount: fc.integer({ min: -9, max: 9 }),
  }),
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('keyed' as const), replica, key: fc.nat({ max: 3 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('merge' as const), from: replica, to: replica }),
  },
  fc.record({
    kind: fc.constant('fold' as const),
    replica,
    entriesMax: fc.integer({ min: 1, max: 4 }),
  }),
)

const NEVER_EXPIRES = { windowMs: 1e12 }

function amountOf(key: number): number {
  return key % 2 === 0 ? key + 1 : -key
}

function idOf(key: number): string {
  return `key${key}.body`
}

/** Every copy of an update some replica minted, as (actor, seq). */
type Copies = Map<string, Array<{ actor: string; seq: number }>>

function knows(state: State, copy: { actor: string; seq: number }): boolean {
  if ((state.folded.get(copy.actor)?.seq ?? 0) >= copy.seq) return true
  return (state.entries.get(copy.actor) ?? []).some((entry) => entry.seq === copy.seq)
}

/** The window assumption: every update the state knows a copy of, it knows every copy of. */
function copiesMet(state: State, copies: Copies): boolean {
  for (const list of copies.values()) {
    const known = list.filter((copy) => knows(state, copy)).length
    if (known > 0 && known < list.length) return false
  }
  return true
}

function run(commands: readonly Command[]): { replicas: State[]; expected: number } {
  const replicas: State[] = ACTORS.map(() => ReplicatedCounter.empty())
  const copies: Copies = new Map()
  /** Updates some replica may have folded: their retries are outside the window. */
  const closed = new Set<string>()
  let plainSum = 0
  let time = 0
  for (const step of commands) {
    time += 1
    if (step.kind === 'plain') {
      if (step.amount === 0) continue
      const actor = ACTORS[step.replica] as string
      replicas[step.replica] = ReplicatedCounter.update(
        replicas[step.replica] as State,
        actor,
        step.amount,
      )
      plainSum += step.amount
    } else if (step.kind === 'keyed') {
      const state = replicas[step.replica] as State
      const id = idOf(step.key)
      // The window assumption, second half: a retry arrives before any copy of its update was
      // folded. A retry after that counts again (the negative control below shows it).
      if (closed.has(id)) continue
      if (ReplicatedCounter.lookup(state, id) !== 'new') continue
      const actor = ACTORS[step.replica] as string
      const next = ReplicatedCounter.updateKeyed(state, actor, id, amountOf(step.key), time)
      const seq = next.entries.get(actor)?.at(-1)?.seq as number
      copies.set(id, [...(copies.get(id) ?? []), { actor, seq }])
      replicas[step.replica] = next
    } else if (step.kind === 'merge') {
      replicas[step.to] = ReplicatedCounter.merge(
        replicas[step.to] as State,
        replicas[step.from] as State,
      )
    } else {
      const state = replicas[step.replica] as State
      if (!copiesMet(state, copies)) continue
      const folded = ReplicatedCounter.compact(state, time, {
        ...NEVER_EXPIRES,
        entriesMax: step.entriesMax,
      })
      // A fold is an inflation, and merging it anywhere gives the value the unfolded state gave.
      expect(ReplicatedCounter.lessOrEqual(state, folded)).toBe(true)
      for (const other of replicas) {
        expect(ReplicatedCounter.exactValue(ReplicatedCounter.merge(other, folded))).toBe(
          ReplicatedCounter.exactValue(ReplicatedCounter.merge(other, state)),
        )
      }
      replicas[step.replica] = folded
      for (const id of copies.keys()) closed.add(id)
    }
  }
  let expected = plainSum
  for (const id of copies.keys()) expected += amountOf(Number(id.slice(3, id.indexOf('.'))))
  return { replicas, expected }
}

describe('replicated counter ledger', () => {
  it('counts every keyed update once after quiescence, however copies were folded', () => {
    fc.assert(
      fc.property(fc.array(command, { maxLength: 60 }), (commands) => {
        const { replicas, expected } = run(commands)
        const joined = replicas.reduce(ReplicatedCounter.merge, ReplicatedCounter.empty())
        for (const state of replicas) {
          const converged = ReplicatedCounter.merge(state, joined)
          expect(ReplicatedCounter.equals(converged, joined)).toBe(true)
          expect(ReplicatedCounter.value(converged)).toBe(expected)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('folds a duplicate copy as nothing, wherever it folds first', () => {
    const first = ReplicatedCounter.updateKeyed(ReplicatedCounter.empty(), 'a', 'k.b', 5, 0)
    const retry = ReplicatedCounter.updateKeyed(ReplicatedCounter.empty(), 'b', 'k.b', 5, 1)
    const met = ReplicatedCounter.merge(retry, first)
    expect(ReplicatedCounter.value(met)).toBe(5)
    const policy = { windowMs: 10, entriesMax: 100 }
    const folded = ReplicatedCounter.compact(met, 100, policy)
    expect(ReplicatedCounter.entryCount(folded)).toBe(0)
    expect(ReplicatedCounter.value(folded)).toBe(5)
    // Replicas that still hold either copy, folded or not, do not add it again.
    for (const other of [first, retry, met]) {
      expect(ReplicatedCounter.value(ReplicatedCounter.merge(other, folded))).toBe(5)
      expect(ReplicatedCounter.value(ReplicatedCounter.merge(folded, other))).toBe(5)
    }
  })

  it('stays within the count bound per coordinator however many keyed updates it takes', () => {
    let states: State[] = ACTORS.map(() => ReplicatedCounter.empty())
    const policy = { windowMs: 60_000, entriesMax: 8 }
    for (let index = 0; index < 3000; index++) {
      const at = index % ACTORS.length
      const actor = ACTORS[at] as string
      const updated = ReplicatedCounter.updateKeyed(
        states[at] as State,
        actor,
        `k${index}.b`,
        1,
        index,
      )
      states[at] = ReplicatedCounter.compact(updated, index, policy)
      if (index % 7 === 0) states = states.map((state) => ReplicatedCounter.merge(state, updated))
    }
    const joined = states.reduce(ReplicatedCounter.merge, ReplicatedCounter.empty())
    expect(ReplicatedCounter.value(joined)).toBe(3000)
    expect(ReplicatedCounter.entryCount(joined)).toBeLessThanOrEqual(
      ACTORS.length * policy.entriesMax,
    )
    expect(ReplicatedCounter.byteSize(joined)).toBeLessThan(2000)
  })

  it('folds entries older than the window even below the count bound', () => {
    const state = ReplicatedCounter.updateKeyed(ReplicatedCounter.empty(), 'a', 'k.b', 4, 1000)
    const policy = { windowMs: 500, entriesMax: 100 }
    expect(ReplicatedCounter.compact(state, 1400, policy)).toBe(state)
    const folded = ReplicatedCounter.compact(state, 1500, policy)
    expect(ReplicatedCounter.entryCount(folded)).toBe(0)
    expect(ReplicatedCounter.value(folded)).toBe(4)
    // After the fold the key is forgotten: a retry now would count again.
    expect(ReplicatedCounter.lookup(folded, 'k.b')).toBe('new')
  })

  it('negative control: copies that meet only after one was folded count twice', () => {
    const policy = { windowMs: 10, entriesMax: 100 }
    const first = ReplicatedCounter.updateKeyed(ReplicatedCounter.empty(), 'a', 'k.b', 5, 0)
    const retry = ReplicatedCounter.updateKeyed(ReplicatedCounter.empty(), 'b', 'k.b', 5, 1)
    // Within the window the copies meet and count once.
    expect(ReplicatedCounter.value(ReplicatedCounter.merge(first, retry))).toBe(5)
    // Each side folds before seeing the other: the window's assumption is broken.
    const late = ReplicatedCounter.merge(
      ReplicatedCounter.compact(first, 100, policy),
      ReplicatedCounter.compact(retry, 100, policy),
    )
    expect(ReplicatedCounter.value(late)).toBe(10)
  })

  it('answers lookups: applied, new, or a key reused with other content', () => {
    const state = ReplicatedCounter.updateKeyed(ReplicatedCounter.empty(), 'a', 'key.one', 1, 0)
    expect(ReplicatedCounter.lookup(state, 'key.one')).toBe('applied')
    expect(ReplicatedCounter.lookup(state, 'key.two')).toBe('conflict')
    expect(ReplicatedCounter.lookup(state, 'other.one')).toBe('new')
  })

  it('refuses updates that would overflow a safe integer', () => {
    const big = ReplicatedCounter.update(ReplicatedCounter.empty(), 'a', Number.MAX_SAFE_INTEGER)
    expect(() => ReplicatedCounter.update(big, 'b', 1)).toThrow(/2\^53/)
    expect(() => ReplicatedCounter.updateKeyed(big, 'b', 'k.b', 1, 0)).toThrow(/2\^53/)
    expect(ReplicatedCounter.value(ReplicatedCounter.update(big, 'b', -1))).toBe(
      Number.MAX_SAFE_INTEGER - 1,
    )
  })

  it('refuses malformed encodings with the caller code', () => {
    const state = ReplicatedCounter.updateKeyed(ReplicatedCounter.empty(), 'a', 'k.b', 3, 7)
    const wire = decodeMsgpack(encodeMsgpack(ReplicatedCounter.encode(state))) as unknown[]
    const bad: unknown[] = [
      null,
      [wire[0], wire[1]],
      [wire[0], [['a', -1, 0, 0]], []],
      [wire[0], [], [['a', 1, 'k.b', 3, 7, 9]]],
      [
        wire[0],
        [],
        [
          ['a', 2, 'k.b', 3, 7, 0],
          ['a', 1, 'k.c', 3, 7, 0],
        ],
      ],
      [wire[0], [['a', 3, 3, 0]], [['a', 2, 'k.b', 3, 7, 0]]],
      [wire[0], [], [['a', 1, 'x'.repeat(65), 3, 7, 0]]],
    ]
    for (const raw of bad) {
      expect(() => ReplicatedCounter.decode(raw, 'corrupt_record')).toThrow(
        expect.objectContaining({ code: 'corrupt_record' }),
      )
    }
  })
})
