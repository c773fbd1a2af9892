/**
 * Configuration of one Raft core. Time is counted in ticks: the runtime calls `tick()` at a fixed
 * interval and chooses what a tick means in milliseconds. Every limit has a default here, and
 * `resolveRaftConfig` checks the combination once, so the core itself never re-validates it.
 */

import { assert } from '../env/assert.js'
import type { Random } from '../env/random.js'
import type { NodeId } from './types.js'

export const NODE_ID_BYTES_MAX = 128
export const READ_CONTEXT_BYTES_MAX = 256

export interface RaftConfig {
  readonly id: NodeId
  /**
   * The founding configuration. On a brand-new storage (no entries, no snapshot, term 0) the
   * core writes it as the first log entries (conf changes at term 1, indexes 1..n, committed),
   * exactly as every other founder does; otherwise it is ignored. A node joining an existing
   * cluster passes empty lists and learns the configuration from the leader's log or snapshot.
   */
  readonly voters: readonly NodeId[]
  readonly learners?: readonly NodeId[]
  /** A follower that hears no leader for a random [electionTicks, 2 × electionTicks) campaigns. */
  readonly electionTicks: number
  /** The leader sends heartbeats every heartbeatTicks; must be less than electionTicks. */
  readonly heartbeatTicks: number
  /** Appends in flight per follower in the replicate state (the pipelining window). */
  readonly maxInflightMsgs: number
  /** Entry bytes per append message; one entry is always sent even if it is larger. */
  readonly maxSizePerMsgBytes: number
  /** Proposals are refused while this many entry bytes are appended but not yet applied. */
  readonly maxUncommittedEntriesBytes?: number
  /** Committed entry bytes handed out per Ready, so one Ready never holds the whole log. */
  readonly maxCommittedBytesPerReady?: number
  /** Pre-vote (thesis §9.6): a node checks that it could win before raising its term. */
  readonly preVote?: boolean
  /** The leader steps down after an election timeout without hearing from a quorum. */
  readonly checkQuorum?: boolean
  /**
   * Opt-in leader-lease reads: the leader answers ReadIndex without a heartbeat round while a
   * quorum acknowledged a heartbeat sent less than `leaseTicks` ago. Safe only while tick rates
   * of different nodes drift apart by less than (electionTicks - leaseTicks) / electionTicks.
   * With it on, a node also refuses votes for one election timeout after it starts, because a
   * restarted follower has forgotten the leader whose lease it was honouring.
   */
  readonly leaseReads?: boolean
  readonly leaseTicks?: number
  /** The index the application has already applied (its state survives restarts), if any. */
  readonly appliedIndex?: number
  /** Pending ReadIndex requests the leader holds; more are dropped. */
  readonly readRequestsMax?: number
  /** Messages the core buffers between two Ready batches; more are dropped like lost packets. */
  readonly outboxMessagesMax?: number
  /** Draws randomized election timeouts; one independent stream per node. */
  readonly random: Random
}

export interface ResolvedRaftConfig {
  readonly id: NodeId
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
  readonly electionTicks: number
  readonly heartbeatTicks: number
  readonly maxInflightMsgs: number
  readonly maxSizePerMsgBytes: number
  readonly maxUncommittedEntriesBytes: number
  readonly maxCommittedBytesPerReady: number
  readonly preVote: boolean
  readonly checkQuorum: boolean
  readonly leaseReads: boolean
  readonly leaseTicks: number
  readonly appliedIndex: number
  readonly readRequestsMax: number
  readonly outboxMessagesMax: number
  readonly random: Random
}

export const RAFT_DEFAULTS = {
  maxUncommittedEntriesBytes: 64 * 1024 * 1024,
  maxCommittedBytesPerReady: 16 * 1024 * 1024,
  preVote: true,
  checkQuorum: true,
  leaseReads: false,
  readRequestsMax: 4096,
  outboxMessagesMax: 65_536,
} as const

function positiveInteger(value: number, name: string): number {
  assert(Number.isSafeInteger(value) && value > 0, `${name} must be a positive integer`)
  return value
}

export function assertNodeId(id: NodeId, name = 'node id'): void {
  assert(
    typeof id === 'string' && id.length > 0 && id.length <= NODE_ID_BYTES_MAX,
    `${name} must be a non-empty string of at most ${NODE_ID_BYTES_MAX} characters`,
  )
}

/** Sorted, duplicate-free copy of a list of node ids. */
export function sortedIds(ids: Iterable<NodeId>): NodeId[] {
  return [...new Set(ids)].sort()
}

/** Fills defaults and checks every field; a bad configuration is a programmer error. */
export function resolveRaftConfig(config: RaftConfig): ResolvedRaftConfig {
  assertNodeId(config.id)
  const voters = sortedIds(config.voters)
  const learners = sortedIds(config.learners ?? [])
  for (const id of voters) assertNodeId(id, 'voter id')
  for (const id of learners) {
    assertNodeId(id, 'learner id')
    assert(!voters.includes(id), `node ${id} is both a voter and a learner`)
  }
  const electionTicks = positiveInteger(config.electionTicks, 'electionTicks')
  const heartbeatTicks = positiveInteger(config.heartbeatTicks, 'heartbeatTicks')
  assert(heartbeatTicks < electionTicks, 'heartbeatTicks must be less than electionTicks')
  const checkQuorum = config.checkQuorum ?? RAFT_DEFAULTS.checkQuorum
  const leaseReads = config.leaseReads ?? RAFT_DEFAULTS.leaseReads
  // Leases rest on followers refusing votes while they hear from a leader, which is check-quorum.
  assert(!leaseReads || checkQuorum, 'leaseReads requires checkQuorum')
  const leaseTicks = config.leaseTicks ?? Math.max(1, Math.floor((electionTicks * 4) / 5))
  assert(
    Number.isSafeInteger(leaseTicks) && leaseTicks >= 1 && leaseTicks < electionTicks,
    'leaseTicks must be in [1, electionTicks)',
  )
  const appliedIndex = config.appliedIndex ?? 0
  assert(Number.isSafeInteger(appliedIndex) && appliedIndex >= 0, 'appliedIndex must be >= 0')
  return Object.freeze({
    id: config.id,
    voters,
    learners,
    electionTicks,
    heartbeatTicks,
    maxInflightMsgs: positiveInteger(config.maxInflightMsgs, 'maxInflightMsgs'),
    maxSizePerMsgBytes: positiveInteger(config.maxSizePerMsgBytes, 'maxSizePerMsgBytes'),
    maxUncommittedEntriesBytes: positiveInteger(
      config.maxUncommittedEntriesBytes ?? RAFT_DEFAULTS.maxUncommittedEntriesBytes,
      'maxUncommittedEntriesBytes',
    ),
    maxCommittedBytesPerReady: positiveInteger(
      config.maxCommittedBytesPerReady ?? RAFT_DEFAULTS.maxCommittedBytesPerReady,
      'maxCommittedBytesPerReady',
    ),
    preVote: config.preVote ?? RAFT_DEFAULTS.preVote,
    checkQuorum,
    leaseReads,
    leaseTicks,
    appliedIndex,
    readRequestsMax: positiveInteger(
      config.readRequestsMax ?? RAFT_DEFAULTS.readRequestsMax,
      'readRequestsMax',
    ),
    outboxMessagesMax: positiveInteger(
      config.outboxMessagesMax ?? RAFT_DEFAULTS.outboxMessagesMax,
      'outboxMessagesMax',
    ),
    random: config.random,
  })
}
