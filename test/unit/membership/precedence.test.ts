/**
 * Goal: SWIM's precedence rules, as `supersedes` decides them, for every recorded state, claim
 * kind and incarnation order.
 *
 * Method: an explicit table of expected outcomes, one row per (recorded state, claim kind),
 * with the outcome for an older, equal and newer claim.
 */

import { describe, expect, it } from 'vitest'
import { type ClaimKind, type MemberState, supersedes } from '../../../src/membership/member.js'

// [recorded state, claim kind, older claim wins, equal claim wins, newer claim wins]
const TABLE: readonly [MemberState, ClaimKind, boolean, boolean, boolean][] = [
  ['alive', 'alive', false, false, true],
  ['alive', 'suspect', false, true, true],
  ['alive', 'dead', false, true, true],
  ['alive', 'left', false, true, true],
  ['suspect', 'alive', false, false, true],
  ['suspect', 'suspect', false, false, true],
  ['suspect', 'dead', false, true, true],
  ['suspect', 'left', false, true, true],
  ['dead', 'alive', false, false, true],
  ['dead', 'suspect', false, false, false],
  ['dead', 'dead', false, false, false],
  ['dead', 'left', false, true, true],
  ['left', 'alive', false, false, true],
  ['left', 'suspect', false, false, false],
  ['left', 'dead', false, false, false],
  ['left', 'left', false, false, false],
]

describe('supersedes', () => {
  it.each(TABLE)(
    'recorded %s, claim %s: older %s, equal %s, newer %s',
    (state, kind, older, equal, newer) => {
      const recorded = { state, incarnation: 5 }
      expect(supersedes(recorded, { kind, incarnation: 4 })).toBe(older)
      expect(supersedes(recorded, { kind, incarnation: 5 })).toBe(equal)
      expect(supersedes(recorded, { kind, incarnation: 6 })).toBe(newer)
    },
  )

  it('covers every pair of state and claim', () => {
    expect(new Set(TABLE.map(([state, kind]) => `${state}/${kind}`)).size).toBe(16)
  })
})
