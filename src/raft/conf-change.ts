/**
 * Single-server membership changes as pure functions over a ConfState. The leader validates a
 * change when it is proposed; every node applies it when the entry is applied, in log order, so
 * all nodes agree on the configuration at every index. A change that is invalid at apply time
 * (possible only if two changes raced, which the one-pending-change rule forbids) is a no-op on
 * every node alike.
 */

import { NODE_ID_BYTES_MAX, sortedIds } from './config.js'
import type { ConfChange, ConfState } from './types.js'

/** The largest voter or learner set a configuration may hold. */
export const MEMBERS_MAX = 64

/** Why `change` cannot apply to `confState`, or undefined when it can. */
export function confChangeProblem(confState: ConfState, change: ConfChange): string | undefined {
  const { nodeId } = change
  if (nodeId.length === 0 || nodeId.length > NODE_ID_BYTES_MAX) return 'invalid node id'
  const isVoter = confState.voters.includes(nodeId)
  const isLearner = confState.learners.includes(nodeId)
  const membersCount = confState.voters.length + confState.learners.length
  switch (change.type) {
    case 'add_voter':
      if (isVoter) return `${nodeId} is already a voter`
      if (!isLearner && membersCount >= MEMBERS_MAX) return 'too many members'
      return undefined
    case 'add_learner':
      if (isLearner) return `${nodeId} is already a learner`
      if (isVoter && confState.voters.length === 1) return 'cannot demote the last voter'
      if (!isVoter && membersCount >= MEMBERS_MAX) return 'too many members'
      return undefined
    case 'remove_node':
      if (!isVoter && !isLearner) return `${nodeId} is not a member`
      if (isVoter && confState.voters.length === 1) return 'cannot remove the last voter'
      return undefined
  }
}

/** The configuration after `change`; an invalid change leaves it unchanged. */
export function applyConfChange(confState: ConfState, change: ConfChange): ConfState {
  if (confChangeProblem(confState, change) !== undefined) return confState
  const { nodeId } = change
  const voters = confState.voters.filter((id) => id !== nodeId)
  const learners = confState.learners.filter((id) => id !== nodeId)
  if (change.type === 'add_voter') voters.push(nodeId)
  if (change.type === 'add_learner') learners.push(nodeId)
  return { voters: sortedIds(voters), learners: sortedIds(learners) }
}
