/**
 * Hinted handoff: hands the hints this node holds back to their targets.
 *
 * A replay of one target starts when membership reports the target usable again, and on a
 * periodic timer in case a change was missed. It streams the target's hints in key order, in
 * batches, as `kv.replicate` requests without a hint (the target merges them into its data;
 * merging is idempotent, so a duplicate or a retry does no harm). A hint is deleted only after
 * the target acknowledged it, and only if it was not updated meanwhile (compare-and-delete
 * under the hint's lock); an updated hint is sent again by a later replay. Replays are
 * throttled node-wide by hints per second and value bytes per second, run at most once per
 * target at a time, stop at the first failure (the next replay resumes), and are bounded by
 * the hints a target may hold.
 *
 * While the topology changes, a hint goes where the partition's data lives now (`route`, see
 * `hintDestinations` in src/replication/plan.ts): to its target while the target holds the
 * partition, else to every current holder (this node merges its own share locally), and it is
 * deleted only once every destination acknowledged it. The records are merges of what writes
 * stored, so redirecting one mints nothing. Hand-offs carry this node's topology version; a
 * destination that names a newer one is adopted and the replay stops, to resume under it.
 */

import type { Clock, Timer } from '../../env/clock.js'
import type { Logger } from '../../env/log.js'
import type { PeerTransport } from '../../env/transport.js'
import { staleRingVersion, stampBody } from '../../replication/fencing.js'
import { KV_MESSAGE_TYPES } from '../../replication/messages.js'
import type { Liveness } from '../../replication/plan.js'
import { encodeKeyRecord, recordValueBytes } from '../../replication/record.js'
import { TokenBucket } from '../../replication/throttle.js'
import type { Topology } from '../../ring/topology.js'
import type { Bytes } from '../../storage/engine.js'
import type { TopologyView } from '../topology/view.js'
import type { HintEntry, ReplicaStore } from './store.js'

/** Hints read from disk per batch. */
const HINT_BATCH = 64
/** Overhead counted per hint on top of its value bytes, for the byte throttle. */
const HINT_OVERHEAD_BYTES = 64

/** Liveness with change events, as membership provides it. */
export interface LivenessEvents extends Liveness {
  /** Subscribes to changes of any member's usability; returns the unsubscribe function. */
  onChange(listener: (nodeId: string, usable: boolean) => void): () => void
}

export interface HintReplayerOptions {
  readonly selfId: string
  /** Every other node of the cluster. */
  readonly targets: readonly string[]
  readonly store: ReplicaStore
  readonly peers: PeerTransport
  readonly liveness: LivenessEvents
  /** The topology hand-offs are stamped with, and adopted from a destination that is ahead. */
  readonly topology: TopologyView
  /** The nodes a hint for `target` goes to now; this node among them merges it locally. */
  readonly route: (target: string, entry: HintEntry) => readonly string[]
  /** Merges a hint's record into this node's own data, as a replica write would. */
  readonly acceptLocal: (entry: HintEntry) => Promise<void>
  readonly clock: Clock
  readonly log: Logger
  readonly intervalMs: number
  readonly hintsPerSecond: number
  readonly bytesPerSecond: number
  readonly hintsPerTargetMax: number
  readonly peerTimeoutMs: number
}

export interface HintReplayCounters {
  delivered: number
  failed: number
  replays: number
  /** Hints handed to the partition's holders because their target no longer holds it. */
  redirected: number
}

export class HintReplayer {
  readonly counters: HintReplayCounters = {
    delivered: 0,
    failed: 0,
    replays: 0,
    redirected: 0,
  }
  private readonly running = new Set<string>()
  private readonly hintBucket: TokenBucket
  private readonly byteBucket: TokenBucket
  private timer: Timer | undefined
  private unsubscribe: (() => void) | undefined
  private stopped = false

  constructor(private readonly options: HintReplayerOptions) {
    const nowMs = options.clock.nowMs()
    this.hintBucket = new TokenBucket(options.hintsPerSecond, options.hintsPerSecond, nowMs)
    this.byteBucket = new TokenBucket(options.bytesPerSecond, options.bytesPerSecond, nowMs)
  }

  start(): void {
    this.unsubscribe = this.options.liveness.onChange((node, usable) => {
      if (usable) this.replay(node)
    })
    this.arm()
  }

  stop(): void {
    this.stopped = true
    this.timer?.cancel()
    this.unsubscribe?.()
  }

  /** Targets with a replay in progress. */
  get activeCount(): number {
    return this.running.size
  }

  /**
   * Starts replaying the hints for `target` unless one is running or there is nothing to do. A
   * target that is down is skipped unless it left the ring, whose hints go to the holders.
   */
  replay(target: string): void {
    const { store, liveness } = this.options
    if (this.stopped || this.running.has(target) || store.hintCount(target) === 0) return
    if (!liveness.isUsable(target) && this.inRing(target)) return
    this.running.add(target)
    this.counters.replays++
    void this.replayAll(target)
      .catch((error: unknown) => this.options.log.debug('hint replay failed', { target, error }))
      .finally(() => this.running.delete(target))
  }

  private inRing(node: string): boolean {
    const topology = this.options.topology.topology()
    const listed = (ring: Topology['current'] | undefined): boolean =>
      ring?.nodes.some((candidate) => candidate.id === node) ?? false
    return listed(topology.current) || listed(topology.next)
  }

  private arm(): void {
    if (this.stopped) return
    this.timer = this.options.clock.setTimer(this.options.intervalMs, () => {
      for (const target of this.options.targets) this.replay(target)
      this.arm()
    })
  }

  private async replayAll(target: string): Promise<void> {
    const batchesMax = Math.ceil(this.options.hintsPerTargetMax / HINT_BATCH) + 1
    let after: Bytes | undefined
    for (let batch = 0; batch < batchesMax; batch++) {
      const entries = await this.options.store.hintsAfter(target, after, HINT_BATCH)
      if (entries.length === 0) return
      for (const entry of entries) {
        if (this.stopped) return
        await this.throttle(entry)
        if (!(await this.handOff(target, entry))) return
        after = entry.key
      }
    }
  }

  /** Sends one hint where it goes now; true when every destination acknowledged it. */
  private async handOff(target: string, entry: HintEntry): Promise<boolean> {
    const { store, liveness, selfId } = this.options
    const destinations = this.options.route(target, entry)
    if (destinations.some((node) => node !== selfId && !liveness.isUsable(node))) return false
    for (const destination of destinations) {
      if (!(await this.deliver(destination, entry))) return false
    }
    if (destinations.length !== 1 || destinations[0] !== target) this.counters.redirected++
    if (await store.deleteHintIfEqual(target, entry.address, entry.record)) {
      this.counters.delivered++
    }
    return true
  }

  /** Hands one hint's record to one destination; true once it acknowledged. */
  private async deliver(destination: string, entry: HintEntry): Promise<boolean> {
    const { peers, peerTimeoutMs, topology, selfId } = this.options
    const body = {
      type: KV_MESSAGE_TYPES.replicate,
      keyspace: entry.address.keyspace,
      key: entry.address.key,
      record: encodeKeyRecord(entry.record),
    }
    try {
      if (destination === selfId) {
        await this.options.acceptLocal(entry)
      } else {
        const stamped = stampBody(body, topology.topology().version)
        await peers.request(destination, stamped, peerTimeoutMs)
      }
      return true
    } catch (error) {
      this.counters.failed++
      this.options.log.debug('hint hand-off failed', { destination, error })
      const version = staleRingVersion(error)
      if (version !== undefined) {
        await topology.adopt(version, destination).catch((adoptError: unknown) => {
          this.options.log.debug('adopting a newer topology failed', { error: adoptError })
        })
      }
      return false
    }
  }

  /** Waits until both buckets allow this hint, then takes from both. */
  private async throttle(entry: HintEntry): Promise<void> {
    const bytes = recordValueBytes(entry.record) + HINT_OVERHEAD_BYTES
    const { clock } = this.options
    // Each wait is long enough for the bucket that needs most time, so two rounds suffice;
    // a third only happens if the clock stalls, and is bounded by the loop.
    for (let round = 0; round < 8; round++) {
      const nowMs = clock.nowMs()
      const waitMs = Math.max(
        this.hintBucket.delayMs(1, nowMs),
        this.byteBucket.delayMs(bytes, nowMs),
      )
      if (waitMs === 0) break
      await new Promise<void>((resolve) => clock.setTimer(waitMs, resolve))
    }
    const nowMs = clock.nowMs()
    this.hintBucket.consume(1, nowMs)
    this.byteBucket.consume(bytes, nowMs)
  }
}
