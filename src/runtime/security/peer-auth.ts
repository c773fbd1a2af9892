/**
 * Authenticated peer connections. With a cluster secret, a TCP connection starts with a mutual
 * challenge-response before any peer envelope, in frames of its own (msgpack arrays):
 *
 *   dialer → acceptor   [1, 1, dialerNonce, cluster, from, to]      auth-hello
 *   acceptor → dialer   [1, 2, acceptorNonce, acceptorProof]       auth-challenge
 *   dialer → acceptor   [1, 3, dialerProof]                         auth-proof
 *
 * A proof is HMAC-SHA256(peer key, transcript), the transcript binding a role label, both
 * 32-byte random nonces, the cluster name and both node ids, so a proof is good for one
 * connection and one direction only. The acceptor proves with its primary key; the dialer
 * finds which of its keys verifies that proof and answers with the same key, which the
 * acceptor checks. During a rotation every node holds every key in use, so the acceptor's
 * primary is always in the dialer's keyring.
 *
 * After the proofs each direction has its own session key, HKDF(key, both nonces, direction),
 * and every frame payload travels sealed with AES-256-GCM under a frame counter as nonce: a
 * frame that was altered, dropped, replayed or reordered fails to open and the connection is
 * closed. Fresh nonces make fresh session keys, so a counter never repeats under one key.
 *
 * Everything here is a function of its inputs (nonces come from the caller), so the handshake
 * is tested without sockets; decoding never throws.
 */

import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  timingSafeEqual,
} from 'node:crypto'
import { assert } from '../../env/assert.js'
import type { NodeId } from '../../env/transport.js'
import { decode, encode } from '../../wire/codec.js'
import { IDENTITY_CHARS_MAX } from '../../wire/peer-envelope.js'

export const PEER_AUTH_VERSION = 1
export const PEER_NONCE_BYTES = 32
const PROOF_BYTES = 32
const TAG_BYTES = 16
/** Bytes sealing adds to every frame payload after the handshake. */
export const SEALED_FRAME_OVERHEAD_BYTES = TAG_BYTES

const STEP_HELLO = 1
const STEP_CHALLENGE = 2
const STEP_PROOF = 3

export type PeerRole = 'dialer' | 'acceptor'

export interface AuthHello {
  readonly nonce: Uint8Array
  readonly cluster: string
  readonly from: NodeId
  readonly to: NodeId
}

export interface AuthChallenge {
  readonly nonce: Uint8Array
  readonly proof: Uint8Array
}

export function encodeAuthHello(hello: AuthHello): Uint8Array {
  assert(hello.nonce.length === PEER_NONCE_BYTES, 'auth-hello nonce has the wrong size')
  return encode([PEER_AUTH_VERSION, STEP_HELLO, hello.nonce, hello.cluster, hello.from, hello.to])
}

export function encodeAuthChallenge(challenge: AuthChallenge): Uint8Array {
  assert(challenge.nonce.length === PEER_NONCE_BYTES, 'challenge nonce has the wrong size')
  assert(challenge.proof.length === PROOF_BYTES, 'challenge proof has the wrong size')
  return encode([PEER_AUTH_VERSION, STEP_CHALLENGE, challenge.nonce, challenge.proof])
}

export function encodeAuthProof(proof: Uint8Array): Uint8Array {
  assert(proof.length === PROOF_BYTES, 'proof has the wrong size')
  return encode([PEER_AUTH_VERSION, STEP_PROOF, proof])
}

/** The fields of one handshake step, or undefined when `payload` is not that step. */
function decodeStep(payload: Uint8Array, step: number, fieldsCount: number): unknown[] | undefined {
  let value: unknown
  try {
    value = decode(payload)
  } catch {
    return undefined
  }
  if (!Array.isArray(value) || value.length !== fieldsCount + 2) return undefined
  if (value[0] !== PEER_AUTH_VERSION || value[1] !== step) return undefined
  return value.slice(2)
}

function isBytes(value: unknown, length: number): value is Uint8Array {
  return value instanceof Uint8Array && value.length === length
}

function isIdentity(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= IDENTITY_CHARS_MAX
}

export function decodeAuthHello(payload: Uint8Array): AuthHello | undefined {
  const fields = decodeStep(payload, STEP_HELLO, 4)
  if (fields === undefined) return undefined
  const [nonce, cluster, from, to] = fields
  if (!isBytes(nonce, PEER_NONCE_BYTES) || !isIdentity(cluster)) return undefined
  if (!isIdentity(from) || !isIdentity(to)) return undefined
  return { nonce, cluster, from, to }
}

export function decodeAuthChallenge(payload: Uint8Array): AuthChallenge | undefined {
  const fields = decodeStep(payload, STEP_CHALLENGE, 2)
  if (fields === undefined) return undefined
  const [nonce, proof] = fields
  if (!isBytes(nonce, PEER_NONCE_BYTES) || !isBytes(proof, PROOF_BYTES)) return undefined
  return { nonce, proof }
}

export function decodeAuthProof(payload: Uint8Array): Uint8Array | undefined {
  const fields = decodeStep(payload, STEP_PROOF, 1)
  if (fields === undefined) return undefined
  const [proof] = fields
  return isBytes(proof, PROOF_BYTES) ? proof : undefined
}

/** The proof `role` gives for the connection that `hello` opened and `acceptorNonce` answered. */
export function proofFor(
  key: Uint8Array,
  role: PeerRole,
  hello: AuthHello,
  acceptorNonce: Uint8Array,
): Uint8Array {
  const transcript = encode([
    'murmur peer auth v1',
    role,
    hello.nonce,
    acceptorNonce,
    hello.cluster,
    hello.from,
    hello.to,
  ])
  return new Uint8Array(createHmac('sha256', key).update(transcript).digest())
}

/** Whether `proof` is `role`'s proof under `key`; compared in constant time. */
export function verifyProof(
  key: Uint8Array,
  proof: Uint8Array,
  role: PeerRole,
  hello: AuthHello,
  acceptorNonce: Uint8Array,
): boolean {
  const expected = proofFor(key, role, hello, acceptorNonce)
  return proof.length === expected.length && timingSafeEqual(proof, expected)
}

/** The index of the key under which `proof` is `role`'s proof, or undefined. */
export function findProofKey(
  keys: readonly Uint8Array[],
  proof: Uint8Array,
  role: PeerRole,
  hello: AuthHello,
  acceptorNonce: Uint8Array,
): number | undefined {
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]
    if (key !== undefined && verifyProof(key, proof, role, hello, acceptorNonce)) return index
  }
  return undefined
}

/** Seals outgoing and opens incoming frame payloads of one authenticated connection. */
export class SealedChannel {
  private readonly sendKey: Buffer
  private readonly receiveKey: Buffer
  private sendCounter = 0
  private receiveCounter = 0

  /** `side` is this end of the connection; both ends derive the same two session keys. */
  constructor(key: Uint8Array, side: PeerRole, hello: AuthHello, acceptorNonce: Uint8Array) {
    const dialerKey = sessionKey(key, 'dialer', hello.nonce, acceptorNonce)
    const acceptorKey = sessionKey(key, 'acceptor', hello.nonce, acceptorNonce)
    this.sendKey = side === 'dialer' ? dialerKey : acceptorKey
    this.receiveKey = side === 'dialer' ? acceptorKey : dialerKey
  }

  /** The sealed form of the next outgoing payload: ciphertext then the GCM tag. */
  seal(payload: Uint8Array): Uint8Array {
    const cipher = createCipheriv('aes-256-gcm', this.sendKey, counterNonce(this.sendCounter++))
    const body = cipher.update(payload)
    const final = cipher.final()
    const tag = cipher.getAuthTag()
    const sealed = new Uint8Array(body.length + final.length + TAG_BYTES)
    sealed.set(body, 0)
    sealed.set(final, body.length)
    sealed.set(tag, body.length + final.length)
    return sealed
  }

  /** The next incoming payload, or undefined when it was not sealed by the peer in order. */
  open(sealed: Uint8Array): Uint8Array | undefined {
    if (sealed.length < TAG_BYTES) return undefined
    const nonce = counterNonce(this.receiveCounter++)
    const decipher = createDecipheriv('aes-256-gcm', this.receiveKey, nonce)
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
    const body = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES))
    try {
      const final = decipher.final()
      const plaintext = final.length === 0 ? body : Buffer.concat([body, final])
      return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength)
    } catch {
      return undefined
    }
  }
}

function sessionKey(
  key: Uint8Array,
  direction: PeerRole,
  dialerNonce: Uint8Array,
  acceptorNonce: Uint8Array,
): Buffer {
  const salt = Buffer.concat([dialerNonce, acceptorNonce])
  return Buffer.from(hkdfSync('sha256', key, salt, `murmur peer session v1 ${direction}`, 32))
}

/** A 96-bit GCM nonce: four zero bytes, then the frame counter as a big-endian u64. */
function counterNonce(counter: number): Buffer {
  assert(Number.isSafeInteger(counter) && counter >= 0, 'frame counter out of range')
  const nonce = Buffer.alloc(12)
  nonce.writeBigUInt64BE(BigInt(counter), 4)
  return nonce
}
