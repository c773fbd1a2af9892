/**
 * Goal: every Raft message survives the wire unchanged, and untrusted bytes can never crash a
 * node: anything malformed is a MurmurError('invalid_request'). Method: fast-check generates
 * well-formed messages of every type for round trips, then random bytes, random msgpack values
 * and single-field corruptions of valid messages, all of which must be rejected with that code.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import {
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  parseMessage,
} from '../../../src/raft/codec.js'
import type { Entry, Message, Snapshot } from '../../../src/raft/types.js'
import { decode, encode } from '../../../src/wire/codec.js'

const nodeId = fc.string({ minLength: 1, maxLength: 12 })
const term = fc.integer({ min: 0, max: 1_000_000 })
const index = fc.integer({ min: 0, max: 1_000_000 })
const bytes = (maxLength: number) => fc.uint8Array({ maxLength })
const context = fc.uint8Array({ minLength: 1, maxLength: 32 })
const confState = fc.uniqueArray(nodeId, { maxLength: 6 }).chain((ids) =>
  fc.integer({ min: 0, max: ids.length }).map((split) => ({
    voters: ids.slice(0, split).sort(),
    learners: ids.slice(split).sort(),
  })),
)
const snapshot: fc.Arbitrary<Snapshot> = fc.record({
  metadata: fc.record({ index, term, confState }),
  data: bytes(64),
})
const header = fc
  .tuple(nodeId, nodeId, term)
  .filter(([from, to]) => from !== to)
  .map(([from, to, messageTerm]) => ({ from, to, term: messageTerm }))

/** Contiguous entries after (index, logTerm), with terms between logTerm and the message term. */
const append = fc
  .record({
    header,
    index,
    commit: index,
    terms: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 5 }),
    kinds: fc.array(fc.boolean(), { maxLength: 5 }),
    data: bytes(16),
    changeTarget: nodeId,
  })
  .map(({ header: base, index: previous, commit, terms, kinds, data, changeTarget }): Message => {
    const logTerm = Math.max(1, base.term - 5)
    const messageTerm = Math.max(logTerm + 3, base.term)
    let entryTerm = logTerm
    const entries: Entry[] = terms.map((step, position) => {
      entryTerm = Math.min(messageTerm, entryTerm + step)
      const entryIndex = previous + 1 + position
      return kinds[position] === true
        ? {
            kind: 'conf_change',
            term: entryTerm,
            index: entryIndex,
            change: { type: 'add_learner', nodeId: changeTarget },
          }
        : { kind: 'normal', term: entryTerm, index: entryIndex, data }
    })
    return { ...base, term: messageTerm, type: 'append', index: previous, logTerm, entries, commit }
  })

const message: fc.Arbitrary<Message> = fc.oneof(
  append,
  fc
    .record({ header, index, reject: fc.boolean(), rejectHint: index, logTerm: term })
    .map(({ header: base, ...rest }): Message => ({ ...base, type: 'append_response', ...rest })),
  fc
    .record({ header, commit: index, round: index, context: bytes(8) })
    .map(({ header: base, ...rest }): Message => ({ ...base, type: 'heartbeat', ...rest })),
  fc
    .record({ header, round: index, context: bytes(8) })
    .map(
      ({ header: base, ...rest }): Message => ({ ...base, type: 'heartbeat_response', ...rest }),
    ),
  fc
    .record({
      header,
      type: fc.constantFrom('vote' as const, 'pre_vote' as const),
      index,
      logTerm: term,
      transfer: fc.boolean(),
    })
    .map(({ header: base, ...rest }): Message => ({ ...base, ...rest })),
  fc
    .record({
      header,
      type: fc.constantFrom('vote_response' as const, 'pre_vote_response' as const),
      reject: fc.boolean(),
    })
    .map(({ header: base, ...rest }): Message => ({ ...base, ...rest })),
  fc
    .record({ header, snapshot })
    .map(({ header: base, ...rest }): Message => ({ ...base, type: 'snapshot', ...rest })),
  header.map((base): Message => ({ ...base, type: 'timeout_now' })),
  fc
    .record({ header, context })
    .map(({ header: base, ...rest }): Message => ({ ...base, type: 'read_index', ...rest })),
  fc
    .record({ header, index, context })
    .map(
      ({ header: base, ...rest }): Message => ({ ...base, type: 'read_index_response', ...rest }),
    ),
)

function expectInvalid(action: () => unknown): void {
  try {
    action()
  } catch (error) {
    expect(isMurmurError(error, 'invalid_request')).toBe(true)
    return
  }
  throw new Error('malformed input was accepted')
}

describe('raft message codec', () => {
  it('round-trips every message type', () => {
    fc.assert(
      fc.property(message, (original) => {
        expect(decodeMessage(encodeMessage(original))).toEqual(original)
      }),
      { numRuns: 500 },
    )
  })

  it('round-trips entries, hard states and snapshots for storage', () => {
    fc.assert(
      fc.property(snapshot, term, nodeId, (original, hardTerm, vote) => {
        expect(decodeSnapshot(encodeSnapshot(original))).toEqual(original)
        const hardState = { term: hardTerm, vote, commit: hardTerm }
        expect(decodeHardState(encodeHardState(hardState))).toEqual(hardState)
        const entry: Entry = { kind: 'normal', term: hardTerm + 1, index: 7, data: original.data }
        expect(decodeEntry(encodeEntry(entry))).toEqual(entry)
      }),
      { numRuns: 200 },
    )
  })

  it('rejects random bytes with invalid_request', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (garbage) => {
        expectInvalid(() => decodeMessage(garbage))
      }),
      { numRuns: 1000 },
    )
  })

  it('rejects random msgpack values with invalid_request', () => {
    const value = fc.letrec((tie) => ({
      any: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.double(),
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 8 }),
        fc.array(tie('any'), { maxLength: 4 }),
        fc.dictionary(fc.constantFrom('type', 'from', 'to', 'term', 'index', 'x'), tie('any'), {
          maxKeys: 5,
        }),
      ),
    })).any
    fc.assert(
      fc.property(value, (garbage) => {
        expectInvalid(() => parseMessage(decode(encode(garbage))))
      }),
      { numRuns: 1000 },
    )
  })

  it('rejects a valid message with one field corrupted, dropped or added', () => {
    const corruption = fc.constantFrom('drop', 'string', 'negative', 'fraction', 'extra', 'bytes')
    fc.assert(
      fc.property(message, corruption, fc.nat(), (original, how, pickKey) => {
        const record = decode(encodeMessage(original)) as Record<string, unknown>
        const keys = Object.keys(record).filter((key) => key !== 'type')
        const key = keys[pickKey % keys.length] as string
        const value = record[key]
        switch (how) {
          case 'drop':
            delete record[key]
            break
          case 'string':
            record[key] = typeof value === 'string' ? 42 : 'bad'
            break
          case 'negative':
            record[key] = typeof value === 'number' ? -1 : null
            break
          case 'fraction':
            record[key] = typeof value === 'number' ? 0.5 : null
            break
          case 'extra':
            record['unexpected'] = 1
            break
          case 'bytes':
            record[key] = value instanceof Uint8Array ? [1, 2] : new Uint8Array([1])
            break
        }
        expectInvalid(() => parseMessage(record))
      }),
      { numRuns: 1000 },
    )
  })

  it('rejects appends whose entries do not follow their previous index', () => {
    const gap: Message = {
      type: 'append',
      from: 'a',
      to: 'b',
      term: 3,
      index: 4,
      logTerm: 2,
      commit: 4,
      entries: [{ kind: 'normal', term: 3, index: 6, data: new Uint8Array() }],
    }
    expectInvalid(() => decodeMessage(encodeMessage(gap)))
    const termTooHigh: Message = {
      ...gap,
      entries: [{ kind: 'normal', term: 9, index: 5, data: new Uint8Array() }],
    }
    expectInvalid(() => decodeMessage(encodeMessage(termTooHigh)))
  })
})
