/**
 * Placement targets for buildRing: how many of the first k places of all preference lists each
 * node should hold, and from those, integer per-position quotas.
 *
 * Zones shape the targets. The zone rule (ring.ts) makes every list fill in rounds: round r
 * holds one node from each zone that has more than r nodes, in any order. So for a prefix of
 * k places, each zone's count in every list is fixed by the complete rounds, and only the
 * partly filled round is free: there each zone may take between 0 and P of the leftover places
 * (P partitions). The free places are shared by water-filling, which raises the per-node load
 * of the least loaded zones first, so that every node's target is as close to k·P/n as the
 * zone rule allows. Within a zone all nodes get the same target. Without zones (one zone), or
 * with equal zones, every target is exactly k·P/n. The same water-filling tells which zones
 * every list must hold by each prefix (prefixDemands), which placement uses to save room.
 *
 * Targets are fixed-point numbers in units of 1/TARGET_SCALE placements, so the integer
 * rounding below is exact and identical on every machine.
 */

import { assert } from '../env/assert.js'

/** Fixed-point scale of targets: 2^20 units per placement. */
export const TARGET_SCALE = 2 ** 20

/** Bisection steps for the water level; doubles converge long before this. */
const WATER_LEVEL_STEPS_MAX = 200

export interface ZoneLayout {
  /** Zone index of each node. */
  readonly zoneOfNode: readonly number[]
  /** Number of nodes in each zone. */
  readonly zoneSizes: readonly number[]
}

/** The number of places a list fills in round `round`: zones with more than `round` nodes. */
function roundSize(zoneSizes: readonly number[], round: number): number {
  let size = 0
  for (const zoneSize of zoneSizes) if (zoneSize > round) size++
  return size
}

/**
 * The extra load each zone takes in a partly filled round of complete-round count `round`,
 * when `freePlaces` places of every list are filled in that round: water-filling with each
 * zone's share clamped to [0, P].
 */
function partialRoundShares(
  zoneSizes: readonly number[],
  partitionCount: number,
  round: number,
  freePlaces: number,
): number[] {
  const base = round * partitionCount
  const shareOf = (level: number, zoneSize: number): number =>
    zoneSize > round ? Math.min(partitionCount, Math.max(0, level * zoneSize - base)) : 0
  const wanted = freePlaces * partitionCount
  let low = 0
  let high = 0
  for (const zoneSize of zoneSizes) {
    if (zoneSize > round) high = Math.max(high, ((round + 1) * partitionCount) / zoneSize)
  }
  for (let step = 0; step < WATER_LEVEL_STEPS_MAX; step++) {
    const middle = (low + high) / 2
    if (middle === low || middle === high) break
    let total = 0
    for (const zoneSize of zoneSizes) total += shareOf(middle, zoneSize)
    if (total < wanted) low = middle
    else high = middle
  }
  // Bisection in doubles lands within rounding error of the exact level; snapping shares that
  // close to a bound onto it keeps a zone whose exact share is all P partitions mandatory.
  const snapBelow = 1 / TARGET_SCALE
  return zoneSizes.map((zoneSize) => {
    const share = shareOf(high, zoneSize)
    if (share > partitionCount - snapBelow) return partitionCount
    return share < snapBelow ? 0 : share
  })
}

/** Complete rounds within the first `prefix` places, and how many places they fill. */
function roundsWithin(zoneSizes: readonly number[], prefix: number) {
  let round = 0
  let filled = 0
  // Round sizes add up to the node count, which is at least `prefix`, so this ends.
  for (;;) {
    const size = roundSize(zoneSizes, round)
    if (filled + size > prefix) break
    filled += size
    round++
    if (filled === prefix) break
  }
  return { round, filled }
}

/**
 * Fixed-point target of every node for the first `prefix` places of all lists. The targets
 * add up to prefix·P (up to rounding) and never decrease as `prefix` grows.
 */
export function prefixTargets(
  layout: ZoneLayout,
  partitionCount: number,
  prefix: number,
): number[] {
  const nodeCount = layout.zoneOfNode.length
  assert(prefix >= 0 && prefix <= nodeCount, `prefix ${prefix} outside 0..${nodeCount}`)
  const { round, filled } = roundsWithin(layout.zoneSizes, prefix)
  const freePlaces = prefix - filled
  const shares =
    freePlaces === 0
      ? layout.zoneSizes.map(() => 0)
      : partialRoundShares(layout.zoneSizes, partitionCount, round, freePlaces)
  const zoneTargets = layout.zoneSizes.map((zoneSize, zone) => {
    const zoneLoad = Math.min(zoneSize, round) * partitionCount + (shares[zone] ?? 0)
    return Math.round((zoneLoad / zoneSize) * TARGET_SCALE)
  })
  return layout.zoneOfNode.map((zone) => zoneTargets[zone] ?? 0)
}

/**
 * What the zone rule and the targets together demand of the first `prefix` places of every
 * list. Which zones a list holds in a partly filled round is a choice, and the targets may
 * leave none: a zone whose share of the round is all P partitions must be in every list by
 * then (it is mandatory). Placement must save room for those zones, or a list may run out of
 * places in the round before it holds them all.
 */
export interface PrefixDemand {
  /** The round that the prefix's last place belongs to. */
  readonly round: number
  readonly mandatoryZones: readonly boolean[]
}

/** The demand of every prefix 1..slots; entry k - 1 is for the first k places. */
export function prefixDemands(
  layout: ZoneLayout,
  partitionCount: number,
  slots: number,
): PrefixDemand[] {
  const demands: PrefixDemand[] = []
  for (let prefix = 1; prefix <= slots; prefix++) {
    // The round of the last place: complete rounds before it.
    const { round, filled } = roundsWithin(layout.zoneSizes, prefix - 1)
    const shares = partialRoundShares(layout.zoneSizes, partitionCount, round, prefix - filled)
    const mandatoryZones = layout.zoneSizes.map(
      (zoneSize, zone) => zoneSize > round && (shares[zone] ?? 0) >= partitionCount,
    )
    demands.push({ round, mandatoryZones })
  }
  return demands
}

/**
 * Splits `total` units over items that want `desired` (fixed-point) each: every item gets the
 * whole part of its wish (at most its cap), and the units left over go one at a time to items
 * in `order`, taking back from the end of `order` when the whole parts overshoot. Items with
 * no fractional wish are rounded up last, so nothing lands above ⌈wish⌉ unless it must.
 */
function apportion(
  total: number,
  desired: readonly number[],
  caps: readonly number[],
  order: readonly number[],
): number[] {
  const shares = desired.map((wish, item) =>
    Math.min(Math.floor(wish / TARGET_SCALE), caps[item] ?? 0),
  )
  const hasFraction = (item: number): number =>
    Number((desired[item] ?? 0) > (shares[item] ?? 0) * TARGET_SCALE)
  const upOrder = [...order].sort((a, b) => hasFraction(b) - hasFraction(a))
  const downOrder = [...upOrder].reverse()
  let remainder = total - shares.reduce((sum, share) => sum + share, 0)
  // Each pass moves at least one unit or stops, so `total` passes always suffice.
  for (let pass = 0; pass < total && remainder !== 0; pass++) {
    let changed = false
    for (const item of remainder > 0 ? upOrder : downOrder) {
      if (remainder === 0) break
      const share = shares[item] ?? 0
      if (remainder > 0 && share < (caps[item] ?? 0)) {
        shares[item] = share + 1
        remainder--
        changed = true
      } else if (remainder < 0 && share > 0) {
        shares[item] = share - 1
        remainder++
        changed = true
      }
    }
    if (!changed) break
  }
  return shares
}

/**
 * Integer quotas for one position: how many lists each node should take at this place so that
 * its running count lands on ⌊target⌋ or ⌈target⌉. `counts` are the nodes' placements in the
 * earlier positions, `targets` the fixed-point targets through this position, `keepTotals`
 * each node's count if it also kept all its places at this position in the previous ring, and
 * `tieOrder` the node indices in the order that wins the remaining ties. A node never gets
 * more than it can take (partitionCount minus its count).
 *
 * The split is by zone first, then within each zone: the zone rule fixes how many places of
 * a position each zone fills, so rounding per node across zones could ask for a split that no
 * assignment can meet.
 */
export function positionQuotas(
  layout: ZoneLayout,
  targets: readonly number[],
  counts: readonly number[],
  keepTotals: readonly number[],
  tieOrder: readonly number[],
  partitionCount: number,
): number[] {
  const nodeCount = targets.length
  assert(
    layout.zoneOfNode.length === nodeCount &&
      counts.length === nodeCount &&
      keepTotals.length === nodeCount &&
      tieOrder.length === nodeCount,
    'quota inputs differ in length',
  )
  const deficits = targets.map((target, node) =>
    Math.max(0, target - (counts[node] ?? 0) * TARGET_SCALE),
  )
  const caps = counts.map((count) => partitionCount - count)
  const zoneDeficits = layout.zoneSizes.map(() => 0)
  const zoneCaps = layout.zoneSizes.map(() => 0)
  layout.zoneOfNode.forEach((zone, node) => {
    zoneDeficits[zone] = (zoneDeficits[zone] ?? 0) + (deficits[node] ?? 0)
    zoneCaps[zone] = (zoneCaps[zone] ?? 0) + (caps[node] ?? 0)
  })
  const zoneFraction = (zone: number): number => (zoneDeficits[zone] ?? 0) % TARGET_SCALE
  const zoneOrder = layout.zoneSizes
    .map((_, zone) => zone)
    .sort((a, b) => zoneFraction(b) - zoneFraction(a) || a - b)
  const zoneQuotas = apportion(partitionCount, zoneDeficits, zoneCaps, zoneOrder)
  // Within a zone, the nodes that would end furthest above ⌊target⌋ by keeping all their
  // previous places at this position round up first, so the rounding itself moves as little
  // as it can; then tieOrder decides (the sort is stable).
  const keepExcess = targets.map(
    (target, node) => (keepTotals[node] ?? 0) - Math.floor(target / TARGET_SCALE),
  )
  const byKeep = [...tieOrder].sort((a, b) => (keepExcess[b] ?? 0) - (keepExcess[a] ?? 0))
  const quotas = new Array<number>(nodeCount).fill(0)
  zoneQuotas.forEach((zoneQuota, zone) => {
    const members = byKeep.filter((node) => layout.zoneOfNode[node] === zone)
    const shares = apportion(
      zoneQuota,
      members.map((node) => deficits[node] ?? 0),
      members.map((node) => caps[node] ?? 0),
      members.map((_, index) => index),
    )
    members.forEach((node, index) => {
      quotas[node] = shares[index] ?? 0
    })
  })
  return quotas
}
