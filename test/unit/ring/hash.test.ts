/**
 * Goal: the key hash is MurmurHash3 x86_32 bit for bit, encodes strings exactly as UTF-8, and
 * spreads keys evenly over partitions. Method: the published SMHasher test vectors, a
 * property test against TextEncoder, and a chi-square test of 100k seeded random keys. The
 * speed of partitionForKey is measured and logged, not asserted.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SeededRandom } from '../../../src/env/random.js'
import { hashString, keyHash, murmurHash3, partitionForKey } from '../../../src/ring/hash.js'

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

describe('murmurHash3', () => {
  // Published vectors for MurmurHash3_x86_32 (SMHasher; collected in the widely cited
  // "MurmurHash3 test vectors" answer and in several libraries' test suites).
  const vectors: [Uint8Array, number, number][] = [
    [bytes(), 0, 0],
    [bytes(), 1, 0x514e28b7],
    [bytes(), 0xffffffff, 0x81f16f39],
    [bytes(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
    [bytes(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
    [bytes(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
    [bytes(0x21, 0x43, 0x65), 0, 0x7e4a8634],
    [bytes(0x21, 0x43), 0, 0xa0f7b07a],
    [bytes(0x21), 0, 0x72661cf4],
    [bytes(0, 0, 0, 0), 0, 0x2362f9de],
    [bytes(0, 0, 0), 0, 0x85f0b427],
    [bytes(0, 0), 0, 0x30f4c306],
    [bytes(0), 0, 0x514e28b7],
    [utf8('aaaa'), 0x9747b28c, 0x5a97808a],
    [utf8('aaa'), 0x9747b28c, 0x283e0130],
    [utf8('aa'), 0x9747b28c, 0x5d211726],
    [utf8('a'), 0x9747b28c, 0x7fa09ea6],
    [utf8('abcd'), 0x9747b28c, 0xf0478627],
    [utf8('abc'), 0x9747b28c, 0xc84a62dd],
    [utf8('ab'), 0x9747b28c, 0x74875592],
    [utf8('Hello, world!'), 0x9747b28c, 0x24884cba],
    [utf8('Hello, world!'), 0, 0xc0363e43],
    [utf8('ππππππππ'), 0x9747b28c, 0xd58063c1],
    [utf8('a'.repeat(256)), 0x9747b28c, 0x37405bdc],
    [utf8('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
  ]

  it.each(vectors.map(([input, seed, expected], index) => ({ index, input, seed, expected })))(
    'matches published vector $index',
    ({ input, seed, expected }) => {
      expect(murmurHash3(input, seed)).toBe(expected)
    },
  )

  it('hashString hashes the UTF-8 bytes, the same as murmurHash3 over TextEncoder output', () => {
    expect(hashString('Hello world')).toBe(2911983372)
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), fc.nat(), (text, seed) => {
        expect(hashString(text, seed)).toBe(murmurHash3(utf8(text), seed))
      }),
      { numRuns: 200 },
    )
  })

  it('reads only the first `length` bytes', () => {
    const input = utf8('abcdef')
    expect(murmurHash3(input, 7, 3)).toBe(murmurHash3(utf8('abc'), 7))
    expect(() => murmurHash3(input, 0, 7)).toThrow(/outside the byte array/)
  })
})

describe('partitionForKey', () => {
  it('hashes keyspace, a zero byte, then the key', () => {
    const expected = murmurHash3(utf8('users\u0000alice'))
    expect(keyHash('users', 'alice')).toBe(expected)
    expect(partitionForKey(64, 'users', 'alice')).toBe(expected >>> 26)
    expect(partitionForKey(4096, 'users', 'alice')).toBe(expected >>> 20)
    // The separator keeps ("ab", "c") and ("a", "bc") apart.
    expect(keyHash('ab', 'c')).not.toBe(keyHash('a', 'bc'))
  })

  it('stays in range for every supported partition count and any key', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 12 }),
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 200 }),
        (bits, keyspace, key) => {
          const partition = partitionForKey(2 ** bits, keyspace, key)
          expect(Number.isInteger(partition) && partition >= 0 && partition < 2 ** bits).toBe(true)
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('rejects partition counts that are not powers of two', () => {
    expect(() => partitionForKey(48, 'ks', 'k')).toThrow(/power of two/)
    expect(() => partitionForKey(1, 'ks', 'k')).toThrow(/power of two/)
  })

  it('spreads 100k random keys over 64 partitions (chi-square)', () => {
    const random = new SeededRandom(20240611)
    const partitionCount = 64
    const keyCount = 100_000
    const counts = new Array<number>(partitionCount).fill(0)
    for (let index = 0; index < keyCount; index++) {
      // At least 8 characters, so repeated keys (which would skew the test) are vanishingly rare.
      const length = 8 + random.int(17)
      let key = ''
      for (let char = 0; char < length; char++) key += String.fromCharCode(32 + random.int(95))
      const partition = partitionForKey(partitionCount, 'keyspace', key)
      counts[partition] = (counts[partition] ?? 0) + 1
    }
    const expected = keyCount / partitionCount
    const chiSquare = counts.reduce((sum, count) => sum + (count - expected) ** 2 / expected, 0)
    // 63 degrees of freedom: mean 63, standard deviation 11.2; the 99.999th percentile is
    // about 118, so a uniform hash fails this with odds under 1 in 100,000 for a given seed.
    console.log(`[ring] chi-square of 100k keys over 64 partitions: ${chiSquare.toFixed(1)}`)
    expect(chiSquare).toBeLessThan(118)
    expect(Math.min(...counts)).toBeGreaterThan(0)
  })

  it('is fast (ns/op logged, not asserted)', () => {
    const random = new SeededRandom(7)
    const keys = Array.from({ length: 1024 }, (_, index) => `user:${index}:${random.u32()}`)
    const rounds = 500
    let checksum = 0
    const startNs = process.hrtime.bigint()
    for (let round = 0; round < rounds; round++) {
      for (const key of keys) checksum += partitionForKey(64, 'users', key)
    }
    const elapsedNs = Number(process.hrtime.bigint() - startNs)
    const operations = rounds * keys.length
    console.log(
      `[ring] partitionForKey: ${(elapsedNs / operations).toFixed(1)} ns/op over ${operations} ` +
        `calls (keys of ~24 ASCII bytes)`,
    )
    expect(checksum).toBeGreaterThan(0)
  })
})
