/**
 * Joint write quorums: the tally of one write fanned out to the owner sets of a partition
 * while its ownership moves (src/ring/topology.ts, `writeOwnerSets`). Each set is planned on
 * its own (its primaries, witnesses, stand-ins and spares) and keeps its own `QuorumTally`; the
 * write is met only once every set's tally is met at the requested level, and cannot be met
 * once any set's cannot. With one set the joint tally is that set's tally.
 *
 * A request goes to a node once per role: a target is a node and the primary it stands in for
 * (`hintFor`, undefined for a primary itself). A target planned in several sets (a node that
 * owns the partition in both rings, or a stand-in for a primary of both) is asked once, and its
 * answer counts in every set that planned it in that role; a stand-in's hinted acknowledgement
 * counts only in the sets whose member it stands in for. A set whose failed target is replaced
 * by a target already asked takes that target's answer, given or still to come.
 *
 * The form a target gets follows `jointWitnesses`: metadata only when the primary it serves is
 * a witness in every set that lists it. Each set still counts full copies by its own roles, so
 * no set is met without a full copy of its own.
 *
 * `definite` in a failure is joint as in `WriteTally`: true only when no target, the
 * coordinator included, stored the write and no request may still store it.
 */

import { assert } from '../env/assert.js'
import type { Requirement } from './consistency.js'
import { isWitnessTarget, jointWitnesses, type ReplicaPlan, type ReplicaTarget } from './plan.js'
import { type QuorumOutcome, QuorumTally, type WriteFailure } from './quorum.js'

/** The parts of one owner set's plan the joint tally needs. */
export type JointSetPlan = Pick<ReplicaPlan, 'primaries' | 'witnesses' | 'targets' | 'spares'>

/** Owner sets of one write at most: the current ring's and the next ring's. */
export const OWNER_SETS_MAX = 2
/** Replacements resolved for one failure at most; each spare of each set is used once. */
const REPLACEMENTS_MAX = 1024

interface Asked {
  readonly target: ReplicaTarget
  status: 'pending' | 'succeeded' | 'failed'
  keptValues: boolean
}

/** The key of a target: one request per node and role. */
function targetKey(target: ReplicaTarget): string {
  return `${target.node}\u0000${target.hintFor ?? ''}`
}

export class JointWriteTally {
  /** One tally per owner set, current ring first. */
  readonly sets: readonly QuorumTally[]
  readonly requirement: Requirement
  /** Every target asked, in the order asked. */
  private readonly asked = new Map<string, Asked>()
  private readonly witnesses: readonly string[]
  private stored = false
  private mayHaveStored = false

  constructor(plans: readonly JointSetPlan[], requirement: Requirement) {
    assert(plans.length >= 1 && plans.length <= OWNER_SETS_MAX, `${plans.length} owner sets`)
    this.requirement = requirement
    this.sets = plans.map((plan) => new QuorumTally(plan, requirement))
    this.witnesses = jointWitnesses(plans)
    for (const set of this.sets) {
      for (const target of set.targets()) {
        const key = targetKey(target)
        if (!this.asked.has(key))
          this.asked.set(key, { target, status: 'pending', keptValues: true })
      }
    }
  }

  /** True when `target` gets the metadata-only form: its primary is a witness in every set. */
  isWitness(target: ReplicaTarget): boolean {
    return isWitnessTarget(target, this.witnesses)
  }

  /** Every target asked so far, in the order asked. */
  targets(): ReplicaTarget[] {
    return [...this.asked.values()].map((entry) => entry.target)
  }

  /** Targets that acknowledged, in the order asked. */
  succeeded(): ReplicaTarget[] {
    return [...this.asked.values()]
      .filter((entry) => entry.status === 'succeeded')
      .map((entry) => entry.target)
  }

  /** `met` once every set is met; `unreachable` once any set cannot be. */
  get outcome(): QuorumOutcome {
    const outcomes = this.sets.map((set) => set.outcome)
    if (outcomes.every((outcome) => outcome === 'met')) return 'met'
    if (outcomes.includes('unreachable')) return 'unreachable'
    return 'pending'
  }

  /** True once nothing asked is pending. */
  get settled(): boolean {
    for (const entry of this.asked.values()) if (entry.status === 'pending') return false
    return true
  }

  /** The write took effect somewhere (the coordinator's own record), counted or not. */
  markStored(): void {
    this.stored = true
  }

  /** A target stored the write and acknowledged it; counts in every set that planned it. */
  acknowledge(target: ReplicaTarget, keptValues = true): void {
    this.stored = true
    const entry = this.entry(target)
    if (entry.status !== 'pending') return
    entry.status = 'succeeded'
    entry.keptValues = keptValues
    for (const set of this.sets) {
      if (this.plans(set, target)) set.succeed(target.node, keptValues)
    }
  }

  /**
   * A target failed (`definite`: it certainly did not store the write). Returns the new
   * targets to ask: each set that planned it names a replacement while its outcome is open,
   * and a replacement already asked is not asked again.
   */
  fail(target: ReplicaTarget, definite: boolean): ReplicaTarget[] {
    if (!definite) this.mayHaveStored = true
    const entry = this.entry(target)
    if (entry.status !== 'pending') return []
    entry.status = 'failed'
    const fresh: ReplicaTarget[] = []
    for (const set of this.sets) {
      if (this.plans(set, target)) this.replace(set, set.fail(target.node), fresh)
    }
    return fresh
  }

  /** Gives up on every pending target; any of them may still store the write. */
  expire(): void {
    for (const entry of this.asked.values()) {
      if (entry.status !== 'pending') continue
      entry.status = 'failed'
      this.mayHaveStored = true
    }
    for (const set of this.sets) set.expire()
  }

  /** What the client is told: the first set short of its level speaks for the write. */
  failure(): WriteFailure {
    const set = this.sets.find((candidate) => candidate.outcome !== 'met') ?? this.sets[0]
    assert(set !== undefined, 'a joint tally has a set')
    const counts = set.counts()
    return {
      required: this.requirement.total,
      acknowledged: counts.succeeded,
      primariesRequired: this.requirement.primaries,
      primariesAcknowledged: counts.primariesSucceeded,
      fullAcknowledged: counts.fullSucceeded,
      definite: !this.stored && !this.mayHaveStored && this.settled,
    }
  }

  /**
   * Resolves a set's replacement: a new target is asked, one already answered gives the set its
   * answer at once (a failure then asks for the next replacement), one still pending answers
   * later through `acknowledge` or `fail`.
   */
  private replace(
    set: QuorumTally,
    first: ReplicaTarget | undefined,
    fresh: ReplicaTarget[],
  ): void {
    let replacement = first
    for (let step = 0; replacement !== undefined; step++) {
      assert(step < REPLACEMENTS_MAX, 'replacements are bounded by the spares')
      const key = targetKey(replacement)
      const known = this.asked.get(key)
      if (known === undefined) {
        this.asked.set(key, { target: replacement, status: 'pending', keptValues: true })
        fresh.push(replacement)
        return
      }
      if (known.status === 'pending') return
      if (known.status === 'succeeded') {
        set.succeed(replacement.node, known.keptValues)
        return
      }
      replacement = set.fail(replacement.node)
    }
  }

  private entry(target: ReplicaTarget): Asked {
    const entry = this.asked.get(targetKey(target))
    assert(entry !== undefined, `node ${target.node} is not a target`)
    return entry
  }

  /** True when `set` planned `target` in the same role and still waits for it. */
  private plans(set: QuorumTally, target: ReplicaTarget): boolean {
    const planned = set.targetOf(target.node)
    return planned !== undefined && planned.hintFor === target.hintFor
  }
}
