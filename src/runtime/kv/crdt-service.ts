/**
 * The node's CRDT service: counters and sets on the eventual keyspaces, served through the
 * same coordinator, store, hints and read repair as plain values (src/runtime/kv). Only the
 * write strategy differs: instead of a DVV update, the coordinator applies the update to its
 * own record with `applyCrdtUpdate` (src/replication/crdt-update.ts) under the key's lock, and
 * replicas, hints and read repair merge records, which merges CRDT sub-states as lattices.
 *
 * Actors. CRDT updates are minted under the node's actor plus its boot number, one actor per
 * process incarnation: an asynchronously durable write lost to a power cut can then never be
 * minted again under the same actor with other content, at the cost of one more actor entry
 * per incarnation that updates a key.
 *
 * Lifecycle: built with the node (it registers `crdt.coordinate`); it serves once the kv
 * service is open, and refuses as unavailable before.
 */

import type { Config } from '../../config/load.js'
import type { Clock } from '../../env/clock.js'
import { MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import {
  CRDT_MESSAGE_TYPES,
  type CrdtMessageLimits,
  type CrdtWriteOutcome,
  type CrdtWriteRequest,
  decodeCrdtCoordinate,
  decodeCrdtOutcome,
  encodeCrdtCoordinate,
  encodeCrdtOutcome,
} from '../../replication/crdt-messages.js'
import { applyCrdtUpdate, type UpdateVerdict } from '../../replication/crdt-update.js'
import { isEmptyRecord } from '../../replication/record.js'
import type { KeyspaceRef, ReadOutcome, ReadRequest } from '../../replication/requests.js'
import type { DataKey } from '../../storage/layout.js'
import { ACTOR_BYTES_MAX } from '../../versioning/version-vector.js'
import type { PeerRouter } from '../peer-router.js'
import { strangerActor } from './coordinator.js'
import type { KvService } from './service.js'

export interface CrdtServiceOptions {
  readonly config: Config
  readonly selfId: string
  /** The node's durable actor (`<node>.<epoch>`) and this process's boot number. */
  readonly actor: string
  readonly boots: number
  readonly kv: KvService
  readonly router: PeerRouter
  readonly clock: Clock
  readonly log: Logger
}

export interface CrdtCounters {
  updatesCoordinated: number
  updatesReplayed: number
}

/** The actor CRDT updates of this incarnation are minted under. */
export function crdtActorOf(actor: string, boots: number): string {
  const suffix = `.${boots}`
  return `${actor.slice(0, ACTOR_BYTES_MAX - suffix.length)}${suffix}`
}

export class CrdtService {
  readonly counters: CrdtCounters = { updatesCoordinated: 0, updatesReplayed: 0 }
  readonly limits: CrdtMessageLimits
  private readonly actor: string
  /** Updates minted under a fresh actor so far (strangerActor's uniquifier). */
  private strangerMints = 0

  constructor(private readonly options: CrdtServiceOptions) {
    const { config, kv } = options
    this.actor = crdtActorOf(options.actor, options.boots)
    this.limits = {
      ...kv.limits,
      setElementBytesMax: config.limits.setElementBytesMax,
      elementsPerUpdateMax: config.limits.setElementsMax,
    }
    options.router.register(CRDT_MESSAGE_TYPES.coordinate, (from, body) =>
      options.kv.fenced(from, body, 'read', (rest) =>
        options.kv.coordinator().runForwarded(rest, (message) => this.coordinateForPeer(message)),
      ),
    )
  }

  keyspace(name: string): ReturnType<KvService['keyspace']> {
    return this.options.kv.keyspace(name)
  }

  admit(): () => void {
    return this.options.kv.admit()
  }

  /** A read of the whole record; the routes pick the sub-state of their type. */
  read(request: ReadRequest): Promise<ReadOutcome> {
    return this.options.kv.read(request)
  }

  /**
   * A client's update: forwarded to a primary of the key, or coordinated here. The primary runs
   * each forward once; a forwarded counter update without an idempotency id also carries the
   * forward id as one, so the update counts once even if a primary's copy outlives its memory
   * of the forward (its ledger is durable).
   */
  update(request: CrdtWriteRequest): Promise<CrdtWriteOutcome> {
    const coordinator = this.options.kv.coordinator()
    const { operation, id } = request.update
    const body = (forwardId: string) =>
      encodeCrdtCoordinate({
        keyspace: request.keyspace.name,
        key: request.key,
        update: { operation, id: id ?? (operation.type === 'counter' ? forwardId : id) },
        w: request.requirement.total,
        pw: request.requirement.primaries,
        timeoutMs: request.timeoutMs,
      })
    return coordinator.forwardOrRun(
      request.keyspace,
      request.key,
      { body, timeoutMs: request.timeoutMs },
      decodeCrdtOutcome,
      () => this.coordinate(request),
    )
  }

  /** Applies the update to this node's record, replicates it and waits for the quorum. */
  async coordinate(request: CrdtWriteRequest): Promise<CrdtWriteOutcome> {
    const coordinator = this.options.kv.coordinator()
    const { minted, tally } = await coordinator.replicateUpdate(
      request.keyspace,
      request.key,
      { requirement: request.requirement, timeoutMs: request.timeoutMs },
      (address) => this.apply(request, address),
    )
    if (minted.replayed) this.counters.updatesReplayed++
    else this.counters.updatesCoordinated++
    const succeeded = tally.succeeded()
    return {
      record: minted.record,
      replayed: minted.replayed,
      coordinator: this.options.selfId,
      replicas: succeeded.map((target) => target.node),
      hinted: succeeded.filter((target) => target.hintFor !== undefined),
    }
  }

  private apply(request: CrdtWriteRequest, address: DataKey): Promise<UpdateVerdict> {
    const { config, clock, kv } = this.options
    const environment = {
      actor: this.actor,
      wallMs: clock.wallMs(),
      policy: {
        windowMs: config.replication.idempotencyWindowMs,
        entriesMax: config.replication.idempotencyEntriesMax,
      },
      setElementsMax: config.limits.setElementsMax,
    }
    const coordinator = kv.coordinator()
    const holder = coordinator.holdsKey(request.keyspace, address)
    return kv.store.update(
      address,
      (current, corrupt) => {
        if (corrupt) throw this.corruptReplica(request.keyspace, request.key)
        // As for plain writes (strangerActor): a fallback without a copy of the key may have
        // counted under this actor before a move deleted its copy; a fresh actor cannot
        // collide with those entries, so the update is not lost to a max() merge.
        const stranger = !holder && isEmptyRecord(current)
        const verdict = applyCrdtUpdate(
          current,
          request.update,
          stranger
            ? { ...environment, actor: strangerActor(this.actor, this.strangerMints++) }
            : environment,
        )
        // A witness that coordinates keeps its own record in witness form (CRDTs in full).
        const kept = coordinator.ownForm(request.keyspace, address, verdict.record)
        return { record: verdict.changed ? kept : undefined, result: verdict }
      },
      request.keyspace.durability === 'sync',
    )
  }

  /**
   * A coordinator whose own record is corrupt must not mint on an empty one (it would reuse its
   * sequence numbers and dots): it refuses and repairs the key from the other replicas.
   */
  private corruptReplica(keyspace: KeyspaceRef, key: string): MurmurError {
    const timeoutMs = this.options.config.requests.peerTimeoutMs
    this.options.kv
      .read({
        keyspace,
        key,
        requirement: { total: 1, primaries: 0 },
        timeoutMs,
        repair: 'blocking',
      })
      .then(undefined, (error: unknown) => this.options.log.debug('key repair failed', { error }))
    return new MurmurError(
      'unavailable',
      'this replica of the key is corrupt and is being repaired from the others; retry shortly',
      { definite: true },
    )
  }

  private async coordinateForPeer(body: Readonly<Record<string, unknown>>): Promise<unknown> {
    const release = this.admit()
    try {
      const message = decodeCrdtCoordinate(body, this.limits)
      const keyspace = this.keyspace(message.keyspace)
      if (keyspace === undefined || keyspace.mode !== 'eventual') {
        throw new MurmurError('unknown_keyspace', `no eventual keyspace named ${message.keyspace}`)
      }
      if (message.w > keyspace.replicas || message.pw > keyspace.replicas) {
        throw new MurmurError('invalid_consistency', 'levels above the keyspace replicas', {
          definite: true,
        })
      }
      const outcome = await this.coordinate({
        keyspace,
        key: message.key,
        update: message.update,
        requirement: { total: message.w, primaries: message.pw },
        timeoutMs: message.timeoutMs,
      })
      return encodeCrdtOutcome(outcome)
    } finally {
      release()
    }
  }
}
