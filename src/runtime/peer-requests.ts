/**
 * The request lifecycle both peer transports share (TCP in production, MemoryNetwork in tests
 * and the simulator), written once so they fail in exactly the same ways.
 *
 * Caller side, `PendingRequests`: request ids, one timeout per request on the injected Clock
 * (expiry rejects with `transportTimeout`, indefinite), settlement by response or
 * error-response, and `failAll` for a lost connection, which tells requests that were handed
 * to the network (indefinite: they may have been delivered) from requests that never left
 * (definite).
 *
 * Callee side, `answerRequest` and `deliverNotify`: run the installed handler and turn its
 * outcome into the envelope that goes back. A thrown MurmurError travels back intact; anything
 * else becomes 'internal' with its message only, never a stack.
 */

import { assert } from '../env/assert.js'
import type { Clock, Timer } from '../env/clock.js'
import { MurmurError } from '../env/errors.js'
import { type NodeId, type PeerRequestHandler, transportTimeout } from '../env/transport.js'
import {
  encodeEnvelope,
  encodeErrorResponse,
  type PeerEnvelope,
  toMurmurError,
} from '../wire/peer-envelope.js'

interface PendingRequest {
  readonly to: NodeId
  readonly timer: Timer
  readonly resolve: (body: unknown) => void
  readonly reject: (error: MurmurError) => void
  /** True once the request was handed to the network: from then on it may have been seen. */
  written: boolean
}

/** The error for a request that was written to a connection that then dropped. */
export function connectionLost(to: NodeId, reason: string): MurmurError {
  return new MurmurError('unavailable', `connection to peer ${to} was lost: ${reason}`, {
    definite: false,
    details: { peer: to },
  })
}

/** Requests this node sent and still waits on, keyed by request id. */
export class PendingRequests {
  private readonly clock: Clock
  private readonly entries = new Map<number, PendingRequest>()
  private lastRequestId = 0

  constructor(clock: Clock) {
    this.clock = clock
  }

  get size(): number {
    return this.entries.size
  }

  /** A fresh request id; ids are never reused within one table. */
  allocateId(): number {
    this.lastRequestId++
    assert(Number.isSafeInteger(this.lastRequestId), 'request ids exhausted')
    return this.lastRequestId
  }

  has(requestId: number): boolean {
    return this.entries.has(requestId)
  }

  /** Starts waiting for the answer to `requestId`; the promise settles exactly once. */
  add(requestId: number, to: NodeId, timeoutMs: number): Promise<unknown> {
    assert(
      requestId >= 1 && requestId <= this.lastRequestId,
      `request id ${requestId} was not allocated`,
    )
    assert(!this.entries.has(requestId), `request id ${requestId} is already pending`)
    assert(
      Number.isFinite(timeoutMs) && timeoutMs > 0,
      `timeoutMs must be positive, got ${timeoutMs}`,
    )
    return new Promise<unknown>((resolve, reject) => {
      const timer = this.clock.setTimer(timeoutMs, () => {
        if (this.entries.delete(requestId)) reject(transportTimeout(to, timeoutMs))
      })
      this.entries.set(requestId, { to, timer, resolve, reject, written: false })
    })
  }

  /** Records that the request left this node; false when it already settled (timed out). */
  markWritten(requestId: number): boolean {
    const entry = this.entries.get(requestId)
    if (entry === undefined) return false
    entry.written = true
    return true
  }

  /**
   * Settles the request a response or error-response answers. Returns false for an answer
   * nobody waits for: a late answer after a timeout, or a duplicate.
   */
  settle(envelope: PeerEnvelope): boolean {
    assert(
      envelope.kind === 'response' || envelope.kind === 'error-response',
      `cannot settle a request with a ${envelope.kind}`,
    )
    const entry = this.take(envelope.requestId)
    if (entry === undefined) return false
    if (envelope.kind === 'response') entry.resolve(envelope.body)
    else entry.reject(envelope.body)
    return true
  }

  /** Rejects one request, if it is still pending. */
  reject(requestId: number, error: MurmurError): boolean {
    const entry = this.take(requestId)
    if (entry === undefined) return false
    entry.reject(error)
    return true
  }

  /** Rejects every pending request with the error `errorFor` picks for its peer and state. */
  failAll(errorFor: (to: NodeId, written: boolean) => MurmurError): void {
    const entries = [...this.entries.values()]
    this.entries.clear()
    for (const entry of entries) {
      entry.timer.cancel()
      entry.reject(errorFor(entry.to, entry.written))
    }
  }

  private take(requestId: number): PendingRequest | undefined {
    const entry = this.entries.get(requestId)
    if (entry === undefined) return undefined
    this.entries.delete(requestId)
    entry.timer.cancel()
    return entry
  }
}

export interface EncodedAnswer {
  readonly kind: 'response' | 'error-response'
  readonly payload: Uint8Array
}

/** Runs `handler` on a request and encodes what goes back; never rejects. */
export async function answerRequest(
  handler: PeerRequestHandler | undefined,
  from: NodeId,
  requestId: number,
  body: unknown,
): Promise<EncodedAnswer> {
  try {
    if (handler === undefined) {
      throw new MurmurError('unavailable', 'node has no request handler installed yet', {
        definite: true,
      })
    }
    const result = await handler(from, body)
    return {
      kind: 'response',
      payload: encodeEnvelope({ kind: 'response', requestId, body: result }),
    }
  } catch (error) {
    return { kind: 'error-response', payload: encodeErrorResponse(requestId, error) }
  }
}

/**
 * Runs `handler` on a notification. Nobody waits for an answer, so a failure is returned for
 * the caller to report rather than thrown; resolves to undefined on success.
 */
export async function deliverNotify(
  handler: PeerRequestHandler | undefined,
  from: NodeId,
  body: unknown,
): Promise<MurmurError | undefined> {
  if (handler === undefined) return undefined
  try {
    await handler(from, body)
    return undefined
  } catch (error) {
    return toMurmurError(error)
  }
}
