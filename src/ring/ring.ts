/**
 * The ring: murmur's placement of keys on nodes. Keys hash to one of a fixed number of
 * partitions (hash.ts); each partition has an ordered preference list of distinct nodes. A
 * keyspace with replica count N uses the first N nodes of its partition's list. The ring is an
 * immutable, versioned value that every node computes identically from the same membership.
 *
 * Requirements (asserted; they are programmer errors, not user input):
 * - partitionCount is a power of two in PARTITION_COUNT_MIN..PARTITION_COUNT_MAX;
 * - replicaSlots (requested) is in 1..REPLICA_SLOTS_MAX; the ring holds
 *   min(requested, node count) places per list;
 * - there is at least one node and at most partitionCount nodes (so every node can be first
 *   somewhere); ids are unique, non-empty and at most NODE_ID_LENGTH_MAX characters; zones
 *   are at most ZONE_LENGTH_MAX characters ('' is a zone like any other);
 * - a previous ring has the same partitionCount.
 *
 * Algorithm (buildRing): nodes are sorted by id, so input order does not matter. Positions are
 * filled one at a time, first to last.
 * 1. Targets (targets.ts): each node's fair share of the first k places for every k, k·P/n
 *    without zones or with equal zones; with unequal zones, the closest to that which the zone
 *    rule permits (water-filling over the rounds in which lists visit zones).
 * 2. Quotas: for each position, integer quotas per zone and then per node, so that every
 *    node's running count lands on ⌊target⌋ or ⌈target⌉. Rounding ties go first to nodes that
 *    would otherwise give up places they held in the previous ring.
 * 3. Assignment (placement.ts): the position is matched to nodes under the hard rules,
 *    keeping the previous ring's choices where quotas allow, then shifting nodes within their
 *    old list, then filling by a (partition, node) hash rank with augmenting paths, while
 *    saving room for zones that every list must still receive.
 * 4. A balancing pass evens out nodes of one zone where the zone rule forced a quota to be
 *    exceeded.
 *
 * Guarantees:
 * - Every list holds replicaSlots distinct nodes; its first min(zoneCount, replicaSlots)
 *   entries are in distinct zones, and each entry comes from a least used zone of its list
 *   among zones with nodes left (so zone counts in a list differ by at most one while they
 *   can). This is checked on every build (ringProblem).
 * - Deterministic: the same nodes and options give an identical ring on every machine (the
 *   arithmetic is integer or exactly rounded doubles; no iteration over object keys).
 * - Without zones or with equal-size zones, for every k in 1..replicaSlots each node holds
 *   ⌊k·P/n⌋ or ⌈k·P/n⌉ of the first k places, so the primary max/min ratio is at most
 *   ⌈P/n⌉/⌊P/n⌋. The quota matching meets every quota here in all cases tested (every node
 *   count 3..64 at P = 64 and 256, and random memberships); the tests assert it.
 * - With unequal zones the zone rule comes first: a zone's share follows from how often lists
 *   must visit it, and the nodes of one zone stay within one place of each other (rarely two,
 *   when a small zone recurs in a partly filled later round).
 * - With a previous ring of the same node set and slots, the lists are unchanged. Otherwise
 *   previous choices are kept unless quotas or the rules forbid it: adding or removing one of
 *   n nodes moves at most 1.5 times the unavoidable slots·P/(n+1) placements plus 4 in the
 *   tests (measured worst about 1.3 times).
 */

import { assert } from '../env/assert.js'
import { hashString } from './hash.js'
import { assignPosition, type PlacementState } from './placement.js'
import { rebalanceWithinZones } from './rebalance.js'
import {
  positionQuotas,
  prefixDemands,
  prefixTargets,
  TARGET_SCALE,
  type ZoneLayout,
} from './targets.js'

export const PARTITION_COUNT_MIN = 8
export const PARTITION_COUNT_MAX = 4096
export const PARTITION_COUNT_DEFAULT = 64
/** The largest replica count of a keyspace, and so the longest list a ring keeps. */
export const REPLICA_SLOTS_MAX = 7
export const NODE_ID_LENGTH_MAX = 128
export const ZONE_LENGTH_MAX = 64

export interface RingNode {
  id: string
  zone: string
}

export interface Ring {
  version: number
  partitionCount: number
  /** Length of every preference list: min(requested slots, node count). */
  replicaSlots: number
  /** All nodes, sorted by id. */
  nodes: readonly RingNode[]
  /** preferences[partition] is the ordered list of distinct node ids for that partition. */
  preferences: readonly (readonly string[])[]
}

export interface BuildRingOptions {
  partitionCount: number
  /** Requested list length; the ring holds min(replicaSlots, node count). */
  replicaSlots: number
  /** The ring being replaced; its assignments are kept where possible. */
  previous?: Ring
}

export function isPartitionCount(value: number): boolean {
  return (
    Number.isSafeInteger(value) &&
    value >= PARTITION_COUNT_MIN &&
    value <= PARTITION_COUNT_MAX &&
    (value & (value - 1)) === 0
  )
}

/** Why a list breaks the zone rule, or undefined when it keeps it. */
function zoneRuleProblem(
  list: readonly string[],
  zoneByNode: ReadonlyMap<string, string>,
  zoneSizes: ReadonlyMap<string, number>,
): string | undefined {
  const usage = new Map<string, number>()
  for (const [place, id] of list.entries()) {
    let least = Number.MAX_SAFE_INTEGER
    for (const [zone, size] of zoneSizes) {
      const used = usage.get(zone) ?? 0
      if (used < size) least = Math.min(least, used)
    }
    const zone = zoneByNode.get(id) ?? ''
    const used = usage.get(zone) ?? 0
    if (used !== least) return `place ${place} reuses zone '${zone}' before a less used zone`
    usage.set(zone, used + 1)
  }
  return undefined
}

function nodesProblem(ring: Ring): string | undefined {
  if (ring.nodes.length < 1 || ring.nodes.length > ring.partitionCount) {
    return `node count ${ring.nodes.length} outside 1..${ring.partitionCount}`
  }
  for (const [index, node] of ring.nodes.entries()) {
    if (node.id.length < 1 || node.id.length > NODE_ID_LENGTH_MAX) return 'bad node id length'
    if (node.zone.length > ZONE_LENGTH_MAX) return `zone of ${node.id} is too long`
    const before = ring.nodes[index - 1]
    if (before !== undefined && !(before.id < node.id)) return 'node ids not sorted and unique'
  }
  return undefined
}

/**
 * Why `ring` is not a well-formed ring, or undefined when it is: the structural invariants
 * every built ring keeps (counts in range, sorted unique nodes, full lists of distinct known
 * nodes, the zone rule). Balance is a quality, not a validity, and is not checked.
 */
export function ringProblem(ring: Ring): string | undefined {
  if (!Number.isSafeInteger(ring.version) || ring.version < 1) return 'bad version'
  if (!isPartitionCount(ring.partitionCount)) return 'bad partition count'
  const nodesIssue = nodesProblem(ring)
  if (nodesIssue !== undefined) return nodesIssue
  const slotsMax = Math.min(REPLICA_SLOTS_MAX, ring.nodes.length)
  if (!Number.isSafeInteger(ring.replicaSlots) || ring.replicaSlots < 1) return 'bad slots'
  if (ring.replicaSlots > slotsMax) return `replica slots above ${slotsMax}`
  if (ring.preferences.length !== ring.partitionCount) return 'preference count mismatch'
  const zoneByNode = new Map(ring.nodes.map((node) => [node.id, node.zone]))
  const zoneSizes = new Map<string, number>()
  for (const node of ring.nodes) zoneSizes.set(node.zone, (zoneSizes.get(node.zone) ?? 0) + 1)
  for (const [partition, list] of ring.preferences.entries()) {
    if (list.length !== ring.replicaSlots) return `partition ${partition}: wrong list length`
    if (new Set(list).size !== list.length) return `partition ${partition}: repeated node`
    if (list.some((id) => !zoneByNode.has(id))) return `partition ${partition}: unknown node`
    const zoneIssue = zoneRuleProblem(list, zoneByNode, zoneSizes)
    if (zoneIssue !== undefined) return `partition ${partition}: ${zoneIssue}`
  }
  return undefined
}

function assertBuildInputs(nodes: readonly RingNode[], options: BuildRingOptions): void {
  assert(isPartitionCount(options.partitionCount), `bad partition count ${options.partitionCount}`)
  assert(
    Number.isSafeInteger(options.replicaSlots) &&
      options.replicaSlots >= 1 &&
      options.replicaSlots <= REPLICA_SLOTS_MAX,
    `replica slots must be in 1..${REPLICA_SLOTS_MAX}, got ${options.replicaSlots}`,
  )
  assert(nodes.length >= 1, 'a ring needs at least one node')
  assert(
    nodes.length <= options.partitionCount,
    `${nodes.length} nodes exceed ${options.partitionCount} partitions`,
  )
  const ids = new Set<string>()
  for (const node of nodes) {
    assert(node.id.length >= 1 && node.id.length <= NODE_ID_LENGTH_MAX, 'bad node id length')
    assert(node.zone.length <= ZONE_LENGTH_MAX, `zone of ${node.id} is too long`)
    assert(!ids.has(node.id), `duplicate node id ${node.id}`)
    ids.add(node.id)
  }
  const previous = options.previous
  if (previous !== undefined) {
    assert(previous.partitionCount === options.partitionCount, 'partition count changed')
    assert(ringProblem(previous) === undefined, 'previous ring is malformed')
  }
}

function sameMembership(a: readonly RingNode[], b: readonly RingNode[]): boolean {
  return (
    a.length === b.length &&
    a.every((node, index) => node.id === b[index]?.id && node.zone === b[index]?.zone)
  )
}

/** The initial state: zone indices by sorted zone name, node hashes, previous lists mapped. */
function initialState(sorted: readonly RingNode[], slots: number, options: BuildRingOptions) {
  const zoneNames = [...new Set(sorted.map((node) => node.zone))].sort()
  const zoneIndex = new Map(zoneNames.map((zone, index) => [zone, index]))
  const zoneOfNode = sorted.map((node) => zoneIndex.get(node.zone) ?? 0)
  const zoneSizes = zoneNames.map(() => 0)
  for (const zone of zoneOfNode) zoneSizes[zone] = (zoneSizes[zone] ?? 0) + 1
  const nodeIndex = new Map(sorted.map((node, index) => [node.id, index]))
  const previousLists = options.previous?.preferences.map((list) =>
    list.map((id) => nodeIndex.get(id) ?? -1),
  )
  const state: PlacementState = {
    partitionCount: options.partitionCount,
    slots,
    nodeCount: sorted.length,
    zoneCount: zoneNames.length,
    zoneOfNode,
    zoneSizes,
    nodeHashes: sorted.map((node) => hashString(node.id)),
    lists: new Int32Array(options.partitionCount * slots).fill(-1),
    zoneUsage: new Int32Array(options.partitionCount * zoneNames.length),
    counts: sorted.map(() => 0),
    previousLists,
    demands: prefixDemands({ zoneOfNode, zoneSizes }, options.partitionCount, slots),
  }
  return state
}

/**
 * The order in which nodes win rounding ties: first the nodes that held the fewest places in
 * the previous ring beyond what their final target allows (its surplus), then by id hash. A
 * node with surplus must give places up somewhere; letting it also give up the places that
 * rounding takes at earlier positions keeps the others from losing a place at one position
 * and having to gain one at another, which would move data twice.
 */
function roundingOrder(state: PlacementState, layout: ZoneLayout): number[] {
  const finalTargets = prefixTargets(layout, state.partitionCount, state.slots)
  const surplus = finalTargets.map((target) => -Math.floor(target / TARGET_SCALE))
  for (const list of state.previousLists ?? []) {
    for (const node of list.slice(0, state.slots)) {
      if (node >= 0) surplus[node] = (surplus[node] ?? 0) + 1
    }
  }
  return state.nodeHashes
    .map((_, index) => index)
    .sort(
      (a, b) =>
        (surplus[a] ?? 0) - (surplus[b] ?? 0) ||
        (state.nodeHashes[a] ?? 0) - (state.nodeHashes[b] ?? 0) ||
        a - b,
    )
}

/** How many previous lists hold each node at `position` (zeros without a previous ring). */
function previousCountsAt(state: PlacementState, position: number): number[] {
  const counts = new Array<number>(state.nodeCount).fill(0)
  for (const list of state.previousLists ?? []) {
    const node = list[position] ?? -1
    if (node >= 0) counts[node] = (counts[node] ?? 0) + 1
  }
  return counts
}

/** A deep-frozen copy of `ring`: rings are shared values that no holder may change. */
export function freezeRing(ring: Ring): Ring {
  return Object.freeze({
    ...ring,
    nodes: Object.freeze(ring.nodes.map((node) => Object.freeze({ ...node }))),
    preferences: Object.freeze(ring.preferences.map((list) => Object.freeze([...list]))),
  })
}

/** Builds the ring for `nodes`; see the module comment for the algorithm and guarantees. */
export function buildRing(nodes: readonly RingNode[], options: BuildRingOptions): Ring {
  assertBuildInputs(nodes, options)
  const sorted = [...nodes]
    .map((node) => ({ id: node.id, zone: node.zone }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  const slots = Math.min(options.replicaSlots, sorted.length)
  const previous = options.previous
  const version = previous === undefined ? 1 : previous.version + 1
  if (
    previous !== undefined &&
    previous.replicaSlots === slots &&
    sameMembership(previous.nodes, sorted)
  ) {
    return freezeRing({ ...previous, version })
  }
  const state = initialState(sorted, slots, options)
  const layout = { zoneOfNode: state.zoneOfNode, zoneSizes: state.zoneSizes }
  const tieOrder = roundingOrder(state, layout)
  for (let position = 0; position < slots; position++) {
    const targets = prefixTargets(layout, options.partitionCount, position + 1)
    const previousCounts = previousCountsAt(state, position)
    const keepTotals = state.counts.map((count, node) => count + (previousCounts[node] ?? 0))
    const quotas = positionQuotas(
      layout,
      targets,
      state.counts,
      keepTotals,
      tieOrder,
      options.partitionCount,
    )
    assignPosition(state, position, quotas, targets)
  }
  rebalanceWithinZones(state)
  const preferences: string[][] = []
  for (let partition = 0; partition < options.partitionCount; partition++) {
    const list: string[] = []
    for (let place = 0; place < slots; place++) {
      const node = state.lists[partition * slots + place] ?? -1
      list.push(sorted[node]?.id ?? '')
    }
    preferences.push(list)
  }
  const ring = freezeRing({
    version,
    partitionCount: options.partitionCount,
    replicaSlots: slots,
    nodes: sorted,
    preferences,
  })
  const problem = ringProblem(ring)
  assert(problem === undefined, `built ring is malformed: ${problem}`)
  return ring
}
