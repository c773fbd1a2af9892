/**
 * The Raft protocol state machine (Ongaro's thesis, shaped like etcd-io/raft): elections with
 * pre-vote and check-quorum, log replication with per-follower flow control, the current-term
 * commit rule, snapshots, single-server membership changes, ReadIndex and lease reads, and
 * leadership transfer. It does no IO and keeps no clock: time is `tick()`, randomness is the
 * injected Random, and every effect is queued (messages, read states) or left in the log
 * (unstable entries, commit index) for RawNode to hand out in a Ready batch.
 *
 * Invariants asserted here: the term never decreases, the commit index never decreases, a
 * leader never truncates its own log, and only entries of the current term commit by counting.
 * Messages are untrusted: malformed ones are rejected by the codec, and well-formed but
 * nonsensical ones (an acknowledgement beyond the log, an unknown sender) are ignored.
 */

import { assert } from '../env/assert.js'
import { applyConfChange, confChangeProblem } from './conf-change.js'
import {
  assertNodeId,
  type RaftConfig,
  READ_CONTEXT_BYTES_MAX,
  type ResolvedRaftConfig,
  resolveRaftConfig,
} from './config.js'
import { isWellFormedAppend, payloadBytes } from './entries.js'
import { RaftLog } from './log.js'
import { type Progress, ProgressTracker } from './progress.js'
import { quorumSize } from './quorum.js'
import { ReadOnlyQueue } from './read-only.js'
import type { RaftStorage } from './storage.js'
import {
  type AppendMessage,
  type AppendResponseMessage,
  type CampaignResult,
  type ConfChange,
  type ConfChangeEntry,
  type ConfState,
  type Entry,
  type HardState,
  type HeartbeatMessage,
  type HeartbeatResponseMessage,
  type Message,
  NO_NODE,
  type NodeId,
  type ProposeResult,
  type ReadIndexResult,
  type ReadState,
  type Role,
  type SnapshotMessage,
  type SoftState,
  type TransferResult,
  type VoteMessage,
  type VoteResponseMessage,
} from './types.js'

const EMPTY_BYTES = new Uint8Array(0)

/** An entry the leader is about to append, before it is stamped with term and index. */
type NewEntry =
  | { readonly kind: 'normal'; readonly data: Uint8Array }
  | { readonly kind: 'conf_change'; readonly change: ConfChange }

interface PendingRead {
  readonly from: NodeId
  readonly context: Uint8Array
}

export class Raft {
  readonly id: NodeId
  readonly config: ResolvedRaftConfig
  readonly log: RaftLog
  readonly tracker: ProgressTracker
  term = 0
  vote: NodeId = NO_NODE
  role: Role = 'follower'
  leader: NodeId = NO_NODE
  /** The voter a leadership transfer is handing over to, or NO_NODE. */
  leadTransferee: NodeId = NO_NODE
  /** The index of the latest configuration change the leader appended (or might have). */
  pendingConfIndex = 0
  /** The index as of which the tracker's configuration holds. */
  confIndex = 0
  /**
   * The configuration as of the application's applied index. It differs from the tracker's
   * while a received snapshot is not yet applied: the tracker already follows the snapshot.
   */
  appliedConfState: ConfState
  /** Set when a proposal was appended and followers have not been sent it yet. */
  broadcastPending = false
  private outbox: Message[] = []
  private readStates: ReadState[] = []
  private electionElapsed = 0
  private heartbeatElapsed = 0
  private randomizedElectionTimeout = 0
  /** Ticks since construction; heartbeat rounds are numbered by it. */
  private ticks = 0
  /** With lease reads: refuse votes for an election timeout after a restart. */
  private startupQuietTicks = 0
  /** Lease reads are off for the rest of a term once a transfer started in it. */
  private transferStartedThisTerm = false
  private uncommittedBytes = 0
  private readonly readOnly: ReadOnlyQueue
  /** Reads that arrived before this leader committed an entry of its term. */
  private pendingReads: PendingRead[] = []

  constructor(config: RaftConfig, storage: RaftStorage) {
    this.config = resolveRaftConfig(config)
    this.id = this.config.id
    this.log = new RaftLog(storage)
    this.tracker = new ProgressTracker(this.config.maxInflightMsgs)
    this.readOnly = new ReadOnlyQueue(this.config.readRequestsMax)
    const initial = storage.initialState()
    const { hardState } = initial
    assert(hardState.commit <= this.log.lastIndex(), 'persisted commit beyond the durable log')
    if (hardState.vote !== NO_NODE) assertNodeId(hardState.vote, 'persisted vote')
    const { confState, confStateIndex } = initial
    const applied = Math.max(this.config.appliedIndex, confStateIndex, this.log.firstIndex() - 1)
    this.log.initializeCursors(Math.max(hardState.commit, applied), applied)
    this.tracker.setConfState(confState, this.log.lastIndex() + 1)
    this.confIndex = confStateIndex
    this.appliedConfState = confState
    this.replayConfChanges(applied)
    this.term = hardState.term
    this.vote = hardState.vote
    this.becomeFollower(hardState.term, NO_NODE)
    const fresh =
      this.log.lastIndex() === 0 &&
      hardState.term === 0 &&
      confState.voters.length + confState.learners.length === 0
    if (fresh) this.bootstrap()
    if (this.config.leaseReads) this.startupQuietTicks = this.config.electionTicks
  }

  /**
   * A brand-new founding member writes the bootstrap configuration as the first log entries:
   * one change per member, at term 1, committed. Every founder writes the same entries, and a
   * node that joins later learns the founding configuration by replicating them.
   */
  private bootstrap(): void {
    const { voters, learners } = this.config
    if (voters.length + learners.length === 0) return
    const changes: ConfChange[] = [
      ...voters.map((nodeId): ConfChange => ({ type: 'add_voter', nodeId })),
      ...learners.map((nodeId): ConfChange => ({ type: 'add_learner', nodeId })),
    ]
    const entries = changes.map(
      (change, position): ConfChangeEntry => ({
        kind: 'conf_change',
        term: 1,
        index: position + 1,
        change,
      }),
    )
    this.becomeFollower(1, NO_NODE)
    this.log.append(entries)
    this.log.commitTo(entries.length)
    // The core acts on the configuration at once; the application applies the entries (and
    // confState() follows) with the first Ready.
    this.tracker.setConfState({ voters, learners }, this.log.lastIndex() + 1)
    this.confIndex = entries.length
  }

  /** Re-applies configuration changes the application applied before a restart. */
  private replayConfChanges(applied: number): void {
    if (applied <= this.confIndex) return
    const entries = this.log.slice(this.confIndex + 1, applied + 1, Number.MAX_SAFE_INTEGER)
    assert(entries.ok, 'applied entries after the snapshot are missing')
    for (const entry of entries.value) {
      if (entry.kind === 'conf_change') this.applyConfChangeEntry(entry)
    }
    this.confIndex = applied
  }

  softState(): SoftState {
    return { role: this.role, leader: this.leader }
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed }
  }

  takeMessages(): Message[] {
    const messages = this.outbox
    this.outbox = []
    return messages
  }

  takeReadStates(): ReadState[] {
    const readStates = this.readStates
    this.readStates = []
    return readStates
  }

  hasMessagesOrReadStates(): boolean {
    return this.outbox.length > 0 || this.readStates.length > 0
  }

  promotable(): boolean {
    return this.tracker.isVoter(this.id)
  }

  // ---------------------------------------------------------------------------------------
  // Outgoing messages.

  private send(message: Message): void {
    assert(message.from === this.id && message.to !== this.id, 'messages go from self to others')
    assertNodeId(message.to, 'message destination')
    // A full outbox means the runtime stopped draining Readys; dropping is what the network
    // could have done anyway, and every message is retried by the protocol.
    if (this.outbox.length >= this.config.outboxMessagesMax) return
    this.outbox.push(message)
  }

  private pushReadState(readState: ReadState): void {
    if (this.readStates.length < this.config.readRequestsMax) this.readStates.push(readState)
  }

  // ---------------------------------------------------------------------------------------
  // Role transitions.

  private reset(term: number): void {
    assert(term >= this.term, `term must never decrease (${this.term} -> ${term})`)
    if (term !== this.term) {
      this.term = term
      this.vote = NO_NODE
      this.transferStartedThisTerm = false
    }
    this.leader = NO_NODE
    this.electionElapsed = 0
    this.heartbeatElapsed = 0
    this.randomizedElectionTimeout =
      this.config.electionTicks + this.config.random.int(this.config.electionTicks)
    this.leadTransferee = NO_NODE
    this.tracker.votes.clear()
    this.tracker.resetProgress(this.log.lastIndex() + 1)
    this.pendingConfIndex = 0
    this.uncommittedBytes = 0
    this.broadcastPending = false
    this.readOnly.reset()
    this.pendingReads = []
  }

  becomeFollower(term: number, leader: NodeId): void {
    this.reset(term)
    this.role = 'follower'
    this.leader = leader
  }

  private becomePreCandidate(): void {
    assert(this.role !== 'leader', 'a leader never becomes a pre-candidate')
    // Pre-vote changes neither the term nor the vote: that is its whole point.
    this.tracker.votes.clear()
    this.role = 'pre_candidate'
    this.leader = NO_NODE
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader never becomes a candidate')
    this.reset(this.term + 1)
    this.vote = this.id
    this.role = 'candidate'
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader')
    this.reset(this.term)
    this.role = 'leader'
    this.leader = this.id
    const self = this.tracker.get(this.id)
    assert(self !== undefined, 'a leader is a member of its configuration')
    self.becomeReplicate()
    self.maybeUpdate(this.log.stableLastIndex())
    self.recentActive = true
    // Any configuration change still in the log must be applied before the next one.
    this.pendingConfIndex = this.log.lastIndex()
    // The no-op lets this term commit, which fixes the commit index (thesis §3.6.2, Fig. 8).
    this.appendEntries([{ kind: 'normal', data: EMPTY_BYTES }])
  }

  // ---------------------------------------------------------------------------------------
  // Ticks and elections.

  tick(): void {
    this.ticks++
    if (this.startupQuietTicks > 0) this.startupQuietTicks--
    if (this.role === 'leader') this.tickLeader()
    else this.tickElection()
  }

  private tickElection(): void {
    this.electionElapsed++
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0
      this.hup(false)
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++
    this.electionElapsed++
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0
      if (this.config.checkQuorum) {
        if (!this.tracker.quorumActive(this.id)) {
          this.becomeFollower(this.term, NO_NODE)
          return
        }
        for (const [id, progress] of this.tracker.progress) {
          if (id !== this.id) progress.recentActive = false
        }
      }
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.leadTransferee !== NO_NODE) this.leadTransferee = NO_NODE
    }
    this.retryStalledSnapshots()
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0
      this.broadcastHeartbeat(this.readOnly.lastPendingContext())
    }
  }

  /** A snapshot unanswered for an election timeout was probably lost: probe again. */
  private retryStalledSnapshots(): void {
    for (const progress of this.tracker.progress.values()) {
      if (progress.state !== 'snapshot') continue
      progress.snapshotTicks++
      if (progress.snapshotTicks >= this.config.electionTicks) progress.becomeProbe()
    }
  }

  /** Whether a committed configuration change still waits to be applied. */
  private hasUnappliedConfChange(): boolean {
    const { applied, committed } = this.log
    if (committed <= applied) return false
    const entries = this.log.slice(applied + 1, committed + 1, Number.MAX_SAFE_INTEGER)
    return entries.ok && entries.value.some((entry) => entry.kind === 'conf_change')
  }

  /** Starts an election (a pre-vote first unless this is a leadership transfer). */
  hup(transfer: boolean): CampaignResult {
    if (this.role === 'leader') return { ok: false, reason: 'already_leader' }
    if (!this.promotable()) return { ok: false, reason: 'not_promotable' }
    // The configuration this node would lead with is not final until those changes apply.
    if (this.hasUnappliedConfChange()) return { ok: false, reason: 'conf_change_pending' }
    this.campaign(this.config.preVote && !transfer ? 'pre_vote' : 'vote', transfer)
    return { ok: true }
  }

  private campaign(kind: 'pre_vote' | 'vote', transfer: boolean): void {
    if (kind === 'pre_vote') this.becomePreCandidate()
    else this.becomeCandidate()
    // A pre-vote asks about the term this node would campaign in, without entering it.
    const term = kind === 'pre_vote' ? this.term + 1 : this.term
    this.tracker.recordVote(this.id, true)
    if (this.tracker.voteOutcome() === 'won') {
      this.electionWon(kind)
      return
    }
    const index = this.log.lastIndex()
    const logTerm = this.log.lastTerm()
    for (const to of this.tracker.voters) {
      if (to === this.id) continue
      this.send({ type: kind, from: this.id, to, term, index, logTerm, transfer })
    }
  }

  private electionWon(kind: 'pre_vote' | 'vote'): void {
    if (kind === 'pre_vote') {
      this.campaign('vote', false)
      return
    }
    this.becomeLeader()
    this.broadcastAppend()
  }

  // ---------------------------------------------------------------------------------------
  // Message dispatch.

  step(message: Message): void {
    if (message.to !== this.id || message.from === this.id) return
    if (message.type === 'append' && !isWellFormedAppend(message)) return
    if (message.term > this.term) {
      if (!this.stepHigherTerm(message)) return
    } else if (message.term < this.term) {
      this.stepLowerTerm(message)
      return
    }
    if (message.type === 'vote' || message.type === 'pre_vote') {
      this.handleVoteRequest(message)
      return
    }
    switch (this.role) {
      case 'follower':
        this.stepFollower(message)
        return
      case 'pre_candidate':
      case 'candidate':
        this.stepCandidate(message)
        return
      case 'leader':
        this.stepLeader(message)
        return
    }
  }

  /** Handles a message from a later term; returns whether to go on processing it. */
  private stepHigherTerm(message: Message): boolean {
    if (message.type === 'vote' || message.type === 'pre_vote') {
      // Leader stickiness: while this node hears from a live leader, it ignores campaigns,
      // so a node rejoining from a partition cannot depose a healthy leader.
      const inLease =
        this.config.checkQuorum &&
        this.leader !== NO_NODE &&
        this.electionElapsed < this.config.electionTicks
      if (!message.transfer && (inLease || this.startupQuietTicks > 0)) return false
      if (message.type === 'pre_vote') return true
    }
    // A granted pre-vote carries the candidate's future term; it is not a newer term yet.
    if (message.type === 'pre_vote_response' && !message.reject) return true
    const fromLeader =
      message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot'
    this.becomeFollower(message.term, fromLeader ? message.from : NO_NODE)
    return true
  }

  private stepLowerTerm(message: Message): void {
    if (
      (this.config.checkQuorum || this.config.preVote) &&
      (message.type === 'append' || message.type === 'heartbeat')
    ) {
      // A stale leader that is cut off from the rest would otherwise never learn the newer
      // term; this answer makes it step down.
      this.send({
        type: 'append_response',
        from: this.id,
        term: this.term,
        to: message.from,
        index: 0,
        reject: false,
        rejectHint: 0,
        logTerm: 0,
      })
    } else if (message.type === 'pre_vote') {
      this.send({
        type: 'pre_vote_response',
        from: this.id,
        term: this.term,
        to: message.from,
        reject: true,
      })
    }
  }

  private handleVoteRequest(message: VoteMessage): void {
    const responseType = message.type === 'vote' ? 'vote_response' : 'pre_vote_response'
    const canVote =
      this.vote === message.from ||
      (this.vote === NO_NODE && this.leader === NO_NODE) ||
      (message.type === 'pre_vote' && message.term > this.term)
    if (canVote && this.log.isUpToDate(message.index, message.logTerm)) {
      this.send({
        type: responseType,
        from: this.id,
        to: message.from,
        term: message.term,
        reject: false,
      })
      if (message.type === 'vote') {
        this.electionElapsed = 0
        this.vote = message.from
      }
      return
    }
    this.send({
      type: responseType,
      from: this.id,
      term: this.term,
      to: message.from,
      reject: true,
    })
  }

  private stepFollower(message: Message): void {
    switch (message.type) {
      case 'append':
        this.electionElapsed = 0
        this.leader = message.from
        this.handleAppend(message)
        return
      case 'heartbeat':
        this.electionElapsed = 0
        this.leader = message.from
        this.handleHeartbeat(message)
        return
      case 'snapshot':
        this.electionElapsed = 0
        this.leader = message.from
        this.handleSnapshot(message)
        return
      case 'timeout_now':
        this.hup(true)
        return
      case 'read_index_response':
        this.pushReadState({ index: message.index, context: message.context })
        return
      default:
        return
    }
  }

  private stepCandidate(message: Message): void {
    switch (message.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        // A leader of this very term exists; the election is lost.
        this.becomeFollower(message.term, message.from)
        this.stepFollower(message)
        return
      case 'vote_response':
      case 'pre_vote_response':
        this.handleVoteResponse(message)
        return
      default:
        return
    }
  }

  private handleVoteResponse(message: VoteResponseMessage): void {
    const expected = this.role === 'pre_candidate' ? 'pre_vote_response' : 'vote_response'
    if (message.type !== expected) return
    this.tracker.recordVote(message.from, !message.reject)
    const outcome = this.tracker.voteOutcome()
    if (outcome === 'won') this.electionWon(this.role === 'pre_candidate' ? 'pre_vote' : 'vote')
    else if (outcome === 'lost') this.becomeFollower(this.term, NO_NODE)
  }

  private stepLeader(message: Message): void {
    const progress = this.tracker.get(message.from)
    if (progress === undefined) return
    switch (message.type) {
      case 'append_response':
        this.handleAppendResponse(message, progress)
        return
      case 'heartbeat_response':
        this.handleHeartbeatResponse(message, progress)
        return
      case 'read_index':
        this.handleReadRequest(message.from, message.context)
        return
      default:
        return
    }
  }

  // ---------------------------------------------------------------------------------------
  // Follower side of replication.

  private respondToAppend(to: NodeId, index: number): void {
    this.send({
      type: 'append_response',
      from: this.id,
      term: this.term,
      to,
      index,
      reject: false,
      rejectHint: 0,
      logTerm: 0,
    })
  }

  private handleAppend(message: AppendMessage): void {
    assert(this.role === 'follower', 'only a follower accepts appends')
    if (message.index < this.log.committed) {
      this.respondToAppend(message.from, this.log.committed)
      return
    }
    const lastNew = this.log.maybeAppend(
      message.index,
      message.logTerm,
      message.commit,
      message.entries,
    )
    if (lastNew !== undefined) {
      this.respondToAppend(message.from, lastNew)
      return
    }
    // Tell the leader where the logs may match: the last entry whose term is at most the
    // append's previous term, so it skips every entry of a conflicting term at once.
    const hint = this.log.findConflictByTerm(
      Math.min(message.index, this.log.lastIndex()),
      message.logTerm,
    )
    this.send({
      type: 'append_response',
      from: this.id,
      term: this.term,
      to: message.from,
      index: message.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    })
  }

  private handleHeartbeat(message: HeartbeatMessage): void {
    // The leader sends min(match, commit), which this log holds unless storage lost data.
    if (message.commit <= this.log.lastIndex()) this.log.commitTo(message.commit)
    this.send({
      type: 'heartbeat_response',
      from: this.id,
      term: this.term,
      to: message.from,
      round: message.round,
      context: message.context,
    })
  }

  private handleSnapshot(message: SnapshotMessage): void {
    assert(this.role === 'follower', 'only a follower installs snapshots')
    const { metadata } = message.snapshot
    if (metadata.index <= this.log.committed) {
      this.respondToAppend(message.from, this.log.committed)
      return
    }
    if (this.log.matchTerm(metadata.index, metadata.term)) {
      // The log already holds the snapshot's last entry, so everything up to it matches.
      this.log.commitTo(metadata.index)
      this.respondToAppend(message.from, this.log.committed)
      return
    }
    this.log.restore(message.snapshot)
    this.tracker.setConfState(metadata.confState, this.log.lastIndex() + 1)
    this.confIndex = metadata.index
    this.respondToAppend(message.from, this.log.lastIndex())
  }

  // ---------------------------------------------------------------------------------------
  // Leader side of replication.

  /** Appends entries stamped with this term; the leader acknowledges them once persisted. */
  private appendEntries(entries: readonly NewEntry[]): number {
    // Stamping at lastIndex + 1 is what guarantees a leader never truncates its own log.
    assert(this.role === 'leader', 'only a leader appends new entries')
    const previousLast = this.log.lastIndex()
    const term = this.term
    const stamped: Entry[] = entries.map((entry, position): Entry => {
      const index = previousLast + 1 + position
      if (entry.kind === 'normal') return { kind: 'normal', term, index, data: entry.data }
      return { kind: 'conf_change', term, index, change: entry.change }
    })
    return this.log.append(stamped)
  }

  broadcastAppend(): void {
    this.broadcastPending = false
    for (const id of this.tracker.members()) {
      if (id !== this.id) this.sendAppend(id, true)
    }
  }

  /**
   * Sends `to` the entries after its next index (or a snapshot when they are compacted).
   * Returns whether a message was sent.
   */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const progress = this.tracker.get(to)
    if (progress === undefined || progress.isPaused()) return false
    const lastIndex = this.log.lastIndex()
    assert(progress.next <= lastIndex + 1, `next ${progress.next} beyond last index ${lastIndex}`)
    const previousIndex = progress.next - 1
    const previousTerm = this.log.term(previousIndex)
    const entries = this.log.slice(progress.next, lastIndex + 1, this.config.maxSizePerMsgBytes)
    if (!previousTerm.ok || !entries.ok) return this.sendSnapshot(to, progress)
    if (entries.value.length === 0 && !sendIfEmpty) return false
    this.send({
      type: 'append',
      from: this.id,
      term: this.term,
      to,
      index: previousIndex,
      logTerm: previousTerm.value,
      entries: entries.value,
      commit: this.log.committed,
    })
    progress.sentEntries(entries.value.length, previousIndex + entries.value.length)
    return true
  }

  private sendSnapshot(to: NodeId, progress: Progress): boolean {
    // A follower that has not answered lately is probably down; a snapshot would be wasted.
    if (!progress.recentActive) return false
    const snapshot = this.log.snapshot()
    if (!snapshot.ok) return false
    assert(snapshot.value.metadata.index > 0, 'entries are compacted but there is no snapshot')
    progress.becomeSnapshot(snapshot.value.metadata.index)
    this.send({ type: 'snapshot', from: this.id, term: this.term, to, snapshot: snapshot.value })
    return true
  }

  private broadcastHeartbeat(context: Uint8Array): void {
    for (const id of this.tracker.members()) {
      if (id === this.id) continue
      const progress = this.tracker.get(id)
      assert(progress !== undefined, `member ${id} has no progress`)
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(progress.match, this.log.committed)
      this.send({
        type: 'heartbeat',
        from: this.id,
        term: this.term,
        to: id,
        commit,
        round: this.ticks,
        context,
      })
    }
  }

  /** Commits what a quorum holds, if it is an entry of this term; returns whether it did. */
  maybeCommit(): boolean {
    const index = this.tracker.committedIndex()
    if (index <= this.log.committed) return false
    // Figure 8: an entry of an earlier term is committed only indirectly, by a later one.
    if (this.log.mustTerm(index) !== this.term) return false
    this.log.commitTo(index)
    if (this.pendingReads.length > 0) this.releasePendingReads()
    return true
  }

  private handleAppendResponse(message: AppendResponseMessage, progress: Progress): void {
    progress.recentActive = true
    if (message.index > this.log.lastIndex()) return
    if (message.reject) {
      let hint = message.rejectHint
      if (message.logTerm > 0) {
        hint = this.log.findConflictByTerm(message.rejectHint, message.logTerm).index
      }
      if (progress.maybeDecrementTo(message.index, hint)) {
        if (progress.state === 'replicate') progress.becomeProbe()
        this.sendAppend(message.from, true)
      }
      return
    }
    const wasPaused = progress.isPaused()
    const updated = progress.maybeUpdate(message.index)
    if (!updated && !(progress.match === message.index && progress.state === 'probe')) return
    if (progress.state === 'probe') {
      progress.becomeReplicate()
    } else if (progress.state === 'snapshot') {
      if (progress.match + 1 >= this.log.firstIndex()) {
        progress.becomeProbe()
        progress.becomeReplicate()
      }
    } else {
      progress.inflights.freeLE(message.index)
    }
    if (this.maybeCommit()) this.broadcastAppend()
    else if (wasPaused) this.sendAppend(message.from, true)
    // Pipelining: fill the window with whatever else is waiting for this follower.
    for (let sent = 0; sent < this.config.maxInflightMsgs; sent++) {
      if (!this.sendAppend(message.from, false)) break
    }
    if (message.from === this.leadTransferee && progress.match === this.log.lastIndex()) {
      this.send({ type: 'timeout_now', from: this.id, term: this.term, to: message.from })
    }
  }

  private handleHeartbeatResponse(message: HeartbeatResponseMessage, progress: Progress): void {
    progress.recentActive = true
    progress.probeSent = false
    if (message.round <= this.ticks)
      progress.ackedRound = Math.max(progress.ackedRound, message.round)
    // All appends in the window may have been lost: free one slot so an append goes out,
    // which the follower either acknowledges or rejects, clearing the window either way.
    if (progress.state === 'replicate' && progress.inflights.full()) {
      progress.inflights.freeFirstOne()
    }
    if (progress.match < this.log.lastIndex() || progress.state === 'probe') {
      this.sendAppend(message.from, true)
    }
    if (message.context.length > 0 && this.tracker.isVoter(message.from)) {
      this.confirmRead(message.from, message.context)
    }
  }

  /** Called after the runtime persisted the log up to `stableLastIndex()`. */
  onPersisted(): void {
    if (this.role !== 'leader') return
    const self = this.tracker.get(this.id)
    if (self === undefined) return
    if (self.maybeUpdate(this.log.stableLastIndex()) && this.maybeCommit()) this.broadcastAppend()
  }

  // ---------------------------------------------------------------------------------------
  // Proposals and membership.

  private refuseProposal(): ProposeResult | undefined {
    if (this.role !== 'leader') return { ok: false, reason: 'not_leader', leaderHint: this.leader }
    if (this.leadTransferee !== NO_NODE) return { ok: false, reason: 'transferring' }
    return undefined
  }

  propose(data: Uint8Array): ProposeResult {
    const refused = this.refuseProposal()
    if (refused !== undefined) return refused
    const bytes = data.length
    if (
      this.uncommittedBytes > 0 &&
      this.uncommittedBytes + bytes > this.config.maxUncommittedEntriesBytes
    ) {
      return { ok: false, reason: 'size_limit' }
    }
    const index = this.appendEntries([{ kind: 'normal', data }])
    this.uncommittedBytes += bytes
    this.broadcastPending = true
    return { ok: true, index, term: this.term }
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    const refused = this.refuseProposal()
    if (refused !== undefined) return refused
    // One change at a time, and only after this term committed an entry (Ongaro's 2015 fix
    // for single-server changes): then every earlier change is applied here.
    if (this.pendingConfIndex > this.log.applied || !this.committedEntryInCurrentTerm()) {
      return { ok: false, reason: 'conf_change_pending' }
    }
    if (confChangeProblem(this.tracker.confState(), change) !== undefined) {
      return { ok: false, reason: 'invalid_change' }
    }
    const index = this.appendEntries([{ kind: 'conf_change', change }])
    this.pendingConfIndex = index
    this.broadcastPending = true
    return { ok: true, index, term: this.term }
  }

  /** Applies a committed configuration change; called as the application applies it. */
  applyConfChangeEntry(entry: ConfChangeEntry): void {
    this.appliedConfState = applyConfChange(this.appliedConfState, entry.change)
    // A snapshot received meanwhile already contains this change.
    if (entry.index <= this.confIndex) return
    const next = applyConfChange(this.tracker.confState(), entry.change)
    this.tracker.setConfState(next, this.log.lastIndex() + 1)
    this.confIndex = entry.index
    if (this.role !== 'leader') return
    if (!this.tracker.isVoter(this.id)) {
      // A leader that is removed or demoted steps down once the change is committed.
      this.becomeFollower(this.term, NO_NODE)
      return
    }
    if (this.leadTransferee !== NO_NODE && !this.tracker.isVoter(this.leadTransferee)) {
      this.leadTransferee = NO_NODE
    }
    // The quorum changed, and new members need their first append.
    this.maybeCommit()
    this.broadcastAppend()
  }

  /** Frees the uncommitted budget of entries the application has now applied. */
  releaseUncommitted(entries: readonly Entry[]): void {
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - payloadBytes(entries))
  }

  committedEntryInCurrentTerm(): boolean {
    const term = this.log.term(this.log.committed)
    return term.ok && term.value === this.term
  }

  // ---------------------------------------------------------------------------------------
  // Leadership transfer.

  transferLeadership(to: NodeId): TransferResult {
    if (this.role !== 'leader') return { ok: false, reason: 'not_leader', leaderHint: this.leader }
    if (to === this.id || !this.tracker.isVoter(to)) return { ok: false, reason: 'invalid_target' }
    if (this.leadTransferee === to) return { ok: true }
    const progress = this.tracker.get(to)
    assert(progress !== undefined, `voter ${to} has no progress`)
    this.leadTransferee = to
    this.transferStartedThisTerm = true
    // The transfer must finish within one election timeout or it is abandoned.
    this.electionElapsed = 0
    if (progress.match === this.log.lastIndex())
      this.send({ type: 'timeout_now', from: this.id, term: this.term, to })
    else this.sendAppend(to, true)
    return { ok: true }
  }

  // ---------------------------------------------------------------------------------------
  // Reads.

  readIndex(context: Uint8Array): ReadIndexResult {
    assert(
      context.length > 0 && context.length <= READ_CONTEXT_BYTES_MAX,
      `read context must hold 1 to ${READ_CONTEXT_BYTES_MAX} bytes`,
    )
    if (this.role === 'leader') {
      return this.handleReadRequest(this.id, context)
        ? { ok: true }
        : { ok: false, reason: 'dropped' }
    }
    if (this.leader === NO_NODE) return { ok: false, reason: 'not_leader', leaderHint: NO_NODE }
    this.send({ type: 'read_index', from: this.id, term: this.term, to: this.leader, context })
    return { ok: true }
  }

  /** Whether the leader lease covers this instant (opt-in lease reads only). */
  leaseValid(): boolean {
    if (!this.config.leaseReads || this.role !== 'leader') return false
    if (this.leadTransferee !== NO_NODE || this.transferStartedThisTerm) return false
    const round = this.tracker.quorumAckedRound(this.id, this.ticks)
    return round >= 0 && this.ticks - round < this.config.leaseTicks
  }

  /** Queues or answers a read for `from`; false when it had to be dropped. */
  private handleReadRequest(from: NodeId, context: Uint8Array): boolean {
    // A new leader does not know the commit index until it commits an entry of its term.
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReads.length >= this.config.readRequestsMax) return false
      this.pendingReads.push({ from, context })
      return true
    }
    if (this.tracker.voters.length === 1 || this.leaseValid()) {
      this.answerRead(from, this.log.committed, context)
      return true
    }
    if (!this.readOnly.add(this.log.committed, from, context)) return false
    this.broadcastHeartbeat(context)
    return true
  }

  private releasePendingReads(): void {
    if (!this.committedEntryInCurrentTerm()) return
    const reads = this.pendingReads
    this.pendingReads = []
    for (const read of reads) this.handleReadRequest(read.from, read.context)
  }

  private confirmRead(from: NodeId, context: Uint8Array): void {
    const acks = this.readOnly.recordAck(from, context)
    if (acks === undefined) return
    let confirmed = 0
    for (const id of this.tracker.voters) if (id === this.id || acks.has(id)) confirmed++
    if (confirmed < quorumSize(this.tracker.voters.length)) return
    for (const request of this.readOnly.release(context)) {
      this.answerRead(request.from, request.index, request.context)
    }
  }

  private answerRead(to: NodeId, index: number, context: Uint8Array): void {
    if (to === this.id) this.pushReadState({ index, context })
    else
      this.send({ type: 'read_index_response', from: this.id, term: this.term, to, index, context })
  }

  // ---------------------------------------------------------------------------------------
  // Feedback from the runtime's transport.

  reportUnreachable(to: NodeId): void {
    const progress = this.role === 'leader' ? this.tracker.get(to) : undefined
    if (progress !== undefined && progress.state === 'replicate') progress.becomeProbe()
  }

  /**
   * A side channel (the transport lost its connection to `suspect`) says the leader may be
   * gone. A follower whose leader is `suspect` forgets it, as etcd's ForgetLeader does: a
   * leaderless follower grants pre-votes at once instead of holding to the leader's lease, and
   * it campaigns soon instead of after a whole randomized election timeout: after 1 + r ticks,
   * where r is its rank among the other voters in id order, so followers that learn of the
   * loss together campaign in turn instead of splitting the vote. Safety is untouched: any
   * election still needs a quorum of votes, and a follower that still hears the leader keeps
   * rejecting campaigns, so a link that broke while the leader lives costs at most one refused
   * pre-vote round. With lease reads the lease promises that no follower votes within an
   * election timeout of the last heartbeat, so the hint is ignored then. Returns whether the
   * leader was forgotten.
   */
  forgetLeader(suspect: NodeId): boolean {
    if (this.role !== 'follower' || this.leader === NO_NODE || this.leader !== suspect) return false
    if (this.config.leaseReads) return false
    this.leader = NO_NODE
    const rank = this.tracker.voters.filter((id) => id !== suspect).indexOf(this.id)
    if (rank >= 0) {
      const delayTicks = 1 + rank
      this.electionElapsed = Math.max(
        this.electionElapsed,
        this.randomizedElectionTimeout - delayTicks,
      )
    }
    return true
  }

  reportSnapshot(to: NodeId, succeeded: boolean): void {
    const progress = this.role === 'leader' ? this.tracker.get(to) : undefined
    if (progress === undefined || progress.state !== 'snapshot') return
    if (!succeeded) progress.pendingSnapshot = 0
    progress.becomeProbe()
    // Wait for the follower's next heartbeat response before probing.
    progress.probeSent = true
  }
}
