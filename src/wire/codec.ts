/**
 * The byte formats murmur writes: msgpack for structure, CRC-32 for integrity. Every record on
 * disk and every frame on the wire carries a checksum that is verified before the bytes are
 * trusted, so a flipped bit is detected instead of being served.
 */

import { crc32 } from 'node:zlib'
import { Decoder, Encoder } from '@msgpack/msgpack'
import { MurmurError } from '../env/errors.js'

/** Version of the peer and gossip protocols; bumped on incompatible changes. */
export const PROTOCOL_VERSION = 1

const encoder = new Encoder({ ignoreUndefined: true })
const decoder = new Decoder()

/** msgpack encoding of a value; `undefined` object fields are dropped. */
export function encode(value: unknown): Uint8Array {
  return encoder.encode(value)
}

/** Decodes one msgpack value; throws MurmurError('invalid_request') on malformed bytes. */
export function decode(bytes: Uint8Array): unknown {
  try {
    return decoder.decode(bytes)
  } catch (error) {
    throw new MurmurError('invalid_request', 'malformed msgpack payload', { cause: error })
  }
}

export function checksum(bytes: Uint8Array): number {
  return crc32(bytes) >>> 0
}

const CHECKSUM_BYTES = 4

/** A checksummed record: 4-byte big-endian CRC-32 of the payload, then the payload. */
export function sealRecord(payload: Uint8Array): Uint8Array {
  const sealed = new Uint8Array(CHECKSUM_BYTES + payload.length)
  new DataView(sealed.buffer).setUint32(0, checksum(payload))
  sealed.set(payload, CHECKSUM_BYTES)
  return sealed
}

/** The payload of a sealed record; throws MurmurError('corrupt_record') on a checksum mismatch. */
export function openRecord(sealed: Uint8Array): Uint8Array {
  if (sealed.length < CHECKSUM_BYTES) {
    throw new MurmurError(
      'corrupt_record',
      `record of ${sealed.length} bytes is shorter than its checksum`,
    )
  }
  const view = new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength)
  const expected = view.getUint32(0)
  const payload = sealed.subarray(CHECKSUM_BYTES)
  const actual = checksum(payload)
  if (actual !== expected) {
    throw new MurmurError(
      'corrupt_record',
      `record checksum mismatch (stored ${expected}, computed ${actual})`,
    )
  }
  return payload
}

/** msgpack-encodes and seals a value. */
export function encodeRecord(value: unknown): Uint8Array {
  return sealRecord(encode(value))
}

/** Verifies and decodes a sealed value; a malformed payload is reported as a corrupt record. */
export function decodeRecord(sealed: Uint8Array): unknown {
  const payload = openRecord(sealed)
  try {
    return decoder.decode(payload)
  } catch (error) {
    throw new MurmurError('corrupt_record', 'record payload is not valid msgpack', { cause: error })
  }
}
