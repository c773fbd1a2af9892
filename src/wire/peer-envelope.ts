/**
 * The peer envelope: what one frame payload of the peer protocol carries, msgpack-encoded as
 * the array `[kind, requestId, body]`. Kinds travel as small integers:
 *
 *   1 hello           dialer → acceptor, requestId 0, body {protocol, cluster, from, to}
 *   2 hello-ok        acceptor → dialer, requestId 0, body {protocol, from}
 *   3 request         requestId ≥ 1, body: any msgpack value
 *   4 response        requestId of the request it answers, body: any msgpack value
 *   5 error-response  requestId of the request it answers (0: handshake refused),
 *                     body {code, message, details, definite?}
 *   6 notify          requestId 0, body: any msgpack value; never answered
 *
 * Decoding is strict: anything that does not match this table exactly is a typed failure that
 * the caller turns into a closed connection, never an exception. An error-response is rebuilt
 * into a MurmurError with the sender's code; a code this node does not know becomes
 * 'internal', so a newer peer cannot smuggle an unknown code into the closed union.
 *
 * The handshake rules (what a hello must say, what a hello-ok must say) live here too, in one
 * place, so authentication can later be added to them without touching the transports.
 */

import { assert, assertNonNegativeInteger, unreachable } from '../env/assert.js'
import {
  ERROR_CODES,
  type ErrorCode,
  type ErrorDetails,
  errorMessage,
  isMurmurError,
  MurmurError,
} from '../env/errors.js'
import type { NodeId } from '../env/transport.js'
import { decode, encode, PROTOCOL_VERSION } from './codec.js'

/** Node ids and cluster names longer than this are refused in a handshake. */
export const IDENTITY_CHARS_MAX = 256

export interface Hello {
  readonly protocol: number
  readonly cluster: string
  readonly from: NodeId
  readonly to: NodeId
}

export interface HelloOk {
  readonly protocol: number
  readonly from: NodeId
}

export type PeerEnvelope =
  | { readonly kind: 'hello'; readonly requestId: 0; readonly body: Hello }
  | { readonly kind: 'hello-ok'; readonly requestId: 0; readonly body: HelloOk }
  | { readonly kind: 'request'; readonly requestId: number; readonly body: unknown }
  | { readonly kind: 'response'; readonly requestId: number; readonly body: unknown }
  | { readonly kind: 'error-response'; readonly requestId: number; readonly body: MurmurError }
  | { readonly kind: 'notify'; readonly requestId: 0; readonly body: unknown }

export type PeerEnvelopeKind = PeerEnvelope['kind']

/** The kinds that carry application traffic, as opposed to the handshake. */
export type PeerMessageKind = 'request' | 'response' | 'error-response' | 'notify'

const KIND_CODES: ReadonlyMap<PeerEnvelopeKind, number> = new Map([
  ['hello', 1],
  ['hello-ok', 2],
  ['request', 3],
  ['response', 4],
  ['error-response', 5],
  ['notify', 6],
])

const KINDS_BY_CODE: ReadonlyMap<number, PeerEnvelopeKind> = new Map(
  [...KIND_CODES].map(([kind, code]) => [code, kind]),
)

const KNOWN_ERROR_CODES: ReadonlySet<string> = new Set(ERROR_CODES)

/** Any thrown value as a MurmurError; foreign errors become 'internal' with their message only. */
export function toMurmurError(error: unknown): MurmurError {
  if (isMurmurError(error)) return error
  return new MurmurError('internal', errorMessage(error))
}

/**
 * The msgpack payload of an envelope. Throws MurmurError('invalid_request') when the body holds
 * a value msgpack cannot encode (a function, a bigint, a symbol).
 */
export function encodeEnvelope(envelope: PeerEnvelope): Uint8Array {
  assertEnvelopeShape(envelope)
  const body = envelope.kind === 'error-response' ? errorToWire(envelope.body) : envelope.body
  try {
    return encode([KIND_CODES.get(envelope.kind), envelope.requestId, body])
  } catch (error) {
    throw new MurmurError('invalid_request', `${envelope.kind} body cannot be encoded`, {
      cause: error,
      definite: true,
    })
  }
}

/**
 * The payload of an error-response for `error`. When the error's details cannot be encoded it
 * falls back to the code and message alone, so an answer always goes back.
 */
export function encodeErrorResponse(requestId: number, error: unknown): Uint8Array {
  const murmurError = toMurmurError(error)
  try {
    return encodeEnvelope({ kind: 'error-response', requestId, body: murmurError })
  } catch {
    const plain = new MurmurError(murmurError.code, murmurError.message, withDefinite(murmurError))
    return encodeEnvelope({ kind: 'error-response', requestId, body: plain })
  }
}

function withDefinite(error: MurmurError): { definite?: boolean } {
  return error.definite === undefined ? {} : { definite: error.definite }
}

function errorToWire(error: MurmurError): Record<string, unknown> {
  return {
    code: error.code,
    message: error.message,
    details: error.details,
    definite: error.definite,
  }
}

function assertEnvelopeShape(envelope: PeerEnvelope): void {
  assertNonNegativeInteger(envelope.requestId, 'requestId')
  switch (envelope.kind) {
    case 'hello':
    case 'hello-ok':
    case 'notify':
      assert(envelope.requestId === 0, `${envelope.kind} must carry requestId 0`)
      return
    case 'request':
    case 'response':
      assert(envelope.requestId >= 1, `${envelope.kind} must carry a requestId of at least 1`)
      return
    case 'error-response':
      assert(envelope.body instanceof MurmurError, 'error-response must carry a MurmurError')
      return
    default:
      unreachable(envelope)
  }
}

export type EnvelopeDecodeResult =
  | { readonly ok: true; readonly envelope: PeerEnvelope }
  | { readonly ok: false; readonly reason: string }

function malformed(reason: string): EnvelopeDecodeResult {
  return { ok: false, reason }
}

/** Decodes and validates one payload; never throws. */
export function decodeEnvelope(payload: Uint8Array): EnvelopeDecodeResult {
  let value: unknown
  try {
    value = decode(payload)
  } catch {
    return malformed('payload is not valid msgpack')
  }
  if (!Array.isArray(value) || value.length !== 3) {
    return malformed('envelope is not a three-element array')
  }
  const [kindCode, requestId, body] = value as [unknown, unknown, unknown]
  const kind = typeof kindCode === 'number' ? KINDS_BY_CODE.get(kindCode) : undefined
  if (kind === undefined) return malformed(`unknown envelope kind ${String(kindCode)}`)
  if (typeof requestId !== 'number' || !Number.isSafeInteger(requestId) || requestId < 0) {
    return malformed(`${kind} has an invalid requestId`)
  }
  return decodeBody(kind, requestId, body)
}

function decodeBody(
  kind: PeerEnvelopeKind,
  requestId: number,
  body: unknown,
): EnvelopeDecodeResult {
  switch (kind) {
    case 'hello':
    case 'hello-ok':
    case 'notify':
      if (requestId !== 0) return malformed(`${kind} must carry requestId 0`)
      if (kind === 'notify') return { ok: true, envelope: { kind, requestId: 0, body } }
      return kind === 'hello' ? decodeHello(body) : decodeHelloOk(body)
    case 'request':
    case 'response':
      if (requestId < 1) return malformed(`${kind} must carry a requestId of at least 1`)
      return { ok: true, envelope: { kind, requestId, body } }
    case 'error-response':
      return decodeErrorResponse(requestId, body)
    default:
      return unreachable(kind)
  }
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype
  )
}

/** True when `map` has exactly the `required` keys plus possibly some of the `optional` ones. */
function hasExactKeys(
  map: Record<string, unknown>,
  required: readonly string[],
  optional: readonly string[] = [],
): boolean {
  const keys = Object.keys(map)
  if (!required.every((key) => Object.hasOwn(map, key))) return false
  return keys.every((key) => required.includes(key) || optional.includes(key))
}

function isIdentity(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= IDENTITY_CHARS_MAX
}

function isProtocol(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function decodeHello(body: unknown): EnvelopeDecodeResult {
  if (!isPlainMap(body) || !hasExactKeys(body, ['protocol', 'cluster', 'from', 'to'])) {
    return malformed('hello body must be {protocol, cluster, from, to}')
  }
  const { protocol, cluster, from, to } = body
  if (!isProtocol(protocol) || !isIdentity(cluster) || !isIdentity(from) || !isIdentity(to)) {
    return malformed('hello body has a field of the wrong type or size')
  }
  return {
    ok: true,
    envelope: { kind: 'hello', requestId: 0, body: { protocol, cluster, from, to } },
  }
}

function decodeHelloOk(body: unknown): EnvelopeDecodeResult {
  if (!isPlainMap(body) || !hasExactKeys(body, ['protocol', 'from'])) {
    return malformed('hello-ok body must be {protocol, from}')
  }
  const { protocol, from } = body
  if (!isProtocol(protocol) || !isIdentity(from)) {
    return malformed('hello-ok body has a field of the wrong type or size')
  }
  return { ok: true, envelope: { kind: 'hello-ok', requestId: 0, body: { protocol, from } } }
}

function decodeErrorResponse(requestId: number, body: unknown): EnvelopeDecodeResult {
  if (!isPlainMap(body) || !hasExactKeys(body, ['code', 'message', 'details'], ['definite'])) {
    return malformed('error-response body must be {code, message, details, definite?}')
  }
  const { code, message, details, definite } = body
  if (typeof code !== 'string' || typeof message !== 'string' || !isPlainMap(details)) {
    return malformed('error-response body has a field of the wrong type')
  }
  if (definite !== undefined && typeof definite !== 'boolean') {
    return malformed('error-response definite must be a boolean')
  }
  const known: ErrorCode = KNOWN_ERROR_CODES.has(code) ? (code as ErrorCode) : 'internal'
  const options: { details: ErrorDetails; definite?: boolean } = { details }
  if (definite !== undefined) options.definite = definite
  const error = new MurmurError(known, message, options)
  return { ok: true, envelope: { kind: 'error-response', requestId, body: error } }
}

// The handshake. The dialer's first frame is a hello; the acceptor answers hello-ok or an
// error-response with requestId 0 and closes. These checks are the whole policy.

export function helloFor(clusterName: string, from: NodeId, to: NodeId): PeerEnvelope {
  return {
    kind: 'hello',
    requestId: 0,
    body: { protocol: PROTOCOL_VERSION, cluster: clusterName, from, to },
  }
}

export function helloOkFor(localId: NodeId): PeerEnvelope {
  return { kind: 'hello-ok', requestId: 0, body: { protocol: PROTOCOL_VERSION, from: localId } }
}

/** Why the acceptor refuses `hello`, or undefined when it accepts it. */
export function refuseHello(
  hello: Hello,
  clusterName: string,
  localId: NodeId,
): MurmurError | undefined {
  if (hello.protocol !== PROTOCOL_VERSION) {
    return new MurmurError(
      'invalid_request',
      `protocol version ${hello.protocol} is not supported (this node speaks ${PROTOCOL_VERSION})`,
      { definite: true },
    )
  }
  if (hello.cluster !== clusterName) {
    return new MurmurError(
      'forbidden',
      `cluster name '${hello.cluster}' does not match this node's cluster '${clusterName}'`,
      { definite: true },
    )
  }
  if (hello.to !== localId) {
    return new MurmurError('forbidden', `this node is '${localId}', not '${hello.to}'`, {
      definite: true,
    })
  }
  return undefined
}

/** Why the dialer refuses the acceptor's `helloOk`, or undefined when it is the expected peer. */
export function refuseHelloOk(helloOk: HelloOk, expectedPeer: NodeId): MurmurError | undefined {
  if (helloOk.protocol !== PROTOCOL_VERSION) {
    return new MurmurError(
      'invalid_request',
      `peer answered with protocol version ${helloOk.protocol}, expected ${PROTOCOL_VERSION}`,
    )
  }
  if (helloOk.from !== expectedPeer) {
    return new MurmurError(
      'forbidden',
      `expected peer '${expectedPeer}' but '${helloOk.from}' answered`,
    )
  }
  return undefined
}
