/**
 * RawNode: the public face of the Raft core. It takes inputs (`tick`, `step`, `propose`,
 * `proposeConfChange`, `readIndex`, `campaign`, `transferLeadership`) and returns effects in
 * Ready batches. It never blocks, never does IO and never reads a clock.
 *
 * The ordering contract. The runtime loops:
 *   1. if `hasReady()`, take `rd = ready()`;
 *   2. persist `rd.snapshot` (if any), then append `rd.entries` (replacing any conflicting tail
 *      of the stored log), then save `rd.hardState` (if any) — fsync when `rd.mustSync`;
 *   3. only then send `rd.messages` (votes and acknowledgements promise durable state);
 *   4. apply `rd.snapshot` and then `rd.committedEntries`, in order, to the state machine
 *      (skipping empty normal entries, the leaders' no-ops), and answer each of
 *      `rd.readStates` once the state machine has applied its index;
 *   5. call `advance()`.
 * Committed entries that were durable locally before the Ready (below its first entry) may be
 * applied while step 2 is still in flight: they are committed, so nothing can take them back,
 * and their answers need not wait for the fsync of the entries that follow them.
 * Inputs may be fed between `ready()` and `advance()`; their effects wait for the next Ready.
 * Ready is not called again before `advance()`, and while one is outstanding `hasReady()` is
 * false. Every message in a Ready depends only on state in that Ready or earlier ones, so a
 * crash before step 3 loses nothing anybody was promised. A configuration change takes effect
 * in the core when `advance()` confirms its entry was applied; `confState()` then reports it
 * (use it for the snapshot taken at that applied index). Snapshots and compaction are the
 * application's: it calls MemoryRaftStorage.createSnapshot/compact (or its durable
 * equivalent) at an applied index, whenever it likes.
 *
 * Leaders count their own log toward a quorum only from `advance()` on, that is, once it is
 * durable; a crash of a leader before then cannot lose an entry a quorum acknowledged.
 */

import { assert } from '../env/assert.js'
import type { RaftConfig } from './config.js'
import type { ProgressState } from './progress.js'
import { Raft } from './raft.js'
import type { RaftStorage, StorageResult } from './storage.js'
import type {
  CampaignResult,
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  ProposeResult,
  ReadIndexResult,
  Ready,
  Role,
  SnapshotMetadata,
  SoftState,
  TransferResult,
} from './types.js'

export interface ProgressStatus {
  readonly match: number
  readonly next: number
  readonly state: ProgressState
  readonly recentActive: boolean
  readonly isLearner: boolean
}

export interface RaftStatus {
  readonly id: NodeId
  readonly term: number
  readonly vote: NodeId
  readonly commit: number
  readonly applied: number
  readonly firstIndex: number
  readonly lastIndex: number
  readonly role: Role
  readonly leader: NodeId
  readonly leadTransferee: NodeId
}

/** What a handed-out Ready covers, to confirm on advance. */
interface Outstanding {
  readonly lastEntry: { readonly index: number; readonly term: number } | undefined
  readonly snapshotMetadata: SnapshotMetadata | undefined
  readonly committedEntries: readonly Entry[]
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader
}

export class RawNode {
  private readonly raft: Raft
  private previousHardState: HardState
  private previousSoftState: SoftState
  private outstanding: Outstanding | undefined = undefined

  constructor(config: RaftConfig, storage: RaftStorage) {
    this.raft = new Raft(config, storage)
    // The previous hard state is the durable one, not the core's: a founding member's bootstrap
    // moves the term to 1 and commits the configuration entries, and that must reach the
    // first Ready so it is persisted with them (a restart would otherwise find the entries
    // uncommitted and no voters to campaign with).
    this.previousHardState = storage.initialState().hardState
    this.previousSoftState = this.raft.softState()
  }

  get id(): NodeId {
    return this.raft.id
  }

  /** Advances logical time by one tick: election timeouts, heartbeats, check-quorum. */
  tick(): void {
    this.raft.tick()
  }

  /** Feeds one message from a peer (already validated by decodeMessage). */
  step(message: Message): void {
    this.raft.step(message)
  }

  propose(data: Uint8Array): ProposeResult {
    return this.raft.propose(data)
  }

  proposeConfChange(change: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(change)
  }

  /**
   * Asks for a linearizable read point; `context` (1 to 256 bytes, unique among pending reads)
   * comes back in a later Ready's readStates with the index to wait for.
   */
  readIndex(context: Uint8Array): ReadIndexResult {
    return this.raft.readIndex(context)
  }

  /** Starts an election now (through pre-vote when enabled). */
  campaign(): CampaignResult {
    return this.raft.hup(false)
  }

  transferLeadership(to: NodeId): TransferResult {
    return this.raft.transferLeadership(to)
  }

  /** The transport could not reach `to`: stop pipelining to it until it answers again. */
  reportUnreachable(to: NodeId): void {
    this.raft.reportUnreachable(to)
  }

  /**
   * The transport lost its connection to `suspect`; if it is this follower's leader, the
   * follower forgets it and campaigns soon (see Raft.forgetLeader). Returns whether it did.
   */
  forgetLeader(suspect: NodeId): boolean {
    return this.raft.forgetLeader(suspect)
  }

  /** The transport finished (or failed) streaming a snapshot to `to`. */
  reportSnapshot(to: NodeId, succeeded: boolean): void {
    this.raft.reportSnapshot(to, succeeded)
  }

  hasReady(): boolean {
    if (this.outstanding !== undefined) return false
    const raft = this.raft
    const unstable = raft.log.unstable
    return (
      !sameSoftState(raft.softState(), this.previousSoftState) ||
      !sameHardState(raft.hardState(), this.previousHardState) ||
      unstable.nextSnapshot() !== undefined ||
      unstable.offsetInProgress < unstable.offset + unstable.entries.length ||
      raft.log.hasNextCommittedEntries() ||
      raft.broadcastPending ||
      raft.hasMessagesOrReadStates()
    )
  }

  ready(): Ready {
    assert(this.outstanding === undefined, 'ready() called again before advance()')
    const raft = this.raft
    const log = raft.log
    // Proposals of this turn travel together: one append per follower carries them all.
    if (raft.broadcastPending && raft.role === 'leader') raft.broadcastAppend()
    const softState = raft.softState()
    const hardState = raft.hardState()
    const entries = log.unstable.nextEntries()
    const snapshot = log.unstable.nextSnapshot()
    const committedEntries = log.nextCommittedEntries(raft.config.maxCommittedBytesPerReady)
    const messages = raft.takeMessages()
    const readStates = raft.takeReadStates()
    log.unstable.acceptInProgress()
    const lastCommitted = committedEntries[committedEntries.length - 1]
    if (lastCommitted !== undefined) log.applying = lastCommitted.index
    const lastEntry = entries[entries.length - 1]
    this.outstanding = {
      lastEntry:
        lastEntry === undefined ? undefined : { index: lastEntry.index, term: lastEntry.term },
      snapshotMetadata: snapshot?.metadata,
      committedEntries,
    }
    assert(hardState.term >= this.previousHardState.term, 'the term never decreases')
    assert(hardState.commit >= this.previousHardState.commit, 'the commit index never decreases')
    const hardStateChanged = !sameHardState(hardState, this.previousHardState)
    const mustSync =
      entries.length > 0 ||
      snapshot !== undefined ||
      hardState.term !== this.previousHardState.term ||
      hardState.vote !== this.previousHardState.vote
    this.previousHardState = hardState
    this.previousSoftState = softState
    const ready: { -readonly [Key in keyof Ready]: Ready[Key] } = {
      softState,
      entries,
      committedEntries,
      messages,
      readStates,
      mustSync,
    }
    if (hardStateChanged) ready.hardState = hardState
    if (snapshot !== undefined) ready.snapshot = snapshot
    return ready
  }

  /** Confirms that the last Ready was persisted, sent and applied. */
  advance(): void {
    const outstanding = this.outstanding
    assert(outstanding !== undefined, 'advance() without an outstanding ready()')
    this.outstanding = undefined
    const raft = this.raft
    const log = raft.log
    const snapshot = outstanding.snapshotMetadata
    if (snapshot !== undefined) {
      log.unstable.stableSnapshotTo(snapshot.index)
      log.appliedTo(snapshot.index)
      raft.appliedConfState = snapshot.confState
    }
    if (outstanding.lastEntry !== undefined) {
      log.unstable.stableTo(outstanding.lastEntry.index, outstanding.lastEntry.term)
    }
    const committed = outstanding.committedEntries
    const lastCommitted = committed[committed.length - 1]
    if (lastCommitted !== undefined) {
      for (const entry of committed) {
        if (entry.kind === 'conf_change') raft.applyConfChangeEntry(entry)
      }
      log.appliedTo(lastCommitted.index)
      raft.releaseUncommitted(committed)
    }
    raft.onPersisted()
  }

  /** The configuration as of the last applied entry: the one to store with a snapshot. */
  confState(): ConfState {
    return this.raft.appliedConfState
  }

  /** The term of a log entry, for diagnostics and checkers. */
  termOf(index: number): StorageResult<number> {
    return this.raft.log.term(index)
  }

  status(): RaftStatus {
    const raft = this.raft
    return {
      id: raft.id,
      term: raft.term,
      vote: raft.vote,
      commit: raft.log.committed,
      applied: raft.log.applied,
      firstIndex: raft.log.firstIndex(),
      lastIndex: raft.log.lastIndex(),
      role: raft.role,
      leader: raft.leader,
      leadTransferee: raft.leadTransferee,
    }
  }

  /** The leader's view of every member's log; empty on other nodes. */
  progress(): ReadonlyMap<NodeId, ProgressStatus> {
    const raft = this.raft
    const progress = new Map<NodeId, ProgressStatus>()
    if (raft.role !== 'leader') return progress
    for (const id of raft.tracker.members()) {
      const each = raft.tracker.get(id)
      if (each === undefined) continue
      progress.set(id, {
        match: each.match,
        next: each.next,
        state: each.state,
        recentActive: each.recentActive,
        isLearner: each.isLearner,
      })
    }
    return progress
  }

  /** The membership the core currently acts on (ahead of confState() while a snapshot loads). */
  currentConfState(): ConfState {
    return this.raft.tracker.confState()
  }
}
