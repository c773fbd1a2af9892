/**
 * Sealed gossip datagrams. With a cluster secret every UDP packet is encrypted and
 * authenticated with AES-256-GCM:
 *
 *   version u8 (= 1) | salt (16 random bytes) | ciphertext | GCM tag (16 bytes)
 *
 * The AES key of one packet is HMAC-SHA256(gossip key, salt), so every packet has a key of its
 * own and the fixed GCM nonce can never repeat under one key; a random 96-bit nonce per packet
 * would wear out after about 2^32 packets per key, which a busy cluster sends in days. The
 * version byte is authenticated as associated data.
 *
 * `sealPacket` always uses the keyring's primary key; `openPacket` tries every key in order
 * and answers a typed rejection, never an exception, when none opens the packet. Replayed
 * packets are not detected here: membership messages carry incarnations, so a replayed
 * message can only restate what its sender already said.
 */

import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto'
import { assert } from '../../env/assert.js'

export const GOSSIP_SEAL_VERSION = 1
const VERSION_BYTES = 1
export const GOSSIP_SALT_BYTES = 16
const TAG_BYTES = 16
const NONCE = new Uint8Array(12)

/** Bytes a sealed packet adds to the plaintext; the membership packet budget gives them up. */
export const GOSSIP_SEAL_OVERHEAD_BYTES = VERSION_BYTES + GOSSIP_SALT_BYTES + TAG_BYTES

export type GossipOpenFailure = 'auth_too_short' | 'auth_wrong_version' | 'auth_failed'

export type GossipOpened =
  | { readonly ok: true; readonly plaintext: Uint8Array; readonly keyIndex: number }
  | { readonly ok: false; readonly reason: GossipOpenFailure }

/** Encrypts `plaintext` under `key` (the primary gossip key) with a fresh random `salt`. */
export function sealPacket(key: Uint8Array, plaintext: Uint8Array, salt: Uint8Array): Uint8Array {
  assert(key.length === 32, 'gossip key must be 32 bytes')
  assert(salt.length === GOSSIP_SALT_BYTES, `salt must be ${GOSSIP_SALT_BYTES} bytes`)
  const header = new Uint8Array(VERSION_BYTES + GOSSIP_SALT_BYTES)
  header[0] = GOSSIP_SEAL_VERSION
  header.set(salt, VERSION_BYTES)
  const cipher = createCipheriv('aes-256-gcm', packetKey(key, salt), NONCE)
  cipher.setAAD(header.subarray(0, VERSION_BYTES))
  const body = cipher.update(plaintext)
  const final = cipher.final()
  const tag = cipher.getAuthTag()
  const sealed = new Uint8Array(header.length + body.length + final.length + TAG_BYTES)
  sealed.set(header, 0)
  sealed.set(body, header.length)
  sealed.set(final, header.length + body.length)
  sealed.set(tag, sealed.length - TAG_BYTES)
  return sealed
}

/** The plaintext of a sealed packet and the index of the key that opened it, or why not. */
export function openPacket(keys: readonly Uint8Array[], sealed: Uint8Array): GossipOpened {
  assert(keys.length > 0, 'openPacket needs at least one key')
  if (sealed.length < GOSSIP_SEAL_OVERHEAD_BYTES) return { ok: false, reason: 'auth_too_short' }
  if (sealed[0] !== GOSSIP_SEAL_VERSION) return { ok: false, reason: 'auth_wrong_version' }
  const salt = sealed.subarray(VERSION_BYTES, VERSION_BYTES + GOSSIP_SALT_BYTES)
  const body = sealed.subarray(VERSION_BYTES + GOSSIP_SALT_BYTES, sealed.length - TAG_BYTES)
  const tag = sealed.subarray(sealed.length - TAG_BYTES)
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]
    assert(key !== undefined && key.length === 32, 'gossip key must be 32 bytes')
    const plaintext = tryOpen(packetKey(key, salt), sealed.subarray(0, VERSION_BYTES), body, tag)
    if (plaintext !== undefined) return { ok: true, plaintext, keyIndex: index }
  }
  return { ok: false, reason: 'auth_failed' }
}

function packetKey(key: Uint8Array, salt: Uint8Array): Buffer {
  return createHmac('sha256', key).update(salt).digest()
}

function tryOpen(
  key: Buffer,
  associated: Uint8Array,
  body: Uint8Array,
  tag: Uint8Array,
): Uint8Array | undefined {
  const decipher = createDecipheriv('aes-256-gcm', key, NONCE)
  decipher.setAAD(associated)
  decipher.setAuthTag(tag)
  const plaintext = decipher.update(body)
  try {
    const final = decipher.final()
    if (final.length === 0) return viewOf(plaintext)
    return viewOf(Buffer.concat([plaintext, final]))
  } catch {
    // A wrong key or tampered bytes: GCM's tag check failed.
    return undefined
  }
}

/** A plain Uint8Array view, so decoders downstream see the same type as without a secret. */
function viewOf(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
}
