/**
 * The vocabulary of the Raft core: log entries, persistent state, snapshots, configuration
 * changes, the messages peers exchange and the Ready batch the core hands to its runtime. All of
 * them are plain, immutable-by-convention objects that msgpack can carry (src/raft/codec.ts
 * validates them on the way in), so a message or an entry never shares state between nodes.
 */

import type { NodeId } from '../env/transport.js'

export type { NodeId }

/** Stands for "no node": no vote cast, no leader known. Real node ids are never empty. */
export const NO_NODE: NodeId = ''

export type ConfChangeType = 'add_voter' | 'add_learner' | 'remove_node'

/**
 * One single-server membership change. `add_voter` on a learner promotes it, `add_learner` on a
 * voter demotes it, and `remove_node` removes a voter or a learner. Node ids are never reused.
 */
export interface ConfChange {
  readonly type: ConfChangeType
  readonly nodeId: NodeId
}

/** An application command; an empty `data` is the leader's no-op at the start of its term. */
export interface NormalEntry {
  readonly kind: 'normal'
  readonly term: number
  readonly index: number
  readonly data: Uint8Array
}

/** A membership change; the core applies it when the application has applied the entry. */
export interface ConfChangeEntry {
  readonly kind: 'conf_change'
  readonly term: number
  readonly index: number
  readonly change: ConfChange
}

export type Entry = NormalEntry | ConfChangeEntry

/** The state that must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: number
  /** The candidate this node voted for in `term`, or NO_NODE. */
  readonly vote: NodeId
  readonly commit: number
}

/** A membership configuration: both lists sorted, disjoint, without duplicates. */
export interface ConfState {
  readonly voters: readonly NodeId[]
  readonly learners: readonly NodeId[]
}

export interface SnapshotMetadata {
  /** The last log index the snapshot covers, and that entry's term. */
  readonly index: number
  readonly term: number
  /** The configuration as of `index`. */
  readonly confState: ConfState
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata
  /** The application's state machine as of `metadata.index`, opaque to the core. */
  readonly data: Uint8Array
}

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: NO_NODE, commit: 0 }
export const EMPTY_CONF_STATE: ConfState = { voters: [], learners: [] }

export type Role = 'follower' | 'pre_candidate' | 'candidate' | 'leader'

/** Volatile state the runtime may show (GET /v1/raft) but never persists. */
export interface SoftState {
  readonly role: Role
  readonly leader: NodeId
}

/** A linearizable read point: serve the read once the state machine has applied `index`. */
export interface ReadState {
  readonly index: number
  readonly context: Uint8Array
}

interface MessageHeader {
  readonly from: NodeId
  readonly to: NodeId
  /** The sender's term (for a granted pre-vote: the term the candidate would campaign in). */
  readonly term: number
}

/** AppendEntries: `entries` follow the entry at (`index`, `logTerm`). */
export interface AppendMessage extends MessageHeader {
  readonly type: 'append'
  readonly index: number
  readonly logTerm: number
  readonly entries: readonly Entry[]
  readonly commit: number
}

/**
 * The answer to an append or a snapshot. Accepted: `index` is the follower's last index known to
 * match the leader. Rejected: `index` is the rejected append's previous index, and
 * (`rejectHint`, `logTerm`) name the follower's last entry whose term is at most the append's
 * `logTerm`, so the leader can skip a whole term of mismatching entries per round trip.
 */
export interface AppendResponseMessage extends MessageHeader {
  readonly type: 'append_response'
  readonly index: number
  readonly reject: boolean
  readonly rejectHint: number
  readonly logTerm: number
}

/** Keeps followers quiet; `round` feeds leader leases and `context` confirms ReadIndex reads. */
export interface HeartbeatMessage extends MessageHeader {
  readonly type: 'heartbeat'
  readonly commit: number
  readonly round: number
  readonly context: Uint8Array
}

export interface HeartbeatResponseMessage extends MessageHeader {
  readonly type: 'heartbeat_response'
  readonly round: number
  readonly context: Uint8Array
}

/** RequestVote (or its pre-vote probe); `index`/`logTerm` describe the candidate's last entry. */
export interface VoteMessage extends MessageHeader {
  readonly type: 'vote' | 'pre_vote'
  readonly index: number
  readonly logTerm: number
  /** Set by a leadership transfer: voters then ignore their leader lease. */
  readonly transfer: boolean
}

export interface VoteResponseMessage extends MessageHeader {
  readonly type: 'vote_response' | 'pre_vote_response'
  readonly reject: boolean
}

/** InstallSnapshot: the whole snapshot in one message; the transport streams large ones. */
export interface SnapshotMessage extends MessageHeader {
  readonly type: 'snapshot'
  readonly snapshot: Snapshot
}

/** Leadership transfer: the target campaigns at once, skipping pre-vote. */
export interface TimeoutNowMessage extends MessageHeader {
  readonly type: 'timeout_now'
}

/** A follower asks the leader for a read index on behalf of a local read. */
export interface ReadIndexMessage extends MessageHeader {
  readonly type: 'read_index'
  readonly context: Uint8Array
}

export interface ReadIndexResponseMessage extends MessageHeader {
  readonly type: 'read_index_response'
  readonly index: number
  readonly context: Uint8Array
}

export type Message =
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | VoteMessage
  | VoteResponseMessage
  | SnapshotMessage
  | TimeoutNowMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage

export type MessageType = Message['type']

export const MESSAGE_TYPES: readonly MessageType[] = [
  'append',
  'append_response',
  'heartbeat',
  'heartbeat_response',
  'vote',
  'pre_vote',
  'vote_response',
  'pre_vote_response',
  'snapshot',
  'timeout_now',
  'read_index',
  'read_index_response',
]

/**
 * One batch of effects. The runtime carries it out in this order: persist `snapshot`, `entries`
 * and `hardState`; then send `messages`; then apply `snapshot` (if any) and `committedEntries`
 * to the state machine and serve `readStates` once applied; then call `advance()`.
 */
export interface Ready {
  readonly softState: SoftState
  /** Present when term, vote or commit changed since the previous Ready. */
  readonly hardState?: HardState
  /** Entries to append to stable storage; they may replace a conflicting suffix. */
  readonly entries: readonly Entry[]
  /** A snapshot received from the leader, to persist and to load into the state machine. */
  readonly snapshot?: Snapshot
  /** Entries known to be committed, in index order, to apply to the state machine. */
  readonly committedEntries: readonly Entry[]
  readonly messages: readonly Message[]
  readonly readStates: readonly ReadState[]
  /** False when only the commit index changed, so the write needs no fsync. */
  readonly mustSync: boolean
}

/** The outcome of propose and proposeConfChange; a refused proposal was certainly not logged. */
export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderHint: NodeId }
  | {
      readonly ok: false
      readonly reason: 'transferring' | 'size_limit' | 'conf_change_pending' | 'invalid_change'
    }

export type ReadIndexResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderHint: NodeId }
  | { readonly ok: false; readonly reason: 'dropped' }

export type CampaignResult =
  | { readonly ok: true }
  | {
      readonly ok: false
      readonly reason: 'already_leader' | 'not_promotable' | 'conf_change_pending'
    }

export type TransferResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderHint: NodeId }
  | { readonly ok: false; readonly reason: 'invalid_target' }
