/**
 * Partition handoff, the pure part (docs/ARCHITECTURE.md, Partition handoff): which transfers a
 * node receives when its topology moves, which old owner each streams from, the per-transfer
 * state machine with the progress it persists, and which partitions a settled node no longer
 * owns and must clean up.
 *
 * Contract:
 * - A transfer is one partition moving to one receiver under one moving version. It covers
 *   every eventual keyspace for which the receiver gains the partition (it was not among the
 *   keyspace's first n in the current ring and is in the next one) or gains the full role (a
 *   witness in the current ring that holds values in the next one); each part names the form
 *   the receiver keeps: witness form for a witness, full records otherwise.
 * - A node's role in a moving topology is full when it is a full replica in either ring: a
 *   node that must serve values under one of them gets the values.
 * - Sources are old owners holding every part in at least the form it is sent in: the nodes
 *   the receiver replaces first, then the others, each in current list order. The first list
 *   entry is a full replica of every keyspace, so there is always one.
 * - The state machine moves waiting → streaming → reconciling → done; a failure parks it in
 *   failed with its cursor kept, and a retry resumes where the cursor stands. The cursor only
 *   moves forward, one page at a time, so a restart that loads it repeats at most the page it
 *   was merging (merges are idempotent, so that is harmless).
 */

import { assert } from '../env/assert.js'
import { preferenceList } from '../ring/queries.js'
import type { Ring } from '../ring/ring.js'
import type { Topology } from '../ring/topology.js'
import { compareKeys } from './names.js'

export interface HandoffKeyspace {
  readonly name: string
  readonly replicas: number
  readonly witnesses: number
}

export type ReplicaRole = 'full' | 'witness'

/** The first n of a ring's list for a keyspace, its count clamped to the ring's list length. */
function ownersIn(ring: Ring, partition: number, keyspace: HandoffKeyspace): readonly string[] {
  return preferenceList(ring, partition, Math.min(keyspace.replicas, ring.replicaSlots))
}

/** A node's role for one keyspace's partition in one ring; undefined when it owns none. */
export function roleInRing(
  ring: Ring,
  partition: number,
  keyspace: HandoffKeyspace,
  node: string,
): ReplicaRole | undefined {
  const owners = ownersIn(ring, partition, keyspace)
  const position = owners.indexOf(node)
  if (position === -1) return undefined
  const witnesses = Math.min(keyspace.witnesses, owners.length - 1)
  return position >= owners.length - witnesses ? 'witness' : 'full'
}

/** A node's role in a topology: full when full in either ring, witness when only a witness. */
export function roleOf(
  topology: Topology,
  partition: number,
  keyspace: HandoffKeyspace,
  node: string,
): ReplicaRole | undefined {
  const rings = topology.next === undefined ? [topology.current] : [topology.current, topology.next]
  const roles = rings.map((ring) => roleInRing(ring, partition, keyspace, node))
  if (roles.includes('full')) return 'full'
  return roles.includes('witness') ? 'witness' : undefined
}

/** Every node that keeps a keyspace's partition in a topology (owners of either ring). */
export function keyspaceHolders(
  topology: Topology,
  partition: number,
  keyspace: HandoffKeyspace,
): readonly string[] {
  const result = [...ownersIn(topology.current, partition, keyspace)]
  if (topology.next !== undefined) {
    for (const id of ownersIn(topology.next, partition, keyspace)) {
      if (!result.includes(id)) result.push(id)
    }
  }
  return result
}

/** One keyspace of a transfer and the form its records take on the receiver. */
export interface TransferPart {
  readonly keyspace: string
  readonly form: ReplicaRole
}

export interface PlannedTransfer {
  readonly version: number
  readonly partition: number
  readonly receiver: string
  /** Keyspaces to stream, sorted by name. */
  readonly parts: readonly TransferPart[]
  /** Old owners to stream from, best first; never empty. */
  readonly sources: readonly string[]
  /** Per part, in the same order: the keyspace's old owners other than the receiver. */
  readonly oldOwners: readonly (readonly string[])[]
}

/** The transfers `receiver` takes in a moving topology, by partition; none when settled. */
export function receivedTransfers(
  topology: Topology,
  receiver: string,
  keyspaces: readonly HandoffKeyspace[],
): PlannedTransfer[] {
  const next = topology.next
  if (next === undefined) return []
  assert(next.partitionCount === topology.current.partitionCount, 'a move keeps partition counts')
  const sorted = [...keyspaces].sort((left, right) => compareKeys(left.name, right.name))
  const transfers: PlannedTransfer[] = []
  for (let partition = 0; partition < next.partitionCount; partition++) {
    const gained = sorted.filter((keyspace) => {
      const before = roleInRing(topology.current, partition, keyspace, receiver)
      const after = roleInRing(next, partition, keyspace, receiver)
      return (
        after !== undefined && (before === undefined || (before === 'witness' && after === 'full'))
      )
    })
    if (gained.length === 0) continue
    const parts = gained.map((keyspace) => ({
      keyspace: keyspace.name,
      form: roleInRing(next, partition, keyspace, receiver) as ReplicaRole,
    }))
    transfers.push({
      version: topology.version,
      partition,
      receiver,
      parts,
      sources: sourceOrder(topology, partition, gained, parts, receiver),
      oldOwners: gained.map((keyspace) =>
        ownersIn(topology.current, partition, keyspace).filter((id) => id !== receiver),
      ),
    })
  }
  return transfers
}

/**
 * Old owners able to send every part (full in the current ring where the part is sent in full
 * form, an owner at all where witness form), those that lose their place first.
 */
function sourceOrder(
  topology: Topology,
  partition: number,
  keyspaces: readonly HandoffKeyspace[],
  parts: readonly TransferPart[],
  receiver: string,
): readonly string[] {
  const next = topology.next
  assert(next !== undefined, 'sources are chosen while moving')
  const list = topology.current.preferences[partition] ?? []
  const able = list.filter(
    (node) =>
      node !== receiver &&
      keyspaces.every((keyspace, index) => {
        const role = roleInRing(topology.current, partition, keyspace, node)
        return role === 'full' || (role === 'witness' && parts[index]?.form === 'witness')
      }),
  )
  const leaving = (node: string) =>
    keyspaces.some(
      (keyspace) =>
        roleInRing(topology.current, partition, keyspace, node) !== undefined &&
        roleInRing(next, partition, keyspace, node) === undefined,
    )
  const sources = [...able.filter(leaving), ...able.filter((node) => !leaving(node))]
  assert(sources.length > 0, `partition ${partition} has no old owner to stream from`)
  return sources
}

/**
 * The keyspace partitions a node held in `previous` (an owner of either ring) and does not own
 * in the settled `topology`: what it deletes after a move. Only what a move took away is named,
 * never data the node keeps for other reasons (a record it holds as a sloppy quorum's stand-in
 * is what it mints that key's next dots from).
 */
export function lostParts(
  previous: Topology,
  topology: Topology,
  node: string,
  keyspaces: readonly HandoffKeyspace[],
): { readonly partition: number; readonly keyspace: string }[] {
  assert(topology.next === undefined, 'cleanup follows a settled topology')
  assert(
    previous.current.partitionCount === topology.current.partitionCount,
    'a move keeps the partition count',
  )
  const result: { partition: number; keyspace: string }[] = []
  const sorted = [...keyspaces].sort((left, right) => compareKeys(left.name, right.name))
  for (let partition = 0; partition < topology.current.partitionCount; partition++) {
    for (const keyspace of sorted) {
      const held = roleOf(previous, partition, keyspace, node) !== undefined
      if (held && roleInRing(topology.current, partition, keyspace, node) === undefined) {
        result.push({ partition, keyspace: keyspace.name })
      }
    }
  }
  return result
}

/** True when a node owns no partition of any keyspace in a settled topology. */
export function ownsNothing(topology: Topology, node: string): boolean {
  return !topology.current.nodes.some((candidate) => candidate.id === node)
}

export type TransferState = 'waiting' | 'streaming' | 'reconciling' | 'done' | 'failed'

/** What a transfer persists after every page, so a restart resumes from it. */
export interface TransferProgress {
  /** Index of the part being streamed; parts.length once streaming finished. */
  readonly part: number
  /** The last key of the part merged so far ('' for none). */
  readonly after: string
  readonly reconciled: boolean
  readonly keysMoved: number
  readonly bytesMoved: number
  readonly startedAtMs: number | undefined
  readonly finishedAtMs: number | undefined
}

export const FRESH_PROGRESS: TransferProgress = {
  part: 0,
  after: '',
  reconciled: false,
  keysMoved: 0,
  bytesMoved: 0,
  startedAtMs: undefined,
  finishedAtMs: undefined,
}

/** A persisted progress read back from storage, or undefined when its shape is wrong. */
export function progressFromUntrusted(value: unknown): TransferProgress | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const body = value as Readonly<Record<string, unknown>>
  const count = (field: string) => {
    const item = body[field]
    return typeof item === 'number' && Number.isSafeInteger(item) && item >= 0 ? item : undefined
  }
  const time = (field: string) => (body[field] === null ? null : count(field))
  const part = count('part')
  const keysMoved = count('keysMoved')
  const bytesMoved = count('bytesMoved')
  const startedAtMs = time('startedAtMs')
  const finishedAtMs = time('finishedAtMs')
  const after = body['after']
  const reconciled = body['reconciled']
  if (part === undefined || keysMoved === undefined || bytesMoved === undefined) return undefined
  if (startedAtMs === undefined || finishedAtMs === undefined) return undefined
  if (typeof after !== 'string' || typeof reconciled !== 'boolean') return undefined
  return {
    part,
    after,
    reconciled,
    keysMoved,
    bytesMoved,
    startedAtMs: startedAtMs ?? undefined,
    finishedAtMs: finishedAtMs ?? undefined,
  }
}

/** The stored form of a progress (msgpack has no undefined). */
export function progressToPlain(progress: TransferProgress): Record<string, unknown> {
  return {
    part: progress.part,
    after: progress.after,
    reconciled: progress.reconciled,
    keysMoved: progress.keysMoved,
    bytesMoved: progress.bytesMoved,
    startedAtMs: progress.startedAtMs ?? null,
    finishedAtMs: progress.finishedAtMs ?? null,
  }
}

/**
 * One transfer's state machine. Time is the wall clock in milliseconds (shown to operators),
 * passed in. Illegal transitions are programmer errors and assert.
 */
export class TransferMachine {
  private stateValue: TransferState = 'waiting'
  private progressValue: TransferProgress
  private sourceValue: string
  private errorValue: string | undefined
  /** Failures in a row since the last page or phase that went through. */
  private failuresValue = 0

  constructor(
    readonly plan: PlannedTransfer,
    progress: TransferProgress = FRESH_PROGRESS,
  ) {
    assert(plan.parts.length > 0 && plan.sources.length > 0, 'a transfer has parts and sources')
    assert(progress.part <= plan.parts.length, 'a progress within the parts')
    this.progressValue = progress
    this.sourceValue = plan.sources[0] as string
    if (progress.reconciled) this.stateValue = 'done'
  }

  get state(): TransferState {
    return this.stateValue
  }

  get progress(): TransferProgress {
    return this.progressValue
  }

  get source(): string {
    return this.sourceValue
  }

  get error(): string | undefined {
    return this.errorValue
  }

  get failures(): number {
    return this.failuresValue
  }

  /** The part being streamed, or undefined once every part was streamed. */
  get currentPart(): TransferPart | undefined {
    return this.plan.parts[this.progressValue.part]
  }

  /** Starts or resumes: streaming when a part is left, else reconciling. */
  begin(source: string, wallMs: number): void {
    assert(this.stateValue === 'waiting' || this.stateValue === 'failed', 'begin from rest')
    assert(this.plan.sources.includes(source), `${source} is not a source of this transfer`)
    this.sourceValue = source
    this.errorValue = undefined
    const startedAtMs = this.progressValue.startedAtMs ?? wallMs
    this.progressValue = { ...this.progressValue, startedAtMs }
    this.stateValue = this.currentPart === undefined ? 'reconciling' : 'streaming'
  }

  /** One page merged: `last` is its last key, `next` undefined when the part is complete. */
  paged(keys: number, bytes: number, last: string | undefined, complete: boolean): void {
    assert(this.stateValue === 'streaming', 'pages arrive while streaming')
    assert(Number.isSafeInteger(keys) && keys >= 0 && bytes >= 0, 'bad page counts')
    const progress = this.progressValue
    const moved = {
      keysMoved: progress.keysMoved + keys,
      bytesMoved: progress.bytesMoved + bytes,
    }
    this.failuresValue = 0
    if (complete) {
      this.progressValue = { ...progress, ...moved, part: progress.part + 1, after: '' }
      if (this.currentPart === undefined) this.stateValue = 'reconciling'
      return
    }
    assert(last !== undefined, 'an incomplete page names its last key')
    assert(progress.after === '' || compareKeys(last, progress.after) > 0, 'the cursor moves on')
    this.progressValue = { ...progress, ...moved, after: last }
  }

  reconciled(wallMs: number): void {
    assert(this.stateValue === 'reconciling', 'reconcile follows streaming')
    this.progressValue = { ...this.progressValue, reconciled: true, finishedAtMs: wallMs }
    this.failuresValue = 0
    this.stateValue = 'done'
  }

  fail(error: string): void {
    assert(this.stateValue === 'streaming' || this.stateValue === 'reconciling', 'fail in flight')
    this.errorValue = error
    this.failuresValue++
    this.stateValue = 'failed'
  }
}
