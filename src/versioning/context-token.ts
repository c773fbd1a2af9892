/**
 * Client causal contexts as opaque tokens. A read hands the client the clock of what it saw
 * (src/versioning/dvv.ts `context`); the client sends the token back with its next write, and
 * the write supersedes exactly those siblings. The whole token format lives in this file.
 *
 * Format, version 1 (a plain clock):
 *   token = base64url without padding of (body ‖ seal)
 *   body  = msgpack [TOKEN_VERSION, [[actor, counter], ...]], entries sorted by actor
 *   seal  = CRC-32 of body, as in src/wire/codec.ts `sealRecord`
 * Format, version 2 (a context with cloud dots, src/versioning/dot-context.ts `DotContext`):
 *   the same, with
 *   body  = msgpack [DOTTED_TOKEN_VERSION, entries, [[actor, counter], ...]], the dots in
 *           canonical dot order, none covered by the entries, at least one.
 * A context without dots is always written as version 1, so readers of plain tokens keep
 * working. The empty string is the empty context ("I saw nothing"), as is an absent token.
 * `decodeContextToken` reads plain clocks only; `decodeCausalContextToken` reads both.
 *
 * The seal rejects random garbage, truncation and bit flips; it does not stop a client from
 * forging a context. A keyed MAC can replace it in `sealToken`/`openToken` with a version bump.
 *
 * Limits: a token has at most CONTEXT_TOKEN_CHARS_MAX characters and VECTOR_ENTRIES_MAX
 * entries, checked before and after decoding, so untrusted input costs bounded work.
 */

import { Buffer } from 'node:buffer'
import { assert } from '../env/assert.js'
import { isMurmurError, MurmurError } from '../env/errors.js'
import { decode, encode, openRecord, sealRecord } from '../wire/codec.js'
import { contextWithDots, EMPTY_DOT_CONTEXT } from './dot-context.js'
import { CONTEXT_DOTS_MAX, compareDots, type DotContext } from './dvv.js'
import {
  type Dot,
  dotFromUntrusted,
  dotToWire,
  EMPTY_VECTOR,
  VECTOR_ENTRIES_MAX,
  type VersionVector,
  vectorCovers,
  vectorEntries,
  vectorFromUntrusted,
} from './version-vector.js'

export const TOKEN_VERSION = 1
export const DOTTED_TOKEN_VERSION = 2

/**
 * The longest token accepted: 48 KiB. The largest valid clock (256 actors of 128 ASCII
 * characters, every counter near 2^53) encodes to 35,849 bytes, or 47,799 characters, so every
 * clock murmur can hold fits, while a hostile token costs at most ~36 KiB of decoding.
 */
export const CONTEXT_TOKEN_CHARS_MAX = 48 * 1024

const BASE64URL_PATTERN = /^[A-Za-z0-9_-]+$/

function invalid(message: string, cause?: unknown): MurmurError {
  return new MurmurError('invalid_context', message, {
    definite: true,
    ...(cause === undefined ? {} : { cause }),
  })
}

/** Adds the integrity seal to a token body. */
function sealToken(body: Uint8Array): Uint8Array {
  return sealRecord(body)
}

/** Verifies and strips the integrity seal. */
function openToken(sealed: Uint8Array): Uint8Array {
  try {
    return openRecord(sealed)
  } catch (error) {
    if (isMurmurError(error)) throw invalid('context token is corrupted or truncated', error)
    throw error
  }
}

/** The opaque token for `vector`; the empty vector is the empty string. */
export function encodeContextToken(vector: VersionVector): string {
  const entries = vectorEntries(vector)
  assert(entries.length <= VECTOR_ENTRIES_MAX, `context has ${entries.length} entries`)
  if (entries.length === 0) return ''
  return tokenFromBody([TOKEN_VERSION, entries])
}

/**
 * The opaque token for a dotted context. Dots the vector covers add nothing and are left out;
 * without remaining dots the token is the plain version 1 token of the vector.
 */
export function encodeCausalContextToken(context: DotContext): string {
  const dots = canonicalDots(context.vector, context.cloud)
  if (dots.length === 0) return encodeContextToken(context.vector)
  assert(dots.length <= CONTEXT_DOTS_MAX, `context has ${dots.length} dots`)
  const entries = vectorEntries(context.vector)
  assert(entries.length <= VECTOR_ENTRIES_MAX, `context has ${entries.length} entries`)
  return tokenFromBody([DOTTED_TOKEN_VERSION, entries, dots.map(dotToWire)])
}

/** Sorted, distinct dots that `vector` does not cover. */
function canonicalDots(vector: VersionVector, dots: readonly Dot[]): Dot[] {
  const sorted = dots.filter((dot) => !vectorCovers(vector, dot)).sort(compareDots)
  return sorted.filter((dot, index) => {
    const previous = sorted[index - 1]
    return previous === undefined || compareDots(previous, dot) !== 0
  })
}

function tokenFromBody(body: unknown): string {
  const token = Buffer.from(sealToken(encode(body))).toString('base64url')
  assert(
    token.length <= CONTEXT_TOKEN_CHARS_MAX,
    `context token of ${token.length} characters exceeds ${CONTEXT_TOKEN_CHARS_MAX}`,
  )
  return token
}

/** The strictly decoded bytes of a base64url string: one spelling per byte string. */
function bytesFromBase64url(token: string): Uint8Array {
  if (!BASE64URL_PATTERN.test(token)) {
    throw invalid('context token must be base64url (A-Z, a-z, 0-9, "-", "_", no padding)')
  }
  const bytes = Buffer.from(token, 'base64url')
  // Node's decoder tolerates stray bits and lengths; re-encoding rejects every other spelling.
  if (bytes.toString('base64url') !== token) {
    throw invalid('context token is not canonical base64url (truncated or altered)')
  }
  return bytes
}

/**
 * The clock a client sent back, from a plain (version 1) token. An absent or empty token is
 * the empty context. Throws MurmurError('invalid_context') for anything malformed: too long,
 * not base64url, a bad checksum, not msgpack, an unknown version, a bad shape or too many
 * entries.
 */
export function decodeContextToken(token: string | undefined): VersionVector {
  if (token === undefined || token.length === 0) return EMPTY_VECTOR
  const value = tokenBody(token)
  if (!Array.isArray(value) || value.length !== 2) {
    throw invalid('context token must hold [version, entries]')
  }
  const version: unknown = value[0]
  if (version !== TOKEN_VERSION) throw unsupportedVersion(version, `${TOKEN_VERSION}`)
  return vectorFromUntrusted(value[1], 'invalid_context')
}

/**
 * The context a client sent back, from a plain or a dotted token; rejects malformed tokens as
 * `decodeContextToken` does, and a dotted token whose dots are repeated, out of order, covered
 * by its vector, absent or more than CONTEXT_DOTS_MAX.
 */
export function decodeCausalContextToken(token: string | undefined): DotContext {
  if (token === undefined || token.length === 0) return EMPTY_DOT_CONTEXT
  const value = tokenBody(token)
  if (!Array.isArray(value) || value.length < 2 || value.length > 3) {
    throw invalid('context token must hold [version, entries] or [version, entries, dots]')
  }
  const version: unknown = value[0]
  if (version === TOKEN_VERSION && value.length === 2) {
    return { vector: vectorFromUntrusted(value[1], 'invalid_context'), cloud: [] }
  }
  if (version !== DOTTED_TOKEN_VERSION || value.length !== 3) {
    throw unsupportedVersion(version, `${TOKEN_VERSION} or ${DOTTED_TOKEN_VERSION}`)
  }
  const vector = vectorFromUntrusted(value[1], 'invalid_context')
  const rawDots: unknown = value[2]
  if (!Array.isArray(rawDots) || rawDots.length < 1 || rawDots.length > CONTEXT_DOTS_MAX) {
    throw invalid(`a dotted context token holds 1..${CONTEXT_DOTS_MAX} dots`)
  }
  const dots = rawDots.map((raw: unknown) => dotFromUntrusted(raw, 'invalid_context'))
  const canonical = canonicalDots(vector, dots)
  if (canonical.length !== dots.length || canonical.some((dot, i) => dot !== dots[i])) {
    throw invalid('context token dots must be distinct, sorted and not covered by its vector')
  }
  // A dot that extends the vector (tokens of earlier versions hold some) folds into it.
  return contextWithDots({ vector, cloud: [] }, dots)
}

/** The decoded msgpack body of a sealed token, with length, alphabet and seal checked. */
function tokenBody(token: string): unknown {
  if (token.length > CONTEXT_TOKEN_CHARS_MAX) {
    throw invalid(
      `context token has ${token.length} characters, more than the ${CONTEXT_TOKEN_CHARS_MAX} allowed`,
    )
  }
  const body = openToken(bytesFromBase64url(token))
  try {
    return decode(body)
  } catch (error) {
    if (isMurmurError(error)) throw invalid('context token body is not valid msgpack', error)
    throw error
  }
}

function unsupportedVersion(version: unknown, expected: string): MurmurError {
  const shown = typeof version === 'number' ? String(version) : `of type ${typeof version}`
  return invalid(`context token version ${shown} is not supported (expected ${expected})`)
}
