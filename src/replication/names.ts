/**
 * Rules for the names a request carries, shared by the REST layer (user input) and the peer
 * message decoders (peer input), so both accept exactly the same keys and keyspaces. Keys
 * compare in code point order, which is the UTF-8 byte order storage sorts them in.
 */

import { type ErrorCode, MurmurError } from '../env/errors.js'
import { utf8Length } from '../wire/utf8.js'

export const KEYSPACE_PATTERN = /^[a-z0-9_-]{1,64}$/

/** Why `key` is not a valid user key, or undefined when it is. */
export function keyProblem(key: string, keyBytesMax: number): string | undefined {
  const length = utf8Length(key)
  if (length === -1) return 'a key must be valid UTF-8'
  if (length < 1) return 'a key must not be empty'
  if (length > keyBytesMax) return `a key holds at most ${keyBytesMax} bytes, got ${length}`
  return undefined
}

/** Throws MurmurError(`code`) for an invalid key. */
export function checkKey(key: string, keyBytesMax: number, code: ErrorCode): void {
  const problem = keyProblem(key, keyBytesMax)
  if (problem !== undefined) throw new MurmurError(code, problem, { definite: true })
}

/** Code point order (= UTF-8 byte order): negative when a sorts before b. */
export function compareKeys(a: string, b: string): number {
  const length = Math.min(a.length, b.length)
  for (let index = 0; index < length; index++) {
    const left = a.charCodeAt(index)
    const right = b.charCodeAt(index)
    if (left === right) continue
    // Surrogates (0xd800-0xdfff) encode code points above every BMP unit, so they sort last.
    const leftHigh = left >= 0xd800 && left <= 0xdfff
    const rightHigh = right >= 0xd800 && right <= 0xdfff
    if (leftHigh !== rightHigh) return leftHigh ? 1 : -1
    return left - right
  }
  return a.length - b.length
}
