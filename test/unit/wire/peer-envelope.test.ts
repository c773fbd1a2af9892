/**
 * Goal: peer envelopes survive an encode/decode round trip, errors are rebuilt with their code,
 * and the decoder refuses every malformed shape without throwing.
 * Method: a fast-check round trip over msgpack-friendly bodies, then hand-built msgpack arrays
 * for each way an envelope can be malformed, then the handshake refusal rules.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MurmurError } from '../../../src/env/errors.js'
import { encode, PROTOCOL_VERSION } from '../../../src/wire/codec.js'
import {
  decodeEnvelope,
  encodeEnvelope,
  encodeErrorResponse,
  helloFor,
  type PeerEnvelope,
  refuseHello,
  refuseHelloOk,
} from '../../../src/wire/peer-envelope.js'

function roundTrip(envelope: PeerEnvelope): PeerEnvelope {
  const decoded = decodeEnvelope(encodeEnvelope(envelope))
  if (!decoded.ok) throw new Error(decoded.reason)
  return decoded.envelope
}

function reasonFor(value: unknown): string {
  const decoded = decodeEnvelope(encode(value))
  expect(decoded.ok).toBe(false)
  return decoded.ok ? '' : decoded.reason
}

describe('peer envelopes', () => {
  it('round-trips requests, responses and notifications with any body', () => {
    // msgpack keeps integers, strings, binaries, arrays and maps exactly; the codec refuses a
    // '__proto__' key, which no murmur message uses.
    const { body } = fc.letrec((tie) => ({
      body: fc.oneof(
        { depthSize: 'small' },
        fc.constant(null),
        fc.boolean(),
        fc.integer(),
        fc.string(),
        fc.uint8Array({ maxLength: 16 }),
        fc.array(tie('body'), { maxLength: 4 }),
        fc.dictionary(
          fc.string().filter((key) => key !== '__proto__'),
          tie('body'),
          { maxKeys: 4 },
        ),
      ),
    }))
    fc.assert(
      fc.property(body, fc.integer({ min: 1, max: 2 ** 40 }), (value, requestId) => {
        expect(roundTrip({ kind: 'request', requestId, body: value })).toEqual({
          kind: 'request',
          requestId,
          body: value,
        })
        expect(roundTrip({ kind: 'response', requestId, body: value }).body).toEqual(value)
        expect(roundTrip({ kind: 'notify', requestId: 0, body: value }).body).toEqual(value)
      }),
      { numRuns: 200 },
    )
  })

  it('rebuilds a MurmurError with its code, message, details and definite flag', () => {
    const error = new MurmurError('quorum_unavailable', 'only 1 of 2 replicas answered', {
      details: { required: 2, acknowledged: 1 },
      definite: false,
    })
    const decoded = roundTrip({ kind: 'error-response', requestId: 7, body: error })
    expect(decoded.kind).toBe('error-response')
    const rebuilt = decoded.body as MurmurError
    expect(rebuilt).toBeInstanceOf(MurmurError)
    expect(rebuilt.code).toBe('quorum_unavailable')
    expect(rebuilt.message).toBe('only 1 of 2 replicas answered')
    expect(rebuilt.details).toEqual({ required: 2, acknowledged: 1 })
    expect(rebuilt.definite).toBe(false)
  })

  it('turns an unknown error code into internal and a foreign error into its message', () => {
    const unknown = decodeEnvelope(
      encode([5, 3, { code: 'from_the_future', message: 'new', details: {} }]),
    )
    expect(unknown.ok && (unknown.envelope.body as MurmurError).code).toBe('internal')
    const foreign = decodeEnvelope(encodeErrorResponse(4, new TypeError('x is not a function')))
    expect(foreign.ok).toBe(true)
    const rebuilt = (foreign.ok ? foreign.envelope.body : undefined) as MurmurError
    expect(rebuilt.code).toBe('internal')
    expect(rebuilt.message).toBe('x is not a function')
    expect(rebuilt.details).toEqual({})
  })

  it('drops details it cannot encode but still answers', () => {
    const error = new MurmurError('invalid_request', 'bad', { details: { callback: () => 1 } })
    const decoded = decodeEnvelope(encodeErrorResponse(9, error))
    expect(decoded.ok && decoded.envelope.kind).toBe('error-response')
    expect(decoded.ok && (decoded.envelope.body as MurmurError).details).toEqual({})
  })

  it('refuses to encode a body msgpack cannot represent', () => {
    expect(() => encodeEnvelope({ kind: 'request', requestId: 1, body: { n: 1n } })).toThrow(
      MurmurError,
    )
  })

  it('reports every malformed shape as a typed failure', () => {
    expect(decodeEnvelope(new Uint8Array([0xc1])).ok).toBe(false)
    expect(reasonFor({ kind: 3 })).toMatch(/three-element array/)
    expect(reasonFor([3, 1])).toMatch(/three-element array/)
    expect(reasonFor([3, 1, null, 4])).toMatch(/three-element array/)
    expect(reasonFor([99, 1, null])).toMatch(/unknown envelope kind/)
    expect(reasonFor(['request', 1, null])).toMatch(/unknown envelope kind/)
    expect(reasonFor([3, -1, null])).toMatch(/invalid requestId/)
    expect(reasonFor([3, 1.5, null])).toMatch(/invalid requestId/)
    expect(reasonFor([3, '1', null])).toMatch(/invalid requestId/)
    expect(reasonFor([3, 0, null])).toMatch(/at least 1/)
    expect(reasonFor([4, 0, null])).toMatch(/at least 1/)
    expect(reasonFor([6, 5, null])).toMatch(/requestId 0/)
    expect(reasonFor([1, 0, { protocol: 1, cluster: 'c', from: 'a' }])).toMatch(/hello body/)
    expect(reasonFor([1, 0, { protocol: 1, cluster: 'c', from: 'a', to: 'b', x: 1 }])).toMatch(
      /hello body/,
    )
    expect(reasonFor([1, 0, { protocol: '1', cluster: 'c', from: 'a', to: 'b' }])).toMatch(
      /wrong type/,
    )
    expect(reasonFor([1, 0, { protocol: 1, cluster: '', from: 'a', to: 'b' }])).toMatch(
      /wrong type/,
    )
    expect(reasonFor([2, 0, { protocol: 1 }])).toMatch(/hello-ok body/)
    expect(reasonFor([5, 1, { code: 'internal', message: 'm' }])).toMatch(/error-response body/)
    expect(reasonFor([5, 1, { code: 'internal', message: 'm', details: [] }])).toMatch(/wrong type/)
    expect(
      reasonFor([5, 1, { code: 'internal', message: 'm', details: {}, definite: 'yes' }]),
    ).toMatch(/definite/)
  })
})

describe('handshake rules', () => {
  const hello = helloFor('prod', 'a', 'b')
  const body = hello.kind === 'hello' ? hello.body : undefined

  it('accepts a hello for this node in this cluster', () => {
    expect(body).toBeDefined()
    expect(refuseHello(body!, 'prod', 'b')).toBeUndefined()
  })

  it('refuses a wrong cluster, a wrong target and a wrong protocol version', () => {
    expect(refuseHello(body!, 'staging', 'b')?.message).toMatch(/cluster name 'prod'/)
    expect(refuseHello(body!, 'prod', 'c')?.message).toMatch(/not 'b'/)
    const future = { ...body!, protocol: PROTOCOL_VERSION + 1 }
    expect(refuseHello(future, 'prod', 'b')?.code).toBe('invalid_request')
  })

  it('checks that the expected peer answered', () => {
    expect(refuseHelloOk({ protocol: PROTOCOL_VERSION, from: 'b' }, 'b')).toBeUndefined()
    expect(refuseHelloOk({ protocol: PROTOCOL_VERSION, from: 'x' }, 'b')?.code).toBe('forbidden')
  })
})
