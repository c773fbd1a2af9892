/**
 * Goal: a read asks the fewest planned targets that can meet its level, including enough
 * primaries for `pr`, and all of them when even that cannot meet it.
 * Method: `targetsNeeded` on hand-made target lists of primaries and fallbacks.
 */

import { describe, expect, it } from 'vitest'
import type { ReplicaTarget } from '../../../src/replication/plan.js'
import { targetsNeeded } from '../../../src/runtime/kv/coordinator.js'

const primary = (node: string): ReplicaTarget => ({ node, hintFor: undefined })
const fallback = (node: string, hintFor: string): ReplicaTarget => ({ node, hintFor })

describe('targetsNeeded', () => {
  const three = [primary('n1'), primary('n2'), primary('n3')]

  it('asks as many targets as answers the level needs', () => {
    expect(targetsNeeded(three, { total: 1, primaries: 0 })).toBe(1)
    expect(targetsNeeded(three, { total: 2, primaries: 0 })).toBe(2)
    expect(targetsNeeded(three, { total: 3, primaries: 0 })).toBe(3)
  })

  it('asks further down the plan until enough primaries are among the asked', () => {
    const mixed = [fallback('n4', 'n1'), primary('n2'), fallback('n5', 'n3')]
    expect(targetsNeeded(mixed, { total: 1, primaries: 1 })).toBe(2)
    expect(targetsNeeded(mixed, { total: 1, primaries: 0 })).toBe(1)
  })

  it('asks every target when even all of them cannot meet the level', () => {
    expect(targetsNeeded([primary('n1'), fallback('n4', 'n2')], { total: 2, primaries: 2 })).toBe(2)
    expect(targetsNeeded([primary('n1')], { total: 2, primaries: 0 })).toBe(1)
  })
})
