/**
 * Majority arithmetic over one voter set (single-server membership changes never need joint
 * majorities): the highest index a quorum has reached, and the outcome of a vote.
 */

import { assert } from '../env/assert.js'
import type { NodeId } from './types.js'

export function quorumSize(votersCount: number): number {
  assert(votersCount > 0, 'a quorum needs at least one voter')
  return Math.floor(votersCount / 2) + 1
}

/** The largest index that at least a quorum of `voters` has reached according to `indexOf`. */
export function quorumIndex(voters: readonly NodeId[], indexOf: (id: NodeId) => number): number {
  const indexes = voters.map(indexOf).sort((a, b) => b - a)
  return indexes[quorumSize(voters.length) - 1] as number
}

export type VoteOutcome = 'won' | 'lost' | 'pending'

/** The outcome of an election given the votes received so far (absent voters are pending). */
export function voteOutcome(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteOutcome {
  const needed = quorumSize(voters.length)
  let granted = 0
  let rejected = 0
  for (const id of voters) {
    const vote = votes.get(id)
    if (vote === true) granted++
    else if (vote === false) rejected++
  }
  if (granted >= needed) return 'won'
  if (voters.length - rejected < needed) return 'lost'
  return 'pending'
}
