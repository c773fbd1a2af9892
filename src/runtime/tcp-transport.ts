/**
 * The production PeerTransport: request/response and notifications between nodes over TCP
 * (node:net), in frames (src/wire/frame.ts) carrying peer envelopes (src/wire/peer-envelope.ts).
 *
 * Connections. Each node keeps one persistent outbound connection per peer, dialed on first
 * use. It carries this node's requests and notifications to that peer and the peer's responses
 * back. Requests that arrive on inbound connections are answered on the same connection. So
 * each pair of nodes has two connections, one per direction, and neither side ever has to
 * decide which of two simultaneous dials wins.
 *
 * Handshake. The dialer's first frame is a hello {protocol, cluster, from, to}; the acceptor
 * checks it (peer-envelope.ts `refuseHello`, the single place for that policy) and answers
 * hello-ok, or an error-response with requestId 0 and closes. No request is written before
 * hello-ok; `connectTimeoutMs` bounds TCP connect plus handshake on the dialer, and the time
 * an accepted socket may take to say hello on the acceptor.
 *
 * Requests. Request ids multiplex any number of in-flight requests on one connection; each
 * request has its own timeout (`transportTimeout`, indefinite). When a connection drops, its
 * requests that were handed to the socket fail with `unavailable`, definite: false (they may
 * have been delivered); requests still queued fail with definite: true.
 *
 * Queues and backpressure. Frames wait in a per-connection queue while the connection is
 * dialing or the socket is not writable. Frames are written in corked batches (one writev): the
 * first frames of an event-loop turn as soon as the code that queued them returns, the rest of
 * the turn's frames together at its end. Past `queueBytesMax` (queued plus socket-buffered
 * bytes) a new request fails at once with `overloaded` (definite) and a notification is
 * dropped; an inbound connection whose reader lets answers pile up past the same limit is
 * closed.
 *
 * Failures. After a failed dial or a dropped connection the peer is in backoff (capped
 * exponential, jittered from the injected Random). A request to a peer in backoff fails fast
 * with `unavailable` (definite) instead of waiting; the first request after the backoff
 * expired dials again, re-resolving the address, so address changes are picked up there.
 * Evidence that the peer is back (its own connection to us, or `peerReachable` from
 * membership) ends the backoff early.
 *
 * Authentication. With a keyring (a cluster secret), a connection first runs the mutual
 * challenge-response of src/runtime/security/peer-auth.ts, and every frame after it, the hello
 * included, is sealed with the connection's session keys. Until the peer has proved knowledge
 * of a cluster key nothing it sends reaches the envelope decoder, and a frame that fails to
 * open closes the connection (`auth_failed`).
 *
 * Hostile input. A bad checksum, an oversized frame, a malformed envelope, a message that does
 * not belong on that connection or a failed handshake closes that one connection, is counted
 * (`rejectionCounts`) and reported through `onEvent`; every other connection keeps working.
 *
 * `close()` stops listening, destroys every socket, fails pending requests and resolves once
 * every handle is closed, so nothing keeps the process alive.
 */

import { randomBytes } from 'node:crypto'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { assert, assertNonNegativeInteger } from '../env/assert.js'
import type { Clock, Timer } from '../env/clock.js'
import { errorMessage, MurmurError } from '../env/errors.js'
import type { Random } from '../env/random.js'
import {
  type NodeId,
  type PeerRequestHandler,
  type PeerTransport,
  transportOverloaded,
  transportUnavailable,
} from '../env/transport.js'
import { describeFrameError, encodeFrame, FrameDecoder, frameBytes } from '../wire/frame.js'
import {
  decodeEnvelope,
  encodeEnvelope,
  encodeErrorResponse,
  helloFor,
  helloOkFor,
  type PeerEnvelope,
  refuseHello,
  refuseHelloOk,
} from '../wire/peer-envelope.js'
import type { FaultFilter } from './faults.js'
import {
  answerRequest,
  connectionLost,
  deliverNotify,
  type EncodedAnswer,
  PendingRequests,
} from './peer-requests.js'
import type { Keyring } from './security/keyring.js'
import {
  type AuthHello,
  decodeAuthChallenge,
  decodeAuthHello,
  decodeAuthProof,
  encodeAuthChallenge,
  encodeAuthHello,
  encodeAuthProof,
  findProofKey,
  PEER_NONCE_BYTES,
  proofFor,
  SEALED_FRAME_OVERHEAD_BYTES,
  SealedChannel,
  verifyProof,
} from './security/peer-auth.js'

export interface PeerAddress {
  readonly host: string
  readonly port: number
}

export interface TcpTransportOptions {
  /** This node's id; peers address their hello to it. Required. */
  readonly localId: NodeId
  /** Peers whose hello names another cluster are refused. Required. */
  readonly clusterName: string
  /** Interface to listen on, e.g. '127.0.0.1'. Required. */
  readonly listenHost: string
  /** Port to listen on; 0 lets the OS pick one (read it from `port` after `start`). Required. */
  readonly listenPort: number
  /**
   * Where a peer listens, or undefined when unknown. Asked on every dial, so membership can
   * change addresses at run time. Required.
   */
  readonly resolve: (nodeId: NodeId) => PeerAddress | undefined
  /** Request timeouts, dial and handshake timeouts, backoff and write batching. Required. */
  readonly clock: Clock
  /** Backoff jitter. Required. */
  readonly random: Random
  /** Largest frame, header included, sent or accepted. Default 16 MiB. */
  readonly frameBytesMax?: number
  /** Bytes queued per connection before requests fail with `overloaded`. Default 64 MiB. */
  readonly queueBytesMax?: number
  /** Bound on TCP connect plus handshake, in both directions. Default 2000 ms. */
  readonly connectTimeoutMs?: number
  /** First reconnect backoff after a failure. Default 50 ms. */
  readonly reconnectBackoffMsMin?: number
  /** Cap on the exponential reconnect backoff. Default 5000 ms. */
  readonly reconnectBackoffMsMax?: number
  /** Inbound connections accepted at once; further ones are refused by the OS layer. Default 1024. */
  readonly inboundConnectionsMax?: number
  /** Requests served at once per inbound connection; more are answered `overloaded`. Default 4096. */
  readonly inboundRequestsMax?: number
  /** Logs and metrics hook; called synchronously and must not throw. Default none. */
  readonly onEvent?: (event: TcpTransportEvent) => void
  /** Fault injection (MURMUR_FAULTS=1): traffic with blocked peers is dropped. Default none. */
  readonly faults?: FaultFilter
  /** The cluster keyring; with one, every connection is authenticated and sealed. Default none. */
  readonly keyring?: Keyring
}

export const TCP_TRANSPORT_DEFAULTS = {
  frameBytesMax: 16 * 1024 * 1024,
  queueBytesMax: 64 * 1024 * 1024,
  connectTimeoutMs: 2000,
  reconnectBackoffMsMin: 50,
  reconnectBackoffMsMax: 5000,
  inboundConnectionsMax: 1024,
  inboundRequestsMax: 4096,
} as const

export type ConnectionDirection = 'outbound' | 'inbound'

/** Why a connection was closed for misbehaving. */
export type RejectReason =
  | 'frame_oversized'
  | 'frame_checksum'
  | 'envelope_malformed'
  | 'protocol_violation'
  | 'handshake_refused'
  | 'handshake_timeout'
  | 'slow_consumer'
  | 'auth_failed'

export type TcpTransportEvent =
  | { readonly type: 'listening'; readonly host: string; readonly port: number }
  | { readonly type: 'connected'; readonly direction: ConnectionDirection; readonly peer: NodeId }
  | {
      readonly type: 'disconnected'
      readonly direction: ConnectionDirection
      readonly peer: NodeId
      readonly reason: string
    }
  | {
      readonly type: 'connect_failed'
      readonly peer: NodeId
      readonly reason: string
      readonly retryInMs: number
    }
  | {
      readonly type: 'rejected'
      readonly direction: ConnectionDirection
      /** Undefined when an inbound connection failed before its hello named the peer. */
      readonly peer: NodeId | undefined
      readonly reason: RejectReason
      readonly detail: string
    }
  | { readonly type: 'notify_dropped'; readonly peer: NodeId; readonly reason: string }
  | { readonly type: 'notify_failed'; readonly peer: NodeId; readonly error: MurmurError }
  | { readonly type: 'server_error'; readonly message: string }

type ResolvedOptions = Required<Omit<TcpTransportOptions, 'onEvent' | 'faults' | 'keyring'>> &
  Pick<TcpTransportOptions, 'onEvent' | 'faults' | 'keyring'>

function resolveOptions(options: TcpTransportOptions): ResolvedOptions {
  const resolved: ResolvedOptions = { ...TCP_TRANSPORT_DEFAULTS, ...options }
  assert(resolved.localId.length > 0, 'localId must not be empty')
  assert(resolved.clusterName.length > 0, 'clusterName must not be empty')
  assert(resolved.listenPort >= 0 && resolved.listenPort <= 65_535, 'listenPort out of range')
  assertNonNegativeInteger(resolved.listenPort, 'listenPort')
  assertNonNegativeInteger(resolved.frameBytesMax, 'frameBytesMax')
  assertNonNegativeInteger(resolved.queueBytesMax, 'queueBytesMax')
  assertNonNegativeInteger(resolved.inboundConnectionsMax, 'inboundConnectionsMax')
  assertNonNegativeInteger(resolved.inboundRequestsMax, 'inboundRequestsMax')
  assert(resolved.connectTimeoutMs > 0, 'connectTimeoutMs must be positive')
  assert(resolved.reconnectBackoffMsMin > 0, 'reconnectBackoffMsMin must be positive')
  assert(
    resolved.reconnectBackoffMsMax >= resolved.reconnectBackoffMsMin,
    'reconnectBackoffMsMax must be at least reconnectBackoffMsMin',
  )
  return resolved
}

interface ConnectionHooks {
  /** One decoded, well-formed envelope. */
  readonly envelope: (envelope: PeerEnvelope) => void
  /** The connection misbehaved and is being closed. */
  readonly rejected: (reason: RejectReason, detail: string) => void
  /** The socket is closed; called exactly once. */
  readonly closed: (reason: string) => void
}

interface QueuedFrame {
  /** The envelope payload; it is sealed (with a secret) and framed when written. */
  readonly payload: Uint8Array
  /** The request this frame carries, or 0 for anything else. */
  readonly requestId: number
}

/**
 * One socket in either direction: frame decoding, envelope validation, a write queue that is
 * held until the handshake opens it and flushed in corked batches: the first frames of an
 * event-loop turn once the code that queued them returns (a microtask), later ones together at
 * the end of the turn, so an idle link adds no wait and a busy one still writes few batches.
 * Payloads are sealed as they are written, not when queued, because a sealed channel numbers
 * frames in write order and a queued request that settled meanwhile is skipped.
 */
class FramedConnection {
  readonly socket: Socket
  /** Resolves once the socket is closed. */
  readonly closedPromise: Promise<void>
  private readonly clock: Clock
  private readonly decoder: FrameDecoder
  private readonly hooks: ConnectionHooks
  /** Asked before a request frame is written; false skips it (the request already settled). */
  private readonly beforeWrite: ((requestId: number) => boolean) | undefined
  private queue: QueuedFrame[] = []
  private queueBytes = 0
  /** Set once the connection is authenticated: every later payload is sealed and opened. */
  private channel: SealedChannel | undefined
  /** Set during the authentication handshake: raw payloads go here, not to the decoder. */
  private handshakeHandler: ((payload: Uint8Array) => void) | undefined
  private writesOpen = false
  private flushScheduled = false
  /** A flush at the end of this event-loop turn is registered (the turn flushed already). */
  private endOfTurnFlush = false
  private awaitingDrain = false
  private closing = false
  private closeReason: string | undefined
  private lingerTimer: Timer | undefined

  constructor(
    socket: Socket,
    clock: Clock,
    frameBytesMax: number,
    hooks: ConnectionHooks,
    beforeWrite?: (requestId: number) => boolean,
  ) {
    this.socket = socket
    this.clock = clock
    this.decoder = new FrameDecoder(frameBytesMax)
    this.hooks = hooks
    this.beforeWrite = beforeWrite
    socket.setNoDelay(true)
    // Decode from a plain Uint8Array view, so binary fields reach handlers as Uint8Array (as
    // over the memory network), not as Buffer.
    socket.on('data', (chunk: Buffer) =>
      this.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
    )
    socket.on('error', (error) => {
      this.closeReason ??= errorMessage(error)
    })
    socket.on('end', () => {
      this.closeReason ??= 'connection closed by peer'
    })
    this.closedPromise = new Promise((resolve) => {
      socket.once('close', () => {
        this.closing = true
        this.lingerTimer?.cancel()
        this.hooks.closed(this.closeReason ?? 'connection closed')
        resolve()
      })
    })
  }

  get isClosing(): boolean {
    return this.closing
  }

  /** Bytes accepted for this connection and not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.queueBytes + this.socket.writableLength
  }

  /** Writes a handshake payload at once, ahead of the queue. */
  sendNow(payload: Uint8Array): void {
    if (!this.closing) this.socket.write(this.frameOf(payload))
  }

  /**
   * Queues a payload that takes `wireBytes` once framed (and sealed); it is written once writes
   * are open, in this turn's batch.
   */
  enqueue(payload: Uint8Array, requestId: number, wireBytes: number): void {
    assert(!this.closing, 'enqueue on a closing connection')
    assert(wireBytes >= frameBytes(payload.length), 'wireBytes below the frame size')
    this.queue.push({ payload, requestId })
    this.queueBytes += wireBytes
    this.scheduleFlush()
  }

  /** Routes raw payloads to `handler` (the authentication handshake), or stops doing so. */
  interceptPayloads(handler: ((payload: Uint8Array) => void) | undefined): void {
    this.handshakeHandler = handler
  }

  /** Seals every payload from now on, in both directions. */
  secure(channel: SealedChannel): void {
    assert(this.channel === undefined, 'connection secured twice')
    this.channel = channel
  }

  /** Lets queued frames flow: called when the handshake completed. */
  openWrites(): void {
    this.writesOpen = true
    this.scheduleFlush()
  }

  /** Closes the socket at once; also cuts short a graceful close that is still lingering. */
  destroy(reason: string): void {
    if (!this.closing) {
      this.closing = true
      this.closeReason = reason
    }
    this.socket.destroy()
  }

  /** Closes the socket for misbehaving and reports why. */
  reject(reason: RejectReason, detail: string): void {
    if (this.closing) return
    this.hooks.rejected(reason, detail)
    this.destroy(`${reason}: ${detail}`)
  }

  /**
   * Sends a last frame (a handshake refusal), then closes gracefully so the peer can read it;
   * the socket is destroyed anyway if the peer has not closed its side within `lingerMs`.
   */
  refuse(payload: Uint8Array, reason: RejectReason, detail: string, lingerMs: number): void {
    if (this.closing) return
    this.hooks.rejected(reason, detail)
    this.closing = true
    this.closeReason = `${reason}: ${detail}`
    this.socket.end(this.frameOf(payload))
    this.lingerTimer = this.clock.setTimer(lingerMs, () => this.socket.destroy())
  }

  private onData(chunk: Uint8Array): void {
    if (this.closing) return
    const batch = this.decoder.push(chunk)
    for (const framed of batch.payloads) {
      if (this.handshakeHandler !== undefined) {
        this.handshakeHandler(framed)
        if (this.closing) return
        continue
      }
      const payload = this.channel === undefined ? framed : this.channel.open(framed)
      if (payload === undefined) {
        this.reject('auth_failed', 'a frame failed authentication')
        return
      }
      const decoded = decodeEnvelope(payload)
      if (!decoded.ok) {
        this.reject('envelope_malformed', decoded.reason)
        return
      }
      this.hooks.envelope(decoded.envelope)
      if (this.closing) return
    }
    if (batch.error !== undefined) {
      const reason = batch.error.kind === 'oversized' ? 'frame_oversized' : 'frame_checksum'
      this.reject(reason, describeFrameError(batch.error))
    }
  }

  private scheduleFlush(): void {
    if (!this.writesOpen || this.flushScheduled || this.awaitingDrain) return
    if (this.queue.length === 0) return
    this.flushScheduled = true
    if (this.endOfTurnFlush) return
    // The first flush of a turn goes out as soon as the code that queued the frames is done;
    // frames queued later in the same turn are gathered into one more flush at its end.
    this.endOfTurnFlush = true
    queueMicrotask(() => this.flush())
    this.clock.defer(() => {
      this.endOfTurnFlush = false
      if (this.flushScheduled) this.flush()
    })
  }

  private flush(): void {
    this.flushScheduled = false
    if (this.closing || this.queue.length === 0) return
    if (this.socket.writableNeedDrain) {
      // The kernel is not keeping up: hold the queue (bounded by queueBytesMax) until it does.
      this.awaitingDrain = true
      this.socket.once('drain', () => {
        this.awaitingDrain = false
        this.scheduleFlush()
      })
      return
    }
    const frames = this.queue
    this.queue = []
    this.queueBytes = 0
    this.socket.cork()
    for (const queued of frames) {
      const skip = queued.requestId !== 0 && this.beforeWrite?.(queued.requestId) === false
      if (!skip) this.socket.write(this.frameOf(queued.payload))
    }
    this.socket.uncork()
  }

  private frameOf(payload: Uint8Array): Uint8Array {
    return encodeFrame(this.channel === undefined ? payload : this.channel.seal(payload))
  }
}

/** This node's side of its connection to one peer, kept across reconnects. */
class OutboundLink {
  readonly peer: NodeId
  readonly pending: PendingRequests
  connection: FramedConnection | undefined
  /** True once the current connection completed its handshake. */
  ready = false
  connectTimer: Timer | undefined
  consecutiveFailures = 0
  /** No dial before this instant (clock.nowMs); 0 when not in backoff. */
  retryAtMs = 0
  lastFailure = ''

  constructor(peer: NodeId, clock: Clock) {
    this.peer = peer
    this.pending = new PendingRequests(clock)
  }
}

/** An accepted connection; `peer` is set once its hello was accepted. */
interface InboundSession {
  readonly connection: FramedConnection
  readonly handshakeTimer: Timer
  peer: NodeId | undefined
  /** With a keyring: the node id the peer authenticated as; its hello must name the same. */
  authenticated: NodeId | undefined
  requestsInFlight: number
}

type TransportState = 'new' | 'listening' | 'closed'

export class TcpTransport implements PeerTransport {
  readonly localId: NodeId
  private readonly options: ResolvedOptions
  private readonly clock: Clock
  private readonly links = new Map<NodeId, OutboundLink>()
  private readonly sessions = new Set<InboundSession>()
  private readonly rejections = new Map<RejectReason, number>()
  private handler: PeerRequestHandler | undefined
  private readonly linkLostListeners: ((peer: NodeId) => void)[] = []
  private server: Server | undefined
  private boundPort: number | undefined
  private state: TransportState = 'new'
  private closed: Promise<void> | undefined

  constructor(options: TcpTransportOptions) {
    this.options = resolveOptions(options)
    this.localId = options.localId
    this.clock = options.clock
  }

  /** The port the transport listens on; known once `start` resolved. */
  get port(): number {
    assert(this.boundPort !== undefined, 'transport is not listening')
    return this.boundPort
  }

  /** How many connections were closed for each kind of misbehavior. */
  rejectionCounts(): ReadonlyMap<RejectReason, number> {
    return new Map(this.rejections)
  }

  /** Number of peers with a handshaken outbound connection and of accepted inbound sessions. */
  connectionCounts(): { readonly outbound: number; readonly inbound: number } {
    let outbound = 0
    for (const link of this.links.values()) if (link.ready) outbound++
    let inbound = 0
    for (const session of this.sessions) if (session.peer !== undefined) inbound++
    return { outbound, inbound }
  }

  /** Listens for peers; a port in use or an unusable address is `config_invalid`. */
  async start(): Promise<void> {
    assert(this.state === 'new', `start on a ${this.state} transport`)
    const { listenHost: host, listenPort: port } = this.options
    const server = createServer((socket) => this.accept(socket))
    server.maxConnections = this.options.inboundConnectionsMax
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen({ host, port }, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } catch (error) {
      this.state = 'closed'
      throw listenError(host, port, error)
    }
    server.on('error', (error) => this.emit({ type: 'server_error', message: errorMessage(error) }))
    this.server = server
    this.boundPort = (server.address() as AddressInfo).port
    this.state = 'listening'
    this.emit({ type: 'listening', host, port: this.boundPort })
  }

  request(to: NodeId, body: unknown, timeoutMs: number): Promise<unknown> {
    assert(
      Number.isFinite(timeoutMs) && timeoutMs > 0,
      `timeoutMs must be positive, got ${timeoutMs}`,
    )
    if (this.state === 'closed') {
      return Promise.reject(transportUnavailable(to, 'local transport is closed'))
    }
    if (this.options.faults?.blocksPeer(to) === true) {
      return Promise.reject(transportUnavailable(to, 'blocked by fault injection'))
    }
    const link = this.linkFor(to)
    const requestId = link.pending.allocateId()
    const admitted = this.admit(link, { kind: 'request', requestId, body })
    if (admitted instanceof MurmurError) return Promise.reject(admitted)
    const answer = link.pending.add(requestId, to, timeoutMs)
    admitted.connection.enqueue(admitted.payload, requestId, this.wireBytes(admitted.payload))
    return answer
  }

  notify(to: NodeId, body: unknown): void {
    if (this.state === 'closed' || this.options.faults?.blocksPeer(to) === true) return
    const admitted = this.admit(this.linkFor(to), { kind: 'notify', requestId: 0, body })
    if (admitted instanceof MurmurError) {
      this.emit({ type: 'notify_dropped', peer: to, reason: admitted.message })
      return
    }
    admitted.connection.enqueue(admitted.payload, 0, this.wireBytes(admitted.payload))
  }

  setHandler(handler: PeerRequestHandler): void {
    this.handler = handler
  }

  onLinkLost(listener: (peer: NodeId) => void): void {
    this.linkLostListeners.push(listener)
  }

  /**
   * Evidence that `peer` is up again (it connected to us, or membership saw it join or come
   * back): ends its link's backoff, so the next request dials at once instead of failing fast
   * until a backoff grown while the peer was down expires. The failure count is kept: a peer
   * that fails again backs off from where it was.
   */
  peerReachable(peer: NodeId): void {
    const link = this.links.get(peer)
    if (link === undefined || link.connection !== undefined) return
    link.retryAtMs = 0
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown()
    return this.closed
  }

  private async shutdown(): Promise<void> {
    this.state = 'closed'
    const sockets: Promise<void>[] = []
    for (const link of this.links.values()) {
      link.connectTimer?.cancel()
      failPending(link.pending, 'local transport closed')
      if (link.connection !== undefined) {
        sockets.push(link.connection.closedPromise)
        link.connection.destroy('local transport closed')
      }
    }
    for (const session of this.sessions) {
      sockets.push(session.connection.closedPromise)
      session.connection.destroy('local transport closed')
    }
    const server = this.server
    if (server !== undefined) {
      sockets.push(new Promise((resolve) => server.close(() => resolve())))
    }
    await Promise.all(sockets)
  }

  private emit(event: TcpTransportEvent): void {
    this.options.onEvent?.(event)
    if (event.type === 'disconnected') {
      for (const listener of this.linkLostListeners) listener(event.peer)
    }
  }

  private countRejection(
    direction: ConnectionDirection,
    peer: NodeId | undefined,
    reason: RejectReason,
    detail: string,
  ): void {
    this.rejections.set(reason, (this.rejections.get(reason) ?? 0) + 1)
    this.emit({ type: 'rejected', direction, peer, reason, detail })
  }

  private linkFor(peer: NodeId): OutboundLink {
    let link = this.links.get(peer)
    if (link === undefined) {
      link = new OutboundLink(peer, this.clock)
      this.links.set(peer, link)
    }
    return link
  }

  /** The payload for `envelope` and the connection to queue it on, or why it cannot be sent. */
  private admit(
    link: OutboundLink,
    envelope: PeerEnvelope,
  ): { readonly connection: FramedConnection; readonly payload: Uint8Array } | MurmurError {
    let payload: Uint8Array
    try {
      payload = this.encodeOutgoing(link.peer, envelope)
    } catch (error) {
      if (error instanceof MurmurError) return error
      throw error
    }
    const connection = this.connectionFor(link)
    if (connection instanceof MurmurError) return connection
    if (connection.bufferedBytes + this.wireBytes(payload) > this.options.queueBytesMax) {
      return transportOverloaded(link.peer)
    }
    return { connection, payload }
  }

  /** Bytes a payload takes on the wire: frame header plus, with a secret, the seal. */
  private wireBytes(payload: Uint8Array): number {
    const sealBytes = this.options.keyring === undefined ? 0 : SEALED_FRAME_OVERHEAD_BYTES
    return frameBytes(payload.length + sealBytes)
  }

  /** Encodes an outgoing message; a message over the frame limit is refused. */
  private encodeOutgoing(peer: NodeId, envelope: PeerEnvelope): Uint8Array {
    const payload = encodeEnvelope(envelope)
    if (this.wireBytes(payload) > this.options.frameBytesMax) {
      throw new MurmurError(
        'payload_too_large',
        `${envelope.kind} to peer ${peer} needs a frame of ${this.wireBytes(payload)} bytes, over the limit of ${this.options.frameBytesMax}`,
        { definite: true, details: { peer } },
      )
    }
    return payload
  }

  // Outbound side.

  /** The link's connection, dialing one if allowed; an error while in backoff or unresolvable. */
  private connectionFor(link: OutboundLink): FramedConnection | MurmurError {
    if (link.connection?.isClosing === true) {
      // Its 'close' event is still to come; the failure is recorded then.
      return transportUnavailable(link.peer, 'connection is closing')
    }
    if (link.connection !== undefined) return link.connection
    const waitMs = link.retryAtMs - this.clock.nowMs()
    if (waitMs > 0) {
      return transportUnavailable(
        link.peer,
        `${link.lastFailure} (next attempt in ${Math.ceil(waitMs)} ms)`,
      )
    }
    const address = this.options.resolve(link.peer)
    if (address === undefined) return transportUnavailable(link.peer, 'no known address')
    if (!Number.isInteger(address.port) || address.port < 1 || address.port > 65_535) {
      return transportUnavailable(link.peer, `invalid address ${address.host}:${address.port}`)
    }
    return this.dial(link, address)
  }

  private dial(link: OutboundLink, address: PeerAddress): FramedConnection {
    const socket = connect({ host: address.host, port: address.port })
    const connection: FramedConnection = new FramedConnection(
      socket,
      this.clock,
      this.options.frameBytesMax,
      {
        envelope: (envelope) => this.onOutboundEnvelope(link, connection, envelope),
        rejected: (reason, detail) => this.countRejection('outbound', link.peer, reason, detail),
        closed: (reason) => this.onOutboundClosed(link, connection, reason),
      },
      (requestId) => link.pending.markWritten(requestId),
    )
    link.connection = connection
    link.ready = false
    const timeoutMs = this.options.connectTimeoutMs
    link.connectTimer = this.clock.setTimer(timeoutMs, () =>
      connection.destroy(`no connection and handshake within ${timeoutMs} ms`),
    )
    // Node buffers these writes until the TCP connection is established.
    const keyring = this.options.keyring
    if (keyring === undefined) this.sendHello(link, connection)
    else {
      const hello: AuthHello = {
        nonce: new Uint8Array(randomBytes(PEER_NONCE_BYTES)),
        cluster: this.options.clusterName,
        from: this.localId,
        to: link.peer,
      }
      connection.interceptPayloads((payload) =>
        this.onAuthChallenge(link, connection, keyring, hello, payload),
      )
      connection.sendNow(encodeAuthHello(hello))
    }
    return connection
  }

  private sendHello(link: OutboundLink, connection: FramedConnection): void {
    connection.sendNow(encodeEnvelope(helloFor(this.options.clusterName, this.localId, link.peer)))
  }

  /**
   * The dialer's side of authentication: the acceptor must prove one of this keyring's keys;
   * the dialer proves the same key, seals the connection and sends its hello right behind the
   * proof, so authenticating costs one round trip.
   */
  private onAuthChallenge(
    link: OutboundLink,
    connection: FramedConnection,
    keyring: Keyring,
    hello: AuthHello,
    payload: Uint8Array,
  ): void {
    const challenge = decodeAuthChallenge(payload)
    if (challenge === undefined) {
      connection.reject('auth_failed', 'the peer did not answer with an authentication challenge')
      return
    }
    const keys = keyring.peerKeys
    const index = findProofKey(keys, challenge.proof, 'acceptor', hello, challenge.nonce)
    const key = index === undefined ? undefined : keys[index]
    if (key === undefined) {
      connection.reject('auth_failed', 'the peer proved no key of the cluster keyring')
      return
    }
    connection.interceptPayloads(undefined)
    connection.sendNow(encodeAuthProof(proofFor(key, 'dialer', hello, challenge.nonce)))
    connection.secure(new SealedChannel(key, 'dialer', hello, challenge.nonce))
    this.sendHello(link, connection)
  }

  private onOutboundEnvelope(
    link: OutboundLink,
    connection: FramedConnection,
    envelope: PeerEnvelope,
  ): void {
    if (link.ready) {
      if (this.options.faults?.blocksPeer(link.peer) === true) return
      if (envelope.kind === 'response' || envelope.kind === 'error-response') {
        // An answer nobody waits for (its request timed out) is simply dropped.
        link.pending.settle(envelope)
        return
      }
      connection.reject('protocol_violation', `${envelope.kind} on an outbound connection`)
      return
    }
    if (envelope.kind === 'error-response' && envelope.requestId === 0) {
      connection.destroy(`handshake refused by peer: ${envelope.body.message}`)
      return
    }
    if (envelope.kind !== 'hello-ok') {
      connection.reject('protocol_violation', `${envelope.kind} before hello-ok`)
      return
    }
    const refusal = refuseHelloOk(envelope.body, link.peer)
    if (refusal !== undefined) {
      connection.reject('handshake_refused', refusal.message)
      return
    }
    link.connectTimer?.cancel()
    link.ready = true
    link.consecutiveFailures = 0
    link.retryAtMs = 0
    this.emit({ type: 'connected', direction: 'outbound', peer: link.peer })
    connection.openWrites()
  }

  private onOutboundClosed(link: OutboundLink, connection: FramedConnection, reason: string): void {
    assert(link.connection === connection, 'a link outlived its connection')
    const wasReady = link.ready
    link.connection = undefined
    link.ready = false
    link.connectTimer?.cancel()
    failPending(link.pending, reason)
    if (this.state === 'closed') return
    link.consecutiveFailures++
    const retryInMs = this.backoffMs(link.consecutiveFailures)
    link.retryAtMs = this.clock.nowMs() + retryInMs
    link.lastFailure = reason
    if (wasReady)
      this.emit({ type: 'disconnected', direction: 'outbound', peer: link.peer, reason })
    else this.emit({ type: 'connect_failed', peer: link.peer, reason, retryInMs })
  }

  /** Capped exponential backoff with equal jitter: half fixed, half drawn from `random`. */
  private backoffMs(consecutiveFailures: number): number {
    assert(consecutiveFailures >= 1, 'backoff without a failure')
    const { reconnectBackoffMsMin: minMs, reconnectBackoffMsMax: maxMs } = this.options
    const cappedMs = Math.min(maxMs, minMs * 2 ** Math.min(consecutiveFailures - 1, 30))
    return Math.max(minMs, cappedMs / 2 + this.options.random.float() * (cappedMs / 2))
  }

  // Inbound side.

  private accept(socket: Socket): void {
    if (this.state === 'closed') {
      socket.destroy()
      return
    }
    const timeoutMs = this.options.connectTimeoutMs
    const keyring = this.options.keyring
    const session: InboundSession = {
      connection: new FramedConnection(socket, this.clock, this.options.frameBytesMax, {
        envelope: (envelope) => this.onInboundEnvelope(session, envelope),
        rejected: (reason, detail) => this.countRejection('inbound', session.peer, reason, detail),
        closed: (reason) => this.onInboundClosed(session, reason),
      }),
      handshakeTimer: this.clock.setTimer(timeoutMs, () => {
        if (session.peer === undefined) {
          session.connection.reject('handshake_timeout', `no hello within ${timeoutMs} ms`)
        }
      }),
      peer: undefined,
      authenticated: undefined,
      requestsInFlight: 0,
    }
    this.sessions.add(session)
    if (keyring !== undefined) {
      let pending: { readonly hello: AuthHello; readonly nonce: Uint8Array } | undefined
      session.connection.interceptPayloads((payload) => {
        if (pending === undefined) pending = this.onAuthHello(session, keyring, payload)
        else this.onAuthProof(session, keyring, pending.hello, pending.nonce, payload)
      })
    }
  }

  /** The acceptor's first step: checks the auth-hello and answers with a proof and a nonce. */
  private onAuthHello(
    session: InboundSession,
    keyring: Keyring,
    payload: Uint8Array,
  ): { readonly hello: AuthHello; readonly nonce: Uint8Array } | undefined {
    const connection = session.connection
    const hello = decodeAuthHello(payload)
    if (hello === undefined) {
      connection.reject('auth_failed', 'the first frame is not an authentication hello')
      return undefined
    }
    if (hello.cluster !== this.options.clusterName || hello.to !== this.localId) {
      connection.reject('handshake_refused', `hello for ${hello.cluster}/${hello.to}`)
      return undefined
    }
    const key = keyring.peerKeys[0]
    assert(key !== undefined, 'a keyring has a primary key')
    const nonce = new Uint8Array(randomBytes(PEER_NONCE_BYTES))
    connection.sendNow(
      encodeAuthChallenge({ nonce, proof: proofFor(key, 'acceptor', hello, nonce) }),
    )
    return { hello, nonce }
  }

  /** The acceptor's second step: the dialer must prove the acceptor's primary key. */
  private onAuthProof(
    session: InboundSession,
    keyring: Keyring,
    hello: AuthHello,
    nonce: Uint8Array,
    payload: Uint8Array,
  ): void {
    const connection = session.connection
    const key = keyring.peerKeys[0]
    assert(key !== undefined, 'a keyring has a primary key')
    const proof = decodeAuthProof(payload)
    if (proof === undefined || !verifyProof(key, proof, 'dialer', hello, nonce)) {
      connection.reject('auth_failed', `node '${hello.from}' failed to prove the cluster key`)
      return
    }
    connection.interceptPayloads(undefined)
    connection.secure(new SealedChannel(key, 'acceptor', hello, nonce))
    session.authenticated = hello.from
  }

  private onInboundClosed(session: InboundSession, reason: string): void {
    session.handshakeTimer.cancel()
    this.sessions.delete(session)
    if (session.peer !== undefined) {
      this.emit({ type: 'disconnected', direction: 'inbound', peer: session.peer, reason })
    }
  }

  private onInboundEnvelope(session: InboundSession, envelope: PeerEnvelope): void {
    const peer = session.peer
    if (peer === undefined) {
      this.acceptHello(session, envelope)
      return
    }
    if (this.options.faults?.blocksPeer(peer) === true) return
    switch (envelope.kind) {
      case 'request':
        this.serveRequest(session, peer, envelope.requestId, envelope.body)
        return
      case 'notify':
        void this.serveNotify(peer, envelope.body)
        return
      default:
        session.connection.reject('protocol_violation', `${envelope.kind} on an inbound connection`)
    }
  }

  private acceptHello(session: InboundSession, envelope: PeerEnvelope): void {
    const connection = session.connection
    if (envelope.kind !== 'hello') {
      connection.reject('protocol_violation', `${envelope.kind} before hello`)
      return
    }
    if (this.options.keyring !== undefined && envelope.body.from !== session.authenticated) {
      connection.reject('auth_failed', `hello from '${envelope.body.from}' on another's connection`)
      return
    }
    const refusal = refuseHello(envelope.body, this.options.clusterName, this.localId)
    if (refusal !== undefined) {
      const payload = encodeErrorResponse(0, refusal)
      connection.refuse(
        payload,
        'handshake_refused',
        refusal.message,
        this.options.connectTimeoutMs,
      )
      return
    }
    session.handshakeTimer.cancel()
    session.peer = envelope.body.from
    connection.sendNow(encodeEnvelope(helloOkFor(this.localId)))
    connection.openWrites()
    this.emit({ type: 'connected', direction: 'inbound', peer: envelope.body.from })
    this.peerReachable(envelope.body.from)
  }

  private serveRequest(
    session: InboundSession,
    peer: NodeId,
    requestId: number,
    body: unknown,
  ): void {
    if (session.requestsInFlight >= this.options.inboundRequestsMax) {
      const error = new MurmurError(
        'overloaded',
        `node ${this.localId} has too many requests from ${peer} in flight`,
        {
          definite: true,
        },
      )
      this.sendAnswer(session, requestId, {
        kind: 'error-response',
        payload: encodeErrorResponse(requestId, error),
      })
      return
    }
    session.requestsInFlight++
    void answerRequest(this.handler, peer, requestId, body).then((answer) => {
      session.requestsInFlight--
      this.sendAnswer(session, requestId, answer)
    })
  }

  private sendAnswer(session: InboundSession, requestId: number, answer: EncodedAnswer): void {
    const connection = session.connection
    if (connection.isClosing) return
    let payload = answer.payload
    if (this.wireBytes(payload) > this.options.frameBytesMax) {
      const error = new MurmurError(
        'payload_too_large',
        `${answer.kind} of ${payload.length} bytes exceeds the frame limit of ${this.options.frameBytesMax}`,
      )
      payload = encodeErrorResponse(requestId, error)
    }
    const wireBytes = this.wireBytes(payload)
    if (connection.bufferedBytes + wireBytes > this.options.queueBytesMax) {
      connection.reject(
        'slow_consumer',
        `more than ${this.options.queueBytesMax} bytes of answers unread`,
      )
      return
    }
    connection.enqueue(payload, 0, wireBytes)
  }

  private async serveNotify(peer: NodeId, body: unknown): Promise<void> {
    const failure = await deliverNotify(this.handler, peer, body)
    if (failure !== undefined) this.emit({ type: 'notify_failed', peer, error: failure })
  }
}

/**
 * Fails a link's requests after its connection is gone: those handed to the socket may have
 * been delivered (indefinite), those still queued certainly were not (definite).
 */
function failPending(pending: PendingRequests, reason: string): void {
  pending.failAll((to, written) =>
    written ? connectionLost(to, reason) : transportUnavailable(to, reason),
  )
}

/** A one-line, user-facing reason why the listener could not start. */
function listenError(host: string, port: number, error: unknown): MurmurError {
  const code = error instanceof Error && 'code' in error ? error.code : undefined
  let message: string
  if (code === 'EADDRINUSE') message = `peer port ${port} on ${host} is already in use`
  else if (code === 'EADDRNOTAVAIL')
    message = `peer address ${host} is not an address of this machine`
  else if (code === 'EACCES') message = `no permission to listen on peer port ${port} on ${host}`
  else message = `cannot listen for peers on ${host}:${port}: ${errorMessage(error)}`
  return new MurmurError('config_invalid', message, { cause: error, details: { host, port } })
}
