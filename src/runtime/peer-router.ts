/**
 * Routes peer messages to the subsystem that owns them. Every peer body is an object with a
 * string `type` ("membership.pushPull", "kv.write", "raft.append", ...); each subsystem
 * registers the types it serves, and validates the rest of the body itself, because a body
 * arriving from the network is untrusted.
 */

import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import type { NodeId, PeerRequestHandler, PeerTransport } from '../env/transport.js'

export type PeerMessageHandler = (
  from: NodeId,
  body: Readonly<Record<string, unknown>>,
) => Promise<unknown> | unknown

const TYPE_BYTES_MAX = 64

export class PeerRouter {
  private readonly handlers = new Map<string, PeerMessageHandler>()

  /** Registers the handler for one message type; each type has exactly one owner. */
  register(type: string, handler: PeerMessageHandler): void {
    assert(type.length > 0 && type.length <= TYPE_BYTES_MAX, `bad peer message type ${type}`)
    assert(!this.handlers.has(type), `peer message type ${type} registered twice`)
    this.handlers.set(type, handler)
  }

  /** The transport handler that dispatches by `type`. */
  readonly handle: PeerRequestHandler = (from, body) => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new MurmurError('invalid_request', 'peer message must be an object with a type')
    }
    const message = body as Record<string, unknown>
    const type = message['type']
    if (typeof type !== 'string')
      throw new MurmurError('invalid_request', 'peer message has no type')
    const handler = this.handlers.get(type)
    if (handler === undefined)
      throw new MurmurError(
        'invalid_request',
        `unknown peer message type ${type.slice(0, TYPE_BYTES_MAX)}`,
      )
    return handler(from, message)
  }

  attach(transport: PeerTransport): void {
    transport.setHandler(this.handle)
  }
}
