/**
 * The cluster keyring: the secrets of `cluster.secret`, turned into per-purpose keys. The first
 * secret is primary: it alone signs and encrypts. Every secret is accepted on receive, so a key
 * is rotated without downtime by installing the new secret second on every node, then moving it
 * first, then removing the old one (docs/SECURITY.md), as memberlist's keyring does.
 *
 * Each secret yields independent keys through HKDF-SHA256, one per purpose (gossip datagrams,
 * peer connections), so a key recovered from one protocol cannot be replayed into the other.
 * The raw secrets are not kept: only derived keys live here, and a Keyring prints as
 * "set (N keys)" wherever it is logged or serialized.
 */

import { hkdfSync } from 'node:crypto'
import { inspect } from 'node:util'
import { assert } from '../../env/assert.js'

/** Secrets a keyring holds at most; receive tries each one, so the list stays short. */
export const KEYS_COUNT_MAX = 8
/** Bytes of every derived key (AES-256 and HMAC-SHA256 keys alike). */
export const KEY_BYTES = 32
/** Shortest secret accepted; cluster.yml enforces the same bound with a friendly message. */
export const SECRET_CHARS_MIN = 16

export type KeyPurpose = 'gossip' | 'peer'

// A fixed salt: the secrets are the only input with entropy, and the info string separates
// the purposes. Changing either is an incompatible protocol change.
const HKDF_SALT = 'murmur cluster keyring v1'

export class Keyring {
  /** Derived gossip keys, primary first. */
  readonly gossipKeys: readonly Uint8Array[]
  /** Derived peer-connection keys, primary first. */
  readonly peerKeys: readonly Uint8Array[]

  private constructor(gossipKeys: Uint8Array[], peerKeys: Uint8Array[]) {
    this.gossipKeys = gossipKeys
    this.peerKeys = peerKeys
  }

  /** A keyring for `secrets`, the first being primary. Secrets are validated by the config. */
  static fromSecrets(secrets: readonly string[]): Keyring {
    assert(secrets.length >= 1, 'a keyring needs at least one secret')
    assert(secrets.length <= KEYS_COUNT_MAX, `a keyring holds at most ${KEYS_COUNT_MAX} secrets`)
    for (const secret of secrets)
      assert(secret.length >= SECRET_CHARS_MIN, 'a secret is shorter than the minimum')
    return new Keyring(
      secrets.map((secret) => deriveKey(secret, 'gossip')),
      secrets.map((secret) => deriveKey(secret, 'peer')),
    )
  }

  get size(): number {
    return this.gossipKeys.length
  }

  /** The keys for one purpose, primary first. */
  keys(purpose: KeyPurpose): readonly Uint8Array[] {
    return purpose === 'gossip' ? this.gossipKeys : this.peerKeys
  }

  toString(): string {
    return `set (${this.size} ${this.size === 1 ? 'key' : 'keys'})`
  }

  toJSON(): string {
    return this.toString()
  }

  [inspect.custom](): string {
    return `Keyring { ${this.toString()} }`
  }
}

/** The 32-byte key for `purpose` derived from one secret. */
export function deriveKey(secret: string, purpose: KeyPurpose): Uint8Array {
  const derived = hkdfSync('sha256', secret, HKDF_SALT, `murmur ${purpose} key`, KEY_BYTES)
  return new Uint8Array(derived)
}
