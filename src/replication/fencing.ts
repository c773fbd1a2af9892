/**
 * Ring-version fencing of replica-bound requests (docs/ARCHITECTURE.md, Requests during a
 * move). Every kv, crdt and listing request a node sends to a replica carries the topology
 * version it was planned under (`ringVersion`). The receiver compares it with the version it
 * acts on: a newer stamp is adopted before the request is served, an older one is refused with
 * `stale_ring` naming the receiver's version, so the sender adopts that and plans again. A
 * replica also refuses a write it applied while it moved on to a newer version, so an
 * acknowledgement given under a version was given before the replica acted on the next one.
 *
 * A request without a stamp (from a node that predates fencing) is served as before.
 *
 * Pure: bodies and versions in, verdicts and errors out.
 */

import { assert } from '../env/assert.js'
import { isMurmurError, MurmurError } from '../env/errors.js'

/** The body field that carries the sender's topology version. */
export const RING_VERSION_FIELD = 'ringVersion'

export type FenceVerdict = 'serve' | 'adopt' | 'stale'

/** What a receiver acting on `localVersion` does with a request stamped `stampedVersion`. */
export function fenceVerdict(
  localVersion: number,
  stampedVersion: number | undefined,
): FenceVerdict {
  assert(Number.isSafeInteger(localVersion) && localVersion >= 1, `bad version ${localVersion}`)
  if (stampedVersion === undefined || stampedVersion === localVersion) return 'serve'
  return stampedVersion > localVersion ? 'adopt' : 'stale'
}

/** The body with its stamp, as a sender sends it. */
export function stampBody(
  body: Readonly<Record<string, unknown>>,
  version: number,
): Record<string, unknown> {
  assert(Number.isSafeInteger(version) && version >= 1, `bad version ${version}`)
  return { ...body, [RING_VERSION_FIELD]: version }
}

/**
 * Splits a received body into its stamp and the rest (which the message decoders check as
 * before). A stamp that is not a positive safe integer is invalid_request.
 */
export function unstampBody(body: Readonly<Record<string, unknown>>): {
  readonly version: number | undefined
  readonly body: Readonly<Record<string, unknown>>
} {
  const { [RING_VERSION_FIELD]: version, ...rest } = body
  if (version === undefined) return { version: undefined, body: rest }
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new MurmurError('invalid_request', `${RING_VERSION_FIELD} must be a positive integer`, {
      definite: true,
    })
  }
  return { version, body: rest }
}

/**
 * The refusal of a request planned under an older version than `version`, the receiver's.
 * `definite` false when the receiver applied the write before it noticed.
 */
export function staleRing(version: number, stampedVersion: number, definite: boolean): MurmurError {
  return new MurmurError(
    'stale_ring',
    `the request was planned under topology version ${stampedVersion}; this node acts on ` +
      `version ${version}`,
    { details: { version }, definite },
  )
}

/** The version a `stale_ring` error names, or undefined for any other error. */
export function staleRingVersion(error: unknown): number | undefined {
  if (!isMurmurError(error, 'stale_ring')) return undefined
  const version = error.details['version']
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    return undefined
  }
  return version
}
