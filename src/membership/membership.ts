/**
 * The SWIM + Lifeguard membership core: a synchronous, deterministic state machine. Inputs are
 * `tick`, `receivePacket`, `join`, `leave`, `answerPushPull`/`receivePushPull`, `updateMeta` and
 * `reportEventLoopLag`, each with the current monotonic time; it never reads a clock, owns no
 * timer and does no IO. After every input the caller calls `drain()` and carries out the effects
 * (datagrams to send, push-pull exchanges to start, events to publish), then sets one timer at
 * `nextDeadlineMs()`. The same options, seed and inputs always produce the same effects.
 *
 * Protocol (memberlist's semantics): one probe per (awareness-scaled) protocol period over a
 * staggered round-robin list (see reshuffleProbeOrder); ping, then ping-req through
 * `indirectChecks` helpers that answer with an ack or, after the probe timeout, a nack; a failed
 * probe raises a suspicion whose Lifeguard timeout, counted from the first unanswered ping,
 * shrinks with independent confirmations, then a death. Updates ride on every
 * packet and on a gossip tick, each sent at most retransmitMult·ceil(log10(n+1)) times;
 * changes of the member set (a newcomer, a death, a leave), which gossip about known members
 * does not repair, get membershipChangeRetransmitMult instead, and a leaver waits (at most
 * leaveTimeoutMs) until its own announcement has used that whole budget.
 *
 * Refutation and restarts: only a member raises its own incarnation, to max(its own, the
 * accusation's) + 1, and it sends the refutation straight back to whoever told it as well as
 * gossiping it. Whenever a member hears from another member directly (a ping, an ack, or an
 * alive message sent from the member's own address) with an incarnation that loses to what it
 * records, it answers with its record, so a restarted member that lost its incarnation learns
 * the accusation within one round trip and refutes it (the fix for memberlist #311). Push-pull
 * merges turn a remote `dead` into a local suspicion (as memberlist does), so a healed partition
 * makes every wrongly buried member refute. Seeds and dead members are re-contacted every
 * `rejoinIntervalMs`, so partitions heal without an operator (memberlist #222).
 */

import { assert } from '../env/assert.js'
import type { Random } from '../env/random.js'
import { shuffle } from '../env/random.js'
import type { PacketAddress } from '../env/transport.js'
import { hashString } from '../ring/hash.js'
import { Awareness } from './awareness.js'
import { BroadcastQueue } from './broadcasts.js'
import { type MembershipConfig, validateMembershipConfig } from './config.js'
import {
  INCARNATION_MAX,
  type MemberId,
  type MemberMeta,
  type MemberSnapshot,
  type MemberState,
  metaBytes,
  sameMeta,
  supersedes,
} from './member.js'
import { Suspicion, suspicionBounds } from './suspicion.js'
import {
  type AckMessage,
  type AliveMessage,
  COMPOUND_OVERHEAD_BYTES,
  type DeadMessage,
  decodePacket,
  decodePushPull,
  encodePart,
  encodePushPull,
  framePacket,
  type GossipMessage,
  isAddress,
  MEMBER_ID_LENGTH_MAX,
  PARTS_COUNT_MAX,
  type PingMessage,
  type PingReqMessage,
  type PushPullMessage,
  partCostBytes,
  REJECT_REASONS,
  type RejectReason,
  type SuspectMessage,
} from './wire.js'

export interface LocalMember {
  readonly id: MemberId
  readonly address: PacketAddress
  readonly meta: MemberMeta
}

export interface MembershipOptions {
  readonly config: MembershipConfig
  readonly local: LocalMember
  /** The incarnation to start from: a saved one, or 0 when the member lost its state. */
  readonly incarnation: number
  readonly random: Random
  readonly nowMs: number
  /** Members to start from without announcing them: a saved view, or a simulation bootstrap. */
  readonly knownMembers?: readonly MemberSnapshot[]
}

/**
 * joined: first seen, or back after leaving; alive: a suspicion was refuted or a dead member
 * came back; updated: address or metadata changed; suspect, dead, left: as named.
 */
export type MembershipEventType = 'joined' | 'alive' | 'suspect' | 'dead' | 'left' | 'updated'

export interface MembershipEvent {
  readonly type: MembershipEventType
  readonly member: MemberSnapshot
}

export interface PacketEffect {
  readonly to: PacketAddress
  readonly bytes: Uint8Array
}

/** Send `bytes` to the member over the peer transport; pass its answer to receivePushPull. */
export interface PushPullEffect {
  readonly toMemberId: MemberId
  readonly bytes: Uint8Array
}

export interface MembershipEffects {
  readonly packets: readonly PacketEffect[]
  readonly pushPulls: readonly PushPullEffect[]
  readonly events: readonly MembershipEvent[]
}

interface MemberRecord {
  id: MemberId
  address: PacketAddress
  meta: MemberMeta
  incarnation: number
  state: MemberState
  stateChangedMs: number
}

interface ProbeRound {
  readonly targetId: MemberId
  readonly seq: number
  /** When the ping went out: the target has been silent at least since then. */
  readonly startedMs: number
  phase: 'direct' | 'indirect'
  ackDeadlineMs: number
  roundEndMs: number
  nacksExpected: number
  nacksReceived: number
}

interface Relay {
  readonly replyTo: PacketAddress
  readonly replySeq: number
  readonly wantNack: boolean
  nackDeadlineMs: number
  expiresMs: number
  nackSent: boolean
}

interface JoinPing {
  readonly address: PacketAddress
  readonly expiresMs: number
}

/** Per-packet context: where it came from, and whom we already told their record. */
interface Context {
  readonly from: PacketAddress | undefined
  readonly answered: Set<MemberId>
}

/** An incarnation more than this above the recorded one is a forged or corrupt claim. */
export const INCARNATION_JUMP_MAX = 1 << 20
const RELAYS_COUNT_MAX = 64
const SEEDS_COUNT_MAX = 64
/** Join pings awaiting an answer: seeds and a dead member per round, plus introductions. */
const JOIN_PINGS_COUNT_MAX = 2 * SEEDS_COUNT_MAX
const EFFECTS_COUNT_MAX = 1_000_000
/** A lag shorter than this fraction of the probe timeout is ordinary timer jitter. */
const LAG_NOTICE_FRACTION = 0.5
const LAG_MS_MAX = 600_000
/** memberlist's pushPullScaleThreshold: above this many members push-pull slows down. */
const PUSH_PULL_SCALE_THRESHOLD = 32

export class Membership {
  private readonly config: MembershipConfig
  private readonly random: Random
  private readonly self: MemberRecord
  private readonly table = new Map<MemberId, MemberRecord>()
  /** Member ids in sorted order: the deterministic order for every scan and random pick. */
  private readonly memberIds: MemberId[] = []
  private readonly idByAddress = new Map<PacketAddress, MemberId>()
  /** Members alive or suspect, the local member included: the n of every formula. */
  private liveCount = 0
  private readonly awareness: Awareness
  private readonly broadcasts: BroadcastQueue
  private readonly suspicions = new Map<MemberId, Suspicion>()
  private probeOrder: MemberId[] = []
  private probeIndex = 0
  private readonly inProbeOrder = new Set<MemberId>()
  private probe: ProbeRound | undefined
  private nextProbeMs: number
  private nextGossipMs: number
  private nextPushPullMs: number
  private nextRejoinMs: number
  private readonly relays = new Map<number, Relay>()
  private readonly joinPings = new Map<number, JoinPing>()
  private seeds: PacketAddress[] = []
  /** Whether a full push-pull exchange has given this member a complete view. */
  private synced: boolean
  private sequence = 0
  private leaveDeadlineMs: number | undefined
  private lastNowMs: number
  private lastEagerGossipMs = Number.NEGATIVE_INFINITY
  private readonly rejected = new Map<RejectReason, number>()
  private packets: PacketEffect[] = []
  private pushPulls: PushPullEffect[] = []
  private events: MembershipEvent[] = []

  constructor(options: MembershipOptions) {
    const problems = validateMembershipConfig(options.config)
    assert(problems.length === 0, `invalid membership config: ${problems.join('; ')}`)
    const { config, local, nowMs } = options
    assert(local.id.length > 0 && local.id.length <= MEMBER_ID_LENGTH_MAX, 'bad local member id')
    assert(isAddress(local.address), `bad local gossip address ${local.address}`)
    assert(metaBytes(local.meta) <= config.metaBytesMax, 'local metadata exceeds metaBytesMax')
    assert(
      Number.isSafeInteger(options.incarnation) &&
        options.incarnation >= 0 &&
        options.incarnation < INCARNATION_MAX,
      'bad initial incarnation',
    )
    assert(Number.isFinite(nowMs), 'nowMs must be finite')
    this.config = config
    this.random = options.random
    this.lastNowMs = nowMs
    this.awareness = new Awareness(config.awarenessMaxMultiplier)
    this.broadcasts = new BroadcastQueue(config.membersCountMax + 1)
    this.self = {
      id: local.id,
      address: local.address,
      meta: Object.freeze({ ...local.meta }),
      incarnation: options.incarnation,
      state: 'alive',
      stateChangedMs: nowMs,
    }
    this.installMembers(options.knownMembers ?? [])
    this.synced = this.table.size > 1
    // Random phases over each whole period keep members from probing, gossiping and
    // exchanging state in lockstep: members started together would otherwise all push-pull
    // in the same second and leave the rest of the period without any anti-entropy.
    this.nextProbeMs = nowMs + this.random.int(config.probeIntervalMs)
    this.nextGossipMs = nowMs + this.random.int(config.gossipIntervalMs)
    this.nextPushPullMs = nowMs + this.random.int(this.pushPullIntervalMs())
    this.nextRejoinMs = nowMs + this.random.int(config.rejoinIntervalMs)
  }

  // ---------------------------------------------------------------------------------------
  // Queries.

  get localId(): MemberId {
    return this.self.id
  }

  get incarnation(): number {
    return this.self.incarnation
  }

  /** Lifeguard's local health multiplier, in [0, awarenessMaxMultiplier]. */
  get awarenessScore(): number {
    return this.awareness.score
  }

  /** Updates waiting to be gossiped. */
  get pendingBroadcasts(): number {
    return this.broadcasts.size
  }

  /** Every member in the view, the local one included, sorted by id. */
  members(): MemberSnapshot[] {
    const snapshots: MemberSnapshot[] = []
    for (const id of this.memberIds) {
      const record = this.table.get(id)
      if (record !== undefined) snapshots.push(snapshot(record))
    }
    return snapshots
  }

  member(id: MemberId): MemberSnapshot | undefined {
    const record = this.table.get(id)
    return record === undefined ? undefined : snapshot(record)
  }

  /** Rejected packets and messages, by reason (every reason listed, in a fixed order). */
  rejectedPackets(): Readonly<Record<RejectReason, number>> {
    const counts = {} as Record<RejectReason, number>
    for (const reason of REJECT_REASONS) counts[reason] = this.rejected.get(reason) ?? 0
    return counts
  }

  /**
   * True once the leave broadcast has been sent its whole budget (membershipChangeRetransmitMult ·
   * ceil(log10(n + 1)) times) and left the queue, or leaveTimeoutMs passed since `leave`: as
   * memberlist's Leave, the member should keep running until then.
   */
  isLeaveSettled(nowMs: number): boolean {
    if (this.leaveDeadlineMs === undefined) return false
    if (nowMs >= this.leaveDeadlineMs) return true
    return this.broadcasts.transmitsOf(this.self.id) === undefined
  }

  /** The earliest time at which `tick` has work to do. */
  nextDeadlineMs(): number {
    let deadline = Math.min(this.nextGossipMs, this.nextPushPullMs, this.nextRejoinMs)
    if (this.leaveDeadlineMs !== undefined) {
      // The leave deadline wakes the caller once; left in place after it passed, it would ask
      // for a timer in the past forever.
      if (this.leaveDeadlineMs > this.lastNowMs) {
        deadline = Math.min(deadline, this.leaveDeadlineMs)
      }
    } else if (this.probe === undefined) deadline = Math.min(deadline, this.nextProbeMs)
    else if (this.probe.phase === 'direct') deadline = Math.min(deadline, this.probe.ackDeadlineMs)
    else deadline = Math.min(deadline, this.probe.roundEndMs)
    for (const suspicion of this.suspicions.values()) {
      deadline = Math.min(deadline, suspicion.deadlineMs())
    }
    for (const relay of this.relays.values()) {
      deadline = Math.min(deadline, relay.nackSent ? relay.expiresMs : relay.nackDeadlineMs)
    }
    for (const joinPing of this.joinPings.values()) {
      deadline = Math.min(deadline, joinPing.expiresMs)
    }
    return deadline
  }

  /** Hands over the effects produced since the last drain. */
  drain(): MembershipEffects {
    const effects = { packets: this.packets, pushPulls: this.pushPulls, events: this.events }
    this.packets = []
    this.pushPulls = []
    this.events = []
    return effects
  }

  // ---------------------------------------------------------------------------------------
  // Inputs.

  /** Runs everything due at `nowMs`. Work that is late runs once, never in a burst. */
  tick(nowMs: number): void {
    this.advanceTime(nowMs)
    this.expireSuspicions(nowMs)
    this.advanceProbe(nowMs)
    this.expireRelays(nowMs)
    this.expireJoinPings(nowMs)
    if (nowMs >= this.nextGossipMs) {
      this.gossip(nowMs)
      this.nextGossipMs = following(this.nextGossipMs, this.config.gossipIntervalMs, nowMs)
    }
    if (nowMs >= this.nextPushPullMs) {
      this.startPushPull()
      this.nextPushPullMs = following(this.nextPushPullMs, this.pushPullIntervalMs(), nowMs)
    }
    if (nowMs >= this.nextRejoinMs) this.rejoinRound(nowMs)
  }

  /** Contacts the seeds now, retrying every probe interval until a push-pull syncs the view. */
  join(seedAddresses: readonly PacketAddress[], nowMs: number): void {
    this.advanceTime(nowMs)
    const seeds = new Set<PacketAddress>()
    for (const address of seedAddresses) {
      assert(isAddress(address), `bad seed address ${address}`)
      if (address !== this.self.address && seeds.size < SEEDS_COUNT_MAX) seeds.add(address)
    }
    this.seeds = [...seeds].sort()
    this.rejoinRound(nowMs)
  }

  /** Announces a graceful leave; the member stops probing and never refutes it. */
  leave(nowMs: number): void {
    this.advanceTime(nowMs)
    if (this.leaveDeadlineMs !== undefined) return
    this.leaveDeadlineMs = nowMs + this.config.leaveTimeoutMs
    this.probe = undefined
    this.transition(this.self, 'left', this.self.incarnation, nowMs)
    const message: DeadMessage = {
      type: 'dead',
      incarnation: this.self.incarnation,
      id: this.self.id,
      fromId: this.self.id,
    }
    this.queueBroadcast(
      this.self.id,
      encodePart(message),
      this.config.membershipChangeRetransmitMult,
    )
  }

  /** Changes the local metadata and announces it under a new incarnation. */
  updateMeta(meta: MemberMeta, nowMs: number): void {
    this.advanceTime(nowMs)
    assert(metaBytes(meta) <= this.config.metaBytesMax, 'metadata exceeds metaBytesMax')
    assert(this.leaveDeadlineMs === undefined, 'metadata update after leaving')
    this.self.meta = Object.freeze({ ...meta })
    this.raiseIncarnation(this.self.incarnation, undefined)
  }

  /**
   * Feeds event-loop lag into Lifeguard: a member that could not run for `lagMs` raises its
   * health multiplier and does not count that time against others (pending suspicions, probe
   * and relay deadlines move later), since their answers may be waiting unread.
   */
  reportEventLoopLag(lagMs: number, nowMs: number): void {
    this.advanceTime(nowMs)
    assert(Number.isFinite(lagMs) && lagMs >= 0, 'lag must be a non-negative number')
    if (lagMs < this.config.probeTimeoutMs * LAG_NOTICE_FRACTION) return
    const shiftMs = Math.min(lagMs, LAG_MS_MAX)
    this.awareness.applyDelta(1)
    for (const suspicion of this.suspicions.values()) suspicion.postpone(shiftMs)
    if (this.probe !== undefined) {
      this.probe.ackDeadlineMs += shiftMs
      this.probe.roundEndMs += shiftMs
    }
    for (const relay of this.relays.values()) {
      relay.nackDeadlineMs += shiftMs
      relay.expiresMs += shiftMs
    }
  }

  /** Handles one datagram. Hostile bytes are counted and dropped; this never throws on input. */
  receivePacket(from: PacketAddress, bytes: Uint8Array, nowMs: number): void {
    this.advanceTime(nowMs)
    const decoded = decodePacket(bytes, this.config)
    if (!decoded.ok) {
      this.reject(decoded.reason)
      return
    }
    const context: Context = { from, answered: new Set() }
    // Claims first, so an ack sent for a ping already carries any refutation it provoked.
    for (const message of decoded.value) this.handleClaim(message, context, nowMs)
    for (const message of decoded.value) this.handleControl(message, context, nowMs)
  }

  /**
   * Answers a push-pull request: returns the local state (as it was before the merge) for the
   * response, then merges the remote state; undefined when the request is rejected.
   */
  answerPushPull(bytes: Uint8Array, nowMs: number): Uint8Array | undefined {
    this.advanceTime(nowMs)
    const decoded = decodePushPull(bytes, this.config)
    if (!decoded.ok) {
      this.reject(decoded.reason)
      return undefined
    }
    const response = this.encodeState(false)
    this.mergeState(decoded.value, undefined, nowMs)
    this.synced = true
    return response
  }

  /** Merges the answer to a push-pull this member started. */
  receivePushPull(bytes: Uint8Array, nowMs: number): void {
    this.advanceTime(nowMs)
    const decoded = decodePushPull(bytes, this.config)
    if (!decoded.ok) {
      this.reject(decoded.reason)
      return
    }
    const sender = decoded.value.members.find((entry) => entry.id === decoded.value.senderId)
    const joining = !this.synced
    this.mergeState(decoded.value, sender?.address, nowMs)
    this.synced = true
    // A member that just joined announces itself to the view it received, as memberlist
    // broadcasts its own alive message on start: the seeds' gossip alone can miss a member,
    // and pings from a member one does not know teach nothing.
    if (joining && this.leaveDeadlineMs === undefined) {
      const part = encodePart(this.aliveOf(this.self))
      this.queueBroadcast(this.self.id, part, this.config.membershipChangeRetransmitMult)
    }
  }

  // ---------------------------------------------------------------------------------------
  // Claims: alive, suspect, dead.

  private handleClaim(message: GossipMessage, context: Context, nowMs: number): void {
    switch (message.type) {
      case 'alive':
        this.applyAlive(message, context, nowMs)
        return
      case 'suspect':
        this.applySuspect(message, context, nowMs)
        return
      case 'dead':
        this.applyDead(message, context, nowMs)
        return
      default:
        return
    }
  }

  private applyAlive(message: AliveMessage, context: Context, nowMs: number): void {
    if (message.id === this.self.id) {
      const same =
        message.incarnation === this.self.incarnation &&
        message.address === this.self.address &&
        sameMeta(message.meta, this.self.meta)
      if (message.incarnation >= this.self.incarnation && !same) {
        this.refute(message.incarnation, context)
      }
      return
    }
    const record = this.table.get(message.id)
    if (record === undefined) {
      this.addMember(message, nowMs)
      return
    }
    if (this.isAbsurd(record, message.incarnation)) return
    if (!supersedes(record, { kind: 'alive', incarnation: message.incarnation })) {
      // The member itself sent a claim that loses to our record: tell it what we hold.
      if (context.from === message.address) {
        this.answerStaleClaim(message.id, message.incarnation, context)
      } else {
        this.answerWithDeparture(record, context)
      }
      return
    }
    const previous = record.state
    const changed = record.address !== message.address || !sameMeta(record.meta, message.meta)
    this.setAddress(record, message.address)
    record.meta = message.meta
    this.transition(record, 'alive', message.incarnation, nowMs)
    this.queueBroadcast(record.id, encodePart(message))
    if (previous === 'left') this.emit('joined', record)
    else if (previous !== 'alive') this.emit('alive', record)
    else if (changed) this.emit('updated', record)
  }

  private addMember(message: AliveMessage, nowMs: number): void {
    if (this.table.size >= this.config.membersCountMax) {
      this.reject('members_full')
      return
    }
    const holderId = this.idByAddress.get(message.address)
    const holder = holderId === undefined ? undefined : this.table.get(holderId)
    if (holder !== undefined && (holder.state === 'alive' || holder.state === 'suspect')) {
      this.reject('address_conflict')
      return
    }
    const record: MemberRecord = {
      id: message.id,
      address: message.address,
      meta: message.meta,
      incarnation: message.incarnation,
      state: 'alive',
      stateChangedMs: nowMs,
    }
    this.insertRecord(record)
    // A newcomer is a change of the member set and gets the larger budget, except while this
    // member receives its first view: then every member is new to it but old news to others.
    const retransmitMult = this.synced
      ? this.config.membershipChangeRetransmitMult
      : this.config.retransmitMult
    this.queueBroadcast(record.id, encodePart(message), retransmitMult)
    this.emit('joined', record)
  }

  /**
   * `silentSinceMs` is when the accused member was last asked and did not answer: for our own
   * failed probe, the moment the ping went out (the silence began no later than that), so the
   * suspicion timeout measures the member's silence, not our probe round on top of it. Claims
   * heard from others start their timer when they arrive.
   */
  private applySuspect(
    message: SuspectMessage,
    context: Context,
    nowMs: number,
    silentSinceMs = nowMs,
  ): void {
    if (message.id === this.self.id) {
      this.answerAccusation(message.incarnation, context)
      return
    }
    const record = this.table.get(message.id)
    if (record === undefined) {
      this.reject('unknown_member')
      return
    }
    if (this.isAbsurd(record, message.incarnation)) return
    if (record.state === 'suspect' && message.incarnation >= record.incarnation) {
      record.incarnation = message.incarnation
      const suspicion = this.suspicions.get(record.id)
      // A new independent confirmation shortens the timeout; pass it on so others count it.
      if (suspicion?.confirm(message.fromId)) this.queueBroadcast(record.id, encodePart(message))
      return
    }
    if (!supersedes(record, { kind: 'suspect', incarnation: message.incarnation })) {
      this.answerWithDeparture(record, context)
      return
    }
    this.transition(record, 'suspect', message.incarnation, nowMs)
    const bounds = suspicionBounds(this.config, this.liveCount)
    this.suspicions.set(
      record.id,
      new Suspicion(record.id, message.fromId, Math.min(nowMs, silentSinceMs), bounds),
    )
    this.queueBroadcast(record.id, encodePart(message))
    this.emit('suspect', record)
  }

  private applyDead(message: DeadMessage, context: Context, nowMs: number): void {
    const leaving = message.fromId === message.id
    if (message.id === this.self.id) {
      this.answerAccusation(message.incarnation, context)
      return
    }
    const record = this.table.get(message.id)
    if (record === undefined) {
      this.reject('unknown_member')
      return
    }
    if (this.isAbsurd(record, message.incarnation)) return
    const kind = leaving ? 'left' : 'dead'
    if (!supersedes(record, { kind, incarnation: message.incarnation })) {
      if (!leaving) this.answerWithDeparture(record, context)
      return
    }
    this.transition(record, kind, message.incarnation, nowMs)
    this.queueBroadcast(record.id, encodePart(message), this.config.membershipChangeRetransmitMult)
    this.emit(kind, record)
  }

  private isAbsurd(record: MemberRecord, incarnation: number): boolean {
    if (incarnation <= record.incarnation + INCARNATION_JUMP_MAX) return false
    this.reject('absurd_incarnation')
    return true
  }

  /**
   * A suspect or dead claim about the local member: refute it when current; when it is older
   * than our incarnation, the sender missed our refutation, so send it our alive message.
   */
  private answerAccusation(incarnation: number, context: Context): void {
    if (incarnation >= this.self.incarnation) {
      this.refute(incarnation, context)
    } else if (context.from !== undefined && this.leaveDeadlineMs === undefined) {
      this.send(context.from, [encodePart(this.aliveOf(this.self))], false)
    }
  }

  /**
   * Someone holds the local member suspect, dead or at a newer incarnation: raise the
   * incarnation above the accusation, gossip it, and answer the sender directly.
   */
  private refute(accusedIncarnation: number, context: Context): void {
    if (this.leaveDeadlineMs !== undefined) return
    if (accusedIncarnation > this.self.incarnation + INCARNATION_JUMP_MAX) {
      this.reject('absurd_incarnation')
      return
    }
    this.awareness.applyDelta(1)
    this.raiseIncarnation(accusedIncarnation, context.from)
  }

  private raiseIncarnation(atLeast: number, replyTo: PacketAddress | undefined): void {
    const incarnation = Math.max(this.self.incarnation, atLeast) + 1
    // Reaching the u32 ceiling would take four billion refutations; treat it as a bug.
    assert(incarnation <= INCARNATION_MAX, 'incarnation overflow')
    this.self.incarnation = incarnation
    const part = encodePart(this.aliveOf(this.self))
    this.queueBroadcast(this.self.id, part)
    if (replyTo !== undefined && replyTo !== this.self.address) this.send(replyTo, [part], false)
  }

  /** Tells a member that spoke to us directly what we record about it, once per packet. */
  private answerStaleClaim(id: MemberId, claimedIncarnation: number, context: Context): void {
    const record = this.table.get(id)
    if (record === undefined || id === this.self.id || context.from === undefined) return
    // A member that talks to us while we hold it suspect or dead gets our record even when it
    // claims a newer incarnation: its answer is the full alive message we missed.
    const stale = record.state !== 'alive' || record.incarnation > claimedIncarnation
    if (!stale || context.answered.has(id)) return
    context.answered.add(id)
    this.send(context.from, [encodePart(this.claimOf(record))], false)
  }

  /**
   * Someone still gossips about a member that left gracefully: tell it, once per packet, so a
   * member that missed the departure does not end up reporting it as a failure.
   */
  private answerWithDeparture(record: MemberRecord, context: Context): void {
    if (record.state !== 'left' || context.from === undefined) return
    if (context.from === this.self.address || context.answered.has(record.id)) return
    context.answered.add(record.id)
    this.send(context.from, [encodePart(this.claimOf(record))], false)
  }

  // ---------------------------------------------------------------------------------------
  // Control messages: ping, ping-req, ack, nack.

  private handleControl(message: GossipMessage, context: Context, nowMs: number): void {
    switch (message.type) {
      case 'ping':
        this.onPing(message, context, nowMs)
        return
      case 'pingReq':
        this.onPingReq(message, context, nowMs)
        return
      case 'ack':
        this.onAck(message, context)
        return
      case 'nack':
        if (this.probe !== undefined && this.probe.seq === message.seq) this.probe.nacksReceived++
        return
      default:
        return
    }
  }

  private onPing(message: PingMessage, context: Context, nowMs: number): void {
    if (message.targetId !== '' && message.targetId !== this.self.id) {
      // A probe meant for another member (one that used to have our address).
      this.reject('wrong_target')
      return
    }
    if (context.from === undefined || message.sourceId === this.self.id) return
    this.answerStaleClaim(message.sourceId, message.sourceIncarnation, context)
    const ack: AckMessage = {
      type: 'ack',
      seq: message.seq,
      sourceId: this.self.id,
      sourceIncarnation: this.self.incarnation,
    }
    // A join ping comes from someone who may not know us yet: introduce ourselves.
    const introduction = encodePart(this.aliveOf(this.self))
    const parts = [encodePart(ack)]
    if (message.targetId === '') parts.push(introduction)
    this.send(context.from, parts, true)
    // A probe from a member we do not know means we missed its join, and a ping carries no
    // address or metadata to learn it from: ask it to introduce itself, so a missed join lasts
    // one probe round at most instead of until the next push-pull.
    const stranger = message.targetId === this.self.id && !this.table.has(message.sourceId)
    if (stranger && this.leaveDeadlineMs === undefined) {
      this.sendJoinPing(context.from, introduction, nowMs)
    }
  }

  private onPingReq(message: PingReqMessage, context: Context, nowMs: number): void {
    if (context.from === undefined || message.targetId === this.self.id) return
    if (this.relays.size >= RELAYS_COUNT_MAX) {
      this.reject('relays_full')
      return
    }
    const seq = this.nextSequence()
    this.relays.set(seq, {
      replyTo: context.from,
      replySeq: message.seq,
      wantNack: message.wantNack,
      nackDeadlineMs: nowMs + this.config.probeTimeoutMs,
      expiresMs: nowMs + this.config.probeIntervalMs,
      nackSent: false,
    })
    this.sendPing(message.targetAddress, message.targetId, seq, [])
  }

  private onAck(message: AckMessage, context: Context): void {
    if (message.sourceId === this.self.id) return
    this.answerStaleClaim(message.sourceId, message.sourceIncarnation, context)
    if (this.probe !== undefined && this.probe.seq === message.seq) {
      this.probe = undefined
      this.awareness.applyDelta(-1)
      return
    }
    const relay = this.relays.get(message.seq)
    if (relay !== undefined) {
      this.relays.delete(message.seq)
      this.send(relay.replyTo, [encodePart(this.ackOf(relay.replySeq))], true)
      return
    }
    const joinPing = this.joinPings.get(message.seq)
    if (joinPing !== undefined) {
      this.joinPings.delete(message.seq)
      // Someone answered at a seed's address: exchange full state with it.
      if (this.table.has(message.sourceId) && this.leaveDeadlineMs === undefined) {
        this.pushPulls.push({ toMemberId: message.sourceId, bytes: this.encodeState(true) })
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Timed work: probes, suspicions, relays, gossip, push-pull, re-join.

  private advanceProbe(nowMs: number): void {
    if (this.leaveDeadlineMs !== undefined) return
    const probe = this.probe
    if (probe !== undefined && probe.phase === 'direct' && nowMs >= probe.ackDeadlineMs) {
      this.startIndirect(probe, nowMs)
    } else if (probe !== undefined && probe.phase === 'indirect' && nowMs >= probe.roundEndMs) {
      this.failProbe(probe, nowMs)
    }
    if (this.probe === undefined && nowMs >= this.nextProbeMs) this.startProbe(nowMs)
  }

  private startProbe(nowMs: number): void {
    const intervalMs = this.awareness.scaleMs(this.config.probeIntervalMs)
    this.nextProbeMs = nowMs + intervalMs
    const target = this.nextProbeTarget()
    if (target === undefined) return
    const seq = this.nextSequence()
    this.probe = {
      targetId: target.id,
      seq,
      startedMs: nowMs,
      phase: 'direct',
      ackDeadlineMs: nowMs + this.awareness.scaleMs(this.config.probeTimeoutMs),
      roundEndMs: nowMs + intervalMs,
      nacksExpected: 0,
      nacksReceived: 0,
    }
    // Lifeguard's buddy system: a suspect learns of the accusation from the probe itself.
    const buddy: Uint8Array[] = []
    if (target.state === 'suspect') buddy.push(encodePart(this.claimOf(target)))
    this.sendPing(target.address, target.id, seq, buddy)
  }

  private startIndirect(probe: ProbeRound, nowMs: number): void {
    const target = this.table.get(probe.targetId)
    if (target === undefined || !isLive(target)) {
      this.probe = undefined
      return
    }
    probe.phase = 'indirect'
    // Measured from now, not from the round's start: a late tick must not shorten this wait.
    const waitMs =
      this.awareness.scaleMs(this.config.probeIntervalMs) -
      this.awareness.scaleMs(this.config.probeTimeoutMs)
    probe.roundEndMs = Math.max(probe.roundEndMs, nowMs + waitMs)
    this.nextProbeMs = Math.max(this.nextProbeMs, probe.roundEndMs)
    const helpers = this.randomMembers(
      this.config.indirectChecks,
      (record) => record.state === 'alive' && record.id !== target.id,
    )
    probe.nacksExpected = helpers.length
    const request = encodePart({
      type: 'pingReq',
      seq: probe.seq,
      targetId: target.id,
      targetAddress: target.address,
      wantNack: true,
      sourceId: this.self.id,
    })
    for (const helper of helpers) this.send(helper.address, [request], true)
  }

  private failProbe(probe: ProbeRound, nowMs: number): void {
    this.probe = undefined
    // Lifeguard: missing nacks mean we, not the target, may be the one cut off.
    const delta =
      probe.nacksExpected > 0 ? Math.max(0, probe.nacksExpected - probe.nacksReceived) : 1
    this.awareness.applyDelta(delta)
    const target = this.table.get(probe.targetId)
    if (target === undefined || !isLive(target)) return
    const accusation: SuspectMessage = {
      type: 'suspect',
      incarnation: target.incarnation,
      id: target.id,
      fromId: this.self.id,
    }
    this.applySuspect(accusation, { from: undefined, answered: new Set() }, nowMs, probe.startedMs)
  }

  private expireSuspicions(nowMs: number): void {
    const expired: MemberId[] = []
    for (const [id, suspicion] of this.suspicions) {
      if (nowMs >= suspicion.deadlineMs()) expired.push(id)
    }
    for (const id of expired.sort()) {
      const record = this.table.get(id)
      this.suspicions.delete(id)
      if (record === undefined || record.state !== 'suspect') continue
      const death: DeadMessage = {
        type: 'dead',
        incarnation: record.incarnation,
        id,
        fromId: this.self.id,
      }
      this.applyDead(death, { from: undefined, answered: new Set() }, nowMs)
    }
  }

  private expireRelays(nowMs: number): void {
    for (const [seq, relay] of this.relays) {
      if (nowMs >= relay.expiresMs) {
        this.relays.delete(seq)
      } else if (!relay.nackSent && nowMs >= relay.nackDeadlineMs) {
        relay.nackSent = true
        if (relay.wantNack) {
          const nack = encodePart({ type: 'nack', seq: relay.replySeq, sourceId: this.self.id })
          this.send(relay.replyTo, [nack], false)
        }
      }
    }
  }

  private expireJoinPings(nowMs: number): void {
    for (const [seq, joinPing] of this.joinPings) {
      if (nowMs >= joinPing.expiresMs) this.joinPings.delete(seq)
    }
  }

  /** Pushes pending updates to gossipNodes random members, dead ones included for a while. */
  private gossip(nowMs: number): void {
    if (this.broadcasts.size === 0) return
    const targets = this.randomMembers(
      this.config.gossipNodes,
      (record) =>
        isLive(record) ||
        (record.state === 'dead' && nowMs - record.stateChangedMs < this.config.gossipToTheDeadMs),
    )
    for (const target of targets) {
      const parts = this.takeBroadcasts(this.config.packetBytesMax - COMPOUND_OVERHEAD_BYTES)
      if (parts.length === 0) return
      this.packets.push({ to: target.address, bytes: framePacket(parts) })
    }
  }

  private startPushPull(): void {
    if (this.leaveDeadlineMs !== undefined) return
    const [partner] = this.randomMembers(1, (record) => record.state === 'alive')
    if (partner === undefined) return
    this.pushPulls.push({ toMemberId: partner.id, bytes: this.encodeState(false) })
  }

  /**
   * Pings the seeds not seen alive (every seed, until a push-pull has synced the view) and one
   * random dead member, introducing ourselves; an answer leads to a push-pull. Until synced it
   * retries every probe interval, then every rejoinIntervalMs.
   */
  private rejoinRound(nowMs: number): void {
    this.reap(nowMs)
    this.nextRejoinMs =
      nowMs + (this.synced ? this.config.rejoinIntervalMs : this.config.probeIntervalMs)
    if (this.leaveDeadlineMs !== undefined) return
    const addresses = new Set<PacketAddress>()
    for (const seed of this.seeds) {
      const holderId = this.idByAddress.get(seed)
      const holder = holderId === undefined ? undefined : this.table.get(holderId)
      if (!this.synced || holder === undefined || !isLive(holder)) addresses.add(seed)
    }
    const [dead] = this.randomMembers(1, (record) => record.state === 'dead')
    if (dead !== undefined) addresses.add(dead.address)
    const introduction = encodePart(this.aliveOf(this.self))
    for (const address of addresses) this.sendJoinPing(address, introduction, nowMs)
  }

  /**
   * A ping addressed to no member in particular, carrying our alive message: whoever answers
   * introduces itself in its ack, and the answer leads to a push-pull (onAck).
   */
  private sendJoinPing(address: PacketAddress, introduction: Uint8Array, nowMs: number): void {
    if (this.joinPings.size >= JOIN_PINGS_COUNT_MAX) return
    const seq = this.nextSequence()
    this.joinPings.set(seq, { address, expiresMs: nowMs + this.config.probeIntervalMs })
    this.sendPing(address, '', seq, [introduction])
  }

  /** Forgets dead and left members after reconnectTimeoutMs. */
  private reap(nowMs: number): void {
    const forgotten: MemberId[] = []
    for (const record of this.table.values()) {
      if (isLive(record) || record.id === this.self.id) continue
      if (nowMs - record.stateChangedMs >= this.config.reconnectTimeoutMs) forgotten.push(record.id)
    }
    for (const id of forgotten) this.removeRecord(id)
  }

  // ---------------------------------------------------------------------------------------
  // Push-pull state.

  private encodeState(join: boolean): Uint8Array {
    const members = this.memberIds.map((id) => this.table.get(id) as MemberRecord)
    return encodePushPull({ join, senderId: this.self.id, members })
  }

  /**
   * Merges a remote view through the ordinary claim rules, except that a remote `dead` only
   * raises a local suspicion: the member gets a chance to refute instead of being buried by a
   * view from the other side of a partition.
   */
  private mergeState(
    state: PushPullMessage,
    senderAddress: PacketAddress | undefined,
    nowMs: number,
  ): void {
    const context: Context = { from: senderAddress, answered: new Set() }
    for (const entry of state.members) {
      const { id, incarnation, address, meta } = entry
      if (entry.state === 'alive') {
        this.applyAlive({ type: 'alive', incarnation, id, address, meta }, context, nowMs)
      } else if (!this.table.has(id)) {
        // A stranger's death or departure is no news worth a table entry.
      } else if (entry.state === 'left') {
        this.applyDead({ type: 'dead', incarnation, id, fromId: id }, context, nowMs)
      } else {
        const fromId = state.senderId === id ? this.self.id : state.senderId
        this.applySuspect({ type: 'suspect', incarnation, id, fromId }, context, nowMs)
      }
      if (id === state.senderId && senderAddress !== undefined) {
        this.answerStaleClaim(id, incarnation, context)
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Member table.

  /** Installs the local member and the known ones in one sorted pass, announcing nothing. */
  private installMembers(known: readonly MemberSnapshot[]): void {
    const records = new Map<MemberId, MemberRecord>([[this.self.id, this.self]])
    for (const member of known) {
      if (records.has(member.id) || records.size >= this.config.membersCountMax) continue
      assert(isAddress(member.address), `bad address for known member ${member.id}`)
      const meta = Object.isFrozen(member.meta) ? member.meta : Object.freeze({ ...member.meta })
      records.set(member.id, {
        id: member.id,
        address: member.address,
        meta,
        incarnation: member.incarnation,
        state: member.state,
        stateChangedMs: member.stateChangedMs,
      })
    }
    for (const id of [...records.keys()].sort()) {
      const record = records.get(id) as MemberRecord
      this.table.set(id, record)
      this.memberIds.push(id)
      this.idByAddress.set(record.address, id)
      if (isLive(record)) this.liveCount++
    }
    this.reshuffleProbeOrder()
  }

  private insertRecord(record: MemberRecord): void {
    assert(!this.table.has(record.id), `member ${record.id} inserted twice`)
    this.table.set(record.id, record)
    this.memberIds.splice(sortedIndex(this.memberIds, record.id), 0, record.id)
    this.idByAddress.set(record.address, record.id)
    if (isLive(record)) {
      this.liveCount++
      this.addToProbeOrder(record.id)
    }
  }

  private removeRecord(id: MemberId): void {
    const record = this.table.get(id)
    if (record === undefined) return
    assert(!isLive(record) && id !== this.self.id, 'only dead or left members are forgotten')
    this.table.delete(id)
    this.memberIds.splice(sortedIndex(this.memberIds, id), 1)
    if (this.idByAddress.get(record.address) === id) this.idByAddress.delete(record.address)
    this.broadcasts.remove(id)
    this.suspicions.delete(id)
  }

  private setAddress(record: MemberRecord, address: PacketAddress): void {
    if (record.address === address) return
    if (this.idByAddress.get(record.address) === record.id) this.idByAddress.delete(record.address)
    record.address = address
    this.idByAddress.set(address, record.id)
  }

  /** The one place a member's state changes; keeps counts, suspicions and probe order right. */
  private transition(
    record: MemberRecord,
    state: MemberState,
    incarnation: number,
    nowMs: number,
  ): void {
    const wasLive = isLive(record)
    if (record.state !== state) record.stateChangedMs = nowMs
    record.state = state
    record.incarnation = incarnation
    const live = isLive(record)
    if (wasLive && !live) this.liveCount--
    if (!wasLive && live) {
      this.liveCount++
      this.addToProbeOrder(record.id)
    }
    if (state !== 'suspect') this.suspicions.delete(record.id)
    assert(this.liveCount >= 0 && this.liveCount <= this.table.size, 'live count out of range')
  }

  /** Newcomers go to a random position of the current round, as SWIM prescribes. */
  private addToProbeOrder(id: MemberId): void {
    if (id === this.self.id || this.inProbeOrder.has(id)) return
    this.inProbeOrder.add(id)
    const position = this.random.int(this.probeOrder.length + 1)
    this.probeOrder.splice(position, 0, id)
    if (position < this.probeIndex) this.probeIndex++
  }

  private nextProbeTarget(): MemberRecord | undefined {
    for (let attempt = 0; attempt <= this.probeOrder.length + 1; attempt++) {
      if (this.probeIndex >= this.probeOrder.length) this.reshuffleProbeOrder()
      const id = this.probeOrder[this.probeIndex++]
      if (id === undefined) return undefined
      const record = this.table.get(id)
      if (record !== undefined && isLive(record)) return record
    }
    return undefined
  }

  /**
   * A new round over every live member in a staggered order shared by the whole cluster: all
   * members sorted by a hash of their id, starting right after this member. In round r the
   * member at position i probes position i + 1 + r, a permutation, so while the members' probe
   * periods run side by side every member is probed by someone about once per period, and a
   * crash is noticed within about one period instead of after a random wait of up to n periods
   * that independently shuffled lists allow. Newcomers still join the running round at random
   * positions (addToProbeOrder); the next round puts them in their place.
   */
  private reshuffleProbeOrder(): void {
    const ids = this.memberIds.filter((id) => {
      const record = this.table.get(id)
      return id !== this.self.id && record !== undefined && isLive(record)
    })
    const rank = (id: MemberId): [number, MemberId] => [hashString(id), id]
    const self = rank(this.self.id)
    const after = (id: MemberId): boolean => {
      const [hash] = rank(id)
      return hash > self[0] || (hash === self[0] && id > self[1])
    }
    const ordered = ids
      .map(rank)
      .sort(
        (left, right) =>
          left[0] - right[0] || (left[1] < right[1] ? -1 : left[1] > right[1] ? 1 : 0),
      )
      .map(([, id]) => id)
    const successors = ordered.filter(after)
    this.probeOrder = successors.concat(ordered.filter((id) => !after(id)))
    this.probeIndex = 0
    this.inProbeOrder.clear()
    for (const id of ids) this.inProbeOrder.add(id)
  }

  /**
   * Up to `count` distinct random members (never the local one) passing `eligible`: a few
   * random draws usually suffice; otherwise a scan picks among the eligible ones.
   */
  private randomMembers(
    count: number,
    eligible: (record: MemberRecord) => boolean,
  ): MemberRecord[] {
    const chosen: MemberRecord[] = []
    const chosenIds = new Set<MemberId>()
    const ids = this.memberIds
    for (let draw = 0; draw < count * 4 && chosen.length < count; draw++) {
      const id = ids[this.random.int(ids.length)] as MemberId
      const record = this.table.get(id)
      if (record === undefined || id === this.self.id || chosenIds.has(id)) continue
      if (!eligible(record)) continue
      chosen.push(record)
      chosenIds.add(id)
    }
    if (chosen.length === count) return chosen
    const rest: MemberRecord[] = []
    for (const id of ids) {
      const record = this.table.get(id)
      if (record === undefined || id === this.self.id || chosenIds.has(id)) continue
      if (eligible(record)) rest.push(record)
    }
    shuffle(this.random, rest)
    return chosen.concat(rest.slice(0, count - chosen.length))
  }

  // ---------------------------------------------------------------------------------------
  // Sending.

  private sendPing(
    address: PacketAddress,
    targetId: MemberId,
    seq: number,
    extra: readonly Uint8Array[],
  ): void {
    const ping: PingMessage = {
      type: 'ping',
      seq,
      targetId,
      sourceId: this.self.id,
      sourceIncarnation: this.self.incarnation,
    }
    this.send(address, [encodePart(ping), ...extra], true)
  }

  /** One datagram with `primary` parts, topped up with pending updates when `piggyback`. */
  private send(to: PacketAddress, primary: readonly Uint8Array[], piggyback: boolean): void {
    let budget = this.config.packetBytesMax - COMPOUND_OVERHEAD_BYTES
    for (const part of primary) budget -= partCostBytes(part.length)
    assert(budget >= 0, 'primary messages exceed the packet size')
    const parts = piggyback ? [...primary, ...this.takeBroadcasts(budget)] : [...primary]
    const bytes = framePacket(parts)
    assert(bytes.length <= this.config.packetBytesMax, 'packet exceeds packetBytesMax')
    assert(this.packets.length < EFFECTS_COUNT_MAX, 'effects are not being drained')
    this.packets.push({ to, bytes })
  }

  /** Pending updates for one packet; each is sent its multiplier · ceil(log10(n + 1)) times. */
  private takeBroadcasts(budgetBytes: number): Uint8Array[] {
    const retransmitScale = Math.ceil(Math.log10(this.liveCount + 1))
    return this.broadcasts.take(budgetBytes, retransmitScale, PARTS_COUNT_MAX - 4, partCostBytes)
  }

  private aliveOf(record: MemberRecord): AliveMessage {
    return {
      type: 'alive',
      incarnation: record.incarnation,
      id: record.id,
      address: record.address,
      meta: record.meta,
    }
  }

  private ackOf(seq: number): AckMessage {
    return { type: 'ack', seq, sourceId: this.self.id, sourceIncarnation: this.self.incarnation }
  }

  /** The message stating our record of a member, as we would gossip it. */
  private claimOf(record: MemberRecord): GossipMessage {
    const { id, incarnation } = record
    switch (record.state) {
      case 'alive':
        return this.aliveOf(record)
      case 'suspect':
        return { type: 'suspect', incarnation, id, fromId: this.self.id }
      case 'dead':
        return { type: 'dead', incarnation, id, fromId: this.self.id }
      case 'left':
        return { type: 'dead', incarnation, id, fromId: id }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Small helpers.

  /**
   * Queues an update for dissemination and pulls the next gossip tick forward to now, at most
   * once per gossip interval: news of a join, suspicion, death or refutation leaves at once
   * instead of waiting up to a full tick, while the packet rate stays within twice the
   * steady gossip rate.
   */
  private queueBroadcast(
    id: MemberId,
    part: Uint8Array,
    retransmitMult = this.config.retransmitMult,
  ): void {
    this.broadcasts.enqueue(id, part, retransmitMult)
    const nowMs = this.lastNowMs
    if (
      nowMs - this.lastEagerGossipMs >= this.config.gossipIntervalMs &&
      this.nextGossipMs > nowMs
    ) {
      this.lastEagerGossipMs = nowMs
      this.nextGossipMs = nowMs
    }
  }

  private emit(type: MembershipEventType, record: MemberRecord): void {
    assert(this.events.length < EFFECTS_COUNT_MAX, 'effects are not being drained')
    this.events.push({ type, member: snapshot(record) })
  }

  private reject(reason: RejectReason): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1)
  }

  private nextSequence(): number {
    this.sequence = (this.sequence + 1) >>> 0
    return this.sequence
  }

  private advanceTime(nowMs: number): void {
    assert(Number.isFinite(nowMs), 'nowMs must be finite')
    assert(nowMs >= this.lastNowMs, `time went backwards: ${nowMs} < ${this.lastNowMs}`)
    this.lastNowMs = nowMs
  }

  /** memberlist's pushPullScale: slower push-pull in large clusters bounds the total load. */
  private pushPullIntervalMs(): number {
    const n = this.liveCount
    if (n <= PUSH_PULL_SCALE_THRESHOLD) return this.config.pushPullIntervalMs
    const multiplier = Math.ceil(Math.log2(n) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1
    return this.config.pushPullIntervalMs * multiplier
  }
}

function isLive(record: { readonly state: MemberState }): boolean {
  return record.state === 'alive' || record.state === 'suspect'
}

function snapshot(record: MemberRecord): MemberSnapshot {
  return Object.freeze({
    id: record.id,
    address: record.address,
    meta: record.meta,
    incarnation: record.incarnation,
    state: record.state,
    stateChangedMs: record.stateChangedMs,
  })
}

/** The next run of a periodic task: on its cadence, or one period from now when late. */
function following(scheduledMs: number, periodMs: number, nowMs: number): number {
  const next = scheduledMs + periodMs
  return next > nowMs ? next : nowMs + periodMs
}

function sortedIndex(sorted: readonly string[], value: string): number {
  let low = 0
  let high = sorted.length
  while (low < high) {
    const middle = (low + high) >> 1
    if ((sorted[middle] as string) < value) low = middle + 1
    else high = middle
  }
  return low
}
