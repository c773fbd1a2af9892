/**
 * The network seams. A PeerTransport is the reliable, request/response path between nodes
 * (TCP in production, an in-memory network in the simulator); a PacketTransport is the
 * best-effort datagram path gossip uses (UDP in production). Bodies are plain msgpack-encodable
 * values: every implementation encodes and decodes them, so no object is ever shared between
 * nodes and the simulator exercises the same codec as production.
 */

import { MurmurError } from './errors.js'

export type NodeId = string

/** A handler answers one request; a thrown MurmurError travels back to the caller intact. */
export type PeerRequestHandler = (from: NodeId, body: unknown) => Promise<unknown> | unknown

export interface PeerTransport {
  readonly localId: NodeId
  /**
   * Sends a request and resolves with the peer's response. Rejects with a MurmurError:
   * `unavailable` (no connection; definite: the peer never saw it), `overloaded` (send queue
   * full; definite), `timeout` (no answer in time; indefinite) or the peer handler's error.
   */
  request(to: NodeId, body: unknown, timeoutMs: number): Promise<unknown>
  /** Best-effort one-way message; dropped when the peer is unreachable or its queue is full. */
  notify(to: NodeId, body: unknown): void
  /** Installs the handler for requests and notifications from peers. */
  setHandler(handler: PeerRequestHandler): void
  /**
   * Adds a listener called with a peer's id whenever a connection with it breaks (the peer may
   * come back): a failure-detection hint for protocols that can act before their own timeouts,
   * such as a follower whose Raft leader's process died. Never a proof of failure.
   */
  onLinkLost(listener: (peer: NodeId) => void): void
  close(): Promise<void>
}

/** `host:port` of a datagram endpoint. */
export type PacketAddress = string

export type PacketHandler = (from: PacketAddress, bytes: Uint8Array) => void

export interface PacketTransport {
  readonly localAddress: PacketAddress
  /** Best effort: the packet may be lost, duplicated or reordered. */
  send(to: PacketAddress, bytes: Uint8Array): void
  setHandler(handler: PacketHandler): void
  close(): Promise<void>
}

export function transportTimeout(to: NodeId, timeoutMs: number): MurmurError {
  return new MurmurError('timeout', `peer ${to} did not answer within ${timeoutMs} ms`, {
    definite: false,
    details: { peer: to },
  })
}

export function transportUnavailable(to: NodeId, reason: string): MurmurError {
  return new MurmurError('unavailable', `peer ${to} is unreachable: ${reason}`, {
    definite: true,
    details: { peer: to },
  })
}

export function transportOverloaded(to: NodeId): MurmurError {
  return new MurmurError('overloaded', `send queue to peer ${to} is full`, {
    definite: true,
    details: { peer: to },
  })
}
