/**
 * Key listing: merging partial scans into one page, and the page cursor.
 *
 * A listing asks one replica per partition for the live keys after a cursor. A scan may stop
 * early (it found enough keys, or it scanned its bound of entries, most of them tombstones),
 * so every part carries a frontier: all its live keys up to the frontier are included, and
 * nothing is known beyond it. An undefined frontier means the part is exhausted. Merging keeps
 * the keys no part's frontier cuts off, in key order, up to the page limit; the merged
 * frontier is where the next page starts. The same merge serves a node merging its partitions
 * and the coordinator merging the nodes.
 *
 * The cursor is an opaque base64url token (msgpack [version, keyspace, prefix, after] with a
 * CRC-32 seal) so it cannot be reused with another keyspace or prefix by mistake.
 */

import { Buffer } from 'node:buffer'
import { assert } from '../env/assert.js'
import { isMurmurError, MurmurError } from '../env/errors.js'
import { decode, encode, openRecord, sealRecord } from '../wire/codec.js'
import { compareKeys, keyProblem } from './names.js'

export interface ListPart {
  /** Live keys in key order, all after the cursor and none beyond the frontier. */
  readonly keys: readonly string[]
  /** The last key the part vouches for; undefined when it saw every key. */
  readonly frontier: string | undefined
}

const CURSOR_VERSION = 1
const CURSOR_CHARS_MAX = 4096

/** The merged page of `parts`: at most `limit` keys, with its frontier. */
export function mergeListParts(parts: readonly ListPart[], limit: number): ListPart {
  assert(Number.isSafeInteger(limit) && limit >= 1, `bad listing limit ${limit}`)
  let frontier: string | undefined
  for (const part of parts) {
    if (part.frontier === undefined) continue
    if (frontier === undefined || compareKeys(part.frontier, frontier) < 0) frontier = part.frontier
  }
  const cut = frontier
  const all: string[] = []
  for (const part of parts) {
    for (const key of part.keys) {
      if (cut === undefined || compareKeys(key, cut) <= 0) all.push(key)
    }
  }
  all.sort(compareKeys)
  const keys = all.filter((key, index) => index === 0 || all[index - 1] !== key)
  if (keys.length > limit) {
    const page = keys.slice(0, limit)
    return { keys: page, frontier: page[page.length - 1] }
  }
  return { keys, frontier }
}

function invalidCursor(message: string, cause?: unknown): MurmurError {
  return new MurmurError('invalid_request', message, {
    definite: true,
    ...(cause === undefined ? {} : { cause }),
  })
}

export function encodeListCursor(keyspace: string, prefix: string, after: string): string {
  const sealed = sealRecord(encode([CURSOR_VERSION, keyspace, prefix, after]))
  return Buffer.from(sealed).toString('base64url')
}

/** The key a cursor resumes after; throws invalid_request for a malformed or foreign cursor. */
export function decodeListCursor(
  cursor: string,
  keyspace: string,
  prefix: string,
  keyBytesMax: number,
): string {
  if (cursor.length > CURSOR_CHARS_MAX || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw invalidCursor('cursor must be a token from a previous listing page')
  }
  let value: unknown
  try {
    value = decode(openRecord(Buffer.from(cursor, 'base64url')))
  } catch (error) {
    if (isMurmurError(error)) throw invalidCursor('cursor is corrupted or truncated', error)
    throw error
  }
  if (
    !Array.isArray(value) ||
    value.length !== 4 ||
    value[0] !== CURSOR_VERSION ||
    typeof value[3] !== 'string'
  ) {
    throw invalidCursor('cursor is not a listing cursor')
  }
  if (value[1] !== keyspace || value[2] !== prefix) {
    throw invalidCursor('cursor belongs to another keyspace or prefix')
  }
  if (keyProblem(value[3], keyBytesMax) !== undefined) throw invalidCursor('cursor names no key')
  return value[3]
}
