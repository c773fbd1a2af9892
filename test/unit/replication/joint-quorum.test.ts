/**
 * Goal: a write while ownership moves is met only when every owner set reaches the requested
 * level; one set behaves exactly as the single-ring WriteTally; a node in both sets counts in
 * both, a stand-in counts only for the set whose member it stands in for; roles are per ring
 * (a node that is a witness in one set and full in the other gets the value); and the helpers
 * around it (owner-set orders, hint destinations, fencing verdicts and stamps) follow the rules
 * of docs/ARCHITECTURE.md, Requests during a move.
 * Method: tables of event sequences, and fast-check properties over random acknowledgements and
 * failures: against WriteTally for one set, and against an independent per-set count for two.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MurmurError } from '../../../src/env/errors.js'
import type { Requirement } from '../../../src/replication/consistency.js'
import {
  fenceVerdict,
  staleRing,
  staleRingVersion,
  stampBody,
  unstampBody,
} from '../../../src/replication/fencing.js'
import { type JointSetPlan, JointWriteTally } from '../../../src/replication/joint-quorum.js'
import {
  hintDestinations,
  jointWitnesses,
  type ReplicaTarget,
  writeOrders,
} from '../../../src/replication/plan.js'
import { WriteTally } from '../../../src/replication/quorum.js'
import { buildRing, preferenceList } from '../../../src/ring/index.js'
import type { Topology } from '../../../src/ring/topology.js'

function primary(node: string): ReplicaTarget {
  return { node, hintFor: undefined }
}

/** Current owners a, b, c; next owners b, c, d (b and c in both). */
const CURRENT: JointSetPlan = {
  primaries: ['a', 'b', 'c'],
  witnesses: [],
  targets: [primary('a'), primary('b'), primary('c')],
  spares: ['x'],
}
const NEXT: JointSetPlan = {
  primaries: ['b', 'c', 'd'],
  witnesses: [],
  targets: [primary('b'), primary('c'), primary('d')],
  spares: ['x'],
}
const QUORUM: Requirement = { total: 2, primaries: 0 }

describe('JointWriteTally', () => {
  it('asks a node in both sets once and counts its acknowledgement in both', () => {
    const tally = new JointWriteTally([CURRENT, NEXT], QUORUM)
    expect(tally.targets().map((target) => target.node)).toEqual(['a', 'b', 'c', 'd'])
    tally.acknowledge(primary('b'))
    expect(tally.outcome).toBe('pending')
    tally.acknowledge(primary('c'))
    expect(tally.outcome).toBe('met')
    expect(tally.sets.map((set) => set.outcome)).toEqual(['met', 'met'])
  })

  it('is not met while one set is short of its level', () => {
    const tally = new JointWriteTally([CURRENT, NEXT], QUORUM)
    tally.acknowledge(primary('a'))
    tally.acknowledge(primary('b'))
    expect(tally.sets[0]?.outcome).toBe('met')
    expect(tally.outcome).toBe('pending')
    // The current set is met and asks for nothing; the next set replaces c by its spare x.
    expect(tally.fail(primary('c'), true)).toEqual([{ node: 'x', hintFor: 'c' }])
    expect(tally.fail(primary('d'), true)).toEqual([])
    expect(tally.outcome).toBe('pending')
    tally.acknowledge({ node: 'x', hintFor: 'c' })
    expect(tally.outcome).toBe('met')
  })

  it('counts a stand-in only for the set whose member it stands in for', () => {
    const current: JointSetPlan = {
      ...CURRENT,
      targets: [primary('a'), primary('b'), { node: 'x', hintFor: 'c' }],
      spares: [],
    }
    const next: JointSetPlan = {
      ...NEXT,
      targets: [primary('b'), primary('c'), primary('d')],
      spares: [],
    }
    const tally = new JointWriteTally([current, next], { total: 3, primaries: 0 })
    expect(tally.targets()).toContainEqual({ node: 'x', hintFor: 'c' })
    for (const node of ['a', 'b', 'd']) tally.acknowledge(primary(node))
    tally.acknowledge({ node: 'x', hintFor: 'c' })
    expect(tally.sets[0]?.outcome).toBe('met')
    expect(tally.sets[1]?.outcome).toBe('pending')
    tally.acknowledge(primary('c'))
    expect(tally.outcome).toBe('met')
  })

  it('gives a set the answer of a replacement that was already asked', () => {
    const current: JointSetPlan = { ...CURRENT, spares: ['d'] }
    const tally = new JointWriteTally([current, NEXT], { total: 3, primaries: 0 })
    tally.acknowledge(primary('d'))
    // a fails: the current set's spare d (as a stand-in for a) is a different request.
    expect(tally.fail(primary('a'), true)).toEqual([{ node: 'd', hintFor: 'a' }])
    tally.acknowledge({ node: 'd', hintFor: 'a' })
    tally.acknowledge(primary('b'))
    tally.acknowledge(primary('c'))
    expect(tally.outcome).toBe('met')
  })

  it('fails as soon as any set cannot be met, and reports that set', () => {
    const tally = new JointWriteTally([CURRENT, { ...NEXT, spares: [] }], {
      total: 3,
      primaries: 3,
    })
    tally.acknowledge(primary('b'))
    tally.acknowledge(primary('c'))
    tally.acknowledge(primary('a'))
    tally.fail(primary('d'), true)
    expect(tally.outcome).toBe('unreachable')
    const failure = tally.failure()
    expect(failure.acknowledged).toBe(2)
    expect(failure.definite).toBe(false)
  })

  it('sends the value to a node that is a witness in one ring and full in the other', () => {
    const current: JointSetPlan = { ...CURRENT, witnesses: ['c'] }
    const next: JointSetPlan = { ...NEXT, witnesses: ['d'] }
    const tally = new JointWriteTally([current, next], QUORUM)
    expect(tally.isWitness(primary('c'))).toBe(false)
    expect(tally.isWitness(primary('d'))).toBe(true)
    expect(tally.isWitness({ node: 'x', hintFor: 'c' })).toBe(false)
    expect(jointWitnesses([current, { ...next, witnesses: ['c'] }])).toEqual(['c'])
  })

  it('behaves exactly as WriteTally with one set', () => {
    const plan: JointSetPlan = { ...CURRENT, spares: ['x', 'y'] }
    const event = fc.record({
      node: fc.integer({ min: 0, max: 4 }),
      ack: fc.boolean(),
      definite: fc.boolean(),
    })
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 12 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        (events, total, primaries) => {
          const requirement = { total, primaries: Math.min(primaries, total) }
          const joint = new JointWriteTally([plan], requirement)
          const single = new WriteTally(plan, requirement)
          for (const { node, ack, definite } of events) {
            const target = single.quorum.targets()[node % single.quorum.targets().length]
            if (target === undefined || single.quorum.statusOf(target.node) !== 'pending') continue
            if (ack) {
              single.acknowledge(target.node)
              joint.acknowledge(target)
            } else {
              const replacement = single.fail(target.node, definite)
              expect(joint.fail(target, definite)).toEqual(
                replacement === undefined ? [] : [replacement],
              )
            }
            expect(joint.outcome).toBe(single.quorum.outcome)
          }
          joint.expire()
          single.expire()
          expect(joint.failure()).toEqual(single.failure())
        },
      ),
      { numRuns: 300 },
    )
  })

  it('never reports success unless every set has its level (property)', () => {
    const nodes = ['a', 'b', 'c', 'd', 'x']
    const event = fc.record({ node: fc.constantFrom(...nodes), ack: fc.boolean() })
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 16 }),
        fc.integer({ min: 1, max: 3 }),
        (events, total) => {
          const requirement = { total, primaries: 0 }
          const tally = new JointWriteTally([CURRENT, NEXT], requirement)
          const acknowledged: ReplicaTarget[] = []
          for (const { node, ack } of events) {
            const target = tally.targets().find((candidate) => candidate.node === node)
            if (target === undefined) continue
            if (ack) {
              tally.acknowledge(target)
              acknowledged.push(target)
            } else {
              tally.fail(target, true)
            }
          }
          if (tally.outcome !== 'met') return
          // Independently: each set counts the acknowledged targets it planned in that role.
          for (const plan of [CURRENT, NEXT]) {
            const counted = acknowledged.filter((target) =>
              target.hintFor === undefined
                ? plan.primaries.includes(target.node)
                : plan.primaries.includes(target.hintFor) && plan.spares.includes(target.node),
            )
            expect(new Set(counted.map((target) => target.node)).size).toBeGreaterThanOrEqual(total)
          }
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('owner sets of a topology', () => {
  const nodes = ['n1', 'n2', 'n3', 'n4'].map((id, index) => ({ id, zone: `z${index}` }))
  const small = buildRing(nodes.slice(0, 3), { partitionCount: 16, replicaSlots: 3 })
  const large = buildRing(nodes, { partitionCount: 16, replicaSlots: 3, previous: small })

  it('has one order when settled and one per differing ring while moving', () => {
    const settled: Topology = { version: 1, current: small, next: undefined }
    const moving: Topology = { version: 2, current: small, next: large }
    let moved = 0
    for (let partition = 0; partition < 16; partition++) {
      expect(writeOrders(settled, partition, 3)).toHaveLength(1)
      const orders = writeOrders(moving, partition, 3)
      const same =
        preferenceList(small, partition, 3).join() === preferenceList(large, partition, 3).join()
      expect(orders).toHaveLength(same ? 1 : 2)
      expect(orders[0]?.primaries).toEqual(preferenceList(small, partition, 3))
      if (!same) {
        moved++
        expect(orders[1]?.primaries).toEqual(preferenceList(large, partition, 3))
      }
    }
    expect(moved).toBeGreaterThan(0)
  })
})

describe('hintDestinations', () => {
  it('hands a hint to its target while it holds the partition, else to the holders', () => {
    expect(hintDestinations('a', ['a', 'b', 'c'], [], false)).toEqual(['a'])
    expect(hintDestinations('a', ['b', 'c', 'd'], ['d'], false)).toEqual(['b', 'c', 'd'])
    expect(hintDestinations('a', ['b', 'c', 'd'], ['d'], true)).toEqual(['d'])
    expect(hintDestinations('a', ['b', 'c', 'd'], [], true)).toEqual([])
  })
})

describe('fencing', () => {
  it('serves the same version, adopts a newer one and refuses an older one', () => {
    expect(fenceVerdict(3, 3)).toBe('serve')
    expect(fenceVerdict(3, undefined)).toBe('serve')
    expect(fenceVerdict(3, 4)).toBe('adopt')
    expect(fenceVerdict(3, 2)).toBe('stale')
  })

  it('stamps and unstamps a body, refusing a malformed stamp', () => {
    const stamped = stampBody({ type: 'kv.read', key: 'k' }, 7)
    expect(unstampBody(stamped)).toEqual({ version: 7, body: { type: 'kv.read', key: 'k' } })
    expect(unstampBody({ type: 'kv.read' })).toEqual({
      version: undefined,
      body: { type: 'kv.read' },
    })
    for (const bad of [0, -1, 1.5, '2', null]) {
      expect(() => unstampBody({ type: 'kv.read', ringVersion: bad })).toThrow(MurmurError)
    }
  })

  it('names the receiver version in stale_ring, and reads it back', () => {
    const error = staleRing(5, 4, false)
    expect(error.code).toBe('stale_ring')
    expect(error.definite).toBe(false)
    expect(staleRingVersion(error)).toBe(5)
    expect(staleRingVersion(new MurmurError('unavailable', 'down'))).toBeUndefined()
    expect(staleRingVersion(new MurmurError('stale_ring', 'no version'))).toBeUndefined()
  })
})
