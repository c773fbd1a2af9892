/**
 * Goal: key records encode compactly and exactly, decode strictly with the caller's error code
 * (peer input: invalid_request; disk: corrupt_record), merge as a lattice join and compare by
 * causal state. Method: worked examples for each payload kind and each malformed shape, and
 * fast-check round trips and merge laws over records built from random updates.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import {
  decodeKeyRecord,
  EMPTY_RECORD,
  encodeKeyRecord,
  isEmptyRecord,
  type KeyRecord,
  type KvPayload,
  kvAbsent,
  mergeRecords,
  recordsEqual,
  recordValueBytes,
  tombstoneTimeMs,
} from '../../../src/replication/record.js'
import { emptyVersioned, update, type Versioned } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'
import { decode, encode } from '../../../src/wire/codec.js'

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

/** The record as it comes back from msgpack, like a peer message or a stored record. */
function throughWire(record: KeyRecord): unknown {
  return decode(encode(encodeKeyRecord(record)))
}

function expectCode(raw: unknown, code: 'invalid_request' | 'corrupt_record'): void {
  let thrown: unknown
  try {
    decodeKeyRecord(raw, code)
  } catch (error) {
    thrown = error
  }
  expect(isMurmurError(thrown, code), JSON.stringify(raw)).toBe(true)
}

describe('key records', () => {
  it('round-trips values and tombstones through msgpack', () => {
    const record = recordOf(['n1.a', value('hello')], ['n2.b', tombstone])
    const decoded = decodeKeyRecord(throughWire(record), 'invalid_request')
    expect(recordsEqual(decoded, record)).toBe(true)
    expect(decoded.kv?.siblings.map((sibling) => sibling.payload)).toEqual(
      record.kv?.siblings.map((sibling) => sibling.payload),
    )
    expect(encode(encodeKeyRecord(recordOf(['n1.a', value('v')]))).length).toBeLessThan(40)
  })

  it('treats the empty record as absent', () => {
    expect(isEmptyRecord(EMPTY_RECORD)).toBe(true)
    expect(kvAbsent(EMPTY_RECORD)).toBe(true)
    expect(decodeKeyRecord({}, 'corrupt_record')).toEqual(EMPTY_RECORD)
  })

  it('knows deleted keys and their delete time', () => {
    expect(kvAbsent(recordOf(['n1.a', tombstone]))).toBe(true)
    expect(tombstoneTimeMs(recordOf(['n1.a', tombstone]))).toBe(tombstone.deletedAtMs)
    expect(kvAbsent(recordOf(['n1.a', value('x')], ['n2.b', tombstone]))).toBe(false)
    expect(tombstoneTimeMs(recordOf(['n1.a', value('x')], ['n2.b', tombstone]))).toBeUndefined()
    expect(recordValueBytes(recordOf(['n1.a', value('abc')], ['n2.b', tombstone]))).toBe(3)
  })

  it('refuses every malformed shape with the caller code', () => {
    const good = encodeKeyRecord(recordOf(['n1.a', value('x')])) as { kv: unknown[] }
    const sibling = (payload: unknown) => ({ kv: [[['n1.a', 1]], [[['n1.a', 1], payload]]] })
    const bad: unknown[] = [
      null,
      [],
      'record',
      new Uint8Array(3),
      { kv: good.kv, extra: 1 },
      { counter: 1 },
      { kv: 'x' },
      sibling([0, 'not bytes', 'text/plain']),
      sibling([0, new Uint8Array(1), 7]),
      sibling([0, new Uint8Array(1), 'bad\ncontent type']),
      sibling([0, new Uint8Array(1), 'x'.repeat(257)]),
      sibling([1, -5]),
      sibling([1, 1.5]),
      sibling([2, 'digest']),
      sibling([0, new Uint8Array(1)]),
      sibling({ kind: 'value' }),
      {
        kv: [
          [['n1.a', 1]],
          [
            [
              ['n1.a', 2],
              [1, 0],
            ],
          ],
        ],
      },
    ]
    for (const raw of bad) {
      expectCode(raw, 'invalid_request')
      expectCode(raw, 'corrupt_record')
    }
  })

  // A dot names one write, so the payload is a function of the dot: the actor and how many
  // writes it made before (its counter), whichever record it appears in.
  const recordArbitrary = fc
    .array(fc.constantFrom('n1.a', 'n2.b', 'n3.c'), { maxLength: 6 })
    .map((actors) => {
      const made = new Map<string, number>()
      return recordOf(
        ...actors.map((actor): [string, KvPayload] => {
          const counter = (made.get(actor) ?? 0) + 1
          made.set(actor, counter)
          return [actor, counter % 3 === 0 ? tombstone : value(`${actor}:${counter}`)]
        }),
      )
    })

  it('merges as a commutative, idempotent join and round-trips any record', () => {
    fc.assert(
      fc.property(recordArbitrary, recordArbitrary, (a, b) => {
        expect(recordsEqual(mergeRecords(a, b), mergeRecords(b, a))).toBe(true)
        expect(recordsEqual(mergeRecords(a, a), a)).toBe(true)
        expect(recordsEqual(decodeKeyRecord(throughWire(a), 'corrupt_record'), a)).toBe(true)
      }),
    )
  })
})
