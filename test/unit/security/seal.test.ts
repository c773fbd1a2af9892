/**
 * Goal: the keyring and the two seals (gossip datagrams, peer frames) accept exactly what a
 * holder of a cluster key produced: any flipped byte, a wrong key, a replayed or reordered
 * frame is rejected, and a keyring in the middle of a rotation accepts both keys while sealing
 * with its primary only. Secrets never print.
 * Method: pure functions on fixed and fast-check-generated inputs; no sockets.
 */

import { inspect } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ClusterSecrets, parseConfig } from '../../../src/config/load.js'
import {
  GOSSIP_SALT_BYTES,
  GOSSIP_SEAL_OVERHEAD_BYTES,
  openPacket,
  sealPacket,
} from '../../../src/runtime/security/gossip-seal.js'
import { deriveKey, Keyring } from '../../../src/runtime/security/keyring.js'
import {
  type AuthHello,
  decodeAuthChallenge,
  decodeAuthHello,
  decodeAuthProof,
  encodeAuthChallenge,
  encodeAuthHello,
  encodeAuthProof,
  findProofKey,
  proofFor,
  SealedChannel,
  verifyProof,
} from '../../../src/runtime/security/peer-auth.js'

const OLD = 'old-secret-0123456789'
const NEW = 'new-secret-9876543210'

function bytes(length: number, fill: number): Uint8Array {
  return new Uint8Array(length).fill(fill)
}

describe('keyring', () => {
  it('derives distinct keys per secret and purpose, deterministically', () => {
    expect(deriveKey(OLD, 'gossip')).toEqual(deriveKey(OLD, 'gossip'))
    expect(deriveKey(OLD, 'gossip')).not.toEqual(deriveKey(OLD, 'peer'))
    expect(deriveKey(OLD, 'gossip')).not.toEqual(deriveKey(NEW, 'gossip'))
    const ring = Keyring.fromSecrets([NEW, OLD])
    expect(ring.size).toBe(2)
    expect(ring.gossipKeys[0]).toEqual(deriveKey(NEW, 'gossip'))
    expect(ring.keys('peer')[1]).toEqual(deriveKey(OLD, 'peer'))
  })

  it('never prints a secret or a key', () => {
    const ring = Keyring.fromSecrets([NEW, OLD])
    const secrets = new ClusterSecrets([NEW, OLD])
    for (const text of [
      String(ring),
      JSON.stringify({ ring }),
      inspect(ring),
      String(secrets),
      JSON.stringify({ secrets }),
      inspect({ secrets }, { depth: 5 }),
    ]) {
      expect(text).toMatch(/set \(2 keys\)/)
      expect(text).not.toContain('secret-')
    }
    const config = parseConfig('nodes: [{ id: n1 }]\n', {
      env: { MURMUR_CLUSTER_SECRET: `${NEW}, ${OLD}` },
    })
    expect(config.cluster.secret?.reveal()).toEqual([NEW, OLD])
    expect(JSON.stringify(config)).not.toContain('secret-')
    expect(inspect(config, { depth: 10 })).not.toContain('secret-')
  })
})

describe('gossip seal', () => {
  const key = deriveKey(OLD, 'gossip')
  const other = deriveKey(NEW, 'gossip')
  const plaintext = new TextEncoder().encode('ping from n1')

  it('round-trips and costs a fixed overhead', () => {
    const sealed = sealPacket(key, plaintext, bytes(GOSSIP_SALT_BYTES, 7))
    expect(sealed.length).toBe(plaintext.length + GOSSIP_SEAL_OVERHEAD_BYTES)
    expect(Buffer.from(sealed).includes(Buffer.from('ping'))).toBe(false)
    expect(openPacket([key], sealed)).toEqual({ ok: true, plaintext, keyIndex: 0 })
  })

  it('rejects a packet sealed with a key outside the keyring', () => {
    const sealed = sealPacket(other, plaintext, bytes(GOSSIP_SALT_BYTES, 1))
    expect(openPacket([key], sealed)).toEqual({ ok: false, reason: 'auth_failed' })
    expect(openPacket([key], sealed.subarray(0, 10))).toEqual({
      ok: false,
      reason: 'auth_too_short',
    })
    const versioned = Uint8Array.from(sealed)
    versioned[0] = 9
    expect(openPacket([key, other], versioned)).toEqual({
      ok: false,
      reason: 'auth_wrong_version',
    })
  })

  it('accepts every key of a rotating keyring and reports which one opened', () => {
    const byOld = sealPacket(key, plaintext, bytes(GOSSIP_SALT_BYTES, 2))
    const byNew = sealPacket(other, plaintext, bytes(GOSSIP_SALT_BYTES, 3))
    expect(openPacket([other, key], byOld)).toMatchObject({ ok: true, keyIndex: 1 })
    expect(openPacket([other, key], byNew)).toMatchObject({ ok: true, keyIndex: 0 })
    // After the old key is removed, packets of a node still on it are refused.
    expect(openPacket([other], byOld)).toMatchObject({ ok: false })
  })

  it('rejects any single flipped bit (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.uint8Array({ minLength: GOSSIP_SALT_BYTES, maxLength: GOSSIP_SALT_BYTES }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (body, salt, position, bit) => {
          const sealed = sealPacket(key, body, salt)
          expect(openPacket([key], sealed)).toMatchObject({ ok: true })
          const tampered = Uint8Array.from(sealed)
          const index = position % tampered.length
          tampered[index] = (tampered[index] ?? 0) ^ (1 << bit)
          expect(openPacket([key], tampered).ok).toBe(false)
        },
      ),
      { numRuns: 300 },
    )
  })
})

describe('peer handshake and sealed frames', () => {
  const oldKey = deriveKey(OLD, 'peer')
  const newKey = deriveKey(NEW, 'peer')
  const hello: AuthHello = { nonce: bytes(32, 1), cluster: 'c', from: 'n1', to: 'n2' }
  const acceptorNonce = bytes(32, 2)

  it('encodes and decodes every step, and refuses anything else', () => {
    expect(decodeAuthHello(encodeAuthHello(hello))).toEqual(hello)
    const proof = proofFor(oldKey, 'acceptor', hello, acceptorNonce)
    expect(decodeAuthChallenge(encodeAuthChallenge({ nonce: acceptorNonce, proof }))).toEqual({
      nonce: acceptorNonce,
      proof,
    })
    expect(decodeAuthProof(encodeAuthProof(proof))).toEqual(proof)
    expect(decodeAuthProof(encodeAuthHello(hello))).toBeUndefined()
    expect(decodeAuthHello(encodeAuthProof(proof))).toBeUndefined()
    expect(decodeAuthHello(new Uint8Array([0xc1]))).toBeUndefined()
  })

  it('binds a proof to its key, role, nonces and identities', () => {
    const proof = proofFor(oldKey, 'acceptor', hello, acceptorNonce)
    expect(verifyProof(oldKey, proof, 'acceptor', hello, acceptorNonce)).toBe(true)
    expect(verifyProof(newKey, proof, 'acceptor', hello, acceptorNonce)).toBe(false)
    expect(verifyProof(oldKey, proof, 'dialer', hello, acceptorNonce)).toBe(false)
    expect(verifyProof(oldKey, proof, 'acceptor', hello, bytes(32, 3))).toBe(false)
    expect(verifyProof(oldKey, proof, 'acceptor', { ...hello, from: 'n3' }, acceptorNonce)).toBe(
      false,
    )
  })

  it('finds the shared key during a rotation, in either order', () => {
    const byNewPrimary = proofFor(newKey, 'acceptor', hello, acceptorNonce)
    expect(findProofKey([oldKey, newKey], byNewPrimary, 'acceptor', hello, acceptorNonce)).toBe(1)
    expect(findProofKey([newKey], byNewPrimary, 'acceptor', hello, acceptorNonce)).toBe(0)
    expect(findProofKey([oldKey], byNewPrimary, 'acceptor', hello, acceptorNonce)).toBeUndefined()
  })

  it('opens frames in order only, and never a tampered or foreign one', () => {
    const dialer = new SealedChannel(oldKey, 'dialer', hello, acceptorNonce)
    const acceptor = new SealedChannel(oldKey, 'acceptor', hello, acceptorNonce)
    const first = dialer.seal(new TextEncoder().encode('first'))
    const second = dialer.seal(new TextEncoder().encode('second'))
    expect(new TextDecoder().decode(acceptor.open(first))).toBe('first')
    expect(new TextDecoder().decode(acceptor.open(second))).toBe('second')
    const answer = acceptor.seal(new TextEncoder().encode('answer'))
    expect(new TextDecoder().decode(dialer.open(answer))).toBe('answer')

    const replayTarget = new SealedChannel(oldKey, 'acceptor', hello, acceptorNonce)
    const sender = new SealedChannel(oldKey, 'dialer', hello, acceptorNonce)
    const a = sender.seal(new Uint8Array([1]))
    const b = sender.seal(new Uint8Array([2]))
    expect(replayTarget.open(b)).toBeUndefined()
    // Each direction has its own key: a dialer's frame reflected back to a dialer does not open.
    const reflected = new SealedChannel(oldKey, 'dialer', hello, acceptorNonce)
    expect(reflected.open(a)).toBeUndefined()
    const foreign = new SealedChannel(newKey, 'acceptor', hello, acceptorNonce)
    expect(foreign.open(a)).toBeUndefined()
    const tamperedTarget = new SealedChannel(oldKey, 'acceptor', hello, acceptorNonce)
    const tampered = Uint8Array.from(a)
    tampered[0] = (tampered[0] ?? 0) ^ 1
    expect(tamperedTarget.open(tampered)).toBeUndefined()
  })
})
