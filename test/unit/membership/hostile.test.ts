/**
 * Goal: hostile datagrams never throw out of receivePacket and never change the view: random
 * bytes, mutated valid packets, wrong versions, oversized or truncated packets, nested
 * compounds, and well-formed messages with nonsensical content (claims about unknown members,
 * absurd incarnations, probes meant for someone else). Each is counted by reason.
 *
 * Method: fast-check properties against a core with a known view, comparing members() before
 * and after; hand-built frames (valid checksum, bad content) for the content rules.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { INCARNATION_JUMP_MAX, type Membership } from '../../../src/membership/membership.js'
import {
  encodePart,
  framePacket,
  type GossipMessage,
  MESSAGE_TYPES,
  type RejectReason,
} from '../../../src/membership/wire.js'
import { checksum, encode, PROTOCOL_VERSION } from '../../../src/wire/codec.js'
import { addressOf, makeCore } from './harness.js'

const IDS = ['a', 'b', 'c', 'd']

function freshCore(): Membership {
  const core = makeCore('a', { known: IDS })
  core.drain()
  return core
}

/** A frame with a valid checksum around arbitrary content. */
function rawFrame(type: number, body: unknown, version = PROTOCOL_VERSION): Uint8Array {
  const payload = encode(body)
  const frame = new Uint8Array(2 + payload.length + 4)
  frame[0] = version
  frame[1] = type
  frame.set(payload, 2)
  new DataView(frame.buffer).setUint32(
    frame.length - 4,
    checksum(frame.subarray(0, frame.length - 4)),
  )
  return frame
}

const VALID: readonly GossipMessage[] = [
  { type: 'ping', seq: 7, targetId: 'a', sourceId: 'b', sourceIncarnation: 0 },
  { type: 'alive', incarnation: 0, id: 'c', address: addressOf('c'), meta: { zone: 'x' } },
  { type: 'suspect', incarnation: 0, id: 'd', fromId: 'b' },
  { type: 'ack', seq: 9, sourceId: 'c', sourceIncarnation: 0 },
  {
    type: 'pingReq',
    seq: 3,
    targetId: 'd',
    targetAddress: addressOf('d'),
    wantNack: true,
    sourceId: 'b',
  },
]

function totalRejected(core: Membership): number {
  return Object.values(core.rejectedPackets()).reduce((sum, count) => sum + count, 0)
}

describe('hostile packets', () => {
  it('random bytes are rejected without throwing or changing the view', () => {
    const core = freshCore()
    const before = core.members()
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2_000 }), (bytes) => {
        const rejected = totalRejected(core)
        core.receivePacket(addressOf('b'), bytes, 1)
        expect(totalRejected(core)).toBe(rejected + 1)
      }),
      { numRuns: 500 },
    )
    expect(core.members()).toEqual(before)
    expect(core.drain().events).toEqual([])
  })

  it('mutated valid packets never throw and never change the view', () => {
    const valid = framePacket(VALID.map(encodePart))
    fc.assert(
      fc.property(
        fc.array(fc.record({ index: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.nat({ max: valid.length + 8 }),
        (flips, length) => {
          const core = freshCore()
          const before = core.members()
          const bytes = new Uint8Array(length)
          bytes.set(valid.subarray(0, Math.min(length, valid.length)))
          for (const flip of flips) {
            if (bytes.length > 0) bytes[flip.index % bytes.length] = flip.value
          }
          const unchanged =
            bytes.length === valid.length && bytes.every((byte, index) => byte === valid[index])
          fc.pre(!unchanged)
          core.receivePacket(addressOf('b'), bytes, 1)
          expect(core.members()).toEqual(before)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('well-framed messages with random fields never throw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.array(
          fc.oneof(fc.integer(), fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null)),
          {
            maxLength: 6,
          },
        ),
        (type, fields) => {
          const core = freshCore()
          core.receivePacket(addressOf('b'), rawFrame(type, fields), 1)
          expect(core.member('a')?.state).toBe('alive')
        },
      ),
      { numRuns: 500 },
    )
  })

  const cases: readonly [string, Uint8Array, RejectReason][] = [
    [
      'wrong version',
      rawFrame(MESSAGE_TYPES.ping, [1, 'a', 'b', 0], PROTOCOL_VERSION + 1),
      'wrong_version',
    ],
    ['too short', new Uint8Array([PROTOCOL_VERSION, 1]), 'too_short'],
    ['oversized', new Uint8Array(1_401), 'oversized'],
    ['unknown type', rawFrame(42, [1]), 'unknown_type'],
    ['bad field', rawFrame(MESSAGE_TYPES.ping, [-1, 'a', 'b', 0]), 'invalid_field'],
    [
      'nested compound',
      rawFrame(MESSAGE_TYPES.compound, [new Uint8Array([MESSAGE_TYPES.compound, 0x90])]),
      'nested_compound',
    ],
    [
      'suspect about a stranger',
      framePacket([encodePart({ type: 'suspect', incarnation: 0, id: 'zz', fromId: 'b' })]),
      'unknown_member',
    ],
    [
      'dead about a stranger',
      framePacket([encodePart({ type: 'dead', incarnation: 0, id: 'zz', fromId: 'b' })]),
      'unknown_member',
    ],
    [
      'absurd incarnation for someone else',
      framePacket([
        encodePart({
          type: 'suspect',
          incarnation: INCARNATION_JUMP_MAX + 1,
          id: 'c',
          fromId: 'b',
        }),
      ]),
      'absurd_incarnation',
    ],
    [
      'absurd incarnation about us',
      framePacket([
        encodePart({ type: 'dead', incarnation: INCARNATION_JUMP_MAX + 1, id: 'a', fromId: 'b' }),
      ]),
      'absurd_incarnation',
    ],
    [
      'a probe meant for someone else',
      framePacket([
        encodePart({ type: 'ping', seq: 1, targetId: 'x', sourceId: 'b', sourceIncarnation: 0 }),
      ]),
      'wrong_target',
    ],
    [
      'a newcomer at a live member’s address',
      framePacket([
        encodePart({
          type: 'alive',
          incarnation: 0,
          id: 'imposter',
          address: addressOf('c'),
          meta: {},
        }),
      ]),
      'address_conflict',
    ],
    [
      'bad checksum',
      (() => {
        const bytes = framePacket([encodePart(VALID[0]!)])
        bytes[bytes.length - 1]! ^= 1
        return bytes
      })(),
      'bad_checksum',
    ],
  ]

  it.each(cases)('%s is counted and leaves the view alone', (_, bytes, reason) => {
    const core = freshCore()
    const before = core.members()
    core.receivePacket(addressOf('b'), bytes, 1)
    expect(core.rejectedPackets()[reason]).toBe(1)
    expect(core.members()).toEqual(before)
    expect(core.incarnation).toBe(0)
    expect(core.drain().events).toEqual([])
  })
})
