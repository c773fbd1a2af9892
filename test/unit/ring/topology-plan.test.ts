/**
 * Goal: the topology planning core validates staged changes with the right typed reason, plans
 * moves whose rings are always well formed, and moves versions forward only (commit v → v+1
 * moving, finish v+1 → v+2 settled, with next becoming current); the record form round-trips
 * and rejects damaged input. Method: example tests for each refusal and transition, then
 * fast-check sequences of random joins, leaves and replacements applied through
 * plan → commit → finish, checking every ring (ringProblem), the transfers against the rings,
 * and the version order; fast-check prints the seed of any failure.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ringProblem } from '../../../src/ring/ring.js'
import { holders, readOwners } from '../../../src/ring/topology.js'
import {
  changeFromUntrusted,
  commitRecord,
  finishRecord,
  initialTopology,
  ownershipOf,
  type PlanOptions,
  planChange,
  problemError,
  sameTopology,
  stagedProblem,
  type TopologyChange,
  topologyFromUntrusted,
  topologyToRecord,
} from '../../../src/ring/topology-plan.js'

const CANDIDATES = Array.from({ length: 8 }, (_, index) => ({
  id: `n${index + 1}`,
  zone: `z${index % 3}`,
}))
const OPTIONS: PlanOptions = { candidates: CANDIDATES, replicasMax: 3, replicaSlots: 3 }
const RING = { partitionCount: 32, replicaSlots: 3 }

function founding(count = 3) {
  return initialTopology(CANDIDATES.slice(0, count), RING)
}

describe('staged change validation', () => {
  const cases: [string, TopologyChange[], string][] = [
    ['unknown node', [{ action: 'join', node: 'n99' }], 'unknown_node'],
    ['join of a member', [{ action: 'join', node: 'n1' }], 'already_in_ring'],
    ['leave of a stranger', [{ action: 'leave', node: 'n5' }], 'not_in_ring'],
    ['replace of a stranger', [{ action: 'replace', node: 'n5', with: 'n6' }], 'not_in_ring'],
    [
      'replacement already in the ring',
      [{ action: 'replace', node: 'n1', with: 'n2' }],
      'replacement_in_ring',
    ],
    ['below the replica count', [{ action: 'leave', node: 'n1' }], 'too_few_nodes'],
    [
      'a node named twice',
      [
        { action: 'join', node: 'n4' },
        { action: 'leave', node: 'n4' },
      ],
      'node_named_twice',
    ],
    ['nothing staged', [], 'nothing_staged'],
  ]
  for (const [name, staged, reason] of cases) {
    it(`refuses ${name}`, () => {
      const result = planChange(founding(), staged, OPTIONS)
      expect(result.ok).toBe(false)
      if (!result.ok) expect(result.problem.reason).toBe(reason)
    })
  }

  it('refuses planning while a move is under way, and maps it to precondition_failed', () => {
    const plan = planChange(founding(), [{ action: 'join', node: 'n4' }], OPTIONS)
    expect(plan.ok).toBe(true)
    if (!plan.ok) return
    const moving = commitRecord(founding(), plan.plan.next)
    const again = planChange(moving, [{ action: 'join', node: 'n5' }], OPTIONS)
    expect(again.ok).toBe(false)
    if (again.ok) return
    expect(again.problem).toEqual({ reason: 'move_under_way', version: 2 })
    expect(problemError(again.problem).code).toBe('precondition_failed')
    // Staging for after the move is allowed, and checked against the ring moved to.
    expect(stagedProblem(moving, [{ action: 'join', node: 'n5' }], OPTIONS)).toBeUndefined()
    expect(stagedProblem(moving, [{ action: 'join', node: 'n4' }], OPTIONS)?.reason).toBe(
      'already_in_ring',
    )
  })

  it('refuses more staged changes than the limit', () => {
    const staged = Array.from({ length: 65 }, (_, index) => ({
      action: 'join' as const,
      node: `x${index}`,
    }))
    const result = planChange(founding(), staged, OPTIONS)
    expect(!result.ok && result.problem.reason).toBe('too_many_changes')
  })

  it('validates untrusted changes', () => {
    expect(changeFromUntrusted({ action: 'join', node: 'n4' })).toEqual({
      action: 'join',
      node: 'n4',
    })
    expect(changeFromUntrusted({ action: 'replace', node: 'n1', with: 'n4' })).toEqual({
      action: 'replace',
      node: 'n1',
      with: 'n4',
    })
    for (const bad of [
      null,
      { action: 'grow', node: 'n4' },
      { action: 'join' },
      { action: 'join', node: '' },
      { action: 'join', node: 'n4', extra: 1 },
      { action: 'replace', node: 'n1' },
      { action: 'replace', node: 'n1', with: 'n1' },
    ]) {
      expect(() => changeFromUntrusted(bad)).toThrow(/invalid topology change/)
    }
  })
})

describe('moves', () => {
  it('commits v+1 moving and finishes v+2 with next as current', () => {
    const start = founding()
    const result = planChange(
      start,
      [
        { action: 'join', node: 'n4' },
        { action: 'replace', node: 'n2', with: 'n5' },
      ],
      OPTIONS,
    )
    expect(result.ok).toBe(true)
    if (!result.ok) return
    const { next, transfers } = result.plan
    expect(next.nodes.map((node) => node.id)).toEqual(['n1', 'n3', 'n4', 'n5'])
    expect(transfers.length).toBeGreaterThan(0)
    const moving = commitRecord(start, next)
    expect(moving.version).toBe(2)
    expect(moving.current).toBe(start.current)
    // While moving, reads stay with the old owners and writes reach both.
    for (let partition = 0; partition < RING.partitionCount; partition++) {
      expect(readOwners(moving, partition, 3)).toEqual(start.current.preferences[partition])
      const all = holders(moving, partition, 3)
      for (const id of next.preferences[partition] ?? []) expect(all).toContain(id)
    }
    const settled = finishRecord(moving)
    expect(settled.version).toBe(3)
    expect(settled.current).toBe(next)
    expect(settled.next).toBeUndefined()
    expect(() => finishRecord(settled)).toThrow()
    expect(() => commitRecord(moving, next)).toThrow()
  })

  it('counts primaries and replicas per node', () => {
    const ownership = ownershipOf(founding(4).current, 3)
    let primaries = 0
    let replicas = 0
    for (const entry of ownership.values()) {
      primaries += entry.primaries
      replicas += entry.replicas
    }
    expect(primaries).toBe(RING.partitionCount)
    expect(replicas).toBe(RING.partitionCount * 3)
    expect([...ownership.keys()]).toEqual(['n1', 'n2', 'n3', 'n4'])
  })
})

describe('record form', () => {
  it('round-trips settled and moving topologies through JSON', () => {
    const start = founding()
    const result = planChange(start, [{ action: 'join', node: 'n4' }], OPTIONS)
    if (!result.ok) throw new Error('plan failed')
    for (const topology of [start, commitRecord(start, result.plan.next)]) {
      const decoded = topologyFromUntrusted(JSON.parse(JSON.stringify(topologyToRecord(topology))))
      expect(sameTopology(decoded, topology)).toBe(true)
      expect(decoded.version).toBe(topology.version)
    }
  })

  it('rejects damaged records', () => {
    const record = topologyToRecord(founding())
    const damaged: unknown[] = [
      null,
      { ...record, version: 0 },
      { ...record, version: 1.5 },
      { ...record, extra: true },
      { ...record, current: { ...record.current, preferences: [] } },
      { ...record, next: { ...record.current, partitionCount: 64 } },
    ]
    for (const value of damaged) {
      expect(() => topologyFromUntrusted(value)).toThrow(/invalid/)
    }
  })
})

const changeArbitrary = fc.record({
  action: fc.constantFrom('join', 'leave', 'replace'),
  node: fc.integer({ min: 1, max: 8 }),
  with: fc.integer({ min: 1, max: 8 }),
})

describe('properties', () => {
  it('planned moves keep every ring valid and versions only go up', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(changeArbitrary, { minLength: 1, maxLength: 3 }), { maxLength: 6 }),
        (batches) => {
          let topology = founding()
          for (const batch of batches) {
            const staged: TopologyChange[] = batch.map((raw) =>
              raw.action === 'replace'
                ? { action: 'replace', node: `n${raw.node}`, with: `n${raw.with}` }
                : { action: raw.action as 'join' | 'leave', node: `n${raw.node}` },
            )
            const result = planChange(topology, staged, OPTIONS)
            if (!result.ok) continue
            const { next, transfers } = result.plan
            expect(ringProblem(next)).toBeUndefined()
            expect(next.nodes.length).toBeGreaterThanOrEqual(OPTIONS.replicasMax)
            for (const transfer of transfers) {
              const after = next.preferences[transfer.partition] ?? []
              for (const id of transfer.gained) expect(after.slice(0, 3)).toContain(id)
            }
            const moving = commitRecord(topology, next)
            expect(moving.version).toBe(topology.version + 1)
            const settled = finishRecord(moving)
            expect(settled.version).toBe(moving.version + 1)
            expect(settled.current).toBe(next)
            topology = settled
          }
          expect(topology.version % 2).toBe(1)
        },
      ),
      { numRuns: 60 },
    )
  })
})
