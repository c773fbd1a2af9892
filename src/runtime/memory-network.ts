/**
 * An in-memory peer network for unit tests and the deterministic simulator:
 * `network.transport(nodeId)` hands out a PeerTransport that behaves like TcpTransport without
 * sockets. Every message is encoded into a peer envelope on send and decoded on delivery, so no
 * object is shared between nodes and the same codec and error rebuilding as production run.
 *
 * Delivery is driven only by the injected Clock: each message is handed to `clock.setTimer`
 * with the delay a pluggable policy `(from, to, kind) → {drop, delayMs, duplicate}` chooses
 * (by default every message is delivered after 0 ms). A seeded policy gives loss, delay,
 * duplication, reordering (different delays) and partitions without subclassing. The network
 * owns no timers, randomness or wall-clock time of its own, so the same policy on the same
 * virtual clock produces the same event order.
 *
 * Failure model, matching TCP where it can:
 * - A node marked down (`setDown(id, true)`) neither sends nor receives: messages from it are
 *   dropped when sent, messages to it when sent or delivered, and requests to it time out.
 * - A request to a node that has no open transport (never created, or closed) fails at once
 *   with `unavailable` (definite), as a refused TCP connection does.
 * - A message is delivered to the transport instance that was open when it was sent, so a
 *   node that restarts (close, then `transport(id)` again) never sees its predecessor's mail.
 * - Requests time out with `transportTimeout`, exactly as over TCP.
 */

import { assert } from '../env/assert.js'
import type { Clock } from '../env/clock.js'
import type { MurmurError } from '../env/errors.js'
import {
  type NodeId,
  type PeerRequestHandler,
  type PeerTransport,
  transportUnavailable,
} from '../env/transport.js'
import { decodeEnvelope, encodeEnvelope, type PeerMessageKind } from '../wire/peer-envelope.js'
import { answerRequest, connectionLost, deliverNotify, PendingRequests } from './peer-requests.js'

export interface DeliveryDecision {
  /** Lose the message. */
  readonly drop: boolean
  /** Virtual milliseconds until delivery; messages with different delays overtake each other. */
  readonly delayMs: number
  /** Deliver a second copy as well, after the same delay. */
  readonly duplicate: boolean
}

export type DeliveryPolicy = (from: NodeId, to: NodeId, kind: PeerMessageKind) => DeliveryDecision

/** The default policy: every message arrives once, after 0 ms. */
export const deliverPromptly: DeliveryPolicy = () => ({ drop: false, delayMs: 0, duplicate: false })

export type MemoryNetworkEvent =
  | {
      readonly type: 'delivered' | 'duplicated'
      readonly from: NodeId
      readonly to: NodeId
      readonly kind: PeerMessageKind
    }
  | {
      readonly type: 'dropped'
      readonly from: NodeId
      readonly to: NodeId
      readonly kind: PeerMessageKind
      readonly reason: 'policy' | 'node_down' | 'transport_closed'
    }
  | {
      readonly type: 'notify_failed'
      readonly from: NodeId
      readonly to: NodeId
      readonly error: MurmurError
    }

export interface MemoryNetworkOptions {
  /** Drives every delivery and request timeout; the simulator passes its virtual clock. */
  readonly clock: Clock
  /** Decides the fate of each message; default `deliverPromptly`. */
  readonly policy?: DeliveryPolicy
  /** Called for every delivery, duplicate and drop, for simulation logs; must not throw. */
  readonly onEvent?: (event: MemoryNetworkEvent) => void
}

export interface MemoryNetworkStats {
  sent: number
  delivered: number
  dropped: number
  duplicated: number
}

export class MemoryNetwork {
  readonly clock: Clock
  private policy: DeliveryPolicy
  private readonly onEvent: ((event: MemoryNetworkEvent) => void) | undefined
  private readonly transports = new Map<NodeId, MemoryTransport>()
  private readonly downNodes = new Set<NodeId>()
  private readonly counters: MemoryNetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
  }

  constructor(options: MemoryNetworkOptions) {
    this.clock = options.clock
    this.policy = options.policy ?? deliverPromptly
    this.onEvent = options.onEvent
  }

  /** Opens the transport of `nodeId`; a node has at most one open transport at a time. */
  transport(nodeId: NodeId): MemoryTransport {
    assert(nodeId.length > 0, 'node id must not be empty')
    assert(!this.transports.has(nodeId), `node ${nodeId} already has an open transport`)
    const transport = new MemoryTransport(this, nodeId)
    this.transports.set(nodeId, transport)
    return transport
  }

  /** Replaces the delivery policy; messages already scheduled keep their fate. */
  setPolicy(policy: DeliveryPolicy): void {
    this.policy = policy
  }

  /** Marks a node crashed (true) or recovered (false). */
  setDown(nodeId: NodeId, down: boolean): void {
    if (down) this.downNodes.add(nodeId)
    else this.downNodes.delete(nodeId)
  }

  isDown(nodeId: NodeId): boolean {
    return this.downNodes.has(nodeId)
  }

  /** Counts of messages so far. */
  get stats(): Readonly<MemoryNetworkStats> {
    return { ...this.counters }
  }

  /** @internal The open transport of `nodeId`, if any. */
  openTransport(nodeId: NodeId): MemoryTransport | undefined {
    return this.transports.get(nodeId)
  }

  /** @internal Forgets `transport` once it is closed. */
  unregister(transport: MemoryTransport): void {
    if (this.transports.get(transport.localId) !== transport) return
    this.transports.delete(transport.localId)
    // A process that dies closes its connections, and its peers see them break at once.
    for (const other of [...this.transports.values()]) {
      this.clock.setTimer(0, () => other.linkLost(transport.localId))
    }
  }

  /** @internal Sends one encoded envelope from the `origin` transport to the `target` one. */
  send(
    origin: MemoryTransport,
    target: MemoryTransport,
    kind: PeerMessageKind,
    payload: Uint8Array,
  ): void {
    this.counters.sent++
    const from = origin.localId
    const to = target.localId
    if (this.isDown(from) || this.isDown(to)) {
      this.drop(from, to, kind, 'node_down')
      return
    }
    const decision = this.policy(from, to, kind)
    assert(
      Number.isFinite(decision.delayMs) && decision.delayMs >= 0,
      `policy delay must be a non-negative number, got ${decision.delayMs}`,
    )
    if (decision.drop) {
      this.drop(from, to, kind, 'policy')
      return
    }
    this.clock.setTimer(decision.delayMs, () =>
      this.deliver(origin, target, kind, payload, 'delivered'),
    )
    if (decision.duplicate) {
      this.clock.setTimer(decision.delayMs, () =>
        this.deliver(origin, target, kind, payload, 'duplicated'),
      )
    }
  }

  /** @internal Reports a failed notification handler. */
  reportNotifyFailure(from: NodeId, to: NodeId, error: MurmurError): void {
    this.onEvent?.({ type: 'notify_failed', from, to, error })
  }

  private deliver(
    origin: MemoryTransport,
    target: MemoryTransport,
    kind: PeerMessageKind,
    payload: Uint8Array,
    type: 'delivered' | 'duplicated',
  ): void {
    const from = origin.localId
    const to = target.localId
    if (target.closed) {
      this.drop(from, to, kind, 'transport_closed')
      return
    }
    if (this.isDown(to)) {
      this.drop(from, to, kind, 'node_down')
      return
    }
    if (type === 'delivered') this.counters.delivered++
    else this.counters.duplicated++
    this.onEvent?.({ type, from, to, kind })
    target.receive(origin, payload)
  }

  private drop(
    from: NodeId,
    to: NodeId,
    kind: PeerMessageKind,
    reason: 'policy' | 'node_down' | 'transport_closed',
  ): void {
    this.counters.dropped++
    this.onEvent?.({ type: 'dropped', from, to, kind, reason })
  }
}

export class MemoryTransport implements PeerTransport {
  readonly localId: NodeId
  private readonly network: MemoryNetwork
  private readonly pending: PendingRequests
  private handler: PeerRequestHandler | undefined
  private isClosed = false
  private readonly linkLostListeners: ((peer: NodeId) => void)[] = []

  /** Use `MemoryNetwork.transport`. */
  constructor(network: MemoryNetwork, localId: NodeId) {
    this.network = network
    this.localId = localId
    this.pending = new PendingRequests(network.clock)
  }

  get closed(): boolean {
    return this.isClosed
  }

  /** Requests sent by this transport that still wait for an answer. */
  get pendingRequests(): number {
    return this.pending.size
  }

  request(to: NodeId, body: unknown, timeoutMs: number): Promise<unknown> {
    if (this.isClosed) return Promise.reject(transportUnavailable(to, 'local transport is closed'))
    const target = this.network.openTransport(to)
    if (target === undefined) return Promise.reject(transportUnavailable(to, 'no such node'))
    const requestId = this.pending.allocateId()
    let payload: Uint8Array
    try {
      payload = encodeEnvelope({ kind: 'request', requestId, body })
    } catch (error) {
      return Promise.reject(error)
    }
    const answer = this.pending.add(requestId, to, timeoutMs)
    this.pending.markWritten(requestId)
    this.network.send(this, target, 'request', payload)
    return answer
  }

  notify(to: NodeId, body: unknown): void {
    if (this.isClosed) return
    const target = this.network.openTransport(to)
    if (target === undefined) return
    let payload: Uint8Array
    try {
      payload = encodeEnvelope({ kind: 'notify', requestId: 0, body })
    } catch {
      // A notification is best effort: one that cannot be encoded is dropped like a lost one.
      return
    }
    this.network.send(this, target, 'notify', payload)
  }

  setHandler(handler: PeerRequestHandler): void {
    this.handler = handler
  }

  onLinkLost(listener: (peer: NodeId) => void): void {
    this.linkLostListeners.push(listener)
  }

  /** @internal Called by the network when `peer`'s transport closed. */
  linkLost(peer: NodeId): void {
    if (this.isClosed) return
    for (const listener of this.linkLostListeners) listener(peer)
  }

  close(): Promise<void> {
    if (!this.isClosed) {
      this.isClosed = true
      this.network.unregister(this)
      this.pending.failAll((to) => connectionLost(to, 'local transport closed'))
    }
    return Promise.resolve()
  }

  /** @internal Called by the network with one envelope `origin` sent. */
  receive(origin: MemoryTransport, payload: Uint8Array): void {
    const from = origin.localId
    const decoded = decodeEnvelope(payload)
    assert(
      decoded.ok,
      `memory network delivered a malformed envelope: ${decoded.ok ? '' : decoded.reason}`,
    )
    const envelope = decoded.envelope
    switch (envelope.kind) {
      case 'request':
        void this.answer(origin, envelope.requestId, envelope.body)
        return
      case 'response':
      case 'error-response':
        this.pending.settle(envelope)
        return
      case 'notify':
        void this.notified(from, envelope.body)
        return
      case 'hello':
      case 'hello-ok':
        assert(false, `memory network carries no ${envelope.kind}`)
    }
  }

  private async answer(origin: MemoryTransport, requestId: number, body: unknown): Promise<void> {
    const answer = await answerRequest(this.handler, origin.localId, requestId, body)
    // The answer goes to the instance that asked: a restarted requester reuses request ids.
    if (this.isClosed) return
    this.network.send(this, origin, answer.kind, answer.payload)
  }

  private async notified(from: NodeId, body: unknown): Promise<void> {
    const failure = await deliverNotify(this.handler, from, body)
    if (failure !== undefined) this.network.reportNotifyFailure(from, this.localId, failure)
  }
}
