/**
 * Planning topology changes: the pure core behind `murmur cluster join|leave|replace|commit`.
 *
 * An operator stages changes (join, leave, replace), any number up to STAGED_CHANGES_MAX. They
 * are validated against the nodes cluster.yml lists (the candidates: a node must be configured,
 * with its addresses and zone, before it can join) and against the ring the changes apply to;
 * every refusal is a typed ChangeProblem with a message an operator can act on. Planning turns
 * the staged list into the next ring (`buildRing` over the resulting nodes with the current
 * ring as `previous`, so as few placements as possible move) and the partition transfers
 * between the two rings for the largest replica count.
 *
 * Committing a plan gives version v+1 = {current: the old ring, next: the planned ring}: the
 * move. Finishing the move gives v+2 = {current: the planned ring, next: none}. Versions only
 * grow and every version is a complete value: the record form (`topologyToRecord`,
 * `topologyFromUntrusted`) carries the rings themselves as plain data, so no node ever
 * recomputes a ring it received, and the same version means the same content everywhere.
 *
 * Nothing here does IO or reads a clock; the runtime (src/runtime/topology) stores and spreads
 * the records, and the Raft group orders them.
 */

import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'
import { type RingJson, ringFromUntrusted, ringToJson } from './json.js'
import { type PartitionTransfer, ringTransfers } from './queries.js'
import {
  buildRing,
  NODE_ID_LENGTH_MAX,
  REPLICA_SLOTS_MAX,
  type Ring,
  type RingNode,
} from './ring.js'
import type { Topology } from './topology.js'

/** Staged changes kept at once; a larger batch is refused. */
export const STAGED_CHANGES_MAX = 64

export type TopologyChange =
  | { readonly action: 'join'; readonly node: string }
  | { readonly action: 'leave'; readonly node: string }
  | { readonly action: 'replace'; readonly node: string; readonly with: string }

/** Why a staged list cannot be applied. Each is an operator's mistake, not a bug. */
export type ChangeProblem =
  | { readonly reason: 'unknown_node'; readonly node: string }
  | { readonly reason: 'already_in_ring'; readonly node: string }
  | { readonly reason: 'not_in_ring'; readonly node: string }
  | { readonly reason: 'replacement_in_ring'; readonly node: string }
  | { readonly reason: 'node_named_twice'; readonly node: string }
  | { readonly reason: 'too_few_nodes'; readonly nodes: number; readonly replicas: number }
  | { readonly reason: 'too_many_nodes'; readonly nodes: number; readonly partitions: number }
  | { readonly reason: 'too_many_changes'; readonly changes: number }
  | { readonly reason: 'nothing_staged' }
  | { readonly reason: 'move_under_way'; readonly version: number }

export interface PlanOptions {
  /** Every node cluster.yml lists, with its zone: the nodes a change may name. */
  readonly candidates: readonly RingNode[]
  /** The replica count of the largest keyspace the ring serves: no change may go below it. */
  readonly replicasMax: number
  /** The preference-list length the ring keeps (clamped by buildRing to the node count). */
  readonly replicaSlots: number
}

export interface TopologyPlan {
  readonly next: Ring
  readonly transfers: readonly PartitionTransfer[]
}

export type PlanResult =
  | { readonly ok: true; readonly plan: TopologyPlan }
  | { readonly ok: false; readonly problem: ChangeProblem }

/** The record form of a topology: plain, msgpack- and JSON-encodable data. */
export interface TopologyRecord {
  readonly version: number
  readonly current: RingJson
  readonly next?: RingJson
}

function assertOptions(options: PlanOptions): void {
  assert(
    Number.isSafeInteger(options.replicasMax) &&
      options.replicasMax >= 1 &&
      options.replicasMax <= REPLICA_SLOTS_MAX,
    `replicasMax must be in 1..${REPLICA_SLOTS_MAX}`,
  )
  assert(
    Number.isSafeInteger(options.replicaSlots) &&
      options.replicaSlots >= options.replicasMax &&
      options.replicaSlots <= REPLICA_SLOTS_MAX,
    'replicaSlots must be in replicasMax..REPLICA_SLOTS_MAX',
  )
}

/** A one-line, operator-facing description of a problem. */
export function problemMessage(problem: ChangeProblem): string {
  switch (problem.reason) {
    case 'unknown_node':
      return `node "${problem.node}" is not listed in cluster.yml; add it there (addresses, zone) first`
    case 'already_in_ring':
      return `node "${problem.node}" is already in the ring`
    case 'not_in_ring':
      return `node "${problem.node}" is not in the ring`
    case 'replacement_in_ring':
      return `replacement node "${problem.node}" is already in the ring`
    case 'node_named_twice':
      return `node "${problem.node}" is named by more than one staged change`
    case 'too_few_nodes':
      return `the ring would keep ${problem.nodes} nodes, fewer than the ${problem.replicas} replicas of the largest keyspace`
    case 'too_many_nodes':
      return `the ring would hold ${problem.nodes} nodes, more than its ${problem.partitions} partitions`
    case 'too_many_changes':
      return `${problem.changes} staged changes exceed the limit of ${STAGED_CHANGES_MAX}`
    case 'nothing_staged':
      return 'no change is staged'
    case 'move_under_way':
      return `topology version ${problem.version} is still moving; wait until it finishes`
  }
}

/** A MurmurError for a problem: moving is a failed precondition, the rest are bad requests. */
export function problemError(problem: ChangeProblem): MurmurError {
  const code = problem.reason === 'move_under_way' ? 'precondition_failed' : 'invalid_request'
  return new MurmurError(code, problemMessage(problem), {
    definite: true,
    details: { reason: problem.reason },
  })
}

/** The nodes named by a change: the node itself, and a replacement's newcomer. */
export function changeNodes(change: TopologyChange): readonly string[] {
  return change.action === 'replace' ? [change.node, change.with] : [change.node]
}

/** Why `change` cannot follow `members`, or undefined; updates `members` when it can. */
function applyOne(
  members: Map<string, RingNode>,
  change: TopologyChange,
  candidates: ReadonlyMap<string, RingNode>,
): ChangeProblem | undefined {
  for (const id of changeNodes(change)) {
    if (!candidates.has(id) && !members.has(id)) return { reason: 'unknown_node', node: id }
  }
  switch (change.action) {
    case 'join': {
      if (members.has(change.node)) return { reason: 'already_in_ring', node: change.node }
      const joining = candidates.get(change.node)
      assert(joining !== undefined, 'a joining node is a candidate')
      members.set(change.node, joining)
      return undefined
    }
    case 'leave':
      if (!members.delete(change.node)) return { reason: 'not_in_ring', node: change.node }
      return undefined
    case 'replace': {
      if (!members.has(change.node)) return { reason: 'not_in_ring', node: change.node }
      if (members.has(change.with)) return { reason: 'replacement_in_ring', node: change.with }
      const replacement = candidates.get(change.with)
      assert(replacement !== undefined, 'a replacement node is a candidate')
      members.delete(change.node)
      members.set(change.with, replacement)
      return undefined
    }
  }
}

export type ApplyResult =
  | { readonly ok: true; readonly nodes: readonly RingNode[] }
  | { readonly ok: false; readonly problem: ChangeProblem }

/**
 * The nodes of `ring` after `staged`, applied in order, or the first problem. A node may be
 * named by one change only, so the order of a batch never matters to its outcome.
 */
export function applyChanges(
  ring: Ring,
  staged: readonly TopologyChange[],
  options: PlanOptions,
): ApplyResult {
  assertOptions(options)
  if (staged.length > STAGED_CHANGES_MAX) {
    return { ok: false, problem: { reason: 'too_many_changes', changes: staged.length } }
  }
  const candidates = new Map(options.candidates.map((node) => [node.id, node]))
  const members = new Map(ring.nodes.map((node) => [node.id, node]))
  const named = new Set<string>()
  for (const change of staged) {
    for (const id of changeNodes(change)) {
      if (named.has(id)) return { ok: false, problem: { reason: 'node_named_twice', node: id } }
      named.add(id)
    }
    const problem = applyOne(members, change, candidates)
    if (problem !== undefined) return { ok: false, problem }
  }
  if (members.size < options.replicasMax) {
    const problem = {
      reason: 'too_few_nodes',
      nodes: members.size,
      replicas: options.replicasMax,
    } as const
    return { ok: false, problem }
  }
  if (members.size > ring.partitionCount) {
    const problem = {
      reason: 'too_many_nodes',
      nodes: members.size,
      partitions: ring.partitionCount,
    } as const
    return { ok: false, problem }
  }
  const nodes = [...members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return { ok: true, nodes }
}

/**
 * The ring that staged changes apply to: the ring being moved to while a move is under way
 * (so changes can be staged for after it), else the current one.
 */
export function stagingBase(topology: Topology): Ring {
  return topology.next ?? topology.current
}

/** Validates a staged list without planning (for staging while a move is under way). */
export function stagedProblem(
  topology: Topology,
  staged: readonly TopologyChange[],
  options: PlanOptions,
): ChangeProblem | undefined {
  const applied = applyChanges(stagingBase(topology), staged, options)
  return applied.ok ? undefined : applied.problem
}

/** Plans the move that `staged` asks for; refused while another move is under way. */
export function planChange(
  topology: Topology,
  staged: readonly TopologyChange[],
  options: PlanOptions,
): PlanResult {
  if (topology.next !== undefined) {
    return { ok: false, problem: { reason: 'move_under_way', version: topology.version } }
  }
  if (staged.length === 0) return { ok: false, problem: { reason: 'nothing_staged' } }
  const applied = applyChanges(topology.current, staged, options)
  if (!applied.ok) return applied
  const next = buildRing(applied.nodes, {
    partitionCount: topology.current.partitionCount,
    replicaSlots: options.replicaSlots,
    previous: topology.current,
  })
  const transfers = ringTransfers(topology.current, next, options.replicasMax)
  return { ok: true, plan: { next, transfers } }
}

/** Version 1: the ring every node derives identically from cluster.yml's founding nodes. */
export function initialTopology(
  nodes: readonly RingNode[],
  ring: { readonly partitionCount: number; readonly replicaSlots: number },
): Topology {
  const current = buildRing(nodes, ring)
  return Object.freeze({ version: 1, current, next: undefined })
}

/** Version v+1: the move from the current ring to `next`. */
export function commitRecord(topology: Topology, next: Ring): Topology {
  assert(topology.next === undefined, 'a move is committed from a settled topology')
  assert(next.partitionCount === topology.current.partitionCount, 'a move keeps partitions')
  return Object.freeze({ version: topology.version + 1, current: topology.current, next })
}

/** Version v+2: the move is done, and the ring moved to becomes the current one. */
export function finishRecord(topology: Topology): Topology {
  assert(topology.next !== undefined, 'only a move can finish')
  return Object.freeze({ version: topology.version + 1, current: topology.next, next: undefined })
}

export function topologyToRecord(topology: Topology): TopologyRecord {
  const current = ringToJson(topology.current)
  if (topology.next === undefined) return { version: topology.version, current }
  return { version: topology.version, current, next: ringToJson(topology.next) }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Decodes and validates a record received from a peer, a log entry or storage; throws
 * MurmurError('invalid_request') on any defect (rings are checked by ringFromUntrusted).
 */
export function topologyFromUntrusted(value: unknown): Topology {
  if (!isObject(value)) throw invalidRecord('expected an object')
  for (const key of Object.keys(value)) {
    if (key !== 'version' && key !== 'current' && key !== 'next') {
      throw invalidRecord(`unknown field ${key}`)
    }
  }
  const version = value['version']
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw invalidRecord('version must be a positive integer')
  }
  const current = ringFromUntrusted(value['current'])
  const nextValue = value['next']
  const next =
    nextValue === undefined || nextValue === null ? undefined : ringFromUntrusted(nextValue)
  if (next !== undefined && next.partitionCount !== current.partitionCount) {
    throw invalidRecord('next ring has another partition count')
  }
  return Object.freeze({ version, current, next })
}

function invalidRecord(problem: string): MurmurError {
  return new MurmurError('invalid_request', `invalid topology record: ${problem}`)
}

/** Whether two topologies are the same value (same version and the same rings). */
export function sameTopology(a: Topology, b: Topology): boolean {
  return JSON.stringify(topologyToRecord(a)) === JSON.stringify(topologyToRecord(b))
}

/** How much of a ring one node holds: lists it heads, and lists it is among the first n of. */
export interface NodeOwnership {
  readonly primaries: number
  readonly replicas: number
}

/** Ownership per node of `ring` for replica count `n`, in node id order. */
export function ownershipOf(ring: Ring, n: number): Map<string, NodeOwnership> {
  assert(Number.isSafeInteger(n) && n >= 1, 'replica count must be positive')
  const width = Math.min(n, ring.replicaSlots)
  const counts = new Map(ring.nodes.map((node) => [node.id, { primaries: 0, replicas: 0 }]))
  for (const list of ring.preferences) {
    list.slice(0, width).forEach((id, place) => {
      const entry = counts.get(id)
      assert(entry !== undefined, 'lists name ring nodes only')
      entry.replicas++
      if (place === 0) entry.primaries++
    })
  }
  return counts
}

/** Validates an untrusted staged change (from a REST body or a log entry). */
export function changeFromUntrusted(value: unknown): TopologyChange {
  if (!isObject(value)) throw invalidChange('expected an object')
  const { action, node } = value
  const allowed = action === 'replace' ? 3 : 2
  if (Object.keys(value).length !== allowed) throw invalidChange('unexpected fields')
  if (!isNodeId(node)) throw invalidChange('node must be a node id')
  if (action === 'join' || action === 'leave') return { action, node }
  if (action !== 'replace') throw invalidChange('action must be join, leave or replace')
  const replacement = value['with']
  if (!isNodeId(replacement)) throw invalidChange('with must be a node id')
  if (replacement === node) throw invalidChange('a node cannot replace itself')
  return { action, node, with: replacement }
}

function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= NODE_ID_LENGTH_MAX
}

function invalidChange(problem: string): MurmurError {
  return new MurmurError('invalid_request', `invalid topology change: ${problem}`, {
    definite: true,
  })
}
