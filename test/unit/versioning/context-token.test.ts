/**
 * Goal: context tokens round-trip every valid clock, and every malformed token (random text,
 * random bytes, bit flips, truncation, wrong version or shape, too long) is rejected with
 * MurmurError('invalid_context') and never any other exception.
 * Method: a golden token pins the format; fast-check drives round trips and corruptions; a
 * few hand-built tokens with a valid checksum reach the version and shape checks.
 */

import { Buffer } from 'node:buffer'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import {
  CONTEXT_TOKEN_CHARS_MAX,
  decodeContextToken,
  encodeContextToken,
  TOKEN_VERSION,
} from '../../../src/versioning/context-token.js'
import {
  ACTOR_BYTES_MAX,
  EMPTY_VECTOR,
  VECTOR_ENTRIES_MAX,
  vectorEntries,
  vectorFromEntries,
} from '../../../src/versioning/version-vector.js'
import { checksum, encode } from '../../../src/wire/codec.js'

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** Any UTF-16 code unit, lone surrogates included. */
const codeUnitArbitrary = fc.nat(0xffff).map((code) => String.fromCharCode(code))
const actorArbitrary = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 16 })
const counterArbitrary = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })

function vectorArbitrary(minLength: number) {
  return fc
    .uniqueArray(fc.tuple(actorArbitrary, counterArbitrary), {
      selector: (entry) => entry[0],
      minLength,
      maxLength: 12,
    })
    .map((entries) => vectorFromEntries(entries))
}

/** Builds a token from any body with a valid seal, written independently of the module. */
function tokenFromBody(body: unknown): string {
  const payload = encode(body)
  const sealed = Buffer.alloc(4 + payload.length)
  sealed.writeUInt32BE(checksum(payload), 0)
  sealed.set(payload, 4)
  return sealed.toString('base64url')
}

/** Decodes `token` and demands an invalid_context rejection, never another exception. */
function expectRejected(token: string, message?: RegExp): void {
  let thrown: unknown
  try {
    decodeContextToken(token)
  } catch (error) {
    thrown = error
  }
  expect(isMurmurError(thrown, 'invalid_context'), `token ${token.slice(0, 40)}`).toBe(true)
  if (message !== undefined && thrown instanceof Error) expect(thrown.message).toMatch(message)
}

describe('context tokens', () => {
  it('round-trips every valid clock', () => {
    fc.assert(
      fc.property(vectorArbitrary(0), (vector) => {
        const token = encodeContextToken(vector)
        expect(token).toMatch(/^[A-Za-z0-9_-]*$/)
        expect(vectorEntries(decodeContextToken(token))).toEqual(vectorEntries(vector))
      }),
    )
  })

  it('keeps the version 1 format: msgpack body, CRC-32 seal, base64url', () => {
    const vector = vectorFromEntries([
      ['n2.40a1', 7],
      ['n1.3f9a', 3],
    ])
    const token = encodeContextToken(vector)
    expect(token).toBe(tokenFromBody([1, vectorEntries(vector)]))
    expect(token).toBe('6wyIAJIBkpKnbjEuM2Y5YQOSp24yLjQwYTEH')
  })

  it('treats an absent or empty token as the empty context', () => {
    expect(encodeContextToken(EMPTY_VECTOR)).toBe('')
    expect(decodeContextToken('').size).toBe(0)
    expect(decodeContextToken(undefined).size).toBe(0)
    expect(decodeContextToken(tokenFromBody([TOKEN_VERSION, []])).size).toBe(0)
  })

  it('fits the largest clock murmur can hold within the length limit', () => {
    const entries = Array.from({ length: VECTOR_ENTRIES_MAX }, (_, index): [string, number] => [
      `${index}`.padStart(ACTOR_BYTES_MAX, 'a'),
      Number.MAX_SAFE_INTEGER - index,
    ])
    const token = encodeContextToken(vectorFromEntries(entries))
    expect(token.length).toBeLessThanOrEqual(CONTEXT_TOKEN_CHARS_MAX)
    expect(vectorEntries(decodeContextToken(token))).toEqual(
      vectorEntries(vectorFromEntries(entries)),
    )
  })

  it('rejects random strings', () => {
    const text = fc.string({ unit: codeUnitArbitrary, minLength: 1, maxLength: 200 })
    const alphabet = fc.string({
      unit: fc.constantFrom(...BASE64URL_ALPHABET),
      minLength: 1,
      maxLength: 200,
    })
    fc.assert(fc.property(fc.oneof(text, alphabet), (token) => expectRejected(token)))
  })

  it('rejects random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), (bytes) => {
        expectRejected(Buffer.from(bytes).toString('base64url'))
      }),
    )
  })

  it('rejects one to three flipped bits anywhere in the token bytes', () => {
    const flips = fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 3 })
    fc.assert(
      fc.property(vectorArbitrary(1), flips, (vector, positions) => {
        const bytes = Buffer.from(encodeContextToken(vector), 'base64url')
        const bits = new Set(positions.map((position) => position % (bytes.length * 8)))
        for (const bit of bits) bytes[bit >> 3] = (bytes[bit >> 3] ?? 0) ^ (1 << (bit & 7))
        expectRejected(bytes.toString('base64url'), /corrupted or truncated/)
      }),
    )
  })

  it('rejects any single altered character', () => {
    const replacement = codeUnitArbitrary
    fc.assert(
      fc.property(vectorArbitrary(1), fc.nat(), replacement, (vector, position, character) => {
        const token = encodeContextToken(vector)
        const index = position % token.length
        fc.pre(token[index] !== character)
        expectRejected(token.slice(0, index) + character + token.slice(index + 1))
      }),
    )
  })

  it('rejects truncated tokens', () => {
    fc.assert(
      fc.property(vectorArbitrary(1), fc.nat(), (vector, cut) => {
        const token = encodeContextToken(vector)
        expectRejected(token.slice(0, 1 + (cut % (token.length - 1))))
      }),
    )
  })

  it('rejects a spelling Node would decode to the same bytes', () => {
    const token = encodeContextToken(vectorFromEntries([['n1.3f9a', 3]]))
    expect(token.length % 4).not.toBe(0)
    const last = BASE64URL_ALPHABET.indexOf(token.at(-1) ?? '')
    // The lowest bit of the last character carries no data when the length is not a multiple of 4.
    const altered = token.slice(0, -1) + BASE64URL_ALPHABET.charAt(last ^ 1)
    expect(Buffer.from(altered, 'base64url')).toEqual(Buffer.from(token, 'base64url'))
    expectRejected(altered, /canonical/)
  })

  it('rejects tokens over the length limit before decoding them', () => {
    expectRejected('A'.repeat(CONTEXT_TOKEN_CHARS_MAX + 1), /more than/)
  })

  it('rejects padding and characters outside base64url', () => {
    for (const token of ['abcd=', 'ab+/', 'ab cd', 'ab\ncd']) expectRejected(token, /base64url/)
  })

  it('rejects bodies with a valid seal but a bad version or shape', () => {
    const cases: Array<[unknown, RegExp]> = [
      [[2, [['n1', 1]]], /version 2 is not supported/],
      [['1', [['n1', 1]]], /version of type string/],
      [[1], /\[version, entries\]/],
      [{ version: 1 }, /\[version, entries\]/],
      [[1, [['n1', 0]]], /positive counter/],
      [[1, [['n1', 1.5]]], /positive counter/],
      [[1, [['', 1]]], /positive counter/],
      [
        [
          1,
          [
            ['n1', 1],
            ['n1', 2],
          ],
        ],
        /repeats actor/,
      ],
      [
        [1, Array.from({ length: VECTOR_ENTRIES_MAX + 1 }, (_, index) => [`n${index}`, 1])],
        /at most/,
      ],
    ]
    for (const [body, message] of cases) expectRejected(tokenFromBody(body), message)
  })

  it('rejects any sealed JSON-like body unless it is a valid context', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (body) => {
        try {
          decodeContextToken(tokenFromBody(body))
        } catch (error) {
          expect(isMurmurError(error, 'invalid_context')).toBe(true)
        }
      }),
    )
  })
})
