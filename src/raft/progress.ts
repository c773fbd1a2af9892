/**
 * The leader's view of each follower's log (etcd's progress tracker). A follower is in one of
 * three states:
 * - probe: the leader does not know where the logs match; it sends one append per heartbeat
 *   interval and walks `next` back on each rejection;
 * - replicate: the logs match up to `match`; appends are pipelined optimistically, at most
 *   `maxInflightMsgs` of them unacknowledged;
 * - snapshot: the follower needs entries that are compacted; the leader sent a snapshot and
 *   waits for it to be acknowledged (or to time out) before probing again.
 * The tracker also holds the membership (sorted voters and learners) and the votes of a
 * running election.
 */

import { assert } from '../env/assert.js'
import { quorumIndex, quorumSize, type VoteOutcome, voteOutcome } from './quorum.js'
import type { ConfState, NodeId } from './types.js'

/** A bounded ring of the last indexes of unacknowledged appends, oldest first. */
export class Inflights {
  private readonly buffer: number[]
  private start = 0
  private countValue = 0

  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity > 0, 'inflight capacity must be positive')
    this.buffer = new Array<number>(capacity).fill(0)
  }

  get count(): number {
    return this.countValue
  }

  full(): boolean {
    return this.countValue === this.capacity
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflight window overflow')
    if (this.countValue > 0) {
      const newest = this.buffer[(this.start + this.countValue - 1) % this.capacity] as number
      assert(lastIndex > newest, `inflight index ${lastIndex} not after ${newest}`)
    }
    this.buffer[(this.start + this.countValue) % this.capacity] = lastIndex
    this.countValue++
  }

  /** Frees every append whose last index is at most `index` (they are acknowledged). */
  freeLE(index: number): void {
    while (this.countValue > 0 && (this.buffer[this.start] as number) <= index) {
      this.start = (this.start + 1) % this.capacity
      this.countValue--
    }
  }

  freeFirstOne(): void {
    if (this.countValue === 0) return
    this.start = (this.start + 1) % this.capacity
    this.countValue--
  }

  reset(): void {
    this.start = 0
    this.countValue = 0
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  /** In the snapshot state: the index of the snapshot sent. */
  pendingSnapshot = 0
  /** Ticks spent in the snapshot state, to retry a lost snapshot. */
  snapshotTicks = 0
  /** Heard from since the last check-quorum round. */
  recentActive = false
  /** In the probe state: an append is outstanding, so wait for an answer or a heartbeat. */
  probeSent = false
  /** Highest heartbeat round this follower acknowledged in the current term (for leases). */
  ackedRound = -1
  isLearner: boolean
  readonly inflights: Inflights

  constructor(next: number, isLearner: boolean, maxInflightMsgs: number) {
    assert(next >= 1, 'next index starts at 1')
    this.next = next
    this.isLearner = isLearner
    this.inflights = new Inflights(maxInflightMsgs)
  }

  private resetState(state: ProgressState): void {
    this.state = state
    this.probeSent = false
    this.pendingSnapshot = 0
    this.snapshotTicks = 0
    this.inflights.reset()
  }

  becomeProbe(): void {
    // After a snapshot, resume right after it: the follower has everything it covers.
    const after = this.state === 'snapshot' ? this.pendingSnapshot + 1 : this.match + 1
    this.resetState('probe')
    this.next = Math.max(this.match + 1, after)
  }

  becomeReplicate(): void {
    this.resetState('replicate')
    this.next = this.match + 1
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot')
    this.pendingSnapshot = snapshotIndex
  }

  /** Records an acknowledgement of everything up to `index`; false if it was stale. */
  maybeUpdate(index: number): boolean {
    let updated = false
    if (this.match < index) {
      this.match = index
      updated = true
      this.probeSent = false
    }
    this.next = Math.max(this.next, index + 1)
    return updated
  }

  /**
   * Handles a rejection of the append after `rejected`; `matchHint` is the highest index that
   * may still match. Returns false when the rejection is stale (answers an older append).
   */
  maybeDecrementTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1)
    this.probeSent = false
    return true
  }

  /** Whether the leader should hold back appends to this follower for now. */
  isPaused(): boolean {
    if (this.state === 'probe') return this.probeSent
    if (this.state === 'replicate') return this.inflights.full()
    return true
  }

  /** Bookkeeping after sending an append whose last entry is `lastIndex` (`count` entries). */
  sentEntries(count: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1
        this.inflights.add(lastIndex)
      }
      return
    }
    assert(this.state === 'probe', 'appends are never sent in the snapshot state')
    this.probeSent = true
  }
}

export class ProgressTracker {
  voters: NodeId[] = []
  learners: NodeId[] = []
  readonly progress = new Map<NodeId, Progress>()
  readonly votes = new Map<NodeId, boolean>()

  constructor(private readonly maxInflightMsgs: number) {}

  /** All members, voters first, each list sorted, for deterministic iteration. */
  members(): NodeId[] {
    return [...this.voters, ...this.learners]
  }

  isVoter(id: NodeId): boolean {
    return this.voters.includes(id)
  }

  isLearner(id: NodeId): boolean {
    return this.learners.includes(id)
  }

  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] }
  }

  get(id: NodeId): Progress | undefined {
    return this.progress.get(id)
  }

  /** Installs a configuration, keeping the progress of members that stay. */
  setConfState(confState: ConfState, nextIndex: number): void {
    this.voters = [...confState.voters]
    this.learners = [...confState.learners]
    for (const id of [...this.progress.keys()]) {
      if (!this.isVoter(id) && !this.isLearner(id)) this.progress.delete(id)
    }
    for (const id of this.members()) {
      const existing = this.progress.get(id)
      if (existing !== undefined) {
        existing.isLearner = this.isLearner(id)
        continue
      }
      const progress = new Progress(nextIndex, this.isLearner(id), this.maxInflightMsgs)
      // A new member gets a full election timeout before it counts against check-quorum.
      progress.recentActive = true
      this.progress.set(id, progress)
    }
  }

  /** Forgets every follower's position, as a new leader (or a non-leader) must. */
  resetProgress(nextIndex: number): void {
    for (const id of this.members()) {
      this.progress.set(id, new Progress(nextIndex, this.isLearner(id), this.maxInflightMsgs))
    }
  }

  /** The highest index a quorum of voters has persisted. */
  committedIndex(): number {
    return quorumIndex(this.voters, (id) => this.progress.get(id)?.match ?? 0)
  }

  /** Whether a quorum of voters was heard from recently (`self` always counts). */
  quorumActive(self: NodeId): boolean {
    let active = 0
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive === true) active++
    }
    return active >= quorumSize(this.voters.length)
  }

  /** The heartbeat round a quorum of voters has acknowledged; `selfRound` is the leader's. */
  quorumAckedRound(self: NodeId, selfRound: number): number {
    return quorumIndex(this.voters, (id) =>
      id === self ? selfRound : (this.progress.get(id)?.ackedRound ?? -1),
    )
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted)
  }

  voteOutcome(): VoteOutcome {
    return voteOutcome(this.voters, this.votes)
  }
}
