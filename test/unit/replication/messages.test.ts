/**
 * Goal: peer messages of quorum replication are hostile input: every well-formed message
 * decodes to exactly what was sent, and every malformed one (wrong types, missing or extra
 * fields, oversized values, bad names) is refused with invalid_request and nothing else.
 * Method: a valid example of each message, then one mutation per field; fast-check throws
 * arbitrary msgpack-like values at every decoder.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import {
  decodeCoordinate,
  decodeList,
  decodeListAnswer,
  decodeRead,
  decodeReadAnswer,
  decodeReap,
  decodeReapCheck,
  decodeReapCheckAnswer,
  decodeReplicate,
  decodeWriteOutcome,
  encodeCoordinate,
  encodeWriteOutcome,
  type MessageLimits,
} from '../../../src/replication/messages.js'
import {
  encodeKeyRecord,
  type KeyRecord,
  type KvPayload,
  recordsEqual,
} from '../../../src/replication/record.js'
import { emptyVersioned, update } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'
import { decode, encode } from '../../../src/wire/codec.js'

const LIMITS: MessageLimits = { keyBytesMax: 16, valueBytesMax: 8, replicasMax: 7, listPageMax: 10 }
const RECORD: KeyRecord = {
  kv: update(emptyVersioned<KvPayload>(), EMPTY_VECTOR, 'n1.a', {
    kind: 'value' as const,
    value: new Uint8Array([1, 2]),
    contentType: 'a/b',
  }).versioned,
}

type Body = Record<string, unknown>
/** What arrives over the wire: the body after a msgpack round trip. */
const wire = (body: unknown): Body => decode(encode(body)) as Body

function refused(decoder: (body: Body) => unknown, body: Body): boolean {
  try {
    decoder(wire(body))
  } catch (error) {
    return isMurmurError(error, 'invalid_request')
  }
  return false
}

const replicate = {
  type: 'kv.replicate',
  keyspace: 'default',
  key: 'k',
  record: encodeKeyRecord(RECORD),
}
const coordinate = encodeCoordinate({
  keyspace: 'default',
  key: 'k',
  operation: 'put',
  value: new Uint8Array([7]),
  contentType: 'text/plain',
  context: '',
  w: 2,
  pw: 0,
  timeoutMs: 1000,
  returnBody: false,
})
const list = {
  type: 'kv.list',
  keyspace: 'default',
  partitions: [0, 3],
  prefix: 'a',
  after: 'ab',
  limit: 5,
}

describe('kv peer messages', () => {
  it('decodes well-formed messages to what was sent', () => {
    const decoded = decodeReplicate(wire({ ...replicate, hintFor: 'n3' }), LIMITS)
    expect(decoded.hintFor).toBe('n3')
    expect(recordsEqual(decoded.record, RECORD)).toBe(true)
    expect(
      decodeRead(wire({ type: 'kv.read', keyspace: 'ks', key: 'k' }), LIMITS).hintFor,
    ).toBeUndefined()
    expect(decodeCoordinate(wire(coordinate), LIMITS)).toMatchObject({ operation: 'put', w: 2 })
    expect(decodeList(wire(list), LIMITS).partitions).toEqual([0, 3])
    expect(
      decodeReapCheck(wire({ type: 'kv.reapCheck', keys: [['ks', 'k']] }), LIMITS).keys,
    ).toEqual([{ keyspace: 'ks', key: 'k' }])
    const reap = decodeReap(
      wire({ type: 'kv.reap', entries: [['ks', 'k', encodeKeyRecord(RECORD)]] }),
      LIMITS,
    )
    expect(reap.entries.length).toBe(1)
  })

  const mutations: [string, (body: Body) => unknown, Body][] = [
    ['replicate without key', (b) => decodeReplicate(b, LIMITS), { ...replicate, key: undefined }],
    ['replicate with empty key', (b) => decodeReplicate(b, LIMITS), { ...replicate, key: '' }],
    [
      'replicate with long key',
      (b) => decodeReplicate(b, LIMITS),
      { ...replicate, key: 'k'.repeat(17) },
    ],
    [
      'replicate with bad keyspace',
      (b) => decodeReplicate(b, LIMITS),
      { ...replicate, keyspace: 'A!' },
    ],
    ['replicate with bad record', (b) => decodeReplicate(b, LIMITS), { ...replicate, record: [1] }],
    ['replicate with extra field', (b) => decodeReplicate(b, LIMITS), { ...replicate, extra: 1 }],
    [
      'replicate with empty hintFor',
      (b) => decodeReplicate(b, LIMITS),
      { ...replicate, hintFor: '' },
    ],
    [
      'replicate with numeric hintFor',
      (b) => decodeReplicate(b, LIMITS),
      { ...replicate, hintFor: 3 },
    ],
    [
      'coordinate with big value',
      (b) => decodeCoordinate(b, LIMITS),
      { ...coordinate, value: new Uint8Array(9) },
    ],
    [
      'coordinate with bad operation',
      (b) => decodeCoordinate(b, LIMITS),
      { ...coordinate, operation: 'drop' },
    ],
    ['coordinate with w 8', (b) => decodeCoordinate(b, LIMITS), { ...coordinate, w: 8 }],
    ['coordinate with w 0', (b) => decodeCoordinate(b, LIMITS), { ...coordinate, w: 0 }],
    [
      'coordinate with string timeout',
      (b) => decodeCoordinate(b, LIMITS),
      { ...coordinate, timeoutMs: '5' },
    ],
    [
      'coordinate delete with value',
      (b) => decodeCoordinate(b, LIMITS),
      { ...coordinate, operation: 'delete' },
    ],
    [
      'coordinate without returnBody',
      (b) => decodeCoordinate(b, LIMITS),
      { ...coordinate, returnBody: 1 },
    ],
    [
      'coordinate with bad content type',
      (b) => decodeCoordinate(b, LIMITS),
      { ...coordinate, contentType: 'a\nb' },
    ],
    ['list with negative partition', (b) => decodeList(b, LIMITS), { ...list, partitions: [-1] }],
    ['list with big limit', (b) => decodeList(b, LIMITS), { ...list, limit: 11 }],
    ['list with bad after', (b) => decodeList(b, LIMITS), { ...list, after: '\ud800' }],
    ['reap check with bad entry', (b) => decodeReapCheck(b, LIMITS), { keys: [['ks']] }],
    ['reap check with long entry', (b) => decodeReapCheck(b, LIMITS), { keys: [['ks', 'k', 'x']] }],
    [
      'reap check with too many keys',
      (b) => decodeReapCheck(b, LIMITS),
      { keys: Array(257).fill(['ks', 'k']) },
    ],
    ['reap with bad record', (b) => decodeReap(b, LIMITS), { entries: [['ks', 'k', 'record']] }],
  ]
  it.each(mutations)('refuses %s', (_, decoder, body) => {
    expect(refused(decoder, body)).toBe(true)
  })

  it('round-trips write outcomes and refuses malformed answers', () => {
    const outcome = {
      context: 'abc',
      siblings: 2,
      record: RECORD,
      coordinator: 'n1',
      replicas: ['n1', 'n2'],
      hinted: [{ node: 'n4', hintFor: 'n3' }],
    }
    const decoded = decodeWriteOutcome(wire(encodeWriteOutcome(outcome)))
    expect({ ...decoded, record: undefined }).toEqual({ ...outcome, record: undefined })
    expect(refused(decodeWriteOutcome, { ...encodeWriteOutcome(outcome), hinted: [['n4']] })).toBe(
      true,
    )
    expect(refused(decodeWriteOutcome, { ...encodeWriteOutcome(outcome), replicas: [7] })).toBe(
      true,
    )
    expect(refused((b) => decodeReadAnswer(b), { record: 'x' })).toBe(true)
    expect(decodeReadAnswer(wire({ record: null }))).toBeUndefined()
    expect(refused((b) => decodeListAnswer(b, LIMITS), { keys: [''], frontier: null })).toBe(true)
    expect(refused((b) => decodeReapCheckAnswer(b, 2), { reports: [[false, null]] })).toBe(true)
  })

  it('never throws anything but invalid_request on arbitrary input', () => {
    const decoders: ((body: Body) => unknown)[] = [
      (b) => decodeReplicate(b, LIMITS),
      (b) => decodeRead(b, LIMITS),
      (b) => decodeCoordinate(b, LIMITS),
      (b) => decodeList(b, LIMITS),
      (b) => decodeReapCheck(b, LIMITS),
      (b) => decodeReap(b, LIMITS),
      (b) => decodeWriteOutcome(b),
      (b) => decodeReadAnswer(b),
    ]
    const fieldArbitrary = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 12 }),
      fc.array(fc.oneof(fc.string(), fc.integer(), fc.array(fc.string())), { maxLength: 4 }),
    )
    const bodyArbitrary = fc.dictionary(
      fc.constantFrom(
        'keyspace',
        'key',
        'record',
        'hintFor',
        'partitions',
        'limit',
        'keys',
        'entries',
        'context',
        'w',
        'operation',
      ),
      fieldArbitrary,
    )
    fc.assert(
      fc.property(bodyArbitrary, (body) => {
        for (const decoder of decoders) {
          try {
            decoder(body)
          } catch (error) {
            expect(isMurmurError(error, 'invalid_request')).toBe(true)
          }
        }
      }),
    )
  })
})
