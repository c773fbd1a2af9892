/**
 * The balancing pass of buildRing, after every position is filled. Where the zone rule forced
 * quotas to be exceeded (uneven zones, or a previous ring the assignment stays close to), the
 * nodes of one zone can end more than one place apart among the first k entries of the lists
 * (a prefix). This pass moves places between nodes of one zone until every prefix is even or
 * no move helps.
 *
 * A move hands one list's place at position q from a giver to a receiver of the same zone:
 * the two swap when the receiver stands further down the list (no list's membership changes),
 * or the receiver replaces the giver when it is not in the list. Either way each list keeps its
 * zone sequence, so the zone rule still holds. A move changes the two nodes' counts in every
 * prefix from q + 1 to where the receiver stood (or to the end).
 *
 * Unevenness is measured by the sum over prefixes of the squared counts: a move from a count a
 * to a count b changes it by 2(b - a + 1) in each prefix it touches, and every move or pair of
 * moves taken lowers it, so the pass ends. Three kinds of step, in turn: a move from the most
 * to the least loaded node of a zone at an uneven prefix; the same through a third node of the
 * zone (over gives to m in one list, m gives to under in another, m's counts end unchanged);
 * and, when a prefix is still uneven, a sweep of every single move that helps anywhere.
 * Everything is deterministic: scans run in partition, position and node order.
 */

import type { PlacementState } from './placement.js'

/** One place handed from `giver` to `receiver` in one list. */
interface Move {
  readonly partition: number
  readonly position: number
  readonly giver: number
  readonly receiver: number
  /** Where the receiver stood in the list before the move, or -1 when it was absent. */
  readonly receiverAt: number
}

/** Sweeps of each kind per build, a bound far above what any ring needed in a survey. */
const SWEEPS_MAX_PER_SLOT = 4

/** counts[k][node]: the node's places among the first k entries of the filled lists. */
function prefixCountsOf(state: PlacementState): number[][] {
  const counts = [new Array<number>(state.nodeCount).fill(0)]
  for (let prefix = 1; prefix <= state.slots; prefix++) {
    const row = [...(counts[prefix - 1] ?? [])]
    for (let partition = 0; partition < state.partitionCount; partition++) {
      const node = state.lists[partition * state.slots + prefix - 1] ?? -1
      row[node] = (row[node] ?? 0) + 1
    }
    counts.push(row)
  }
  return counts
}

/** Where `node` stands in `partition`'s list, or -1. */
function placeOf(state: PlacementState, partition: number, node: number): number {
  const start = partition * state.slots
  for (let place = 0; place < state.slots; place++) {
    if (state.lists[start + place] === node) return place
  }
  return -1
}

/** The last prefix a move changes: up to where the receiver stood, or the whole list. */
function endOf(state: PlacementState, move: Move): number {
  return move.receiverAt === -1 ? state.slots : move.receiverAt
}

/** How much the move lowers the sum of squared counts, halved (positive helps). */
function gainOf(state: PlacementState, counts: readonly (readonly number[])[], move: Move): number {
  let gain = 0
  for (let prefix = move.position + 1; prefix <= endOf(state, move); prefix++) {
    const row = counts[prefix] ?? []
    gain += (row[move.giver] ?? 0) - (row[move.receiver] ?? 0) - 1
  }
  return gain
}

/** Applies the move (`sign` 1) or takes it back (`sign` -1), lists and counts alike. */
function apply(state: PlacementState, counts: number[][], move: Move, sign: 1 | -1): void {
  const start = move.partition * state.slots
  const [atPosition, atReceiver] =
    sign === 1 ? [move.receiver, move.giver] : [move.giver, move.receiver]
  state.lists[start + move.position] = atPosition
  if (move.receiverAt !== -1) state.lists[start + move.receiverAt] = atReceiver
  for (let prefix = move.position + 1; prefix <= endOf(state, move); prefix++) {
    const row = counts[prefix] ?? []
    row[move.giver] = (row[move.giver] ?? 0) - sign
    row[move.receiver] = (row[move.receiver] ?? 0) + sign
  }
}

/**
 * The move from `giver` to `receiver` that shifts a place out of the first `prefix` entries
 * and gains most, or undefined when there is none.
 */
function bestMove(
  state: PlacementState,
  counts: readonly (readonly number[])[],
  prefix: number,
  giver: number,
  receiver: number,
): { move: Move; gain: number } | undefined {
  let best: { move: Move; gain: number } | undefined
  for (let partition = 0; partition < state.partitionCount; partition++) {
    const position = placeOf(state, partition, giver)
    if (position === -1 || position >= prefix) continue
    const receiverAt = placeOf(state, partition, receiver)
    if (receiverAt !== -1 && receiverAt < prefix) continue
    const move = { partition, position, giver, receiver, receiverAt }
    const gain = gainOf(state, counts, move)
    if (best === undefined || gain > best.gain) best = { move, gain }
  }
  return best
}

/**
 * Moves one place at `prefix` from `over` to `under`: directly when that helps, else through
 * the third node of the zone whose pair of moves helps most. Returns false when nothing helps.
 */
function moveOnePlace(
  state: PlacementState,
  counts: number[][],
  prefix: number,
  members: readonly number[],
  over: number,
  under: number,
): boolean {
  const direct = bestMove(state, counts, prefix, over, under)
  if (direct !== undefined && direct.gain > 0) {
    apply(state, counts, direct.move, 1)
    return true
  }
  let best: { first: Move; second: Move; gain: number } | undefined
  for (const middle of members) {
    if (middle === over || middle === under) continue
    const first = bestMove(state, counts, prefix, over, middle)
    if (first === undefined) continue
    apply(state, counts, first.move, 1)
    const second = bestMove(state, counts, prefix, middle, under)
    apply(state, counts, first.move, -1)
    if (second === undefined) continue
    const gain = first.gain + second.gain
    if (gain > 0 && (best === undefined || gain > best.gain)) {
      best = { first: first.move, second: second.move, gain }
    }
  }
  if (best === undefined) return false
  apply(state, counts, best.first, 1)
  apply(state, counts, best.second, 1)
  return true
}

/** The most and the least loaded node of a zone at one prefix. */
function extremes(row: readonly number[], members: readonly number[]): [number, number] {
  let over = members[0] ?? -1
  let under = over
  for (const node of members) {
    if ((row[node] ?? 0) > (row[over] ?? 0)) over = node
    if ((row[node] ?? 0) < (row[under] ?? 0)) under = node
  }
  return [over, under]
}

function spreadOf(row: readonly number[], members: readonly number[]): number {
  const [over, under] = extremes(row, members)
  return (row[over] ?? 0) - (row[under] ?? 0)
}

/** One sweep of the targeted moves over every prefix and zone. Returns true when it moved. */
function targetedSweep(state: PlacementState, counts: number[][], zones: number[][]): boolean {
  let moved = false
  for (let prefix = 1; prefix <= state.slots; prefix++) {
    const row = counts[prefix] ?? []
    for (const members of zones) {
      for (let step = 0; step < state.partitionCount && spreadOf(row, members) > 1; step++) {
        const [over, under] = extremes(row, members)
        if (!moveOnePlace(state, counts, prefix, members, over, under)) break
        moved = true
      }
    }
  }
  return moved
}

/** One sweep of every single move that helps, anywhere. Returns true when it moved. */
function polishSweep(state: PlacementState, counts: number[][]): boolean {
  let moved = false
  for (let partition = 0; partition < state.partitionCount; partition++) {
    for (let position = 0; position < state.slots; position++) {
      const giver = state.lists[partition * state.slots + position] ?? -1
      for (let receiver = 0; receiver < state.nodeCount; receiver++) {
        if (receiver === giver || state.zoneOfNode[receiver] !== state.zoneOfNode[giver]) continue
        const receiverAt = placeOf(state, partition, receiver)
        if (receiverAt !== -1 && receiverAt < position) continue
        const move = { partition, position, giver, receiver, receiverAt }
        if (gainOf(state, counts, move) <= 0) continue
        apply(state, counts, move, 1)
        moved = true
        break
      }
    }
  }
  return moved
}

/** Evens out each zone's nodes in every prefix of the filled lists (see the module comment). */
export function rebalanceWithinZones(state: PlacementState): void {
  const counts = prefixCountsOf(state)
  const zones = Array.from({ length: state.zoneCount }, (_, zone) => {
    const members: number[] = []
    state.zoneOfNode.forEach((nodeZone, node) => {
      if (nodeZone === zone) members.push(node)
    })
    return members
  }).filter((members) => members.length > 1)
  const uneven = (): boolean =>
    counts.some((row) => zones.some((members) => spreadOf(row, members) > 1))
  const sweepsMax = SWEEPS_MAX_PER_SLOT * state.slots
  for (let sweep = 0; sweep < sweepsMax && uneven(); sweep++) {
    if (!targetedSweep(state, counts, zones)) break
  }
  for (let sweep = 0; sweep < sweepsMax && uneven(); sweep++) {
    if (!polishSweep(state, counts)) break
  }
}
