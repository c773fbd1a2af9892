/**
 * Runs the membership core against real IO. Contract, after every input (a datagram, a
 * push-pull request or response, the timer, a call to join/leave):
 *   1. call the core with `clock.nowMs()`;
 *   2. drain its effects: send the datagrams, start the push-pull exchanges, then publish the
 *      events to listeners, in that order;
 *   3. set the single timer at `core.nextDeadlineMs()`.
 * When the timer fires, its drift past the deadline is the event-loop lag, reported to the core
 * (Lifeguard) before `tick`. The driver decides nothing: every protocol choice is the core's.
 *
 * Push-pull travels over the peer transport as a request `{ type: 'membership.pushPull',
 * state }` to a member id, registered on the PeerRouter; the answer carries the responder's
 * state. A seed is known only by its gossip address, so joining never needs its id: the core
 * pings the seed address over UDP, learns the seed's id and metadata from the ack, and only then
 * asks for a push-pull by id. The peer transport resolves ids to addresses (from the cluster
 * config, or from the `peer` entry of a member's metadata).
 *
 * The driver does not own the transports: the caller closes them after `stop()`.
 */

import { assert } from '../env/assert.js'
import type { Clock, Timer } from '../env/clock.js'
import { MurmurError } from '../env/errors.js'
import type { Random } from '../env/random.js'
import type { NodeId, PacketAddress, PacketTransport, PeerTransport } from '../env/transport.js'
import type { MembershipConfig } from '../membership/config.js'
import { type MemberSnapshot, sameMeta } from '../membership/member.js'
import {
  type LocalMember,
  Membership,
  type MembershipEvent,
  type PushPullEffect,
} from '../membership/membership.js'
import type { PeerRouter } from './peer-router.js'

export const PUSH_PULL_MESSAGE_TYPE = 'membership.pushPull'
/** Push-pull exchanges in flight at once; more are dropped (the next period retries). */
const PUSH_PULLS_IN_FLIGHT_MAX = 4
const LISTENERS_COUNT_MAX = 64

export type MembershipListener = (event: MembershipEvent) => void

export interface MembershipDriverOptions {
  readonly config: MembershipConfig
  readonly local: LocalMember
  /** The incarnation to start from: a saved one, or 0. */
  readonly incarnation: number
  readonly random: Random
  readonly clock: Clock
  readonly packets: PacketTransport
  readonly peers: PeerTransport
  readonly router: PeerRouter
  /** Gossip addresses to join through; empty for the first member of a cluster. */
  readonly seeds: readonly PacketAddress[]
  /** Failures the driver absorbs (push-pull errors, throwing listeners), for logs and metrics. */
  readonly onError?: (error: unknown) => void
}

/** What the driver carried out, for metrics. */
export interface MembershipDriverCounters {
  packetsSent: number
  packetsReceived: number
  pushPullsStarted: number
  pushPullsFailed: number
  pushPullsAnswered: number
}

export class MembershipDriver {
  readonly core: Membership
  readonly counters: MembershipDriverCounters = {
    packetsSent: 0,
    packetsReceived: 0,
    pushPullsStarted: 0,
    pushPullsFailed: 0,
    pushPullsAnswered: 0,
  }
  private readonly options: MembershipDriverOptions
  private readonly listeners = new Set<MembershipListener>()
  private timer: Timer | undefined
  private timerAtMs = Number.POSITIVE_INFINITY
  private pushPullsInFlight = 0
  private state: 'new' | 'running' | 'stopped' = 'new'
  private leaveWaiters: (() => void)[] = []
  private leaving = false

  constructor(options: MembershipDriverOptions) {
    this.options = options
    this.core = new Membership({
      config: options.config,
      local: options.local,
      incarnation: options.incarnation,
      random: options.random,
      nowMs: options.clock.nowMs(),
    })
  }

  /** Starts gossiping and joins through the seeds. */
  start(): void {
    assert(this.state === 'new', 'membership driver started twice')
    this.state = 'running'
    this.options.packets.setHandler((from, bytes) => {
      this.counters.packetsReceived++
      this.input(() => this.core.receivePacket(from, bytes, this.options.clock.nowMs()))
    })
    this.options.router.register(PUSH_PULL_MESSAGE_TYPE, (_from, body) => this.answerPushPull(body))
    this.input(() => {
      if (this.options.seeds.length > 0) {
        this.core.join(this.options.seeds, this.options.clock.nowMs())
      }
    })
  }

  /** The current view, the local member included, sorted by id. */
  members(): MemberSnapshot[] {
    return this.core.members()
  }

  /** Subscribes to membership events; returns the unsubscribe function. */
  onEvent(listener: MembershipListener): () => void {
    assert(this.listeners.size < LISTENERS_COUNT_MAX, 'too many membership listeners')
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /**
   * Announces a graceful leave and resolves once the core reports it settled: the announcement
   * has been sent its whole budget (membershipChangeRetransmitMult · ceil(log10(n + 1)) times, a few
   * gossip ticks), or leaveTimeoutMs passed (1 s, 2 s and 5 s in the local, LAN and WAN
   * presets), as memberlist's Leave waits up to its BroadcastTimeout. The member keeps
   * answering probes until `stop()`.
   */
  leave(): Promise<void> {
    assert(this.state === 'running', 'leave before start or after stop')
    this.leaving = true
    const settled = new Promise<void>((resolve) => this.leaveWaiters.push(resolve))
    this.input(() => this.core.leave(this.options.clock.nowMs()))
    return settled
  }

  /**
   * Merges `changes` into the local member's metadata and announces it under a new
   * incarnation (the topology's `ringVersion`, for one). Ignored once leaving or stopped: a
   * departing member's metadata no longer matters.
   */
  updateMeta(changes: Readonly<Record<string, string>>): void {
    if (this.state === 'stopped' || this.leaving) return
    const apply = () => {
      const current = this.core.member(this.core.localId)?.meta ?? {}
      const meta = { ...current, ...changes }
      // An unchanged value would still cost a new incarnation and a round of gossip.
      if (sameMeta(meta, current)) return
      this.core.updateMeta(meta, this.options.clock.nowMs())
    }
    // Before start the core only records it; start() sends what it queued.
    if (this.state === 'new') apply()
    else this.input(apply)
  }

  /** Stops the timer and ignores further input. Idempotent. */
  stop(): void {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    this.timer?.cancel()
    this.timer = undefined
    this.options.packets.setHandler(() => {})
    for (const resolve of this.leaveWaiters.splice(0)) resolve()
  }

  /** Runs one input against the core, then carries out its effects. */
  private input(work: () => void): void {
    if (this.state !== 'running') return
    work()
    this.flush()
  }

  private flush(): void {
    const { packets, pushPulls, events } = this.core.drain()
    for (const packet of packets) this.options.packets.send(packet.to, packet.bytes)
    this.counters.packetsSent += packets.length
    for (const exchange of pushPulls) this.startPushPull(exchange)
    for (const event of events) this.publish(event)
    if (this.leaveWaiters.length > 0 && this.core.isLeaveSettled(this.options.clock.nowMs())) {
      for (const resolve of this.leaveWaiters.splice(0)) resolve()
    }
    this.arm()
  }

  private arm(): void {
    const deadlineMs = this.core.nextDeadlineMs()
    if (this.timer !== undefined && deadlineMs === this.timerAtMs) return
    this.timer?.cancel()
    this.timerAtMs = deadlineMs
    const delayMs = Math.max(0, deadlineMs - this.options.clock.nowMs())
    this.timer = this.options.clock.setTimer(delayMs, () => this.onTimer())
  }

  private onTimer(): void {
    this.timer = undefined
    const scheduledMs = this.timerAtMs
    this.timerAtMs = Number.POSITIVE_INFINITY
    this.input(() => {
      const nowMs = this.options.clock.nowMs()
      // How late the timer fired is how long the event loop could not run.
      if (nowMs > scheduledMs) this.core.reportEventLoopLag(nowMs - scheduledMs, nowMs)
      this.core.tick(nowMs)
    })
  }

  private startPushPull(exchange: PushPullEffect): void {
    if (this.pushPullsInFlight >= PUSH_PULLS_IN_FLIGHT_MAX) return
    this.pushPullsInFlight++
    this.counters.pushPullsStarted++
    const body = { type: PUSH_PULL_MESSAGE_TYPE, state: exchange.bytes }
    const to: NodeId = exchange.toMemberId
    this.options.peers
      .request(to, body, this.options.config.pushPullTimeoutMs)
      .then((response) => {
        const state = stateOf(response)
        this.input(() => this.core.receivePushPull(state, this.options.clock.nowMs()))
      })
      .catch((error: unknown) => {
        this.counters.pushPullsFailed++
        this.options.onError?.(error)
      })
      .finally(() => {
        this.pushPullsInFlight--
      })
  }

  private answerPushPull(body: Readonly<Record<string, unknown>>): unknown {
    if (this.state !== 'running') {
      throw new MurmurError('unavailable', 'membership is not running', { definite: true })
    }
    const state = stateOf(body)
    this.counters.pushPullsAnswered++
    const response = this.core.answerPushPull(state, this.options.clock.nowMs())
    this.flush()
    if (response === undefined) {
      throw new MurmurError('invalid_request', 'push-pull state rejected', { definite: true })
    }
    return { type: PUSH_PULL_MESSAGE_TYPE, state: response }
  }

  private publish(event: MembershipEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event)
      } catch (error) {
        this.options.onError?.(error)
      }
    }
  }
}

function stateOf(body: unknown): Uint8Array {
  const state =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['state'] : null
  if (!(state instanceof Uint8Array)) {
    throw new MurmurError('invalid_request', 'push-pull body carries no state bytes')
  }
  return state
}
