/**
 * The assignment step of buildRing: fills one position (place) of every preference list,
 * given the places before it, per-node quotas for this position, and the previous ring.
 *
 * Hard rules, never broken: a node appears at most once in a list, and each entry's zone is
 * one of the least used zones of its list so far among the zones that still have unlisted
 * nodes (so the first min(zoneCount, places) entries come from distinct zones and zones are
 * used evenly after that). A list whose remaining places are all needed for zones that every
 * list must hold by some later prefix (PrefixDemand) takes only those zones. Quotas are the
 * soft goal: the matching meets them whenever an assignment of this position can, and a
 * partition that cannot be served within quota takes the allowed node least over its target;
 * that happens only with uneven zones.
 *
 * Steps, each deterministic:
 * 1. Keep: each partition keeps the node it had at this position in the previous ring. Where a
 *    node has more such partitions than quota, it gives up first those where a node that
 *    needs places (such as a new node) fits, so one move frees the place; within that, the
 *    (partition, node) hash rank decides, so which partitions move is stable.
 * 2. Shift: a partition still open takes another node of its previous list, in list order,
 *    so a node that moves up or down within the list moves no data for the full list.
 * 3. Fill: a partition still open takes the node with spare quota that ranks first by the
 *    (partition, node) hash. When every allowed node is full, a breadth-first search for the
 *    shortest chain of reassignments ending at a node with spare quota makes room (augmenting
 *    path, as in bipartite matching). When no such chain exists, the partition takes the
 *    allowed node that is least over its target.
 * After the last position, rebalanceWithinZones (rebalance.ts) evens out what such overshoots
 * left behind.
 */

import { assert } from '../env/assert.js'
import { mixFinal32 } from './hash.js'
import { type PrefixDemand, TARGET_SCALE } from './targets.js'

/** Everything the assignment reads and writes while one ring is built. */
export interface PlacementState {
  readonly partitionCount: number
  readonly slots: number
  readonly nodeCount: number
  readonly zoneCount: number
  readonly zoneOfNode: readonly number[]
  readonly zoneSizes: readonly number[]
  /** Hash of each node id, the node's part of the (partition, node) rank. */
  readonly nodeHashes: readonly number[]
  /** lists[partition * slots + place] is a node index, or -1 while unfilled. */
  readonly lists: Int32Array
  /** zoneUsage[partition * zoneCount + zone]: entries of that zone in the list so far. */
  readonly zoneUsage: Int32Array
  /** Placements of each node in the positions filled so far. */
  readonly counts: number[]
  /** Previous lists as node indices of this build (-1 for nodes no longer present). */
  readonly previousLists: readonly (readonly number[])[] | undefined
  /** What each prefix of the lists demands of zones (entry k - 1 for the first k places). */
  readonly demands: readonly PrefixDemand[]
}

/** The rank of `node` for `partition`: lower ranks win ties, independent of other nodes. */
export function placementRank(nodeHash: number, partition: number): number {
  return mixFinal32(nodeHash ^ Math.imul(partition + 1, 0x9e3779b1))
}

/** Compares two nodes for a partition by rank, then by index (ids are sorted). */
function compareRank(state: PlacementState, partition: number, a: number, b: number): number {
  const rankA = placementRank(state.nodeHashes[a] ?? 0, partition)
  const rankB = placementRank(state.nodeHashes[b] ?? 0, partition)
  return rankA === rankB ? a - b : rankA - rankB
}

/** What one position's assignment needs beyond the build state. */
interface PositionContext {
  readonly state: PlacementState
  readonly position: number
  readonly quotas: readonly number[]
  /** Quota left per node; negative after a forced overshoot. */
  readonly capacities: number[]
  /** Fixed-point targets through this position, for choosing the least harmful overshoot. */
  readonly targets: readonly number[]
  /** The allowed zone usage of each partition at this position (the least used count). */
  readonly allowedUsage: Int32Array
  /**
   * Per partition, 0, or the prefix k whose missing mandatory zones need every place left
   * before it, this one included: then only those zones are allowed here.
   */
  readonly tightPrefix: Int32Array
  /** The node each partition takes at this position, or -1. */
  readonly chosen: Int32Array
}

function allowedUsageOf(state: PlacementState, partition: number): number {
  let least = Number.MAX_SAFE_INTEGER
  for (let zone = 0; zone < state.zoneCount; zone++) {
    const usage = state.zoneUsage[partition * state.zoneCount + zone] ?? 0
    if (usage < (state.zoneSizes[zone] ?? 0) && usage < least) least = usage
  }
  return least
}

/** True when `node` may take `partition`'s place at this position under the hard rules. */
function allowed(context: PositionContext, partition: number, node: number): boolean {
  const { state, position } = context
  const start = partition * state.slots
  for (let place = 0; place < position; place++) {
    if (state.lists[start + place] === node) return false
  }
  const zone = state.zoneOfNode[node] ?? 0
  const usage = state.zoneUsage[partition * state.zoneCount + zone]
  if (usage !== context.allowedUsage[partition]) return false
  const prefix = context.tightPrefix[partition] ?? 0
  return prefix === 0 || state.demands[prefix - 1]?.mandatoryZones[zone] === true
}

/**
 * The first prefix k (within this position's round) whose mandatory zones missing from the
 * partition's list fill all k - position places left before it, or 0 when there is none.
 * Mandatory sets grow with k, so the first tight prefix is the strictest.
 */
function tightPrefixOf(state: PlacementState, partition: number, position: number): number {
  const round = state.demands[position]?.round ?? 0
  for (let prefix = position + 1; prefix <= state.slots; prefix++) {
    const demand = state.demands[prefix - 1]
    if (demand === undefined || demand.round !== round) break
    let missing = 0
    demand.mandatoryZones.forEach((mandatory, zone) => {
      if (mandatory && state.zoneUsage[partition * state.zoneCount + zone] === round) missing++
    })
    if (missing >= prefix - position) return prefix
  }
  return 0
}

function take(context: PositionContext, partition: number, node: number): void {
  context.chosen[partition] = node
  context.capacities[node] = (context.capacities[node] ?? 0) - 1
}

/**
 * True when `partition` could take a node that needs more places here than it kept (a
 * gainer, such as a new node) instead of `current`. Dropping a node where a gainer fits
 * moves one placement; dropping it elsewhere starts a chain of moves.
 */
function gainerFits(
  context: PositionContext,
  gains: readonly number[],
  partition: number,
  current: number,
): boolean {
  for (let node = 0; node < context.state.nodeCount; node++) {
    if (node !== current && (gains[node] ?? 0) > 0 && allowed(context, partition, node)) {
      return true
    }
  }
  return false
}

/**
 * Step 1: keep last ring's node at this position, up to quota. A node over quota keeps first
 * the partitions where no gainer fits, then the rest, each group in (partition, node) rank
 * order.
 */
function keepPrevious(context: PositionContext): void {
  const { state, position } = context
  const previous = state.previousLists
  if (previous === undefined) return
  const keepers: number[][] = Array.from({ length: state.nodeCount }, () => [])
  for (let partition = 0; partition < state.partitionCount; partition++) {
    const node = previous[partition]?.[position] ?? -1
    if (node >= 0 && allowed(context, partition, node)) keepers[node]?.push(partition)
  }
  const gains = keepers.map((partitions, node) => (context.quotas[node] ?? 0) - partitions.length)
  keepers.forEach((partitions, node) => {
    const hash = state.nodeHashes[node] ?? 0
    const surplus = partitions.length > (context.quotas[node] ?? 0)
    const fits = new Map<number, number>()
    for (const partition of partitions) {
      fits.set(partition, surplus && gainerFits(context, gains, partition, node) ? 1 : 0)
    }
    partitions.sort(
      (a, b) =>
        (fits.get(a) ?? 0) - (fits.get(b) ?? 0) ||
        placementRank(hash, a) - placementRank(hash, b) ||
        a - b,
    )
    for (const partition of partitions) {
      if ((context.capacities[node] ?? 0) <= 0) break
      take(context, partition, node)
    }
  })
}

/** Step 2: an open partition takes another node of its previous list, in list order. */
function shiftPrevious(context: PositionContext): void {
  const previous = context.state.previousLists
  if (previous === undefined) return
  for (let partition = 0; partition < context.state.partitionCount; partition++) {
    if (context.chosen[partition] !== -1) continue
    for (const node of previous[partition] ?? []) {
      if (node < 0 || (context.capacities[node] ?? 0) <= 0) continue
      if (!allowed(context, partition, node)) continue
      take(context, partition, node)
      break
    }
  }
}

/** The best-ranked allowed node with spare quota, or -1. */
function bestWithCapacity(context: PositionContext, partition: number): number {
  let best = -1
  for (let node = 0; node < context.state.nodeCount; node++) {
    if ((context.capacities[node] ?? 0) <= 0 || !allowed(context, partition, node)) continue
    if (best === -1 || compareRank(context.state, partition, node, best) < 0) best = node
  }
  return best
}

/**
 * Searches breadth-first for the shortest chain: `partition` takes a full node v1, a partition
 * holding v1 at this position takes v2, and so on, until a node with spare quota. Applies the
 * chain and returns true, or returns false when none exists. Each node is visited once.
 */
function augment(context: PositionContext, partition: number): boolean {
  const { state } = context
  const movingPartition = new Int32Array(state.nodeCount).fill(-1)
  const releasedNode = new Int32Array(state.nodeCount).fill(-1)
  const queue: number[] = []
  const visit = (mover: number, released: number): void => {
    for (let node = 0; node < state.nodeCount; node++) {
      if (movingPartition[node] !== -1 || node === released) continue
      if (!allowed(context, mover, node)) continue
      movingPartition[node] = mover
      releasedNode[node] = released
      queue.push(node)
    }
  }
  visit(partition, -1)
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] ?? -1
    if ((context.capacities[node] ?? 0) > 0) {
      context.capacities[node] = (context.capacities[node] ?? 0) - 1
      for (let end = node; end !== -1; end = releasedNode[end] ?? -1) {
        context.chosen[movingPartition[end] ?? -1] = end
      }
      return true
    }
    for (let holder = 0; holder < state.partitionCount; holder++) {
      if (context.chosen[holder] === node) visit(holder, node)
    }
  }
  return false
}

/** The allowed node least over its target after taking one more place. */
function leastOverTarget(context: PositionContext, partition: number): number {
  const { state } = context
  let best = -1
  let bestExcess = 0
  for (let node = 0; node < state.nodeCount; node++) {
    if (!allowed(context, partition, node)) continue
    const takenHere = (context.quotas[node] ?? 0) - (context.capacities[node] ?? 0)
    const placed = (state.counts[node] ?? 0) + takenHere
    const excess = (placed + 1) * TARGET_SCALE - (context.targets[node] ?? 0)
    if (best === -1 || excess < bestExcess) {
      best = node
      bestExcess = excess
    } else if (excess === bestExcess && compareRank(state, partition, node, best) < 0) {
      best = node
    }
  }
  assert(best !== -1, `no allowed node for partition ${partition}`)
  return best
}

/** Step 3: fill every open partition. */
function fillOpen(context: PositionContext): void {
  for (let partition = 0; partition < context.state.partitionCount; partition++) {
    if (context.chosen[partition] !== -1) continue
    const node = bestWithCapacity(context, partition)
    if (node !== -1) {
      take(context, partition, node)
      continue
    }
    if (augment(context, partition)) continue
    take(context, partition, leastOverTarget(context, partition))
  }
}

/**
 * Fills `position` of every list: `quotas` are this position's per-node quotas and `targets`
 * the fixed-point targets through it. Updates lists, zone usage and counts in place.
 */
export function assignPosition(
  state: PlacementState,
  position: number,
  quotas: readonly number[],
  targets: readonly number[],
): void {
  assert(position >= 0 && position < state.slots, `position ${position} outside the list`)
  assert(quotas.length === state.nodeCount && targets.length === state.nodeCount, 'bad quotas')
  const allowedUsage = new Int32Array(state.partitionCount)
  const tightPrefix = new Int32Array(state.partitionCount)
  for (let partition = 0; partition < state.partitionCount; partition++) {
    allowedUsage[partition] = allowedUsageOf(state, partition)
    tightPrefix[partition] = tightPrefixOf(state, partition, position)
  }
  const context: PositionContext = {
    state,
    position,
    quotas,
    capacities: [...quotas],
    targets,
    allowedUsage,
    tightPrefix,
    chosen: new Int32Array(state.partitionCount).fill(-1),
  }
  keepPrevious(context)
  shiftPrevious(context)
  fillOpen(context)
  for (let partition = 0; partition < state.partitionCount; partition++) {
    const node = context.chosen[partition] ?? -1
    assert(node >= 0 && allowed(context, partition, node), `partition ${partition} unfilled`)
    state.lists[partition * state.slots + position] = node
    const usageIndex = partition * state.zoneCount + (state.zoneOfNode[node] ?? 0)
    state.zoneUsage[usageIndex] = (state.zoneUsage[usageIndex] ?? 0) + 1
    state.counts[node] = (state.counts[node] ?? 0) + 1
  }
}
