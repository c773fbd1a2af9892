/**
 * Goal: the anti-entropy peer messages decode strictly: well-formed bodies give typed
 * messages, and every malformed or out-of-range field, unknown field or oversized list is
 * refused as invalid_request. Method: worked examples of each message and answer.
 */

import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import {
  decodeHashes,
  decodeHashesAnswer,
  decodeKeys,
  decodeKeysAnswer,
  decodeRecords,
  decodeRecordsAnswer,
  NODES_PER_MESSAGE_MAX,
} from '../../../src/replication/antientropy/messages.js'
import type { MessageLimits } from '../../../src/replication/messages.js'

const limits: MessageLimits = {
  keyBytesMax: 64,
  valueBytesMax: 1024,
  replicasMax: 7,
  listPageMax: 100,
}
const tree = { keyspace: 'default', partition: 3, depth: 2 }

function refused(decode: () => unknown): boolean {
  try {
    decode()
  } catch (error) {
    return isMurmurError(error, 'invalid_request')
  }
  return false
}

describe('anti-entropy messages', () => {
  it('decode well-formed requests', () => {
    expect(decodeHashes({ ...tree, level: 1, indices: [0, 5, 15] }, 16)).toEqual({
      ...tree,
      level: 1,
      indices: [0, 5, 15],
    })
    expect(decodeKeys({ ...tree, segments: [7, 200], after: '', limit: 10 }, 16, limits)).toEqual({
      ...tree,
      segments: [7, 200],
      after: '',
      limit: 10,
    })
    expect(decodeRecords({ ...tree, keys: ['a', 'b'] }, 16, limits)).toEqual({
      keyspace: 'default',
      partition: 3,
      keys: ['a', 'b'],
    })
  })

  it.each([
    [
      'a partition outside the ring',
      () => decodeHashes({ ...tree, partition: 16, level: 0, indices: [0] }, 16),
    ],
    ['a level below the tree', () => decodeHashes({ ...tree, level: 3, indices: [0] }, 16)],
    ['an index beyond the level', () => decodeHashes({ ...tree, level: 1, indices: [16] }, 16)],
    ['indices out of order', () => decodeHashes({ ...tree, level: 1, indices: [2, 1] }, 16)],
    ['a repeated index', () => decodeHashes({ ...tree, level: 1, indices: [1, 1] }, 16)],
    [
      'too many indices',
      () =>
        decodeHashes(
          {
            ...tree,
            depth: 4,
            level: 4,
            indices: Array.from({ length: NODES_PER_MESSAGE_MAX + 1 }, (_, i) => i),
          },
          16,
        ),
    ],
    ['an unknown field', () => decodeHashes({ ...tree, level: 0, indices: [0], extra: 1 }, 16)],
    [
      'a bad keyspace',
      () => decodeHashes({ ...tree, keyspace: 'Bad!', level: 0, indices: [0] }, 16),
    ],
    [
      'a depth beyond the limit',
      () => decodeHashes({ ...tree, depth: 9, level: 0, indices: [0] }, 16),
    ],
    [
      'a zero key limit',
      () => decodeKeys({ ...tree, segments: [1], after: '', limit: 0 }, 16, limits),
    ],
    [
      'a segment beyond the tree',
      () => decodeKeys({ ...tree, segments: [256], after: '', limit: 1 }, 16, limits),
    ],
    ['an oversized key', () => decodeRecords({ ...tree, keys: ['x'.repeat(65)] }, 16, limits)],
    ['an empty key', () => decodeRecords({ ...tree, keys: [''] }, 16, limits)],
  ])('refuses %s', (_name, decode) => {
    expect(refused(decode)).toBe(true)
  })

  it('decode answers and refuse malformed ones', () => {
    const hashes = new Uint8Array(16)
    expect(decodeHashesAnswer({ hashes }, 2)).toBe(hashes)
    expect(refused(() => decodeHashesAnswer({ hashes }, 3))).toBe(true)
    const hash = new Uint8Array([0, 0, 0, 1, 0, 0, 0, 2])
    expect(decodeKeysAnswer({ entries: [['k', hash]], frontier: null }, limits)).toEqual({
      entries: [{ key: 'k', hash: { high: 1, low: 2 } }],
      frontier: undefined,
    })
    expect(refused(() => decodeKeysAnswer({ entries: [['k', new Uint8Array(7)]] }, limits))).toBe(
      true,
    )
    expect(decodeRecordsAnswer({ records: [null] }, 1)).toEqual([undefined])
    expect(refused(() => decodeRecordsAnswer({ records: [] }, 1))).toBe(true)
    expect(refused(() => decodeRecordsAnswer([], 0))).toBe(true)
  })
})
