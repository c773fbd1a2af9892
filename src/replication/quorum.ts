/**
 * Quorum tallies: the pure bookkeeping of one read or write fanned out to a replica plan.
 *
 * `QuorumTally` tracks each target as pending, succeeded or failed, and says when the
 * requirement is met (at least `total` successes, at least `primaries` of them from primaries)
 * or can no longer be met. A target that fails while the outcome is still open is replaced by
 * the plan's next spare, which holds a hint for the same primary; each spare is used at most
 * once, so the fan-out is bounded by the cluster size. Once met, the outcome stays met: a
 * tally never reports success below the requirement and never takes success back.
 *
 * `WriteTally` adds what a failed write must tell the client: how many replicas acknowledged,
 * and whether the write certainly did not happen (`definite`), which is only true when no
 * replica stored it and no request to a replica may still have stored it.
 *
 * `ReadTally` adds the answers: their merge (the lattice join of every record received) and
 * the primaries whose answer differs from it, which read repair brings up to date. Fallbacks
 * are not repaired: they hold hints, and repairing them would only grow the hints to hand off.
 *
 * A tally may hold planned targets back (`askFirst`): they are asked only to replace a failed
 * one. Reads use it to bound background work: the answers beyond `r` serve only read repair,
 * and asking for them when the node is saturated would queue work nobody waits for.
 *
 * Witnesses (src/replication/witness.ts) count toward `total` like any replica, but the
 * requirement is met only once at least one full copy succeeded: a write is never acknowledged
 * by witnesses alone. A read is met only when its merge is complete as well (no write a
 * witness reports is missing its value); until then `ReadTally.more` asks the held-back full
 * targets, and when none is left the read cannot be served.
 */

import { assert } from '../env/assert.js'
import type { Requirement } from './consistency.js'
import { isWitnessTarget, type ReplicaPlan, type ReplicaTarget } from './plan.js'
import {
  EMPTY_RECORD,
  isEmptyRecord,
  type KeyRecord,
  mergeRecords,
  recordsEqual,
} from './record.js'
import { isComplete, witnessForm } from './witness.js'

/** The parts of a plan a tally needs; `witnesses` is empty or absent without witnesses. */
export type TallyPlan = Pick<ReplicaPlan, 'targets' | 'spares'> & {
  readonly witnesses?: readonly string[]
}

export type TargetStatus = 'pending' | 'succeeded' | 'failed'
export type QuorumOutcome = 'pending' | 'met' | 'unreachable'

interface Progress {
  readonly target: ReplicaTarget
  status: TargetStatus
  /**
   * False when the target answered that it kept metadata only (it takes itself for a witness
   * of the key, as during a rolling change of roles): it then never counts as a full copy.
   */
  keptValues?: boolean
}

export interface QuorumCounts {
  readonly succeeded: number
  readonly primariesSucceeded: number
  /** Successes of targets that keep values (not witnesses or their fallbacks). */
  readonly fullSucceeded: number
  readonly pending: number
  readonly failed: number
}

export class QuorumTally {
  readonly requirement: Requirement
  /** Every target asked, in the order asked. */
  private readonly progress = new Map<string, Progress>()
  /** Planned targets held back (see `askFirst`), asked in order when an asked one fails. */
  private readonly reserve: ReplicaTarget[]
  private readonly spares: string[]
  private readonly witnesses: readonly string[]
  private met = false

  /**
   * `askFirst` limits how many of the planned targets are asked at once (default all); the
   * rest stand first in line to replace a failed target, before the spares.
   */
  constructor(plan: TallyPlan, requirement: Requirement, askFirst = plan.targets.length) {
    assert(requirement.total >= 1, 'a quorum needs at least one replica')
    assert(requirement.primaries >= 0, 'the primary requirement is never negative')
    assert(Number.isSafeInteger(askFirst) && askFirst >= 0, `bad askFirst ${askFirst}`)
    const planned = new Set<string>()
    for (const target of plan.targets) {
      assert(!planned.has(target.node), `target ${target.node} is planned twice`)
      planned.add(target.node)
    }
    for (const target of plan.targets.slice(0, askFirst)) {
      this.progress.set(target.node, { target, status: 'pending' })
    }
    this.reserve = plan.targets.slice(askFirst)
    this.spares = plan.spares.filter((node) => !planned.has(node))
    this.witnesses = plan.witnesses ?? []
    this.requirement = requirement
    this.update()
  }

  /** True when `target` keeps metadata only. */
  isWitness(target: ReplicaTarget): boolean {
    return isWitnessTarget(target, this.witnesses)
  }

  get outcome(): QuorumOutcome {
    if (this.met) return 'met'
    const counts = this.counts()
    const pendingPrimaries = this.count(
      (progress) => progress.status === 'pending' && progress.target.hintFor === undefined,
    )
    const reservedPrimaries = this.reserve.filter((target) => target.hintFor === undefined).length
    const reachable = counts.succeeded + counts.pending + this.reserve.length + this.spares.length
    if (reachable < this.requirement.total) return 'unreachable'
    const primariesReachable = counts.primariesSucceeded + pendingPrimaries + reservedPrimaries
    if (primariesReachable < this.requirement.primaries) return 'unreachable'
    // A spare only ever replaces a target in its role, so a full copy can still answer only
    // if one is pending or held back.
    const fullPending = this.count(
      (progress) => progress.status === 'pending' && !this.isWitness(progress.target),
    )
    const fullReserved = this.reserve.filter((target) => !this.isWitness(target)).length
    if (counts.fullSucceeded + fullPending + fullReserved === 0) return 'unreachable'
    return 'pending'
  }

  /** True once nothing is pending: every target asked has answered or failed. */
  get settled(): boolean {
    return this.counts().pending === 0
  }

  counts(): QuorumCounts {
    return {
      succeeded: this.count((progress) => progress.status === 'succeeded'),
      primariesSucceeded: this.count(
        (progress) => progress.status === 'succeeded' && progress.target.hintFor === undefined,
      ),
      fullSucceeded: this.count(
        (progress) =>
          progress.status === 'succeeded' &&
          !this.isWitness(progress.target) &&
          progress.keptValues !== false,
      ),
      pending: this.count((progress) => progress.status === 'pending'),
      failed: this.count((progress) => progress.status === 'failed'),
    }
  }

  targets(): ReplicaTarget[] {
    return [...this.progress.values()].map((progress) => progress.target)
  }

  statusOf(node: string): TargetStatus | undefined {
    return this.progress.get(node)?.status
  }

  targetOf(node: string): ReplicaTarget | undefined {
    return this.progress.get(node)?.target
  }

  /** Targets that succeeded, in the order asked. */
  succeeded(): ReplicaTarget[] {
    return [...this.progress.values()]
      .filter((progress) => progress.status === 'succeeded')
      .map((progress) => progress.target)
  }

  /**
   * Records a success; a late success after a failure or a duplicate is ignored. `keptValues`
   * false: the target kept metadata only, whatever its planned role.
   */
  succeed(node: string, keptValues = true): void {
    const progress = this.progress.get(node)
    assert(progress !== undefined, `node ${node} is not a target`)
    if (progress.status !== 'pending') return
    progress.status = 'succeeded'
    progress.keptValues = keptValues
    this.update()
  }

  /**
   * Records a failure. While the outcome is open, returns the target that replaces it (the
   * caller asks it next): a held-back planned target, else a spare holding a hint for the
   * same primary.
   */
  fail(node: string): ReplicaTarget | undefined {
    const progress = this.progress.get(node)
    assert(progress !== undefined, `node ${node} is not a target`)
    if (progress.status !== 'pending') return undefined
    progress.status = 'failed'
    if (this.met) return undefined
    const reserved = this.reserve.shift()
    if (reserved !== undefined) {
      this.progress.set(reserved.node, { target: reserved, status: 'pending' })
      return reserved
    }
    const spare = this.spares.shift()
    if (spare === undefined) return undefined
    const replacement: ReplicaTarget = {
      node: spare,
      hintFor: progress.target.hintFor ?? progress.target.node,
    }
    this.progress.set(spare, { target: replacement, status: 'pending' })
    return replacement
  }

  /**
   * Asks the first held-back target that keeps values, even after the requirement was met (a
   * read whose full answers are older than what witnesses report); undefined when none is left.
   */
  askFullReserve(): ReplicaTarget | undefined {
    const index = this.reserve.findIndex((target) => !this.isWitness(target))
    const [target] = index === -1 ? [] : this.reserve.splice(index, 1)
    if (target === undefined) return undefined
    this.progress.set(target.node, { target, status: 'pending' })
    return target
  }

  /** The request's time is up: every pending target counts as failed, without replacement. */
  expire(): void {
    for (const progress of this.progress.values()) {
      if (progress.status === 'pending') progress.status = 'failed'
    }
    this.reserve.length = 0
    this.spares.length = 0
  }

  private update(): void {
    const counts = this.counts()
    if (
      counts.succeeded >= this.requirement.total &&
      counts.primariesSucceeded >= this.requirement.primaries &&
      counts.fullSucceeded >= 1
    ) {
      this.met = true
    }
  }

  private count(predicate: (progress: Progress) => boolean): number {
    let count = 0
    for (const progress of this.progress.values()) if (predicate(progress)) count++
    return count
  }
}

/** What a failed write reports to the client. */
export interface WriteFailure {
  readonly required: number
  readonly acknowledged: number
  readonly primariesRequired: number
  readonly primariesAcknowledged: number
  /** Acknowledgements from replicas that keep values; a success needs at least one. */
  readonly fullAcknowledged: number
  /** True only when the write certainly took effect nowhere. */
  readonly definite: boolean
}

export class WriteTally {
  readonly quorum: QuorumTally
  private stored = false
  private mayHaveStored = false

  constructor(plan: TallyPlan, requirement: Requirement) {
    this.quorum = new QuorumTally(plan, requirement)
  }

  /** The write took effect somewhere (the coordinator's own record), counted or not. */
  markStored(): void {
    this.stored = true
  }

  /**
   * A replica (the coordinator itself included) stored the write and acknowledged it;
   * `keptValues` false when it answered that it kept the write in witness form only.
   */
  acknowledge(node: string, keptValues = true): void {
    this.stored = true
    this.quorum.succeed(node, keptValues)
  }

  /** A replica failed; `definite` tells whether it certainly did not store the write. */
  fail(node: string, definite: boolean): ReplicaTarget | undefined {
    if (!definite) this.mayHaveStored = true
    return this.quorum.fail(node)
  }

  /** Gives up on every pending replica; any of them may still store the write. */
  expire(): void {
    if (this.quorum.counts().pending > 0) this.mayHaveStored = true
    this.quorum.expire()
  }

  failure(): WriteFailure {
    const counts = this.quorum.counts()
    return {
      required: this.quorum.requirement.total,
      acknowledged: counts.succeeded,
      primariesRequired: this.quorum.requirement.primaries,
      primariesAcknowledged: counts.primariesSucceeded,
      fullAcknowledged: counts.fullSucceeded,
      definite: !this.stored && !this.mayHaveStored && counts.pending === 0,
    }
  }
}

export type ReadOutcomeKind = QuorumOutcome | 'stale'

export class ReadTally {
  readonly quorum: QuorumTally
  private readonly answers = new Map<string, KeyRecord>()
  private merge: KeyRecord = EMPTY_RECORD

  /** `askFirst` as for QuorumTally: a read under load asks only the targets it needs. */
  constructor(plan: TallyPlan, requirement: Requirement, askFirst?: number) {
    this.quorum = new QuorumTally(plan, requirement, askFirst)
  }

  /**
   * A replica's answer; an absent key is the empty record (not-found counts as an answer). A
   * witness's answer is merged as it came: it holds digests, and any value it still holds
   * (kept from before it became a witness) is the true value of its dot, so it may fill the
   * merge and be repaired onto the full replicas. It never counts as the full answer a read
   * needs.
   */
  answer(node: string, record: KeyRecord): void {
    if (this.quorum.statusOf(node) !== 'pending') return
    this.answers.set(node, record)
    this.merge = mergeRecords(this.merge, record)
    this.quorum.succeed(node)
  }

  fail(node: string): ReplicaTarget | undefined {
    return this.quorum.fail(node)
  }

  expire(): void {
    this.quorum.expire()
  }

  /**
   * Where the read stands: `met` once the requirement is met and the merge is complete;
   * `pending` while that may still happen; `unreachable` when the requirement cannot be met;
   * `stale` when it was met but the full answers miss a write a witness reports and no full
   * target is left to ask (the caller calls `more` after every answer and failure first).
   */
  get outcome(): ReadOutcomeKind {
    const quorum = this.quorum.outcome
    if (quorum !== 'met') return quorum
    if (this.complete) return 'met'
    return this.fullPending() ? 'pending' : 'stale'
  }

  /** True when the merge may be served: a full copy answered and no digest is left in it. */
  get complete(): boolean {
    return isComplete(this.merge, this.quorum.counts().fullSucceeded)
  }

  /**
   * The targets to ask now beyond the plan's replacements: once the requirement is met but
   * the merge is incomplete and no full target is still pending, the next held-back full one.
   */
  more(): ReplicaTarget[] {
    if (this.quorum.outcome !== 'met' || this.fullPending() || this.complete) return []
    const target = this.quorum.askFullReserve()
    return target === undefined ? [] : [target]
  }

  /** The join of every answer so far. */
  merged(): KeyRecord {
    return this.merge
  }

  answerOf(node: string): KeyRecord | undefined {
    return this.answers.get(node)
  }

  /**
   * Primaries that answered with something other than the merge (a witness: other than the
   * merge's witness form), with the record each should merge: read repair's targets. A merge
   * holding digests is never sent; the caller repairs only complete reads.
   */
  staleTargets(): { readonly target: ReplicaTarget; readonly record: KeyRecord }[] {
    if (isEmptyRecord(this.merge)) return []
    const stale: { target: ReplicaTarget; record: KeyRecord }[] = []
    let witnessMerge: KeyRecord | undefined
    for (const [node, record] of this.answers) {
      const target = this.quorum.targetOf(node)
      assert(target !== undefined, `answer from ${node}, which is not a target`)
      if (target.hintFor !== undefined) continue
      if (this.quorum.isWitness(target)) {
        witnessMerge ??= witnessForm(this.merge)
        const kept = witnessForm(record)
        if (!recordsEqual(kept, witnessMerge)) stale.push({ target, record: witnessMerge })
      } else if (!recordsEqual(record, this.merge)) {
        stale.push({ target, record: this.merge })
      }
    }
    return stale
  }

  private fullPending(): boolean {
    return this.quorum
      .targets()
      .some(
        (target) =>
          this.quorum.statusOf(target.node) === 'pending' && !this.quorum.isWitness(target),
      )
  }
}
