/**
 * Goal: a request's levels resolve exactly as the API promises (names, numbers, shorthand,
 * defaults, and a clear invalid_consistency for anything out of range), and replica plans
 * pick usable primaries, one fallback per down primary with a hint for it, spares in ring
 * order, and the right coordinator. Method: tables over a small fixed ring with chosen
 * liveness.
 */

import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import { resolveRequirement } from '../../../src/replication/consistency.js'
import { chooseCoordinator, planReplicas } from '../../../src/replication/plan.js'
import { buildRing, fallbackOrder, preferenceList } from '../../../src/ring/index.js'

const READ = { level: 'r', primaryLevel: 'pr' }

describe('resolveRequirement', () => {
  const table: [
    Parameters<typeof resolveRequirement>[0],
    number,
    { total: number; primaries: number },
  ][] = [
    [{}, 3, { total: 2, primaries: 0 }],
    [{ level: 'one' }, 3, { total: 1, primaries: 0 }],
    [{ level: 'ALL' }, 3, { total: 3, primaries: 0 }],
    [{ level: '2', primaryLevel: '1' }, 3, { total: 2, primaries: 1 }],
    [{ shorthand: 'all' }, 3, { total: 3, primaries: 0 }],
    [{ shorthand: 'all', level: 'one' }, 3, { total: 1, primaries: 0 }],
    [{ primaryLevel: '0' }, 3, { total: 2, primaries: 0 }],
    [{ level: 'quorum' }, 5, { total: 3, primaries: 0 }],
    [{ level: 'three' }, 3, { total: 3, primaries: 0 }],
  ]
  it.each(table)('%j with N=%i', (parameters, replicas, expected) => {
    expect(resolveRequirement(parameters, READ, replicas, 'quorum')).toEqual(expected)
  })

  const invalid: [Parameters<typeof resolveRequirement>[0], RegExp][] = [
    [{ level: '4' }, /^r: /],
    [{ level: '0' }, /at least 1/],
    [{ level: 'most' }, /not a level/],
    [{ level: '-1' }, /not a level/],
    [{ level: 'three' }, /needs 3/],
    [{ primaryLevel: '3' }, /^pr: /],
    [{ shorthand: 'five' }, /^consistency=/],
    [{ level: '1.5' }, /not a level/],
  ]
  it.each(invalid)('refuses %j as invalid_consistency', (parameters, message) => {
    let thrown: unknown
    try {
      resolveRequirement(parameters, READ, 2, 'one')
    } catch (error) {
      thrown = error
    }
    expect(isMurmurError(thrown, 'invalid_consistency')).toBe(true)
    expect((thrown as Error).message).toMatch(message)
  })
})

describe('planReplicas', () => {
  const ring = buildRing(
    ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => ({ id, zone: '' })),
    { partitionCount: 16, replicaSlots: 3 },
  )
  const partition = 5
  const primaries = preferenceList(ring, partition, 3)
  const fallbacks = fallbackOrder(ring, partition, 3)
  const down = (...nodes: string[]) => ({ isUsable: (node: string) => !nodes.includes(node) })

  it('targets every primary when all are usable, with every fallback spare', () => {
    const plan = planReplicas(ring, partition, 3, down())
    expect(plan.targets).toEqual(primaries.map((node) => ({ node, hintFor: undefined })))
    expect(plan.spares).toEqual(fallbacks)
  })

  it('stands in the next usable fallback for each down primary', () => {
    const [first, second, third] = primaries as [string, string, string]
    const plan = planReplicas(ring, partition, 3, down(second, fallbacks[0] as string))
    expect(plan.targets).toEqual([
      { node: first, hintFor: undefined },
      { node: fallbacks[1], hintFor: second },
      { node: third, hintFor: undefined },
    ])
    expect(plan.spares).toEqual([])
  })

  it('plans fewer targets when nothing is left to stand in', () => {
    const plan = planReplicas(ring, partition, 3, down(...fallbacks, primaries[0] as string))
    expect(plan.targets.length).toBe(2)
  })

  it('coordinates locally on a primary, forwards otherwise, and falls back when all are down', () => {
    const plan = planReplicas(ring, partition, 3, down())
    expect(chooseCoordinator(plan, primaries[1] as string, down())).toEqual({ kind: 'local' })
    expect(chooseCoordinator(plan, fallbacks[0] as string, down(primaries[0] as string))).toEqual({
      kind: 'forward',
      candidates: primaries.slice(1),
    })
    expect(chooseCoordinator(plan, fallbacks[0] as string, down(...primaries))).toEqual({
      kind: 'local',
    })
  })
})
