/**
 * The runtime around the Raft core for the strong group: it owns the real clock (ticks), the
 * peer transport (Raft messages, snapshot streams) and the durable storage, and carries out each
 * Ready in the core's documented order.
 *
 * The Ready loop. Inputs (ticks, peer messages, proposals) are fed to the core as they arrive
 * and schedule processing for when the code that fed them returns (a microtask), so a write that
 * meets an idle node starts at once; everything that arrives while a Ready's write is in flight
 * shares the next Ready: one append per follower and one storage batch, fsynced once (group
 * commit). Reads gather for the event-loop turn (`clock.defer`) into one ReadIndex request.
 * For each Ready:
 *   1. stage the snapshot, entries and hard state in storage and write them as one batch
 *      (synced when `mustSync`); a leader's appends and heartbeats go out before its own write
 *      (thesis §10.2.1: a leader counts its own log toward a quorum only once durable, so this
 *      promises nothing the disk does not hold), every other message waits for the write;
 *   2. send the remaining messages, batched into one `raft.message` per peer;
 *   3. apply the snapshot and committed entries to the state machine, answer the proposals they
 *      settle, and release reads whose read index is applied; committed entries that were
 *      durable here before the Ready are applied while its write is in flight instead;
 *   4. call `advance()`, then take the next Ready at once if the core has one.
 * Only one Ready is outstanding at a time; what arrives during its write joins the next one.
 * A leader's appends without entries (commit notices) are held for EMPTY_APPEND_HOLD_MS, so the
 * next append to the follower carries the commit index instead (append-hold.ts).
 *
 * Proposals wait for their entry to apply: the entry at their index with their term answers
 * them with the state machine's result; another term at that index means they were overwritten
 * (definitely not applied). A read resolves once the state machine applied the read index, and
 * a request that found no answer is re-issued.
 * Every waiter has a deadline and is bounded in number; expiry answers `no_quorum`, with
 * `definite: false` for proposals, which may still commit.
 *
 * Snapshots of the state machine are taken every `snapshotEntries` applied entries (or when the
 * log grows past LOG_BYTES_SNAPSHOT), and the log is compacted behind them, keeping
 * `retainEntries` entries for slow followers. Snapshots for a lagging follower are streamed in
 * chunks over peer requests, one stream per follower at a time.
 *
 * A storage failure is fatal to the group on this node: memory and disk diverged, so the node
 * stops ticking and answers every strong request `unavailable`.
 */

import type { RaftSettings } from '../../config/load.js'
import { assert } from '../../env/assert.js'
import type { Clock, Timer } from '../../env/clock.js'
import { errorMessage, MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { Random } from '../../env/random.js'
import type { NodeId, PeerTransport } from '../../env/transport.js'
import {
  type Entry,
  entryBytes,
  type HardState,
  type Message,
  NO_NODE,
  type ProgressStatus,
  parseMessage,
  type RaftStatus,
  RawNode,
  type ReadState,
  type Ready,
  type Snapshot,
  type SnapshotMessage,
  type SoftState,
} from '../../raft/index.js'
import { type Command, type CommandResult, encodeProposal } from '../../raft/machine/commands.js'
import type { StrongStateMachine } from '../../raft/machine/state-machine.js'
import type { PeerRouter } from '../peer-router.js'
import { AppendHold } from './append-hold.js'
import type { DurableRaftStorage } from './durable-storage.js'
import {
  parseRaftBatch,
  parseSnapshotChunk,
  RAFT_MESSAGE_TYPE,
  RAFT_SNAPSHOT_TYPE,
  raftBatchBody,
  SNAPSHOT_STREAM_CHUNK_BYTES,
  type SnapshotChunk,
  snapshotChunkBody,
} from './messages.js'

/** Raft message bytes per `raft.message` notify; one larger message still goes alone. */
const BATCH_BYTES_MAX = 4 * 1024 * 1024
/** A log this large is snapshotted and compacted even before `snapshotEntries`. */
export const LOG_BYTES_SNAPSHOT = 64 * 1024 * 1024
/** Bytes of entries kept behind a snapshot, at most (besides `retainEntries`). */
const RETAIN_BYTES_MAX = 32 * 1024 * 1024
/** Proposals and reads waiting at once on this node; more are refused as overloaded. */
export const WAITERS_MAX = 65_536
/** Ready batches handled in one turn before yielding to other work. */
const READY_ROUNDS_MAX = 64
/** Timeout of one snapshot chunk request. */
const SNAPSHOT_CHUNK_TIMEOUT_MS = 10_000
/** Snapshot bytes a follower accepts in one stream. */
const SNAPSHOT_STREAM_BYTES_MAX = 512 * 1024 * 1024
/**
 * How long a leader holds an append without entries (a commit notice) for the next append to
 * the same follower to carry instead (append-hold.ts). Followers learn of a commit at most this
 * much later when no write follows; a client writing one key at a time sends its next write
 * well within it.
 */
export const EMPTY_APPEND_HOLD_MS = 5

export interface RaftRuntimeOptions {
  readonly selfId: NodeId
  readonly settings: RaftSettings
  readonly clock: Clock
  readonly random: Random
  readonly storage: DurableRaftStorage
  readonly machine: StrongStateMachine
  readonly peers: PeerTransport
  readonly router: PeerRouter
  readonly log: Logger
  /** Called with each applied proposal's latency from `propose()` to its apply, for metrics. */
  readonly onCommitLatencyMs?: (latencyMs: number) => void
}

interface ProposalWaiter {
  readonly term: number
  readonly deadlineMs: number
  readonly proposedAtMs: number
  readonly resolve: (result: CommandResult) => void
  readonly reject: (error: MurmurError) => void
}

interface ReadWaiter {
  readonly deadlineMs: number
  readonly resolve: () => void
  readonly reject: (error: MurmurError) => void
}

interface ReadBatch {
  readonly waiters: ReadWaiter[]
  readonly issuedAtMs: number
}

interface IncomingSnapshot {
  readonly chunk: SnapshotChunk
  readonly parts: Uint8Array[]
  received: number
}

export interface RaftCounters {
  /** Calls to `propose()` on this node, accepted by the core or not. */
  proposalsReceived: number
  proposalsApplied: number
  proposalsOverwritten: number
  readBatches: number
  readsServed: number
  readRetries: number
  snapshotsTaken: number
  snapshotsSent: number
  snapshotsReceived: number
  readies: number
  storageWrites: number
  /** Times this node saw the leader change to another known leader. */
  leaderChanges: number
  /** Commit notices (appends without entries) a later append to the same follower replaced. */
  emptyAppendsReplaced: number
}

export interface RaftView {
  readonly status: RaftStatus
  readonly progress: ReadonlyMap<NodeId, ProgressStatus>
  readonly snapshotIndex: number
  readonly logBytes: number
  readonly counters: Readonly<RaftCounters>
  readonly failed: boolean
  /** Proposals waiting for their entry to apply. */
  readonly proposalsPending: number
}

export class RaftRuntime {
  private readonly node: RawNode
  private readonly options: RaftRuntimeOptions
  private readonly proposals = new Map<number, ProposalWaiter>()
  private queuedReads: ReadWaiter[] = []
  private readonly readBatches = new Map<string, ReadBatch>()
  private appliedWaiters: { readonly index: number; readonly waiters: ReadWaiter[] }[] = []
  private waitingReads = 0
  private readSequence = 0
  private readyInFlight = false
  private scheduled = false
  private readsScheduled = false
  private stopped = false
  private failure: MurmurError | undefined
  private tickTimer: Timer | undefined
  private nextTickAtMs = 0
  private lastSnapshotIndex: number
  private softState: SoftState = { role: 'follower', leader: NO_NODE }
  private readonly outgoingSnapshots = new Set<NodeId>()
  private readonly incomingSnapshots = new Map<NodeId, IncomingSnapshot>()
  private readonly textEncoder = new TextEncoder()
  private readonly textDecoder = new TextDecoder()
  private readonly appendHold: AppendHold
  readonly counters: RaftCounters = {
    proposalsReceived: 0,
    proposalsApplied: 0,
    proposalsOverwritten: 0,
    readBatches: 0,
    readsServed: 0,
    readRetries: 0,
    snapshotsTaken: 0,
    snapshotsSent: 0,
    snapshotsReceived: 0,
    readies: 0,
    storageWrites: 0,
    leaderChanges: 0,
    emptyAppendsReplaced: 0,
  }

  constructor(options: RaftRuntimeOptions) {
    this.options = options
    const { settings, storage, machine } = options
    assert(settings.members.includes(options.selfId), 'only members run the Raft group')
    const snapshot = storage.latestSnapshot()
    machine.restore(snapshot.data, snapshot.metadata.index)
    this.lastSnapshotIndex = snapshot.metadata.index
    this.appendHold = new AppendHold({
      clock: options.clock,
      holdMs: EMPTY_APPEND_HOLD_MS,
      release: (messages) => this.transmit(messages),
      onReplaced: () => this.counters.emptyAppendsReplaced++,
    })
    this.node = new RawNode(
      {
        id: options.selfId,
        voters: settings.members,
        electionTicks: settings.electionTicks,
        heartbeatTicks: settings.heartbeatTicks,
        maxInflightMsgs: settings.maxInflightMsgs,
        maxSizePerMsgBytes: settings.maxSizePerMsgBytes,
        preVote: true,
        checkQuorum: true,
        leaseReads: settings.leaseReads,
        appliedIndex: snapshot.metadata.index,
        random: options.random,
      },
      storage,
    )
    options.router.register(RAFT_MESSAGE_TYPE, (from, body) => this.onMessages(from, body))
    options.router.register(RAFT_SNAPSHOT_TYPE, (from, body) => this.onSnapshotChunk(from, body))
    options.peers.onLinkLost((peer) => this.onLinkLost(peer))
  }

  start(): void {
    assert(this.tickTimer === undefined && !this.stopped, 'the runtime starts once')
    this.nextTickAtMs = this.options.clock.nowMs() + this.options.settings.tickMs
    this.tickTimer = this.options.clock.setTimer(this.options.settings.tickMs, () => this.onTick())
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    this.tickTimer?.cancel()
    this.appendHold.stop()
    this.rejectAll(new MurmurError('unavailable', 'the node is stopping', { definite: false }))
  }

  get isLeader(): boolean {
    return this.softState.role === 'leader'
  }

  /** The leader this node knows of, or NO_NODE. */
  get leader(): NodeId {
    return this.softState.leader
  }

  get applyIndex(): number {
    return this.options.machine.appliedIndex
  }

  view(): RaftView {
    return {
      status: this.node.status(),
      progress: this.node.progress(),
      snapshotIndex: this.lastSnapshotIndex,
      logBytes: this.options.storage.logBytes,
      counters: { ...this.counters },
      failed: this.failure !== undefined,
      proposalsPending: this.proposals.size,
    }
  }

  /**
   * Proposes `command` (this node must be the leader) and resolves with its result once
   * applied. Refusals are definite MurmurErrors: `not_leader` (with the leader, if known),
   * `overloaded`; expiry is `no_quorum` with `definite: false`.
   */
  propose(
    command: Command,
    requestId: string | undefined,
    deadlineMs: number,
  ): Promise<CommandResult> {
    this.counters.proposalsReceived++
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.proposals.size >= WAITERS_MAX) return Promise.reject(overloaded('proposals'))
    const stampMs = Math.floor(this.options.clock.wallMs())
    const data = encodeProposal(
      requestId === undefined ? { command, stampMs } : { command, stampMs, requestId },
    )
    const proposed = this.node.propose(data)
    if (!proposed.ok) {
      if (proposed.reason === 'not_leader') return Promise.reject(notLeader(proposed.leaderHint))
      if (proposed.reason === 'transferring') return Promise.reject(notLeader(NO_NODE))
      return Promise.reject(overloaded('uncommitted entries'))
    }
    this.schedule()
    // An earlier proposal at this index was truncated away when this node lost leadership.
    const overwritten = this.proposals.get(proposed.index)
    if (overwritten !== undefined) {
      this.counters.proposalsOverwritten++
      overwritten.reject(notLeader(NO_NODE, 'a new leader overwrote the proposal'))
    }
    return new Promise((resolve, reject) => {
      const proposedAtMs = this.options.clock.nowMs()
      const waiter = { term: proposed.term, deadlineMs, proposedAtMs, resolve, reject }
      this.proposals.set(proposed.index, waiter)
    })
  }

  /**
   * Resolves once this node's state machine reflects every write committed before the call
   * (ReadIndex; the leader confirms its leadership with one heartbeat round, or its lease).
   */
  readIndex(deadlineMs: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (this.waitingReads >= WAITERS_MAX) return Promise.reject(overloaded('reads'))
    this.waitingReads++
    return new Promise<void>((resolve, reject) => {
      this.queuedReads.push({ deadlineMs, resolve, reject })
      this.scheduleReads()
    }).finally(() => {
      this.waitingReads--
    })
  }

  // ---------------------------------------------------------------------------------------
  // Inputs.

  private onTick(): void {
    if (this.stopped || this.failure !== undefined) return
    const { clock, settings } = this.options
    this.node.tick()
    const nowMs = clock.nowMs()
    this.expireWaiters(nowMs)
    this.retryReads(nowMs)
    this.schedule()
    // Ticks keep their rate when one runs late: the next is due a tickMs after the last target.
    this.nextTickAtMs = Math.max(this.nextTickAtMs + settings.tickMs, nowMs)
    this.tickTimer = clock.setTimer(this.nextTickAtMs - nowMs, () => this.onTick())
  }

  private onMessages(from: NodeId, body: unknown): void {
    if (this.stopped) return
    for (const message of parseRaftBatch(body)) {
      // A peer speaks only for itself: the transport authenticated `from`.
      if (message.from === from) this.node.step(message)
    }
    this.schedule()
  }

  /**
   * The transport lost its connection to `peer`. When that is this follower's leader (its
   * process died, or the link broke), the core forgets it and campaigns within a few ticks
   * instead of a whole election timeout (RawNode.forgetLeader); a live leader keeps its role,
   * since followers that still hear it refuse the campaign.
   */
  private onLinkLost(peer: NodeId): void {
    if (this.stopped || !this.node.forgetLeader(peer)) return
    this.options.log.info('raft leader link lost; campaigning soon', { leader: peer })
    this.schedule()
  }

  private onSnapshotChunk(from: NodeId, body: unknown): unknown {
    if (this.stopped) throw new MurmurError('unavailable', 'the node is stopping')
    const chunk = parseSnapshotChunk(body, SNAPSHOT_STREAM_BYTES_MAX)
    let incoming = this.incomingSnapshots.get(from)
    const duplicate =
      incoming !== undefined &&
      incoming.chunk.metadata.index === chunk.metadata.index &&
      chunk.offset + chunk.data.length <= incoming.received
    // A chunk delivered twice is acknowledged again and otherwise ignored.
    if (duplicate) return { received: incoming?.received }
    if (chunk.offset === 0) {
      incoming = { chunk, parts: [], received: 0 }
      this.incomingSnapshots.set(from, incoming)
    }
    const first = incoming?.chunk
    if (
      incoming === undefined ||
      first === undefined ||
      incoming.received !== chunk.offset ||
      first.metadata.index !== chunk.metadata.index ||
      first.totalBytes !== chunk.totalBytes
    ) {
      this.incomingSnapshots.delete(from)
      throw new MurmurError('invalid_request', `snapshot chunk from ${from} is out of order`)
    }
    incoming.parts.push(chunk.data)
    incoming.received += chunk.data.length
    if (incoming.received < chunk.totalBytes) return { received: incoming.received }
    this.incomingSnapshots.delete(from)
    const data = concatenate(incoming.parts, chunk.totalBytes)
    const message = parseMessage({
      type: 'snapshot',
      from,
      to: this.options.selfId,
      term: first.term,
      snapshot: { metadata: first.metadata, data },
    })
    this.counters.snapshotsReceived++
    this.node.step(message)
    this.schedule()
    return { received: incoming.received }
  }

  // ---------------------------------------------------------------------------------------
  // The Ready loop.

  /**
   * Processes Readies once the code that made one (a batch of messages, a proposal, a tick) is
   * done: in a microtask, so a proposal or an append that meets an idle loop does not wait for
   * the end of the event-loop turn. What arrives while a Ready's write is in flight gathers
   * into the next Ready all the same.
   */
  private schedule(): void {
    if (this.scheduled || this.stopped) return
    this.scheduled = true
    queueMicrotask(() => {
      this.scheduled = false
      this.processReady()
    })
  }

  /**
   * Issues the reads queued in this event-loop turn as one ReadIndex request at its end: each
   * request costs a heartbeat round, so reads gather for a turn where writes do not wait.
   */
  private scheduleReads(): void {
    if (this.readsScheduled || this.stopped) return
    this.readsScheduled = true
    this.options.clock.defer(() => {
      this.readsScheduled = false
      this.issueQueuedReads()
      this.schedule()
    })
  }

  private processReady(): void {
    for (let round = 0; round < READY_ROUNDS_MAX; round++) {
      if (this.readyInFlight || this.stopped || this.failure !== undefined) return
      if (!this.node.hasReady()) return
      const ready = this.node.ready()
      this.readyInFlight = true
      this.counters.readies++
      const previous = this.options.storage.persistedHardState
      const durableLastIndex = this.options.storage.lastIndex()
      const ops = this.options.storage.stageReady(ready)
      const early = ready.softState.role === 'leader' && sameTermAndVote(previous, ready.hardState)
      const late = early ? this.sendLeaderMessages(ready.messages) : ready.messages
      if (ops.length > 0) {
        this.counters.storageWrites++
        const write = () =>
          this.options.storage.write(ops, { sync: ready.mustSync, inline: syncInline(ready) }).then(
            () => {
              // The messages that waited for this write (a follower's acknowledgement) go out
              // before the rest of the Ready is handled: the transport flushes them in the
              // microtask queued first.
              if (this.stopped) return
              this.send(late)
              queueMicrotask(() => {
                this.completeReady(ready)
                this.processReady()
              })
            },
            (error: unknown) => this.fail(error),
          )
        // A leader's write waits for the transport to flush the appends queued above (in a
        // microtask, or deferred before this write, and deferred callbacks run in order): a
        // commit needs a follower's round trip, fsync included, which takes longer than the
        // leader's own fsync, so it starts first. Writing first measured slower at one
        // connection (the followers got their appends after the leader's batch write).
        if (late.length < ready.messages.length) this.options.clock.defer(write)
        else write()
        this.applyDurableEarly(ready, durableLastIndex)
        return
      }
      this.send(late)
      this.completeReady(ready)
    }
    // Many Readies in a row without a write: let the event loop serve IO before the next ones.
    this.options.clock.defer(() => this.schedule())
  }

  /**
   * Applies the Ready's committed entries that were durable here before it (below its first
   * new entry and within the log already written) while its write is in flight, as etcd's
   * server does: they are committed, so no crash can take them back, and their proposals and
   * reads need not wait for the fsync of entries that came after them. Deferred, so that the
   * write and its fsync start first; `applyEntries` skips whatever `completeReady` applied
   * already.
   */
  private applyDurableEarly(ready: Ready, durableLastIndex: number): void {
    const firstNew = ready.entries[0]?.index ?? Number.POSITIVE_INFINITY
    const bound = Math.min(durableLastIndex, firstNew - 1)
    const durable = ready.committedEntries.filter((entry) => entry.index <= bound)
    if (durable.length === 0 || ready.snapshot !== undefined) return
    this.options.clock.defer(() => {
      if (this.stopped || this.failure !== undefined) return
      this.applyEntries(durable)
      this.releaseAppliedReads()
    })
  }

  /** Sends a leader's appends and heartbeats now; returns the messages that must wait. */
  private sendLeaderMessages(messages: readonly Message[]): Message[] {
    const now: Message[] = []
    const later: Message[] = []
    for (const message of messages) {
      const replication =
        message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot'
      if (replication) now.push(message)
      else later.push(message)
    }
    this.send(now)
    return later
  }

  /** Steps 3 and 4 of a Ready whose write is done and whose messages were sent. */
  private completeReady(ready: Ready): void {
    if (this.stopped) return
    if (ready.snapshot !== undefined) this.installSnapshot(ready.snapshot)
    this.applyEntries(ready.committedEntries)
    this.handleReadStates(ready.readStates)
    this.node.advance()
    this.readyInFlight = false
    this.releaseAppliedReads()
    this.noteSoftState(ready.softState)
    this.maybeSnapshot()
  }

  private installSnapshot(snapshot: Snapshot): void {
    const { index } = snapshot.metadata
    this.options.machine.restore(snapshot.data, index)
    this.lastSnapshotIndex = index
    // Proposals the snapshot covers did commit or were overwritten; which, this node cannot tell.
    for (const [proposalIndex, waiter] of this.proposals) {
      if (proposalIndex > index) continue
      this.proposals.delete(proposalIndex)
      waiter.reject(noQuorum('its outcome was replaced by a snapshot', false))
    }
  }

  private applyEntries(entries: readonly Entry[]): void {
    const machine = this.options.machine
    for (const entry of entries) {
      if (entry.index <= machine.appliedIndex) continue
      if (entry.kind !== 'normal' || entry.data.length === 0) {
        machine.skip(entry.index)
        continue
      }
      const result = machine.apply(entry.index, entry.data)
      const waiter = this.proposals.get(entry.index)
      if (waiter === undefined) continue
      this.proposals.delete(entry.index)
      if (waiter.term === entry.term) {
        this.counters.proposalsApplied++
        this.options.onCommitLatencyMs?.(this.options.clock.nowMs() - waiter.proposedAtMs)
        waiter.resolve(result)
      } else {
        this.counters.proposalsOverwritten++
        waiter.reject(notLeader(this.softState.leader, 'a new leader overwrote the proposal'))
      }
    }
  }

  private handleReadStates(readStates: readonly ReadState[]): void {
    for (const readState of readStates) {
      const key = this.textDecoder.decode(readState.context)
      const batch = this.readBatches.get(key)
      if (batch === undefined) continue
      this.readBatches.delete(key)
      this.appliedWaiters.push({ index: readState.index, waiters: batch.waiters })
    }
  }

  private releaseAppliedReads(): void {
    if (this.appliedWaiters.length === 0) return
    const applied = this.options.machine.appliedIndex
    const waiting: typeof this.appliedWaiters = []
    for (const group of this.appliedWaiters) {
      if (group.index > applied) {
        waiting.push(group)
        continue
      }
      this.counters.readsServed += group.waiters.length
      for (const waiter of group.waiters) waiter.resolve()
    }
    this.appliedWaiters = waiting
  }

  /** Hands the reads queued this turn to the core as one ReadIndex request. */
  private issueQueuedReads(): void {
    if (this.queuedReads.length === 0 || this.stopped) return
    const waiters = this.queuedReads
    this.queuedReads = []
    const key = `${this.options.selfId}:${++this.readSequence}`
    const result = this.node.readIndex(this.textEncoder.encode(key))
    if (result.ok) {
      this.counters.readBatches++
      this.readBatches.set(key, { waiters, issuedAtMs: this.options.clock.nowMs() })
      return
    }
    const error =
      result.reason === 'not_leader' ? notLeader(result.leaderHint) : overloaded('read requests')
    for (const waiter of waiters) waiter.reject(error)
  }

  /** Re-issues reads whose ReadIndex request got no answer (lost, or the leader changed). */
  private retryReads(nowMs: number): void {
    const { electionTicks, tickMs } = this.options.settings
    const retryAfterMs = (electionTicks * tickMs) / 2
    for (const [key, batch] of this.readBatches) {
      if (nowMs - batch.issuedAtMs < retryAfterMs) continue
      this.readBatches.delete(key)
      this.counters.readRetries++
      for (const waiter of batch.waiters) this.queuedReads.push(waiter)
    }
    if (this.queuedReads.length > 0) this.scheduleReads()
  }

  private expireWaiters(nowMs: number): void {
    for (const [index, waiter] of this.proposals) {
      if (waiter.deadlineMs > nowMs) continue
      this.proposals.delete(index)
      waiter.reject(noQuorum('the write did not commit in time', false))
    }
    const expired = (waiter: ReadWaiter) => {
      if (waiter.deadlineMs > nowMs) return false
      waiter.reject(noQuorum('no read index was confirmed in time', true))
      return true
    }
    this.queuedReads = this.queuedReads.filter((waiter) => !expired(waiter))
    for (const [key, batch] of this.readBatches) {
      const alive = batch.waiters.filter((waiter) => !expired(waiter))
      if (alive.length === 0) this.readBatches.delete(key)
      else this.readBatches.set(key, { waiters: alive, issuedAtMs: batch.issuedAtMs })
    }
    this.appliedWaiters = this.appliedWaiters
      .map((group) => ({ index: group.index, waiters: group.waiters.filter((w) => !expired(w)) }))
      .filter((group) => group.waiters.length > 0)
  }

  private noteSoftState(softState: SoftState): void {
    const previous = this.softState
    if (previous.role === softState.role && previous.leader === softState.leader) return
    this.softState = softState
    if (softState.leader !== NO_NODE && softState.leader !== previous.leader) {
      this.counters.leaderChanges++
    }
    this.options.log.info('raft role changed', {
      role: softState.role,
      leader: softState.leader,
      term: this.node.status().term,
    })
  }

  // ---------------------------------------------------------------------------------------
  // Snapshots and compaction.

  private maybeSnapshot(): void {
    const { machine, storage, settings } = this.options
    const applied = machine.appliedIndex
    if (applied <= this.lastSnapshotIndex) return
    const due =
      applied - this.lastSnapshotIndex >= settings.snapshotEntries ||
      storage.logBytes >= LOG_BYTES_SNAPSHOT
    if (!due) return
    const ops = storage.createSnapshot(applied, this.node.confState(), machine.snapshot())
    if (ops === undefined) return
    this.lastSnapshotIndex = applied
    this.counters.snapshotsTaken++
    const compactTo = this.compactionPoint(applied)
    if (compactTo >= storage.firstIndex()) ops.push(...storage.compact(compactTo))
    // Unsynced: the batch is atomic, so a crash keeps either the old log or the new snapshot,
    // and the next synced batch makes it durable anyway.
    storage.write(ops, { sync: false }).catch((error: unknown) => this.fail(error))
  }

  /** The last index to compact: keep `retainEntries` entries (within RETAIN_BYTES_MAX). */
  private compactionPoint(snapshotIndex: number): number {
    const { storage, settings } = this.options
    let index = snapshotIndex
    let bytes = 0
    for (let kept = 0; kept < settings.retainEntries && index >= storage.firstIndex(); kept++) {
      const entry = storage.entries(index, index + 1, Number.MAX_SAFE_INTEGER)
      if (!entry.ok || entry.value[0] === undefined) break
      bytes += entryBytes(entry.value[0])
      if (bytes > RETAIN_BYTES_MAX) break
      index--
    }
    return index
  }

  // ---------------------------------------------------------------------------------------
  // Sending.

  /** Sends `messages`, except commit notices the append hold keeps back for a moment. */
  private send(messages: readonly Message[]): void {
    if (messages.length === 0) return
    this.transmit(this.appendHold.route(messages))
  }

  /** One `raft.message` per peer (split at BATCH_BYTES_MAX); snapshots are streamed. */
  private transmit(messages: readonly Message[]): void {
    if (messages.length === 0 || this.stopped) return
    const batches = new Map<NodeId, { messages: Message[]; bytes: number }>()
    for (const message of messages) {
      if (message.type === 'snapshot') {
        void this.streamSnapshot(message)
        continue
      }
      const bytes = messageBytes(message)
      let batch = batches.get(message.to)
      if (batch !== undefined && batch.bytes + bytes > BATCH_BYTES_MAX) {
        this.options.peers.notify(message.to, raftBatchBody(batch.messages))
        batch = undefined
      }
      if (batch === undefined) {
        batch = { messages: [], bytes: 0 }
        batches.set(message.to, batch)
      }
      batch.messages.push(message)
      batch.bytes += bytes
    }
    for (const [to, batch] of batches) this.options.peers.notify(to, raftBatchBody(batch.messages))
  }

  private async streamSnapshot(message: SnapshotMessage): Promise<void> {
    const { to } = message
    if (this.outgoingSnapshots.has(to)) return
    this.outgoingSnapshots.add(to)
    const { data, metadata } = message.snapshot
    let succeeded = false
    try {
      let offset = 0
      do {
        const part = data.subarray(offset, offset + SNAPSHOT_STREAM_CHUNK_BYTES)
        const body = snapshotChunkBody({
          term: message.term,
          metadata,
          totalBytes: data.length,
          offset,
          data: part,
        })
        await this.options.peers.request(to, body, SNAPSHOT_CHUNK_TIMEOUT_MS)
        offset += part.length
      } while (offset < data.length)
      succeeded = true
      this.counters.snapshotsSent++
    } catch (error) {
      this.options.log.debug('snapshot stream failed', { to, error: errorMessage(error) })
    } finally {
      this.outgoingSnapshots.delete(to)
      if (!this.stopped) {
        this.node.reportSnapshot(to, succeeded)
        this.schedule()
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Failure.

  private fail(error: unknown): void {
    if (this.failure !== undefined) return
    this.options.log.error('raft storage write failed; strong mode stops on this node', {
      error: errorMessage(error),
    })
    this.failure = new MurmurError('unavailable', 'strong mode failed on this node', {
      definite: false,
      cause: error,
    })
    this.tickTimer?.cancel()
    this.appendHold.stop()
    this.rejectAll(this.failure)
  }

  private rejectAll(error: MurmurError): void {
    for (const waiter of this.proposals.values()) waiter.reject(error)
    this.proposals.clear()
    const reads = [
      ...this.queuedReads,
      ...[...this.readBatches.values()].flatMap((batch) => batch.waiters),
      ...this.appliedWaiters.flatMap((group) => group.waiters),
    ]
    this.queuedReads = []
    this.readBatches.clear()
    this.appliedWaiters = []
    for (const waiter of reads) waiter.reject(error)
  }
}

/**
 * A follower syncs a Ready of at most one entry on the event loop's thread: its acknowledgement
 * waits on that sync anyway, and one entry at a time means the group is lightly loaded, where
 * the hand-off to libuv's thread pool and back costs more than the loop's wait (about 0.05 ms
 * of a 1.4 ms write at one connection). Under load, appends carry many entries and a leader
 * serves clients, so they keep the event loop free during the sync.
 */
function syncInline(ready: Ready): boolean {
  return ready.softState.role === 'follower' && ready.entries.length <= 1
}

function sameTermAndVote(persisted: HardState, next: HardState | undefined): boolean {
  return next === undefined || (next.term === persisted.term && next.vote === persisted.vote)
}

function messageBytes(message: Message): number {
  let bytes = 64
  if (message.type === 'append') for (const entry of message.entries) bytes += entryBytes(entry)
  return bytes
}

function concatenate(parts: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const data = new Uint8Array(totalBytes)
  let offset = 0
  for (const part of parts) {
    data.set(part, offset)
    offset += part.length
  }
  return data
}

export function notLeader(leader: NodeId, reason = 'this node is not the leader'): MurmurError {
  return new MurmurError('not_leader', reason, {
    definite: true,
    details: leader === NO_NODE ? {} : { leader },
  })
}

export function noQuorum(reason: string, definite: boolean): MurmurError {
  return new MurmurError('no_quorum', `no Raft majority: ${reason}`, { definite })
}

function overloaded(what: string): MurmurError {
  return new MurmurError('overloaded', `too many ${what} waiting`, { definite: true })
}
