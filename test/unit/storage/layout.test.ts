/**
 * Goal: every layout key decodes back to its parts, byte order of encoded keys is the order the
 * layout promises, the range builders select exactly the keys they name, and argument limits
 * are enforced.
 * Method: fast-check properties over partitions, keyspaces and user keys (any well-formed
 * Unicode, including multi-byte characters), comparing encoded keys with compareBytes and range
 * membership with rangeContains; example tests for the limits and the edge bytes.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AssertionError } from '../../../src/env/assert.js'
import { compareBytes, rangeContains } from '../../../src/storage/engine-support.js'
import {
  dataKey,
  decodeDataKey,
  decodeHintKey,
  decodeRaftKey,
  describeKey,
  hintKey,
  hintRange,
  idempotencyKey,
  keyspaceRange,
  metaKey,
  PARTITIONS_MAX,
  partitionRange,
  prefixRange,
  RAFT_KEY_KINDS,
  raftKey,
  raftLogRange,
  raftRange,
  SUBLEVEL_TAGS,
  type Sublevel,
  sublevelRange,
  treeKey,
  treeRange,
} from '../../../src/storage/layout.js'

const utf8 = new TextEncoder()
const utf8Length = (text: string): number => utf8.encode(text).length

const partition = fc.integer({ min: 0, max: PARTITIONS_MAX - 1 })
const keyspace = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 16 })
  .filter((text) => utf8Length(text) <= 64)
const userKey = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 40 })
  .filter((text) => utf8Length(text) <= 1024)
/** A small alphabet, so that generated keys often share partitions, keyspaces and prefixes. */
const smallKeyspace = fc.constantFrom('a', 'b', 'users', 'users2', 'é')
const smallKey = fc.string({
  unit: fc.constantFrom('a', 'b', 'é', '\u{1f600}'),
  minLength: 1,
  maxLength: 4,
})
const sign = (value: number): number => Math.sign(value)

describe('data keys', () => {
  it('round-trip through decodeDataKey', () => {
    fc.assert(
      fc.property(partition, keyspace, userKey, (p, ks, key) => {
        const encoded = dataKey(p, ks, key)
        expect(decodeDataKey(encoded)).toEqual({ partition: p, keyspace: ks, key })
        // The hand-written UTF-8 encoder must agree with the platform's byte for byte.
        expect(encoded.subarray(4 + utf8Length(ks))).toEqual(utf8.encode(key))
      }),
    )
  })

  it('order by partition, then keep each keyspace contiguous, then by user key bytes', () => {
    const tuple = fc.tuple(fc.integer({ min: 0, max: 3 }), smallKeyspace, smallKey)
    fc.assert(
      fc.property(tuple, tuple, ([p1, ks1, k1], [p2, ks2, k2]) => {
        const order = sign(compareBytes(dataKey(p1, ks1, k1), dataKey(p2, ks2, k2)))
        if (p1 !== p2) expect(order).toBe(sign(p1 - p2))
        else if (ks1 === ks2)
          expect(order).toBe(sign(compareBytes(utf8.encode(k1), utf8.encode(k2))))
        else expect(order).not.toBe(0)
      }),
    )
  })

  it('fall inside exactly the partition, keyspace and prefix ranges they belong to', () => {
    const tuple = fc.tuple(fc.integer({ min: 0, max: 3 }), smallKeyspace, smallKey)
    fc.assert(
      fc.property(
        tuple,
        tuple,
        fc.string({ unit: fc.constantFrom('a', 'é'), maxLength: 2 }),
        (a, b, prefix) => {
          const [p1, ks1, k1] = a
          const [p2, ks2] = b
          const key = dataKey(p1, ks1, k1)
          expect(rangeContains(partitionRange(p2), key)).toBe(p1 === p2)
          expect(rangeContains(keyspaceRange(p2, ks2), key)).toBe(p1 === p2 && ks1 === ks2)
          expect(rangeContains(keyspaceRange(p2, ks2, prefix), key)).toBe(
            p1 === p2 && ks1 === ks2 && k1.startsWith(prefix),
          )
          expect(rangeContains(sublevelRange('data'), key)).toBe(true)
          expect(rangeContains(sublevelRange('hints'), key)).toBe(false)
        },
      ),
    )
  })

  it('keep the last partition inside its range', () => {
    const last = PARTITIONS_MAX - 1
    expect(rangeContains(partitionRange(last), dataKey(last, 'a', 'k'))).toBe(true)
    expect(rangeContains(partitionRange(last - 1), dataKey(last, 'a', 'k'))).toBe(false)
    expect(rangeContains(partitionRange(last), metaKey('k'))).toBe(false)
  })

  it('assert their argument limits', () => {
    expect(() => dataKey(PARTITIONS_MAX, 'a', 'k')).toThrow(AssertionError)
    expect(() => dataKey(-1, 'a', 'k')).toThrow(AssertionError)
    expect(() => dataKey(1.5, 'a', 'k')).toThrow(AssertionError)
    expect(() => dataKey(0, '', 'k')).toThrow(AssertionError)
    expect(() => dataKey(0, 'x'.repeat(65), 'k')).toThrow(AssertionError)
    expect(() => dataKey(0, 'é'.repeat(33), 'k')).toThrow(AssertionError)
    expect(() => dataKey(0, 'a', '')).toThrow(AssertionError)
    expect(() => dataKey(0, 'a', 'x'.repeat(1025))).toThrow(AssertionError)
    expect(() => dataKey(0, 'a', '\ud800')).toThrow(AssertionError)
    expect(() => keyspaceRange(0, 'a', 'x'.repeat(1025))).toThrow(AssertionError)
    expect(decodeDataKey(dataKey(0, 'x'.repeat(64), 'y'.repeat(1024)))?.key).toHaveLength(1024)
  })

  it('are told apart from other bytes by decodeDataKey', () => {
    const valid = dataKey(5, 'users', 'alice')
    expect(decodeDataKey(valid.subarray(0, 3))).toBeUndefined()
    expect(decodeDataKey(valid.subarray(0, valid.length - 5))).toBeUndefined()
    expect(decodeDataKey(metaKey('users'))).toBeUndefined()
    expect(decodeDataKey(Uint8Array.of(SUBLEVEL_TAGS.data, 0, 1, 1, 0x61, 0xff))).toBeUndefined()
    expect(decodeDataKey(Uint8Array.of(SUBLEVEL_TAGS.data, 0, 1, 9, 0x61))).toBeUndefined()
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
        const decoded = decodeDataKey(bytes)
        if (decoded !== undefined) {
          expect(dataKey(decoded.partition, decoded.keyspace, decoded.key)).toEqual(bytes)
        }
      }),
    )
  })
})

describe('other sublevels', () => {
  it('order hints by target node, then by sequence, and round-trip them', () => {
    const node = fc.constantFrom('n1', 'n2', 'node-10')
    const sequence = fc.nat({ max: Number.MAX_SAFE_INTEGER })
    fc.assert(
      fc.property(node, sequence, node, sequence, (n1, s1, n2, s2) => {
        const key = hintKey(n1, s1)
        expect(decodeHintKey(key)).toEqual({ targetNodeId: n1, sequence: s1 })
        expect(rangeContains(hintRange(n2), key)).toBe(n1 === n2)
        if (n1 === n2) expect(sign(compareBytes(key, hintKey(n2, s2)))).toBe(sign(s1 - s2))
      }),
    )
    expect(() => hintKey('n1', -1)).toThrow(AssertionError)
    expect(() => hintKey('', 1)).toThrow(AssertionError)
  })

  it('order raft keys by group, kind and index, and select log ranges', () => {
    const index = fc.nat({ max: Number.MAX_SAFE_INTEGER })
    const kind = fc.constantFrom(...RAFT_KEY_KINDS)
    fc.assert(
      fc.property(kind, index, index, index, (k, i1, i2, i3) => {
        const key = raftKey('ks-users', k, i1)
        expect(decodeRaftKey(key)).toEqual({ groupId: 'ks-users', kind: k, index: i1 })
        expect(sign(compareBytes(key, raftKey('ks-users', k, i2)))).toBe(sign(i1 - i2))
        expect(rangeContains(raftRange('ks-users', k), key)).toBe(true)
        expect(rangeContains(raftRange('ks-other'), key)).toBe(false)
        const [from, to] = i2 <= i3 ? [i2, i3] : [i3, i2]
        expect(rangeContains(raftLogRange('ks-users', from, to), key)).toBe(
          k === 'log' && i1 >= from && i1 < to,
        )
        expect(rangeContains(raftLogRange('ks-users', from), key)).toBe(k === 'log' && i1 >= from)
      }),
    )
  })

  it('keep trees per partition and keyspace, meta and idempotency keys in their sublevels', () => {
    const tree = treeKey(3, 'users', 2, 0xffff_ffff)
    expect(rangeContains(treeRange(3, 'users'), tree)).toBe(true)
    expect(rangeContains(treeRange(3, 'users2'), tree)).toBe(false)
    expect(rangeContains(partitionRange(3), tree)).toBe(false)
    expect(() => treeKey(3, 'users', 256, 0)).toThrow(AssertionError)
    expect(() => treeKey(3, 'users', 0, 2 ** 32)).toThrow(AssertionError)
    const samples: [Sublevel, Uint8Array][] = [
      ['meta', metaKey('cluster-id')],
      ['idempotency', idempotencyKey('req-1')],
      ['trees', tree],
      ['raft', raftKey('g', 'state', 0)],
      ['hints', hintKey('n1', 0)],
      ['data', dataKey(0, 'a', 'b')],
    ]
    for (const [sublevel, key] of samples) {
      for (const other of Object.keys(SUBLEVEL_TAGS) as Sublevel[]) {
        expect(rangeContains(sublevelRange(other), key)).toBe(other === sublevel)
      }
    }
  })

  it('builds prefix ranges over 0xff bytes and describes keys readably', () => {
    expect(prefixRange(Uint8Array.of(1, 0xff, 0xff))).toEqual({
      gte: Uint8Array.of(1, 0xff, 0xff),
      lt: Uint8Array.of(2),
    })
    expect(prefixRange(Uint8Array.of(0xff))).toEqual({ gte: Uint8Array.of(0xff) })
    expect(describeKey(dataKey(7, 'users', 'alice'))).toBe('data/7/users/"alice"')
    expect(describeKey(hintKey('n2', 9))).toBe('hint/n2/9')
    expect(describeKey(raftKey('g', 'log', 4))).toBe('raft/g/log/4')
    expect(describeKey(Uint8Array.of(0xab, 0x01))).toBe('key 0xab01')
  })
})
