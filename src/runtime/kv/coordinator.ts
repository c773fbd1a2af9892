/**
 * The coordinator of plain key-value requests: runs the pure cores of src/replication against
 * this node's store and its peers.
 *
 * Writes. A node that is not a primary of the key forwards the write (`kv.coordinate`) to the
 * first usable full primary, because the coordinator mints the new version's dot; when every
 * full primary is down or refuses, it coordinates itself as a fallback. The coordinator mints
 * on its own record of the key (a fallback coordinator keeps one too, so it never mints a dot
 * twice), then sends the resulting record to every other target (`kv.replicate`; fallbacks
 * store it as a hint), replacing failed targets by spares, until the (joint) write tally is
 * met or cannot be, or the request's time is up. Effect order: the local record is durable before
 * any replica sees it, and a success is answered only once `w` replicas (`pw` primaries)
 * acknowledged durable copies.
 *
 * Why the fan-out does not start in parallel with the local write: the node-wide counter
 * floor keeps dots unique across a crash, but not exact clocks. Were a dot sent before the
 * coordinator's own copy was durable, a power loss could leave it on replicas only; the next
 * write minted here (on the record that lacks it) would carry a clock entry for this actor
 * above that dot and so cover it, and every replica's merge would silently drop that write.
 * Keeping the order costs one fdatasync of latency per write, not throughput: the sync runs on
 * the thread pool and one sync serves every write that arrived meanwhile (group commit). An
 * actor that changes after every unclean restart would lift the rule, at the price of a new
 * clock entry per crash.
 *
 * Reads. A read asks only as many targets as its level needs (`kv.read`; a fallback answers
 * from its hints for the primary it stands in for), this node first because its answer costs
 * no message; the other targets stand by to replace one that fails, as Cassandra does, and a
 * read at r=1 on a primary is answered from the local record alone. Once the ReadTally is
 * met, the merge is the answer. Primaries among the answers whose record differs from the
 * merge are repaired with it: before the reply when the request asks for blocking repair, and
 * in any case in the background once every asked target answered or the time is up. Replicas
 * that were not asked are not repaired by this read; r=all asks (and repairs) every one, and
 * hinted handoff and later reads heal the rest (docs/ARCHITECTURE.md, Replication).
 *
 * Witnesses (docs/ARCHITECTURE.md, Witnesses). In a keyspace with witnesses, a witness
 * coordinates the writes it receives like any primary: it mints on its own record (which holds
 * every dot, values as digests) and keeps the new record in witness form, with the value in
 * custody as a hint for a full primary in the same atomic write, so a digest is never durable
 * without its value. Once a full copy acknowledged the write the hint is released, unless the
 * witness is promoted for a down full primary, whose hint stays until handed off. Every record
 * sent to a target in a witness role is sent in witness form (digests), and a node that
 * receives a record keeps it in the form its role for the key asks for (`acceptReplica`). A
 * read is served only when at least one full copy answered and the merge holds a value for
 * every write a witness reports; until then the held-back full targets are asked, and when
 * none is left the read fails with 503.
 *
 * Topology (docs/ARCHITECTURE.md, Requests during a move). Every request acts on the version
 * of the topology this node holds when it plans: reads, listings, read repair and the choice of
 * coordinator use the current ring's owners; a write goes to the owners of every write owner
 * set and is met only when each set reaches its level (JointWriteTally). Every replica-bound
 * request carries the version (src/replication/fencing.ts). A replica that answers `stale_ring`
 * names a newer version: the coordinator adopts it and runs the request again under it within
 * the same deadline, up to TOPOLOGY_ATTEMPTS_MAX times; a write is not minted again, its record
 * is sent to the new owners. A write whose quorum is met after this node itself moved on to a
 * newer version is sent again under that version too, so an acknowledgement given under a
 * version never rests on this node's own copy applied after it acted on the next.
 */

import { createHash } from 'node:crypto'
import { assert } from '../../env/assert.js'
import type { Clock } from '../../env/clock.js'
import { isMurmurError, MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { PeerTransport } from '../../env/transport.js'
import { REPLICAS_MAX, type Requirement } from '../../replication/consistency.js'
import { refuseOtherTypes } from '../../replication/crdt-update.js'
import { staleRingVersion, stampBody } from '../../replication/fencing.js'
import { JointWriteTally } from '../../replication/joint-quorum.js'
import { type ListPart, mergeListParts } from '../../replication/listing.js'
import {
  decodeListAnswer,
  decodeReadAnswer,
  decodeWriteOutcome,
  encodeCoordinate,
  KV_MESSAGE_TYPES,
  type MessageLimits,
} from '../../replication/messages.js'
import {
  chooseCoordinator,
  isWitnessTarget,
  jointWitnesses,
  type Liveness,
  type PartitionOrder,
  planFromOrder,
  type ReplicaPlan,
  type ReplicaTarget,
  type WitnessCustody,
  witnessCustody,
  writeOrders,
} from '../../replication/plan.js'
import { ReadTally, type WriteFailure } from '../../replication/quorum.js'
import {
  EMPTY_RECORD,
  encodeKeyRecord,
  isEmptyRecord,
  type KeyRecord,
  type KeyRecordWire,
  type KvPayload,
  kvState,
  mergeRecords,
  recordsEqual,
} from '../../replication/record.js'
import type {
  KeyspaceRef,
  ListOutcome,
  ListRequest,
  ReadOutcome,
  ReadRequest,
  WriteOutcome,
  WriteRequest,
} from '../../replication/requests.js'
import { holdsDigests, holdsValues, witnessForm } from '../../replication/witness.js'
import { partitionForKey } from '../../ring/index.js'
import { readOwners, type Topology } from '../../ring/topology.js'
import type { DataKey } from '../../storage/layout.js'
import { encodeCausalContextToken } from '../../versioning/context-token.js'
import { contextHighest } from '../../versioning/dot-context.js'
import { type DotContext, updateDotted, writeContext } from '../../versioning/dvv.js'
import { ACTOR_BYTES_MAX, type Dot } from '../../versioning/version-vector.js'
import type { TopologyView } from '../topology/view.js'
import { Deadline } from './deadline.js'
import type { DotCounter } from './dot-counter.js'
import { ForwardedWrites } from './forwarded-writes.js'
import type { ReplicaStore } from './store.js'

/** Extra time a forwarded write gets over the coordinator's own budget, for the answer. */
const FORWARD_MARGIN_MS = 500
/** Background read repairs in flight at once; beyond, repairs are skipped and counted. */
const BACKGROUND_REPAIRS_MAX = 1024
/** Forwarded writes a primary remembers, so a copy delivered twice runs once. */
const FORWARDS_REMEMBERED_MAX = 16_384
const FORWARDS_REMEMBERED_MS = 60_000
/** Longest forward id a primary accepts. */
export const FORWARD_ID_CHARS_MAX = 64
/** Times one request is planned at most: the first plan and its retries under newer versions. */
export const TOPOLOGY_ATTEMPTS_MAX = 4

export interface CoordinatorOptions {
  readonly selfId: string
  readonly actor: string
  /** This process's boot number: forward ids must differ from every earlier incarnation's. */
  readonly boots: number
  /** The versioned ring this node acts on; it only moves forward. */
  readonly topology: TopologyView
  readonly liveness: Liveness
  readonly peers: PeerTransport
  readonly clock: Clock
  readonly store: ReplicaStore
  readonly counter: DotCounter
  readonly log: Logger
  readonly peerTimeoutMs: number
  readonly siblingsMax: number
  readonly messageLimits: MessageLimits
  /** Starts a read that repairs one key, after its local record was found corrupt. */
  readonly repairKey: (keyspace: KeyspaceRef, key: string) => void
  /** How many of a keyspace's replicas are witnesses (0 for an unknown keyspace). */
  readonly witnessesOf: (keyspace: string) => number
}

export interface CoordinatorCounters {
  writesCoordinated: number
  /** Writes coordinated here while this node is a witness of the key (among the above). */
  writesWitnessCoordinated: number
  /** Values a coordinating witness kept in custody and released once a full copy held them. */
  witnessCustodyReleased: number
  writesForwarded: number
  /** Second copies of a forwarded write, answered with the first copy's outcome. */
  forwardsDeduplicated: number
  readRepairs: number
  readRepairsSkipped: number
  /** Reads that held planned replicas back, because their level needed fewer answers. */
  readsNarrowed: number
  /** Reads whose merged answer held more than one sibling, and those siblings summed. */
  readsWithSiblings: number
  siblingsRead: number
  /** Reads that asked another full replica because a witness reported a newer write. */
  readsWitnessExtended: number
  /** Reads refused because no full replica that answered held what a witness reported. */
  readsWitnessStale: number
  /** Requests planned again under a newer topology a replica named (`stale_ring`). */
  topologyRetries: number
}

/** What one planned request is about: a key, and the topology version it was planned under. */
interface RequestScope {
  readonly keyspace: KeyspaceRef
  readonly address: DataKey
  readonly version: number
}

/** A replica that answered `stale_ring`: the version it named. */
interface Stale {
  readonly version: number
  readonly from: string
}

/** The owner-set orders of one partition under one topology version. */
interface Orders {
  readonly version: number
  /** The current ring's first: reads and the choice of coordinator use it. */
  readonly sets: readonly PartitionOrder[]
}

interface Minted {
  readonly record: KeyRecord
  readonly dot: Dot
  /** Where this node (a witness of the key) keeps the value in custody; undefined if nowhere. */
  readonly custody: WitnessCustody | undefined
}

function isDefinite(error: unknown): boolean {
  return isMurmurError(error) && error.definite === true
}

function quorumUnavailable(
  what: 'write' | 'read',
  failure: WriteFailure,
  timedOut: boolean,
): MurmurError {
  const reason = timedOut ? 'in time' : 'from the replicas that could be reached'
  const verb = what === 'write' ? 'acknowledgements' : 'answers'
  const full = failure.fullAcknowledged === 0 ? ', none from a full replica' : ''
  const message =
    `${what} needs ${failure.required} ${verb} (${failure.primariesRequired} from primaries, ` +
    `one from a full replica) but got ${failure.acknowledged} ` +
    `(${failure.primariesAcknowledged} from primaries${full}) ${reason}`
  return new MurmurError('quorum_unavailable', message, {
    details: {
      required: failure.required,
      acknowledged: failure.acknowledged,
      primariesRequired: failure.primariesRequired,
      primariesAcknowledged: failure.primariesAcknowledged,
      fullAcknowledged: failure.fullAcknowledged,
    },
    ...(what === 'write' ? { definite: failure.definite } : {}),
  })
}

/** A read whose full answers miss a write that a witness reports, with no full replica left. */
function staleFullReplicas(failure: WriteFailure): MurmurError {
  return new MurmurError(
    'quorum_unavailable',
    'a witness reports a write that no full replica that answered holds, and no other full ' +
      'replica could be asked; retry once the full replicas are back',
    {
      details: {
        required: failure.required,
        acknowledged: failure.acknowledged,
        fullAcknowledged: failure.fullAcknowledged,
        stale: true,
      },
    },
  )
}

/**
 * A record in both forms a target may need, each encoded once: full targets get values,
 * targets in a witness role get digests.
 */
class RecordForms {
  private fullWire: KeyRecordWire | undefined
  private witness: { record: KeyRecord; wire: KeyRecordWire } | undefined

  constructor(readonly record: KeyRecord) {}

  /** The record and its wire form for a target in the given role. */
  forRole(isWitness: boolean): { record: KeyRecord; wire: KeyRecordWire } {
    if (isWitness) {
      if (this.witness === undefined) {
        const record = witnessForm(this.record)
        this.witness = { record, wire: encodeKeyRecord(record) }
      }
      return this.witness
    }
    this.fullWire ??= encodeKeyRecord(this.record)
    return { record: this.record, wire: this.fullWire }
  }
}

export class Coordinator {
  readonly counters: CoordinatorCounters = {
    writesCoordinated: 0,
    writesWitnessCoordinated: 0,
    witnessCustodyReleased: 0,
    writesForwarded: 0,
    forwardsDeduplicated: 0,
    readRepairs: 0,
    readRepairsSkipped: 0,
    readsNarrowed: 0,
    readsWithSiblings: 0,
    siblingsRead: 0,
    readsWitnessExtended: 0,
    readsWitnessStale: 0,
    topologyRetries: 0,
  }
  private backgroundRepairs = 0
  /** Owner-set orders by partition and replica count, for the topology version of `orders`. */
  private orders: { version: number; bySlot: Map<number, Orders> } = {
    version: 0,
    bySlot: new Map(),
  }
  private readonly forwarded: ForwardedWrites
  private forwardsSent = 0

  constructor(private readonly options: CoordinatorOptions) {
    this.forwarded = new ForwardedWrites(
      options.clock,
      FORWARDS_REMEMBERED_MS,
      FORWARDS_REMEMBERED_MAX,
    )
  }

  /** Read repairs running in the background now. */
  get repairsInFlight(): number {
    return this.backgroundRepairs
  }

  /** The topology this node acts on now. */
  topology(): Topology {
    return this.options.topology.topology()
  }

  addressOf(keyspace: string, key: string): DataKey {
    return {
      // A move keeps the partition count, so a key's partition is the same in every version.
      partition: partitionForKey(this.topology().current.partitionCount, keyspace, key),
      keyspace,
      key,
    }
  }

  /** The current ring's plan of a key: reads and the choice of coordinator act on it. */
  planFor(keyspace: KeyspaceRef, address: DataKey): ReplicaPlan {
    return this.planOf(this.ordersFor(keyspace, address))
  }

  private planOf(orders: Orders): ReplicaPlan {
    const [current] = orders.sets
    assert(current !== undefined, 'a topology has a current ring')
    return planFromOrder(current, this.options.liveness)
  }

  /** The orders of a key's owner sets under the topology this node acts on now. */
  private ordersFor(keyspace: KeyspaceRef, address: DataKey): Orders {
    const topology = this.topology()
    if (this.orders.version !== topology.version) {
      // A new version changes every partition's owners: drop every cached order at once.
      this.orders = { version: topology.version, bySlot: new Map() }
    }
    const { replicas } = keyspace
    const witnesses = this.options.witnessesOf(keyspace.name)
    const slot =
      (address.partition * (REPLICAS_MAX + 1) + replicas) * (REPLICAS_MAX + 1) + witnesses
    let orders = this.orders.bySlot.get(slot)
    if (orders === undefined) {
      const sets = writeOrders(topology, address.partition, replicas, witnesses)
      orders = { version: topology.version, sets }
      this.orders.bySlot.set(slot, orders)
    }
    return orders
  }

  /** Whether this node owns the key's partition in either ring (it keeps the key's data). */
  holdsKey(keyspace: KeyspaceRef, address: DataKey): boolean {
    const { selfId } = this.options
    return this.ordersFor(keyspace, address).sets.some((order) => order.primaries.includes(selfId))
  }

  /**
   * The nodes that keep a key in witness form: witnesses in every owner set listing them
   * (empty in a keyspace without witnesses).
   */
  witnessesFor(keyspace: KeyspaceRef, address: DataKey): readonly string[] {
    return jointWitnesses(this.ordersFor(keyspace, address).sets)
  }

  /**
   * The form this node keeps its own record of a key in: the witness form when it is one of
   * the key's witnesses, the record itself otherwise.
   */
  ownForm(keyspace: KeyspaceRef, address: DataKey, record: KeyRecord): KeyRecord {
    const witnesses = this.witnessesFor(keyspace, address)
    return witnesses.includes(this.options.selfId) ? witnessForm(record) : record
  }

  /**
   * Keeps a record sent to this node (`hintFor` set: as a hint for that primary) in the form
   * its role asks for: a witness keeps the witness form, a hint for a witness is kept in
   * witness form, and a witness that holds a full primary's hint (promoted) keeps the value in
   * the hint and merges the witness form into its own record too, so its vote as a witness
   * reflects the write. Returns whether the node kept the value (false: witness form only), so
   * a coordinator whose view of the roles differs (a rolling change of `witnesses`) does not
   * count a metadata-only copy as a full one.
   */
  async acceptReplica(
    keyspace: KeyspaceRef,
    address: DataKey,
    record: KeyRecord,
    hintFor: string | undefined,
  ): Promise<boolean> {
    const { store, selfId } = this.options
    const sync = keyspace.durability === 'sync'
    const witnesses = this.witnessesFor(keyspace, address)
    if (hintFor === undefined) {
      await store.merge(address, this.ownForm(keyspace, address, record), sync)
      return !witnesses.includes(selfId)
    }
    if (witnesses.includes(hintFor)) {
      await store.mergeHint(hintFor, address, witnessForm(record), sync)
      return false
    }
    await store.mergeHint(hintFor, address, record, sync)
    if (witnesses.includes(selfId)) await store.merge(address, witnessForm(record), sync)
    return true
  }

  /**
   * This node's answer to a read (`hintFor` set: from its hint for that primary). A promoted
   * witness answers with its hint merged with its own witness record, so the coordinator sees
   * every write it vouched for, as a value or as a digest.
   */
  async readReplica(
    keyspace: KeyspaceRef,
    address: DataKey,
    hintFor: string | undefined,
  ): Promise<KeyRecord | undefined> {
    const { store, selfId } = this.options
    if (hintFor === undefined) return store.read(address)
    const hint = await store.readHint(hintFor, address)
    const witnesses = this.witnessesFor(keyspace, address)
    if (!witnesses.includes(selfId) || witnesses.includes(hintFor)) return hint
    const own = await store.read(address)
    if (own === undefined) return hint
    return mergeRecords(hint ?? EMPTY_RECORD, own)
  }

  /** A client's write: forwarded to a primary, or coordinated here. */
  async write(request: WriteRequest): Promise<WriteOutcome> {
    return this.forwardOrRun(
      request.keyspace,
      request.key,
      { body: () => this.coordinateBody(request), timeoutMs: request.timeoutMs },
      decodeWriteOutcome,
      () => this.coordinate(request),
    )
  }

  /**
   * Runs a write where its dot may be minted: `local()` here when this node is a primary of
   * the key (full or witness), else forwarded to the first usable full primary that takes it
   * (`forward.body(forwardId)` is the peer request, answered by `decode`; the primary runs it
   * through `runForwarded`), or `local()` here when no full primary can be reached. Every data
   * type's writes go this way. A primary that answers `stale_ring` acts on a newer topology:
   * this node adopts it and chooses again, with the same forward id, so a primary that did run
   * the write answers the retry with its outcome instead of minting it twice.
   */
  async forwardOrRun<T>(
    keyspace: KeyspaceRef,
    key: string,
    forward: {
      readonly body: (forwardId: string) => Record<string, unknown>
      readonly timeoutMs: number
    },
    decode: (answer: unknown) => T,
    local: () => Promise<T>,
  ): Promise<T> {
    const address = this.addressOf(keyspace.name, key)
    let forwardId: string | undefined
    for (let attempt = 1; ; attempt++) {
      const version = this.topology().version
      const choice = chooseCoordinator(
        this.planFor(keyspace, address),
        this.options.selfId,
        this.options.liveness,
      )
      if (choice.kind === 'local') return local()
      forwardId ??= this.nextForwardId()
      const body = stampBody({ ...forward.body(forwardId), forward: forwardId }, version)
      const answered = await this.forwardTo(choice.candidates, body, forward.timeoutMs)
      if (answered.kind === 'answer') {
        this.counters.writesForwarded++
        return decode(answered.answer)
      }
      if (answered.kind === 'none') return local()
      if (attempt >= TOPOLOGY_ATTEMPTS_MAX) throw answered.error
      await this.adoptOrThrow(answered.stale, answered.error)
    }
  }

  /** Offers a forward to each candidate in turn until one answers, fails, or names a newer ring. */
  private async forwardTo(
    candidates: readonly string[],
    body: Record<string, unknown>,
    timeoutMs: number,
  ): Promise<
    | { readonly kind: 'answer'; readonly answer: unknown }
    | { readonly kind: 'none' }
    | { readonly kind: 'stale'; readonly stale: Stale; readonly error: unknown }
  > {
    for (const candidate of candidates) {
      try {
        const answer = await this.options.peers.request(
          candidate,
          body,
          timeoutMs + FORWARD_MARGIN_MS,
        )
        return { kind: 'answer', answer }
      } catch (error) {
        const version = staleRingVersion(error)
        if (version !== undefined) {
          return { kind: 'stale', stale: { version, from: candidate }, error }
        }
        // A primary that certainly never saw the write lets the next one try.
        if (isMurmurError(error, 'unavailable') && error.definite === true) continue
        throw error
      }
    }
    return { kind: 'none' }
  }

  /**
   * Adopts the version a replica named before a request is planned again; `failure` is thrown
   * when the version cannot be fetched, so the caller reports what it had.
   */
  private async adoptOrThrow(stale: Stale, failure: unknown): Promise<void> {
    this.counters.topologyRetries++
    try {
      await this.options.topology.adopt(stale.version, stale.from)
    } catch (error) {
      this.options.log.debug('adopting a newer topology failed', { stale, error })
      throw failure
    }
  }

  /**
   * A forward id no other forward of this node, in this or any earlier incarnation, carries:
   * a digest of the actor, the boot number and a sequence number.
   */
  nextForwardId(): string {
    this.forwardsSent++
    const { actor, boots } = this.options
    const digest = createHash('sha256').update(`${actor}\u0000${boots}\u0000${this.forwardsSent}`)
    return `${digest.digest('base64url').slice(0, 22)}.forward`
  }

  /**
   * Runs a write another node forwarded (`body` is its peer request) once per forward id: a
   * copy of the same request, which the network may deliver twice, is answered with the first
   * copy's outcome instead of minting the write again (src/runtime/kv/forwarded-writes.ts).
   * `work` gets the body without the forward id.
   */
  runForwarded(
    body: Readonly<Record<string, unknown>>,
    work: (body: Readonly<Record<string, unknown>>) => Promise<unknown>,
  ): Promise<unknown> {
    const { forward, ...rest } = body
    if (forward === undefined) return work(rest)
    if (
      typeof forward !== 'string' ||
      forward.length === 0 ||
      forward.length > FORWARD_ID_CHARS_MAX
    ) {
      throw new MurmurError('invalid_request', 'a forward id is a string of 1 to 64 characters')
    }
    const { answer, duplicate } = this.forwarded.run(forward, () => work(rest))
    if (duplicate) this.counters.forwardsDeduplicated++
    return answer
  }

  private coordinateBody(request: WriteRequest): Record<string, unknown> {
    return encodeCoordinate({
      keyspace: request.keyspace.name,
      key: request.key,
      operation: request.operation,
      value: request.value,
      contentType: request.contentType,
      context: encodeCausalContextToken(request.context),
      w: request.requirement.total,
      pw: request.requirement.primaries,
      timeoutMs: request.timeoutMs,
      returnBody: request.returnBody,
    })
  }

  /** Coordinates a write on this node: mint, replicate, wait for the quorum. */
  async coordinate(request: WriteRequest): Promise<WriteOutcome> {
    const startedMs = this.options.clock.nowMs()
    const { minted, tally } = await this.replicateUpdate(
      request.keyspace,
      request.key,
      { requirement: request.requirement, timeoutMs: request.timeoutMs },
      (address, plan) => this.mint(request, address, plan),
    )
    this.releaseCustody(request, minted)
    const body = request.returnBody ? await this.writtenBody(request, minted, startedMs) : undefined
    return this.writeOutcome(request, minted, tally, body)
  }

  /**
   * Drops the hint a coordinating witness kept the value in, once the write met its quorum
   * (which needs a full copy's acknowledgement of this very record). Compare-and-delete: a hint
   * that merged anything else meanwhile stays for the hint replayer. Not awaited; a hint that
   * survives is handed off later, harmlessly.
   */
  private releaseCustody(request: WriteRequest, minted: Minted): void {
    const { custody } = minted
    if (custody === undefined || custody.promoted || !holdsValues(minted.record)) return
    const address = this.addressOf(request.keyspace.name, request.key)
    this.options.store.deleteHintIfEqual(custody.hintFor, address, minted.record).then(
      (released) => {
        if (released) this.counters.witnessCustodyReleased++
      },
      (error: unknown) => this.options.log.debug('custody release failed', { error }),
    )
  }

  /**
   * The record a returnbody write answers with: the coordinator's own when it holds every
   * value. A witness holds the values of other siblings only as digests, so it reads the key
   * (r=1, which always reaches a full copy and never serves a digest, so the answer holds this
   * write or a newer one that superseded it) within the write's remaining time; when that read
   * fails, the write answers with its context alone (204).
   */
  private async writtenBody(
    request: WriteRequest,
    minted: Minted,
    startedMs: number,
  ): Promise<KeyRecord | undefined> {
    if (!holdsDigests(minted.record)) return minted.record
    const { clock, peerTimeoutMs } = this.options
    const remainingMs = Math.floor(request.timeoutMs - (clock.nowMs() - startedMs))
    const timeoutMs = Math.min(remainingMs, peerTimeoutMs)
    if (timeoutMs < 1) return undefined
    try {
      const { record } = await this.read({
        keyspace: request.keyspace,
        key: request.key,
        requirement: { total: 1, primaries: 0 },
        timeoutMs,
        repair: 'async',
      })
      return record
    } catch (error) {
      this.options.log.debug('returnbody read after a witness write failed', { error })
      return undefined
    }
  }

  /**
   * Applies an update to this node's own record of the key (`apply`, the data type's strategy,
   * resolves once the record is durable), then sends the record it returns to every other
   * target and waits for the quorum. Every data type's writes are coordinated here.
   */
  async replicateUpdate<M extends { readonly record: KeyRecord }>(
    keyspace: KeyspaceRef,
    key: string,
    limits: { readonly requirement: Requirement; readonly timeoutMs: number },
    apply: (address: DataKey, plan: ReplicaPlan) => Promise<M>,
  ): Promise<{ minted: M; tally: JointWriteTally }> {
    const { selfId, clock } = this.options
    const atMs = clock.nowMs() + limits.timeoutMs
    const address = this.addressOf(keyspace.name, key)
    const plan = this.planFor(keyspace, address)
    const minted = await apply(address, plan)
    this.counters.writesCoordinated++
    if (plan.witnesses.includes(selfId)) this.counters.writesWitnessCoordinated++
    const forms = new RecordForms(minted.record)
    for (let attempt = 1; ; attempt++) {
      const round = await this.fanOut(keyspace, address, forms, limits.requirement, atMs)
      if (round.kind === 'met') return { minted, tally: round.tally }
      const failure = quorumUnavailable('write', round.tally.failure(), round.timedOut)
      const retry = round.stale !== undefined || round.moved
      if (!retry || attempt >= TOPOLOGY_ATTEMPTS_MAX || clock.nowMs() >= atMs) throw failure
      if (round.stale === undefined) this.counters.topologyRetries++
      else await this.adoptOrThrow(round.stale, failure)
    }
  }

  /**
   * Sends a stored record to the owners of every write owner set under the topology this node
   * acts on now, and waits until the joint quorum is met or cannot be, a replica names a newer
   * version, or the time is up. Met only if this node still acts on the version it planned
   * under.
   */
  private async fanOut(
    keyspace: KeyspaceRef,
    address: DataKey,
    forms: RecordForms,
    requirement: Requirement,
    atMs: number,
  ): Promise<
    | { readonly kind: 'met'; readonly tally: JointWriteTally }
    | {
        readonly kind: 'failed'
        readonly tally: JointWriteTally
        readonly stale: Stale | undefined
        readonly moved: boolean
        readonly timedOut: boolean
      }
  > {
    const { selfId, clock, liveness } = this.options
    const orders = this.ordersFor(keyspace, address)
    const tally = new JointWriteTally(
      orders.sets.map((order) => planFromOrder(order, liveness)),
      requirement,
    )
    tally.markStored()
    const deadline = new Deadline(clock, Math.max(1, atMs - clock.nowMs()))
    let stale: Stale | undefined
    const ask = (target: ReplicaTarget): void => {
      const form = forms.forRole(tally.isWitness(target))
      const sent = this.replicate(target, keyspace, address, form, deadline, orders.version)
      sent.then(
        (answer) => {
          tally.acknowledge(target, keptValuesOf(answer))
          deadline.poke()
        },
        (error: unknown) => {
          const version = staleRingVersion(error)
          if (version !== undefined && version > (stale?.version ?? 0)) {
            stale = { version, from: target.node }
          }
          for (const replacement of tally.fail(target, isDefinite(error))) ask(replacement)
          deadline.poke()
        },
      )
    }
    for (const target of tally.targets()) {
      if (target.node === selfId && target.hintFor === undefined) tally.acknowledge(target)
      else ask(target)
    }
    await deadline.until(() => tally.outcome !== 'pending' || stale !== undefined)
    const moved = this.topology().version !== orders.version
    const met = tally.outcome === 'met' && !moved
    if (!met) tally.expire()
    void deadline.until(() => tally.settled).then(() => deadline.cancel())
    if (met) return { kind: 'met', tally }
    return { kind: 'failed', tally, stale, moved, timedOut: deadline.isExpired }
  }

  private writeOutcome(
    request: WriteRequest,
    minted: Minted,
    tally: JointWriteTally,
    body: KeyRecord | undefined,
  ): WriteOutcome {
    const kv = kvState(minted.record)
    const succeeded = tally.succeeded()
    return {
      context: encodeCausalContextToken(writeContext(kv, minted.dot, request.context)),
      siblings: kv.siblings.length,
      record: body,
      coordinator: this.options.selfId,
      replicas: succeeded.map((target) => target.node),
      hinted: succeeded.filter((target) => target.hintFor !== undefined),
    }
  }

  /**
   * Applies the write to this node's own record of the key and returns the new record. A
   * witness of the key keeps its record in witness form and, in the same atomic write, the
   * new value in custody (`witnessCustody`), so the value is durable wherever its digest is.
   */
  private async mint(request: WriteRequest, address: DataKey, plan: ReplicaPlan): Promise<Minted> {
    const { actor, counter, clock, siblingsMax, store, selfId, liveness } = this.options
    const custody = witnessCustody(plan, selfId, liveness)
    const payload: KvPayload =
      request.operation === 'put'
        ? {
            kind: 'value',
            value: request.value ?? new Uint8Array(),
            contentType: contentTypeOf(request),
          }
        : { kind: 'tombstone', deletedAtMs: Math.floor(clock.wallMs()) }
    const sync = request.keyspace.durability === 'sync'
    const holder = this.holdsKey(request.keyspace, address)
    const minted = await store.update(
      address,
      (current, corrupt) => {
        if (corrupt) throw this.corruptReplica(request)
        refuseOtherTypes(current, 'kv')
        checkOwnCounters(request.context, actor, counter.highest)
        const floor = counter.floor()
        const minter = holder || !isEmptyRecord(current) ? actor : strangerActor(actor, floor)
        const { versioned, dot } = updateDotted(
          kvState(current),
          request.context,
          minter,
          payload,
          {
            counterFloor: floor,
          },
        )
        if (versioned.siblings.length > siblingsMax) throw tooManySiblings(siblingsMax)
        const record: KeyRecord = { ...current, kv: versioned }
        const kept = custody !== undefined && holdsValues(record) ? custody : undefined
        return {
          record: this.ownForm(request.keyspace, address, record),
          hint: kept === undefined ? undefined : { target: kept.hintFor, record },
          result: { record, dot, custody: kept },
        }
      },
      sync,
    )
    await counter.observe(minted.dot.counter)
    return this.withCustodyValues(address, plan, minted)
  }

  /**
   * A coordinating witness's full record carries the key's other writes as it holds them: as
   * digests. Some may be writes it coordinated itself that never reached a full replica, whose
   * values wait in its custody (hints for the full primaries). Those values go with the record,
   * so no full replica is handed a digest whose value lives on this node alone: were this
   * node's disk lost, such a digest would stand for a write nobody holds, and every read of the
   * key would be refused as stale.
   */
  private async withCustodyValues(
    address: DataKey,
    plan: ReplicaPlan,
    minted: Minted,
  ): Promise<Minted> {
    if (minted.custody === undefined || !holdsDigests(minted.record)) return minted
    let record = minted.record
    for (const primary of plan.primaries) {
      if (plan.witnesses.includes(primary)) continue
      const held = await this.options.store.readHint(primary, address)
      if (held !== undefined) record = mergeRecords(record, held)
    }
    return { ...minted, record }
  }

  private corruptReplica(request: WriteRequest): MurmurError {
    this.options.repairKey(request.keyspace, request.key)
    return new MurmurError(
      'unavailable',
      'this replica of the key is corrupt and is being repaired from the others; retry shortly',
      { definite: true },
    )
  }

  /**
   * Sends a record, in the form its role asks for, to one target (merging it here when the
   * target is this node), stamped with the topology version the request was planned under.
   */
  replicate(
    target: ReplicaTarget,
    keyspace: KeyspaceRef,
    address: DataKey,
    form: { readonly record: KeyRecord; readonly wire: KeyRecordWire },
    deadline: Deadline,
    version: number,
  ): Promise<unknown> {
    const { selfId, peers, peerTimeoutMs } = this.options
    if (target.node === selfId) {
      return this.acceptReplica(keyspace, address, form.record, target.hintFor)
    }
    const body = {
      type: KV_MESSAGE_TYPES.replicate,
      keyspace: address.keyspace,
      key: address.key,
      record: form.wire,
      hintFor: target.hintFor,
    }
    const timeoutMs = Math.min(peerTimeoutMs, deadline.remainingMs())
    return peers.request(target.node, stampBody(body, version), timeoutMs)
  }

  /**
   * A client's read, planned again under a newer topology when a replica names one, within the
   * request's time.
   */
  async read(request: ReadRequest): Promise<ReadOutcome> {
    const atMs = this.options.clock.nowMs() + request.timeoutMs
    for (let attempt = 1; ; attempt++) {
      const round = await this.readOnce(request, atMs)
      if (round.kind === 'answer') return round.outcome
      if (attempt >= TOPOLOGY_ATTEMPTS_MAX || this.options.clock.nowMs() >= atMs) {
        throw round.error
      }
      await this.adoptOrThrow(round.stale, round.error)
    }
  }

  /** One plan of a read under the topology this node acts on now. */
  private async readOnce(
    request: ReadRequest,
    atMs: number,
  ): Promise<
    | { readonly kind: 'answer'; readonly outcome: ReadOutcome }
    | { readonly kind: 'stale'; readonly stale: Stale; readonly error: MurmurError }
  > {
    const { selfId, clock } = this.options
    const address = this.addressOf(request.keyspace.name, request.key)
    const orders = this.ordersFor(request.keyspace, address)
    const plan = this.localFirst(this.planOf(orders))
    const askFirst = targetsNeeded(plan.targets, request.requirement, plan.witnesses)
    if (askFirst < plan.targets.length) this.counters.readsNarrowed++
    const only = plan.targets[0]
    const onlyFull = only !== undefined && !isWitnessTarget(only, plan.witnesses)
    if (askFirst === 1 && onlyFull && only?.node === selfId && only.hintFor === undefined) {
      const local = await this.readLocal(address)
      // A record holding a digest (a write whose value it lacks) needs another full answer.
      if (local !== undefined && !holdsDigests(local)) {
        return { kind: 'answer', outcome: this.answerLocally(local) }
      }
    }
    const tally = new ReadTally(plan, request.requirement, askFirst)
    const deadline = new Deadline(clock, Math.max(1, atMs - clock.nowMs()))
    const scope = { keyspace: request.keyspace, address, version: orders.version }
    const stale = this.gather(scope, tally, deadline)
    await deadline.until(() => tally.outcome !== 'pending' || stale.named !== undefined)
    const outcome = tally.outcome
    if (outcome !== 'met') {
      tally.expire()
      deadline.cancel()
      const failure = readFailure(request.requirement, tally)
      const error =
        outcome === 'stale'
          ? staleFullReplicas(failure)
          : quorumUnavailable('read', failure, deadline.isExpired)
      if (stale.named !== undefined) return { kind: 'stale', stale: stale.named, error }
      if (outcome === 'stale') this.counters.readsWitnessStale++
      throw error
    }
    const merged = tally.merged()
    this.countSiblings(merged)
    const answered = tally.quorum.succeeded()
    const repaired = new Map<string, KeyRecord>()
    if (request.repair === 'blocking') {
      await this.repair(scope, tally.staleTargets(), deadline, repaired)
    }
    void this.finishRead(scope, tally, deadline, repaired)
    const result = {
      record: merged,
      replicas: answered.map((target) => target.node),
      hinted: answered.filter((target) => target.hintFor !== undefined),
    }
    return { kind: 'answer', outcome: result }
  }

  /**
   * Asks the tally's targets, replaces those that fail, and asks held-back full targets while
   * a witness reports a write the full answers miss.
   */
  private gather(
    scope: RequestScope,
    tally: ReadTally,
    deadline: Deadline,
  ): { named: Stale | undefined } {
    const stale: { named: Stale | undefined } = { named: undefined }
    const askMore = (): void => {
      for (const extra of tally.more()) {
        this.counters.readsWitnessExtended++
        ask(extra)
      }
      deadline.poke()
    }
    const ask = (target: ReplicaTarget): void => {
      this.readFrom(scope, target, deadline).then(
        (record) => {
          tally.answer(target.node, record ?? EMPTY_RECORD)
          askMore()
        },
        (error: unknown) => {
          const version = staleRingVersion(error)
          if (version !== undefined && version > (stale.named?.version ?? 0)) {
            stale.named = { version, from: target.node }
          }
          const replacement = tally.fail(target.node)
          if (replacement !== undefined) ask(replacement)
          askMore()
        },
      )
    }
    for (const target of tally.quorum.targets()) ask(target)
    return stale
  }

  /**
   * This node's own record of the key, or undefined when the engine failed (the general path
   * then retries it and replaces it with a spare). An absent or corrupt record is the empty one.
   */
  private async readLocal(address: DataKey): Promise<KeyRecord | undefined> {
    try {
      return (await this.options.store.read(address)) ?? EMPTY_RECORD
    } catch {
      return undefined
    }
  }

  /**
   * A read that needed one answer and got it from this node: the merge is that answer, so
   * nothing is stale among the answers and nothing waits in the background.
   */
  private answerLocally(record: KeyRecord): ReadOutcome {
    this.countSiblings(record)
    return { record, replicas: [this.options.selfId], hinted: [] }
  }

  /** The plan with this node's own target first: its answer costs no message. */
  private localFirst(plan: ReplicaPlan): ReplicaPlan {
    const self = plan.targets.findIndex((target) => target.node === this.options.selfId)
    if (self <= 0) return plan
    const targets = [...plan.targets]
    const [local] = targets.splice(self, 1)
    return local === undefined ? plan : { ...plan, targets: [local, ...targets] }
  }

  private countSiblings(merged: KeyRecord): void {
    const siblings = merged.kv?.siblings.length ?? 0
    if (siblings > 1) {
      this.counters.readsWithSiblings++
      this.counters.siblingsRead += siblings
    }
  }

  private readFrom(
    scope: RequestScope,
    target: ReplicaTarget,
    deadline: Deadline,
  ): Promise<KeyRecord | undefined> {
    const { selfId, peers, peerTimeoutMs } = this.options
    const { keyspace, address } = scope
    if (target.node === selfId) return this.readReplica(keyspace, address, target.hintFor)
    const body = {
      type: KV_MESSAGE_TYPES.read,
      keyspace: address.keyspace,
      key: address.key,
      hintFor: target.hintFor,
    }
    return peers
      .request(
        target.node,
        stampBody(body, scope.version),
        Math.min(peerTimeoutMs, deadline.remainingMs()),
      )
      .then(decodeReadAnswer)
  }

  /**
   * Repairs stale primaries, each with the record its role asks for (a witness gets the
   * merge's witness form), and waits for them within the deadline.
   */
  private async repair(
    scope: RequestScope,
    stale: readonly { readonly target: ReplicaTarget; readonly record: KeyRecord }[],
    deadline: Deadline,
    repaired: Map<string, KeyRecord>,
  ): Promise<void> {
    if (stale.length === 0) return
    const wires = new Map<KeyRecord, KeyRecordWire>()
    let pending = stale.length
    for (const { target, record } of stale) {
      repaired.set(target.node, record)
      this.counters.readRepairs++
      let wire = wires.get(record)
      if (wire === undefined) {
        wire = encodeKeyRecord(record)
        wires.set(record, wire)
      }
      this.replicate(
        target,
        scope.keyspace,
        scope.address,
        { record, wire },
        deadline,
        scope.version,
      )
        .catch((error: unknown) => this.options.log.debug('read repair failed', { error }))
        .finally(() => {
          pending--
          deadline.poke()
        })
    }
    await deadline.until(() => pending === 0)
  }

  /** Once every target answered (or the time is up), repairs what is still stale. */
  private async finishRead(
    scope: RequestScope,
    tally: ReadTally,
    deadline: Deadline,
    repaired: ReadonlyMap<string, KeyRecord>,
  ): Promise<void> {
    await deadline.until(() => tally.quorum.settled)
    deadline.cancel()
    // A merge that still misses a value some witness reports is never sent anywhere.
    if (!tally.complete) return
    const stale = tally
      .staleTargets()
      .filter(
        ({ target, record }) => !recordsEqual(repaired.get(target.node) ?? EMPTY_RECORD, record),
      )
    if (stale.length === 0) return
    if (this.backgroundRepairs >= BACKGROUND_REPAIRS_MAX) {
      this.counters.readRepairsSkipped += stale.length
      return
    }
    this.backgroundRepairs++
    const budget = new Deadline(this.options.clock, this.options.peerTimeoutMs)
    try {
      await this.repair(scope, stale, budget, new Map())
    } finally {
      budget.cancel()
      this.backgroundRepairs--
    }
  }

  /**
   * A listing: one replica per partition, one request per node, merged into one page; planned
   * again under a newer topology when a replica names one.
   */
  async list(request: ListRequest): Promise<ListOutcome> {
    const { clock } = this.options
    const atMs = clock.nowMs() + request.timeoutMs
    for (let attempt = 1; ; attempt++) {
      const topology = this.topology()
      const groups = this.listGroups(request.keyspace, topology)
      const deadline = new Deadline(clock, Math.max(1, atMs - clock.nowMs()))
      try {
        const parts = await Promise.all(
          [...groups].map(([node, partitions]) =>
            this.listFrom(node, partitions, request, deadline, topology.version),
          ),
        )
        return mergeListParts(parts, request.limit)
      } catch (error) {
        const version = staleRingVersion(error)
        const from = isMurmurError(error) ? error.details['node'] : undefined
        const retry = attempt < TOPOLOGY_ATTEMPTS_MAX && clock.nowMs() < atMs
        if (version === undefined || typeof from !== 'string' || !retry) throw error
        await this.adoptOrThrow({ version, from }, error)
      } finally {
        deadline.cancel()
      }
    }
  }

  /**
   * node → partitions it answers for, among the read owners (the current ring's): this node
   * where it is one, else the first usable.
   */
  private listGroups(keyspace: KeyspaceRef, topology: Topology): Map<string, number[]> {
    const { selfId, liveness } = this.options
    const groups = new Map<string, number[]>()
    for (let partition = 0; partition < topology.current.partitionCount; partition++) {
      const primaries = readOwners(topology, partition, keyspace.replicas)
      const node = primaries.includes(selfId)
        ? selfId
        : primaries.find((candidate) => liveness.isUsable(candidate))
      if (node === undefined) {
        throw new MurmurError(
          'unavailable',
          `listing needs one replica of every partition; partition ${partition} has none up`,
          { details: { partition } },
        )
      }
      const group = groups.get(node) ?? []
      group.push(partition)
      groups.set(node, group)
    }
    return groups
  }

  private async listFrom(
    node: string,
    partitions: readonly number[],
    request: ListRequest,
    deadline: Deadline,
    version: number,
  ): Promise<ListPart> {
    if (node === this.options.selfId) {
      return this.listLocal(
        request.keyspace.name,
        partitions,
        request.prefix,
        request.after,
        request.limit,
      )
    }
    const body = {
      type: KV_MESSAGE_TYPES.list,
      keyspace: request.keyspace.name,
      partitions,
      prefix: request.prefix,
      after: request.after,
      limit: request.limit,
    }
    try {
      const answer = await this.options.peers.request(
        node,
        stampBody(body, version),
        deadline.remainingMs(),
      )
      return decodeListAnswer(answer, this.options.messageLimits)
    } catch (error) {
      const stale = staleRingVersion(error)
      if (stale !== undefined) {
        throw new MurmurError('stale_ring', `listing node ${node} acts on version ${stale}`, {
          details: { version: stale, node },
          cause: error,
        })
      }
      throw new MurmurError('unavailable', `listing could not reach ${node}`, {
        details: { node },
        cause: error,
      })
    }
  }

  /** This node's live keys in `partitions`, merged into one part. */
  async listLocal(
    keyspace: string,
    partitions: readonly number[],
    prefix: string,
    after: string,
    limit: number,
  ): Promise<ListPart> {
    const parts: ListPart[] = []
    const scanMax = Math.max(256, limit * 2)
    for (const partition of partitions) {
      parts.push(
        await this.options.store.listLive({ partition, keyspace }, prefix, after, limit, scanMax),
      )
    }
    return mergeListParts(parts, limit)
  }
}

function contentTypeOf(request: WriteRequest): string {
  return request.contentType ?? 'application/octet-stream'
}

/**
 * The actor a node mints with when it coordinates a key it holds no record of in a partition it
 * does not hold (a sloppy quorum's fallback). Such a node may have minted dots for the key
 * before and since deleted its copy (a move took the partition away), and a dot minted under
 * its own actor on an empty record would carry a clock entry covering those earlier dots, so
 * replicas would drop a sibling that the writer never saw. A fresh actor, unique by the
 * node-wide counter floor, covers nothing; it costs one clock entry on such writes only.
 */
export function strangerActor(actor: string, floor: number): string {
  const fresh = `${actor}~${floor.toString(36)}`
  if (fresh.length <= ACTOR_BYTES_MAX) return fresh
  const digest = createHash('sha256').update(actor).digest('hex').slice(0, 32)
  return `${digest}~${floor.toString(36)}`
}

/**
 * A context naming writes of this node's actor that it never made is forged (or from a
 * restored data directory); minting above it would waste the counter space, and a context
 * beyond every counter this node issued could stop it from ever minting again.
 */
function checkOwnCounters(context: DotContext, actor: string, highest: number): void {
  if (contextHighest(context, actor) > highest) {
    throw new MurmurError('invalid_context', 'the context names writes this node never made', {
      definite: true,
    })
  }
}

function tooManySiblings(siblingsMax: number): MurmurError {
  return new MurmurError(
    'too_many_siblings',
    `this write would leave more than ${siblingsMax} siblings; read the key and write the ` +
      'resolved value with the context you read, so the write supersedes them',
    { details: { siblingsMax }, definite: true },
  )
}

/**
 * How many of the plan's first targets a read asks at once: the fewest that can meet the
 * requirement, `total` answers with `primaries` of them from primaries and at least one from
 * a full copy (not one of `witnesses` or their stand-ins). The rest stand by to replace a
 * target that fails.
 */
export function targetsNeeded(
  targets: readonly ReplicaTarget[],
  requirement: Requirement,
  witnesses: readonly string[] = [],
): number {
  let primaries = 0
  let full = 0
  for (let index = 0; index < targets.length; index++) {
    const target = targets[index]
    if (target?.hintFor === undefined) primaries++
    if (target !== undefined && !isWitnessTarget(target, witnesses)) full++
    const enough = index + 1 >= requirement.total && primaries >= requirement.primaries
    if (enough && full >= 1) return index + 1
  }
  return targets.length
}

function readFailure(requirement: Requirement, tally: ReadTally): WriteFailure {
  const counts = tally.quorum.counts()
  return {
    required: requirement.total,
    acknowledged: counts.succeeded,
    primariesRequired: requirement.primaries,
    primariesAcknowledged: counts.primariesSucceeded,
    fullAcknowledged: counts.fullSucceeded,
    definite: true,
  }
}

/**
 * Whether a `kv.replicate` answer says the receiver kept the value. An answer without the field
 * (an older node) counts as kept, as every answer did before the field existed.
 */
function keptValuesOf(answer: unknown): boolean {
  if (typeof answer !== 'object' || answer === null) return true
  return (answer as { keptValues?: unknown }).keptValues !== false
}
