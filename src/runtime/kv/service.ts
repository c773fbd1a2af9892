/**
 * The node's plain key-value service: composes the replica store, the dot counter, the
 * coordinator, the hint replayer and the tombstone reaper, serves the REST routes (as their
 * KvBackend) and answers the `kv.*` peer messages.
 *
 * Lifecycle: build it (it registers its peer message types), `open()` it (counts hints, leases
 * dot counters, starts the background work) before the node serves, `stop()` it before the
 * node's storage closes. Requests that arrive before `open()` finishes are refused as
 * unavailable (definite).
 *
 * Peer input is validated by src/replication/messages.ts; this file adds what needs the
 * config: known eventual keyspaces, known nodes, partitions of this ring, levels within N.
 *
 * Fencing (src/replication/fencing.ts): every replica-bound request is served through
 * `fenced`, which adopts a newer topology version a request carries before serving it, refuses
 * one planned under an older version with `stale_ring`, and, for writes, refuses with
 * `stale_ring` (indefinite) a write applied while this node moved on to a newer version.
 */

import type { KvBackend, KvKeyspace } from '../../api/kv-routes.js'
import type { Config, KeyspaceConfig } from '../../config/load.js'
import type { Clock } from '../../env/clock.js'
import { MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { Random } from '../../env/random.js'
import type { PeerTransport } from '../../env/transport.js'
import { AAE_MESSAGE_TYPES } from '../../replication/antientropy/messages.js'
import { REPLICAS_MAX } from '../../replication/consistency.js'
import {
  fenceVerdict,
  RING_VERSION_FIELD,
  staleRing,
  unstampBody,
} from '../../replication/fencing.js'
import { HANDOFF_MESSAGE_TYPES } from '../../replication/handoff-messages.js'
import {
  decodeCoordinate,
  decodeList,
  decodeRead,
  decodeReap,
  decodeReapCheck,
  decodeReplicate,
  encodeWriteOutcome,
  KV_MESSAGE_TYPES,
  type MessageLimits,
} from '../../replication/messages.js'
import { hintDestinations } from '../../replication/plan.js'
import { encodeKeyRecord } from '../../replication/record.js'
import type {
  KeyspaceRef,
  ListOutcome,
  ListRequest,
  ReadOutcome,
  ReadRequest,
  WriteOutcome,
  WriteRequest,
} from '../../replication/requests.js'
import { holdsDigests } from '../../replication/witness.js'
import { holders } from '../../ring/topology.js'
import type { StorageEngine } from '../../storage/engine.js'
import type { GroupCommitter } from '../../storage/group-commit.js'
import { USER_KEY_BYTES_MAX } from '../../storage/layout.js'
import { decodeCausalContextToken } from '../../versioning/context-token.js'
import { AntiEntropy, type AntiEntropyCounters } from '../antientropy/anti-entropy.js'
import { ObservedReplicaStore } from '../antientropy/observed-store.js'
import type { PeerRouter } from '../peer-router.js'
import { Handoff } from '../topology/transfer-wiring.js'
import type { TopologyView, TransferStatus } from '../topology/view.js'
import { Coordinator, type CoordinatorCounters } from './coordinator.js'
import { DotCounter } from './dot-counter.js'
import { type HintReplayCounters, HintReplayer, type LivenessEvents } from './hints.js'
import { type ReaperCounters, TombstoneReaper } from './reaper.js'
import type { HintEntry, StoreCounters } from './store.js'

export interface KvServiceOptions {
  readonly config: Config
  readonly selfId: string
  /** The node's durable actor (`<node>.<epoch>`) and this process's boot number. */
  readonly actor: string
  readonly boots: number
  /** The versioned ring this node acts on (src/runtime/topology/view.ts). */
  readonly topology: TopologyView
  readonly liveness: LivenessEvents
  readonly peers: PeerTransport
  readonly router: PeerRouter
  readonly clock: Clock
  /**
   * Jitter of background schedules (anti-entropy), forked at `open()`, after every service
   * was built, so the node's other random streams stay as they were for a given seed.
   */
  readonly random: Random
  readonly storage: StorageEngine
  readonly commits: GroupCommitter
  readonly log: Logger
}

/** The service's counters; the sections of background work are undefined before `open()`. */
export interface KvLiveCounters {
  readonly store: Readonly<StoreCounters>
  readonly coordinator: Readonly<CoordinatorCounters> | undefined
  readonly hintReplay: Readonly<HintReplayCounters> | undefined
  readonly reaper: Readonly<ReaperCounters> | undefined
  readonly inflightRequests: number
  readonly repairsInFlight: number
  /** Peer requests refused because they were planned under an older topology version. */
  readonly requestsFenced: number
}

interface Running {
  readonly coordinator: Coordinator
  readonly replayer: HintReplayer
  readonly reaper: TombstoneReaper
  /** Undefined when replication.antiEntropy.enabled is false. */
  readonly antiEntropy: AntiEntropy | undefined
  /** Partition transfers and cleanup (src/runtime/topology/transfer-wiring.ts). */
  readonly handoff: Handoff
}

export class KvService implements KvBackend {
  readonly store: ObservedReplicaStore
  readonly limits: MessageLimits
  private running: Running | undefined
  private inflight = 0
  private stopped = false
  private fencedCount = 0

  constructor(private readonly options: KvServiceOptions) {
    const { config } = options
    this.store = new ObservedReplicaStore(
      options.storage,
      options.commits,
      { hintsPerTargetMax: config.replication.hintsPerTargetMax },
      options.log,
    )
    this.limits = {
      keyBytesMax: Math.min(config.limits.keyBytesMax, USER_KEY_BYTES_MAX),
      valueBytesMax: config.limits.valueBytesMax,
      replicasMax: REPLICAS_MAX,
      listPageMax: config.limits.listPageMax,
    }
    this.registerPeerHandlers(options.router)
  }

  /** Counts hints, leases dot counters and starts hint replay and reaping. */
  async open(): Promise<void> {
    const { config, selfId, topology, liveness, peers, clock, log } = this.options
    await this.store.open()
    const counter = await DotCounter.open(this.options.storage)
    const others = config.nodes.map((node) => node.id).filter((id) => id !== selfId)
    const coordinator = new Coordinator({
      selfId,
      actor: this.options.actor,
      boots: this.options.boots,
      topology,
      liveness,
      peers,
      clock,
      store: this.store,
      counter,
      log,
      peerTimeoutMs: config.requests.peerTimeoutMs,
      siblingsMax: config.limits.siblingsMax,
      messageLimits: this.limits,
      repairKey: (keyspace, key) => this.repairKey(keyspace, key),
      witnessesOf: (name) => this.keyspace(name)?.witnesses ?? 0,
    })
    const replayer = new HintReplayer({
      selfId,
      targets: others,
      store: this.store,
      peers,
      liveness,
      topology,
      route: (target, entry) => this.hintRoute(coordinator, target, entry),
      acceptLocal: async (entry) => {
        const keyspace = this.keyspace(entry.address.keyspace)
        if (keyspace === undefined) return
        await coordinator.acceptReplica(keyspace, entry.address, entry.record, undefined)
      },
      clock,
      log,
      intervalMs: config.replication.hintReplayIntervalMs,
      hintsPerSecond: config.replication.hintReplayPerSecond,
      bytesPerSecond: config.replication.hintReplayBytesPerSecond,
      hintsPerTargetMax: config.replication.hintsPerTargetMax,
      peerTimeoutMs: config.requests.peerTimeoutMs,
    })
    const reaper = new TombstoneReaper({
      selfId,
      members: config.nodes.map((node) => node.id),
      topology,
      keyspaces: config.keyspaces.filter((keyspace) => keyspace.mode === 'eventual'),
      store: this.store,
      peers,
      liveness,
      clock,
      log,
      graceMs: config.replication.tombstoneGraceMs,
      intervalMs: config.replication.reaperIntervalMs,
      peerTimeoutMs: config.requests.peerTimeoutMs,
    })
    const antiEntropy = await this.openAntiEntropy(coordinator)
    const handoff = new Handoff({
      ...this.options,
      engine: this.options.storage,
      store: this.store,
      limits: this.limits,
      antiEntropy,
      accept: (keyspace, address, record) =>
        coordinator.acceptReplica(keyspace, address, record, undefined),
    })
    this.running = { coordinator, replayer, reaper, antiEntropy, handoff }
    if (this.stopped) return
    replayer.start()
    reaper.start()
    antiEntropy?.start()
    await handoff.open()
  }

  /** Builds the anti-entropy trees from storage before any request can change a record. */
  private async openAntiEntropy(coordinator: Coordinator): Promise<AntiEntropy | undefined> {
    const { config, selfId, topology, liveness, peers, clock, random, log, storage } = this.options
    const settings = config.replication.antiEntropy
    if (!settings.enabled) return undefined
    const antiEntropy = new AntiEntropy({
      selfId,
      topology,
      keyspaces: config.keyspaces.filter((keyspace) => keyspace.mode === 'eventual'),
      store: this.store,
      engine: storage,
      peers,
      liveness,
      clock,
      random: random.fork('anti-entropy'),
      log,
      settings,
      peerTimeoutMs: config.requests.peerTimeoutMs,
      limits: this.limits,
      accept: async (keyspace, address, record) => {
        await coordinator.acceptReplica(keyspace, address, record, undefined)
      },
    })
    this.store.observe(antiEntropy.trees)
    await antiEntropy.open()
    return antiEntropy
  }

  /**
   * Where a hint for `target` goes now: the target while it holds the key's partition, else the
   * partition's holders (src/replication/plan.ts, `hintDestinations`).
   */
  private hintRoute(coordinator: Coordinator, target: string, entry: HintEntry): readonly string[] {
    const keyspace = this.keyspace(entry.address.keyspace)
    if (keyspace === undefined) return [target]
    const owners = holders(
      this.options.topology.topology(),
      entry.address.partition,
      keyspace.replicas,
    )
    const witnesses = coordinator.witnessesFor(keyspace, entry.address)
    return hintDestinations(target, owners, witnesses, holdsDigests(entry.record))
  }

  stop(): void {
    this.stopped = true
    this.running?.replayer.stop()
    this.running?.reaper.stop()
    this.running?.antiEntropy?.stop()
    this.running?.handoff.stop()
  }

  /** The transfers this node receives in the latest move (TransferReport). */
  transfers(): readonly TransferStatus[] {
    return this.running?.handoff.transfers() ?? []
  }

  /** Partition handoff, for metrics and tests; undefined before `open()`. */
  get handoff(): Handoff | undefined {
    return this.running?.handoff
  }

  /** Anti-entropy, for status, metrics and tests; undefined before `open()` or when disabled. */
  get antiEntropy(): AntiEntropy | undefined {
    return this.running?.antiEntropy
  }

  /** The anti-entropy counters, read by the metrics at scrape time (undefined when off). */
  antiEntropyCounters(): Readonly<AntiEntropyCounters> | undefined {
    return this.running?.antiEntropy?.counters
  }

  /** Tree rebuilds finished and keys the trees track (undefined when off). */
  antiEntropyTrees(): { readonly rebuilds: number; readonly keys: number } | undefined {
    const trees = this.running?.antiEntropy?.trees
    return trees === undefined ? undefined : { rebuilds: trees.rebuilds, keys: trees.keyCount() }
  }

  keyspace(name: string): (KvKeyspace & { readonly witnesses: number }) | undefined {
    return this.options.config.keyspaces.find((keyspace) => keyspace.name === name)
  }

  admit(): () => void {
    const inflightMax = this.options.config.limits.inflightRequestsMax
    if (this.inflight >= inflightMax) {
      throw new MurmurError('overloaded', `this node already works on ${this.inflight} requests`, {
        definite: true,
        details: { inflightRequestsMax: inflightMax },
      })
    }
    this.inflight++
    let released = false
    return () => {
      if (released) return
      released = true
      this.inflight--
    }
  }

  read(request: ReadRequest): Promise<ReadOutcome> {
    return this.ready().coordinator.read(request)
  }

  write(request: WriteRequest): Promise<WriteOutcome> {
    return this.ready().coordinator.write(request)
  }

  list(request: ListRequest): Promise<ListOutcome> {
    return this.ready().coordinator.list(request)
  }

  /** The running coordinator, for the other data types' services (refused before `open()`). */
  coordinator(): Coordinator {
    return this.ready().coordinator
  }

  /** Counters for /v1/cluster: hints held per target, hand-offs, repairs, reaping. */
  status(): Record<string, unknown> {
    const running = this.running
    return {
      hintsHeld: Object.fromEntries(this.store.hintCountsByTarget()),
      store: { ...this.store.counters },
      hintReplay: running === undefined ? {} : { ...running.replayer.counters },
      coordinator: running === undefined ? {} : { ...running.coordinator.counters },
      reaper: running === undefined ? {} : { ...running.reaper.counters },
      inflightRequests: this.inflight,
      requestsFenced: this.fencedCount,
    }
  }

  /** Anti-entropy status for /v1/cluster: totals and the last exchange of each tree. */
  antiEntropyStatus(): Record<string, unknown> {
    const enabled = this.options.config.replication.antiEntropy.enabled
    return this.running?.antiEntropy?.status() ?? { enabled, trees: 0 }
  }

  /** The live counters themselves (no copies), read by the metrics at scrape time. */
  liveCounters(): KvLiveCounters {
    const running = this.running
    return {
      store: this.store.counters,
      coordinator: running?.coordinator.counters,
      hintReplay: running?.replayer.counters,
      reaper: running?.reaper.counters,
      inflightRequests: this.inflight,
      repairsInFlight: running?.coordinator.repairsInFlight ?? 0,
      requestsFenced: this.fencedCount,
    }
  }

  /** The hint replayer and reaper, for tests that drive them directly. */
  get background(): { replayer: HintReplayer; reaper: TombstoneReaper } | undefined {
    return this.running === undefined
      ? undefined
      : { replayer: this.running.replayer, reaper: this.running.reaper }
  }

  private ready(): Running {
    if (this.running === undefined || this.stopped) {
      throw new MurmurError('unavailable', 'the key-value service is not running', {
        definite: true,
      })
    }
    return this.running
  }

  private repairKey(keyspace: KeyspaceRef, key: string): void {
    const timeoutMs = this.options.config.requests.peerTimeoutMs
    this.read({
      keyspace,
      key,
      requirement: { total: 1, primaries: 0 },
      timeoutMs,
      repair: 'blocking',
    }).then(undefined, (error: unknown) => this.options.log.debug('key repair failed', { error }))
  }

  /** The eventual keyspace a peer names, or invalid_request. */
  private eventual(name: string): KeyspaceConfig {
    const keyspace = this.keyspace(name)
    if (keyspace === undefined || keyspace.mode !== 'eventual') {
      throw new MurmurError('unknown_keyspace', `no eventual keyspace named ${name}`)
    }
    return keyspace as KeyspaceConfig
  }

  private member(node: string | undefined): string | undefined {
    if (node === undefined) return undefined
    const known = this.options.config.nodes.some((candidate) => candidate.id === node)
    if (!known || node === this.options.selfId) {
      throw new MurmurError('invalid_request', `cannot hold hints for ${node.slice(0, 128)}`)
    }
    return node
  }

  /**
   * Serves a replica-bound peer request under ring-version fencing: a request stamped with a
   * newer version than this node's is served once this node adopted it (from the sender); one
   * stamped with an older version is refused with `stale_ring` naming this node's. A `write`
   * is refused the same way, indefinitely (it is stored, not acknowledged), when this node moved
   * on while applying it, so an acknowledgement under a version precedes acting on the next.
   * `serve` gets the body without its stamp. A request without a stamp comes from a node that
   * predates fencing and is served unfenced, except where `stampRequired` (message types that
   * came with fencing, whose senders always stamp them): there it is invalid_request.
   */
  async fenced<T>(
    from: string,
    body: Readonly<Record<string, unknown>>,
    kind: 'read' | 'write',
    serve: (body: Readonly<Record<string, unknown>>) => Promise<T>,
    stampRequired = false,
  ): Promise<T> {
    const { topology } = this.options
    const { version: stamped, body: rest } = unstampBody(body)
    if (stamped === undefined && stampRequired) {
      throw new MurmurError('invalid_request', `${RING_VERSION_FIELD} is required`, {
        definite: true,
      })
    }
    if (stamped === undefined) return serve(rest)
    if (fenceVerdict(topology.topology().version, stamped) === 'adopt') {
      await this.adopt(stamped, from)
    }
    const before = topology.topology().version
    if (fenceVerdict(before, stamped) === 'stale') {
      this.fencedCount++
      throw staleRing(before, stamped, true)
    }
    const answer = await serve(rest)
    const after = topology.topology().version
    if (kind === 'write' && after !== before) {
      this.fencedCount++
      throw staleRing(after, stamped, false)
    }
    return answer
  }

  /** Adopts a version a peer named; a version that cannot be fetched is refused, definitely. */
  private async adopt(version: number, from: string): Promise<void> {
    try {
      await this.options.topology.adopt(version, from)
    } catch (error) {
      throw new MurmurError('unavailable', `topology version ${version} could not be adopted`, {
        definite: true,
        details: { version },
        cause: error,
      })
    }
  }

  private registerPeerHandlers(router: PeerRouter): void {
    router.register(KV_MESSAGE_TYPES.replicate, (from, body) =>
      this.fenced(from, body, 'write', (rest) => this.acceptForPeer(rest)),
    )
    router.register(KV_MESSAGE_TYPES.read, (from, body) =>
      this.fenced(from, body, 'read', (rest) => this.readForPeer(rest)),
    )
    router.register(KV_MESSAGE_TYPES.coordinate, (from, body) =>
      this.fenced(from, body, 'read', (rest) =>
        this.ready().coordinator.runForwarded(rest, (message) => this.coordinateForPeer(message)),
      ),
    )
    router.register(KV_MESSAGE_TYPES.list, (from, body) =>
      this.fenced(from, body, 'read', (rest) => this.listForPeer(rest)),
    )
    router.register(KV_MESSAGE_TYPES.reapCheck, (from, body) =>
      this.fenced(from, body, 'read', (rest) => this.reapCheckForPeer(rest)),
    )
    router.register(KV_MESSAGE_TYPES.reap, (from, body) =>
      this.fenced(from, body, 'write', async (rest) => {
        const reaper = this.ready().reaper
        const message = decodeReap(rest, this.limits)
        return { deleted: await reaper.reapLocal(message) }
      }),
    )
    this.registerAntiEntropyHandlers(router)
  }

  private async acceptForPeer(body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const coordinator = this.ready().coordinator
    const message = decodeReplicate(body, this.limits)
    const keyspace = this.eventual(message.keyspace)
    const address = coordinator.addressOf(message.keyspace, message.key)
    const hintFor = this.member(message.hintFor)
    const keptValues = await coordinator.acceptReplica(keyspace, address, message.record, hintFor)
    return { ok: true, keptValues }
  }

  private async readForPeer(body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const coordinator = this.ready().coordinator
    const message = decodeRead(body, this.limits)
    const keyspace = this.eventual(message.keyspace)
    const address = coordinator.addressOf(message.keyspace, message.key)
    const hintFor = this.member(message.hintFor)
    const record = await coordinator.readReplica(keyspace, address, hintFor)
    return { record: record === undefined ? null : encodeKeyRecord(record) }
  }

  private async listForPeer(body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const coordinator = this.ready().coordinator
    const message = decodeList(body, this.limits)
    this.eventual(message.keyspace)
    const { partitionCount } = this.options.topology.topology().current
    if (message.partitions.some((partition) => partition >= partitionCount)) {
      throw new MurmurError('invalid_request', 'partition outside the ring')
    }
    const { keyspace, partitions, prefix, after, limit } = message
    const part = await coordinator.listLocal(keyspace, partitions, prefix, after, limit)
    return { keys: part.keys, frontier: part.frontier ?? null }
  }

  private async reapCheckForPeer(body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const reaper = this.ready().reaper
    const message = decodeReapCheck(body, this.limits)
    for (const address of message.keys) this.eventual(address.keyspace)
    const reports = await reaper.check(message)
    return {
      reports: reports.map((report) => [
        report.hinted,
        report.record === undefined ? null : encodeKeyRecord(report.record),
      ]),
    }
  }

  private registerAntiEntropyHandlers(router: PeerRouter): void {
    router.register(AAE_MESSAGE_TYPES.hashes, (from, body) =>
      this.fenced(from, body, 'read', async (rest) => this.readyAntiEntropy().answerHashes(rest)),
    )
    router.register(AAE_MESSAGE_TYPES.keys, (from, body) =>
      this.fenced(from, body, 'read', (rest) => this.readyAntiEntropy().answerKeys(rest)),
    )
    router.register(AAE_MESSAGE_TYPES.records, (from, body) =>
      this.fenced(from, body, 'read', (rest) => this.readyAntiEntropy().answerRecords(rest)),
    )
    router.register(HANDOFF_MESSAGE_TYPES.page, (from, body) =>
      this.fenced(
        from,
        body,
        'read',
        (rest) => this.ready().handoff.engine.answerPage(from, rest),
        true,
      ),
    )
  }

  private readyAntiEntropy(): AntiEntropy {
    const antiEntropy = this.ready().antiEntropy
    if (antiEntropy === undefined) {
      throw new MurmurError('unavailable', 'anti-entropy is disabled on this node', {
        definite: true,
      })
    }
    return antiEntropy
  }

  private async coordinateForPeer(body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const coordinator = this.ready().coordinator
    const release = this.admit()
    try {
      const message = decodeCoordinate(body, this.limits)
      const keyspace = this.eventual(message.keyspace)
      if (message.w > keyspace.replicas || message.pw > keyspace.replicas) {
        throw new MurmurError(
          'invalid_consistency',
          `levels above the keyspace's ${keyspace.replicas} replicas`,
          {
            definite: true,
          },
        )
      }
      const outcome = await coordinator.coordinate({
        keyspace,
        key: message.key,
        operation: message.operation,
        value: message.value,
        contentType: message.contentType,
        context: decodeCausalContextToken(message.context),
        requirement: { total: message.w, primaries: message.pw },
        timeoutMs: message.timeoutMs,
        returnBody: message.returnBody,
      })
      return encodeWriteOutcome(outcome)
    } finally {
      release()
    }
  }
}
