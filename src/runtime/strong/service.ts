/**
 * The strong keyspaces' service: what the REST routes call. Every strong keyspace is served by
 * one Raft group whose voters are `raft.members`; members run the group (RaftRuntime over a
 * DurableRaftStorage and the StrongStateMachine), other nodes only forward.
 *
 * Where a request runs:
 * - a command (write, lock operation) runs on the leader: a member that is not the leader, or
 *   a node outside the group, forwards it (`strong.forward`) to the leader it knows of, or to
 *   a member, which forwards it on; forwarding chains are bounded by FORWARD_HOPS_MAX;
 * - a linearizable read runs on any member: it obtains a read index from the leader (one
 *   heartbeat round, or the leader's lease when `raft.leaseReads` is on) and reads its own state
 *   machine once that index is applied; a serializable read reads a member's state machine as
 *   it is, possibly stale. Nodes outside the group forward reads to a member.
 *
 * Retries. Until the request's deadline, a failure that certainly had no effect (no leader
 * known, a node that is not the leader, an unreachable peer) is retried after RETRY_DELAY_MS,
 * so requests ride through elections. A write whose outcome is unknown (a forward that timed
 * out, a proposal that did not commit in time) is never retried here: the client gets
 * `definite: false` and may retry with the same request id, which the state machine applies
 * once. At the deadline the answer is 503 `no_quorum`.
 */

import type { Config, KeyspaceConfig } from '../../config/load.js'
import type { Clock } from '../../env/clock.js'
import { isMurmurError, MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { Random } from '../../env/random.js'
import type { NodeId, PeerTransport } from '../../env/transport.js'
import { NO_NODE } from '../../raft/index.js'
import {
  type Command,
  type CommandResult,
  KEY_LENGTH_MAX,
  parseResult,
  type TopologyState,
} from '../../raft/machine/commands.js'
import { StrongStateMachine } from '../../raft/machine/state-machine.js'
import type { StorageEngine } from '../../storage/engine.js'
import type { PeerRouter } from '../peer-router.js'
import { DurableRaftStorage } from './durable-storage.js'
import {
  FORWARD_HOPS_MAX,
  type ForwardedRequest,
  forwardBody,
  parseForward,
  parseReadAnswer,
  type ReadAnswer,
  STRONG_FORWARD_TYPE,
} from './messages.js'
import { noQuorum, notLeader, RaftRuntime, type RaftView } from './raft-runtime.js'

/** The Raft group id in the storage layout. */
export const STRONG_GROUP_ID = 'strong'
/** Pause between attempts while no leader is known or the known one moved. */
const RETRY_DELAY_MS = 25
/** Attempts per request, on top of the deadline. */
const ATTEMPTS_MAX = 10_000
/** Lists return at most this many keys per page. */
export const LIST_LIMIT_MAX = 10_000

export interface StrongServiceOptions {
  readonly config: Config
  readonly selfId: NodeId
  readonly clock: Clock
  readonly random: Random
  readonly storage: StorageEngine
  readonly peers: PeerTransport
  readonly router: PeerRouter
  readonly log: Logger
  /** Receives each applied proposal's commit latency (members only), for metrics. */
  readonly onCommitLatencyMs?: (latencyMs: number) => void
}

export interface ListAnswer {
  readonly keys: readonly string[]
}

export class StrongService {
  readonly members: readonly NodeId[]
  readonly isMember: boolean
  private runtime: RaftRuntime | undefined
  private machine: StrongStateMachine | undefined
  private readonly strongKeyspaces: ReadonlyMap<string, KeyspaceConfig>
  private forwardsInFlight = 0
  private requestsInFlight = 0
  private memberCursor = 0
  /** The leader learned from answers (nodes outside the group have no Raft view of it). */
  private learnedLeader: NodeId = NO_NODE
  private stopped = false
  /** Told of every change of the replicated topology state (members only). */
  private topologyListener: ((state: TopologyState) => void) | undefined
  /** Names this process's internal request ids, so a restart never reuses one. */
  private readonly incarnation: string
  private internalRequests = 0

  constructor(private readonly options: StrongServiceOptions) {
    const { config, selfId } = options
    this.members = config.raft.members
    this.isMember = this.members.includes(selfId)
    this.incarnation = options.random.u32().toString(36)
    this.strongKeyspaces = new Map(
      config.keyspaces
        .filter((keyspace) => keyspace.mode === 'strong')
        .map((keyspace) => [keyspace.name, keyspace]),
    )
    options.router.register(STRONG_FORWARD_TYPE, (from, body) => this.onForward(from, body))
  }

  /** Opens the group's storage and starts the Raft runtime (members only). */
  async open(): Promise<void> {
    if (!this.isMember) return
    const { config, storage, selfId } = this.options
    const durable = await DurableRaftStorage.open(storage, STRONG_GROUP_ID)
    this.machine = new StrongStateMachine({
      stateBytesMax: config.raft.stateBytesMax,
      requestIdsMax: config.raft.requestIdsMax,
      requestIdTtlMs: config.raft.requestIdTtlMs,
    })
    // Before the runtime restores the latest snapshot, so the listener hears that state too.
    this.machine.topology.setListener(this.topologyListener)
    this.runtime = new RaftRuntime({
      selfId,
      settings: config.raft,
      clock: this.options.clock,
      random: this.options.random.fork('raft'),
      storage: durable,
      machine: this.machine,
      peers: this.options.peers,
      router: this.options.router,
      log: this.options.log.child({ component: 'raft' }),
      ...(this.options.onCommitLatencyMs === undefined
        ? {}
        : { onCommitLatencyMs: this.options.onCommitLatencyMs }),
    })
    this.runtime.start()
  }

  stop(): void {
    this.stopped = true
    this.runtime?.stop()
  }

  /**
   * Subscribes the node's topology manager to the replicated topology state: it hears each
   * state as this member applies it (and the one restored at open). Set before `open()`.
   */
  setTopologyListener(listener: (state: TopologyState) => void): void {
    this.topologyListener = listener
    this.machine?.topology.setListener(listener)
  }

  /** The topology state as this member has applied it; undefined outside the group. */
  topologyState(): TopologyState | undefined {
    return this.machine?.topology.state()
  }

  /** Whether this node leads the Raft group now. */
  isLeader(): boolean {
    return this.runtime?.isLeader === true
  }

  /** The strong keyspace named `name`, or undefined (eventual or unknown). */
  keyspace(name: string): KeyspaceConfig | undefined {
    return this.strongKeyspaces.get(name)
  }

  /** Admits one client request against `limits.inflightRequestsMax`; returns its release. */
  admit(): () => void {
    if (this.requestsInFlight >= this.options.config.limits.inflightRequestsMax) {
      throw new MurmurError('overloaded', 'too many strong requests in progress', {
        definite: true,
      })
    }
    this.requestsInFlight++
    let released = false
    return () => {
      if (released) return
      released = true
      this.requestsInFlight--
    }
  }

  async command(
    command: Command,
    requestId: string | undefined,
    timeoutMs: number,
  ): Promise<CommandResult> {
    return (await this.execute({
      op: 'command',
      command,
      requestId,
      timeoutMs,
      hops: 0,
    })) as CommandResult
  }

  async read(
    keyspace: string,
    key: string,
    linearizable: boolean,
    timeoutMs: number,
  ): Promise<ReadAnswer> {
    const request = { op: 'read', keyspace, key, linearizable, timeoutMs, hops: 0 } as const
    return (await this.execute(request)) as ReadAnswer
  }

  async list(request: {
    readonly keyspace: string
    readonly prefix: string
    readonly after: string
    readonly limit: number
    readonly linearizable: boolean
    readonly timeoutMs: number
  }): Promise<ListAnswer> {
    return (await this.execute({ op: 'list', ...request, hops: 0 })) as ListAnswer
  }

  /** The Raft runtime's view and the applied index, typed; undefined outside the group. */
  raftView(): (RaftView & { readonly applied: number }) | undefined {
    const runtime = this.runtime
    if (runtime === undefined) return undefined
    return { ...runtime.view(), applied: runtime.applyIndex }
  }

  /** GET /v1/raft: this node's view of the group. */
  view(): Record<string, unknown> {
    const base = { node: this.options.selfId, member: this.isMember, members: this.members }
    const runtime = this.runtime
    const machine = this.machine
    if (runtime === undefined || machine === undefined) {
      return { ...base, leader: this.learnedLeader === NO_NODE ? null : this.learnedLeader }
    }
    const view = runtime.view()
    const { status } = view
    return {
      ...base,
      role: status.role,
      term: status.term,
      leader: status.leader === NO_NODE ? null : status.leader,
      commit: status.commit,
      applied: machine.appliedIndex,
      firstIndex: status.firstIndex,
      lastIndex: status.lastIndex,
      snapshotIndex: view.snapshotIndex,
      logBytes: view.logBytes,
      stateBytes: machine.bytes,
      requestIds: machine.requestIdsHeld,
      failed: view.failed,
      progress: Object.fromEntries(view.progress),
      counters: view.counters,
    }
  }

  // ---------------------------------------------------------------------------------------
  // Execution: here, or forwarded.

  /** Runs `request` where it belongs, retrying definite failures until its deadline. */
  private async execute(original: ForwardedRequest): Promise<unknown> {
    if (this.stopped)
      throw new MurmurError('unavailable', 'the node is stopping', { definite: true })
    const request = this.identified(original)
    const clock = this.options.clock
    const deadlineMs = clock.nowMs() + request.timeoutMs
    let lastError: MurmurError | undefined
    let mayHaveApplied = false
    for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
      const remainingMs = deadlineMs - clock.nowMs()
      if (remainingMs <= 0) break
      try {
        return await this.attempt(request, deadlineMs, remainingMs)
      } catch (error) {
        if (!isMurmurError(error) || !this.retriable(request, error)) throw error
        lastError = error
        mayHaveApplied ||= request.op === 'command' && error.definite !== true
        this.learnLeader(error)
      }
      await this.pause(Math.min(RETRY_DELAY_MS, deadlineMs - clock.nowMs()))
    }
    const reason = lastError === undefined ? 'the request timed out' : lastError.message
    throw noQuorum(reason, !mayHaveApplied)
  }

  private async attempt(
    request: ForwardedRequest,
    deadlineMs: number,
    remainingMs: number,
  ): Promise<unknown> {
    const runtime = this.runtime
    if (runtime !== undefined && (request.op !== 'command' || runtime.isLeader)) {
      return this.runLocally(runtime, request, deadlineMs)
    }
    const target = this.forwardTarget()
    if (target === undefined) throw notLeader(NO_NODE, 'no leader is known yet')
    if (request.hops >= FORWARD_HOPS_MAX) throw notLeader(target)
    // Leave the remote node room to answer before this node's own deadline passes.
    const marginMs = Math.min(50, Math.floor(remainingMs / 10))
    const timeoutMs = Math.max(1, Math.floor(remainingMs - marginMs))
    const forwarded = { ...request, timeoutMs, hops: request.hops + 1 }
    return this.forward(target, forwarded, remainingMs)
  }

  private async runLocally(
    runtime: RaftRuntime,
    request: ForwardedRequest,
    deadlineMs: number,
  ): Promise<unknown> {
    const machine = this.machine
    if (machine === undefined) throw new MurmurError('unavailable', 'strong mode is not open')
    switch (request.op) {
      case 'command':
        return runtime.propose(request.command, request.requestId, deadlineMs)
      case 'read': {
        if (request.linearizable) await runtime.readIndex(deadlineMs)
        const stored = machine.kv.get(request.keyspace, request.key)
        if (stored === undefined) return { found: false }
        return { found: true, ...stored }
      }
      case 'list':
        if (request.linearizable) await runtime.readIndex(deadlineMs)
        return {
          keys: machine.kv.list(
            request.keyspace,
            request.prefix,
            request.after,
            Math.min(request.limit, LIST_LIMIT_MAX),
          ),
        }
    }
  }

  /** The node to forward to: the known leader, else the next member in turn. */
  private forwardTarget(): NodeId | undefined {
    const leader = this.runtime?.leader ?? this.learnedLeader
    if (leader !== NO_NODE && leader !== this.options.selfId) return leader
    if (this.runtime !== undefined) return undefined
    const member = this.members[this.memberCursor % this.members.length]
    this.memberCursor++
    return member
  }

  private async forward(
    target: NodeId,
    request: ForwardedRequest,
    timeoutMs: number,
  ): Promise<unknown> {
    if (this.forwardsInFlight >= this.options.config.raft.forwardsMax) {
      throw new MurmurError('overloaded', 'too many strong requests are being forwarded', {
        definite: true,
      })
    }
    this.forwardsInFlight++
    try {
      const answer = await this.options.peers.request(target, forwardBody(request), timeoutMs)
      if (this.runtime === undefined && request.op === 'command') this.learnedLeader = target
      return parseAnswer(request, answer)
    } catch (error) {
      // A node outside the group that cannot reach its guess tries the next member.
      if (this.learnedLeader === target) this.learnedLeader = NO_NODE
      throw error
    } finally {
      this.forwardsInFlight--
    }
  }

  /**
   * A command that may travel to another node gets a request id if the client gave none: the
   * network may deliver a forward twice, and a forward that timed out may be retried, and the
   * state machine applies each id once. Ids starting with `~` are reserved for this.
   */
  private identified(request: ForwardedRequest): ForwardedRequest {
    if (request.op !== 'command' || request.requestId !== undefined) return request
    if (this.runtime?.isLeader === true) return request
    this.internalRequests++
    const requestId = `~${this.options.selfId}.${this.incarnation}.${this.internalRequests}`
    return { ...request, requestId }
  }

  /**
   * Whether a failed attempt may be tried again: it certainly had no effect, or it only read,
   * or it carries a request id (the state machine applies it at most once).
   */
  private retriable(request: ForwardedRequest, error: MurmurError): boolean {
    const transient =
      error.code === 'not_leader' ||
      error.code === 'unavailable' ||
      error.code === 'no_quorum' ||
      error.code === 'timeout'
    // A request forwarded as far as it may go is answered at once; its sender retries.
    if (!transient || request.hops >= FORWARD_HOPS_MAX) return false
    if (request.op !== 'command' || error.definite === true) return true
    return request.requestId !== undefined && error.code !== 'no_quorum'
  }

  private learnLeader(error: MurmurError): void {
    const leader = error.details['leader']
    if (this.runtime === undefined && typeof leader === 'string' && this.members.includes(leader)) {
      this.learnedLeader = leader
    }
  }

  private pause(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.options.clock.setTimer(Math.max(0, delayMs), resolve))
  }

  // ---------------------------------------------------------------------------------------
  // Serving forwarded requests.

  private async onForward(from: NodeId, body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const request = parseForward(body, KEY_LENGTH_MAX)
    const timeoutMs = Math.min(request.timeoutMs, this.options.config.requests.timeoutMsMax)
    if (request.hops > FORWARD_HOPS_MAX) {
      throw new MurmurError('invalid_request', `request from ${from} was forwarded too often`)
    }
    return this.execute({ ...request, timeoutMs })
  }
}

/** Validates what a peer answered a forwarded request with. */
function parseAnswer(request: ForwardedRequest, answer: unknown): unknown {
  switch (request.op) {
    case 'command':
      return parseResult(answer)
    case 'read':
      return parseReadAnswer(answer)
    case 'list': {
      const keys = (answer as { keys?: unknown } | null)?.keys
      if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) {
        throw new MurmurError('invalid_request', 'a member answered a listing without keys')
      }
      return { keys }
    }
  }
}
