/**
 * Goal: the pure rules of partition handoff hold for any move. Every node that gains a
 * keyspace's partition, or gains the full role in it, receives exactly one transfer of that
 * partition naming that keyspace in the form of its new role; every source is an old owner able
 * to send each part, those that lose their place first; roles in a moving topology are full
 * when full in either ring; cleanup names exactly what a settled node does not own. The
 * transfer state machine only moves forward, keeps its cursor across a failure, and its
 * persisted progress reads back unchanged; page answers that would not move a cursor on are
 * refused.
 * Method: fast-check draws node sets (grow, shrink, replace) and keyspace shapes; rings come
 * from buildRing with the previous ring, as the control plane plans them. The state machine and
 * decoders are driven directly.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  FRESH_PROGRESS,
  type HandoffKeyspace,
  keyspaceHolders,
  lostParts,
  progressFromUntrusted,
  progressToPlain,
  receivedTransfers,
  roleInRing,
  roleOf,
  TransferMachine,
} from '../../../src/replication/handoff.js'
import {
  decodePageAnswer,
  TRANSFER_PAGE_KEYS_MAX,
} from '../../../src/replication/handoff-messages.js'
import { encodeKeyRecord, type KeyRecord, type KvPayload } from '../../../src/replication/record.js'
import { buildRing, type Ring } from '../../../src/ring/index.js'
import type { Topology } from '../../../src/ring/topology.js'
import { emptyVersioned, update } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'
import { decode, encode } from '../../../src/wire/codec.js'

const PARTITIONS = 16
const ALL_NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']
const limits = { keyBytesMax: 1024, valueBytesMax: 1 << 20, replicasMax: 7, listPageMax: 1000 }

function ringOf(ids: readonly string[], previous?: Ring): Ring {
  const nodes = ids.map((id, index) => ({ id, zone: `z${index % 3}` }))
  const options = { partitionCount: PARTITIONS, replicaSlots: Math.min(3, ids.length) }
  return buildRing(nodes, previous === undefined ? options : { ...options, previous })
}

const keyspacesArbitrary = fc.constantFrom<readonly HandoffKeyspace[]>(
  [{ name: 'default', replicas: 3, witnesses: 0 }],
  [{ name: 'default', replicas: 3, witnesses: 1 }],
  [
    { name: 'a', replicas: 2, witnesses: 0 },
    { name: 'b', replicas: 3, witnesses: 1 },
  ],
)

/** A move between two node sets of 3..7 nodes, each built as the control plane plans it. */
const moveArbitrary = fc
  .record({
    before: fc.subarray(ALL_NODES, { minLength: 3 }),
    after: fc.subarray(ALL_NODES, { minLength: 3 }),
    keyspaces: keyspacesArbitrary,
  })
  .map(({ before, after, keyspaces }) => {
    const current = ringOf(before)
    const next = ringOf(after, current)
    const topology: Topology = { version: 2, current, next }
    return { topology, keyspaces }
  })

describe('handoff planning', () => {
  it('every gained keyspace partition is received once, in the form of the new role', () => {
    fc.assert(
      fc.property(moveArbitrary, ({ topology, keyspaces }) => {
        const next = topology.next as Ring
        for (const node of ALL_NODES) {
          const transfers = receivedTransfers(topology, node, keyspaces)
          const partitions = transfers.map((transfer) => transfer.partition)
          expect(new Set(partitions).size).toBe(partitions.length)
          for (let partition = 0; partition < PARTITIONS; partition++) {
            const transfer = transfers.find((candidate) => candidate.partition === partition)
            for (const keyspace of keyspaces) {
              const before = roleInRing(topology.current, partition, keyspace, node)
              const after = roleInRing(next, partition, keyspace, node)
              const gains =
                after !== undefined &&
                (before === undefined || (before === 'witness' && after === 'full'))
              const part = transfer?.parts.find((candidate) => candidate.keyspace === keyspace.name)
              expect(part?.form).toBe(gains ? after : undefined)
            }
          }
        }
      }),
      { numRuns: 60 },
    )
  })

  it('sources are able old owners other than the receiver, leaving ones first', () => {
    fc.assert(
      fc.property(moveArbitrary, ({ topology, keyspaces }) => {
        const next = topology.next as Ring
        for (const node of ALL_NODES) {
          for (const transfer of receivedTransfers(topology, node, keyspaces)) {
            const { partition, parts, sources } = transfer
            expect(sources.length).toBeGreaterThan(0)
            expect(sources).not.toContain(node)
            const leaving = sources.map((source) =>
              keyspaces.some(
                (keyspace) =>
                  roleInRing(topology.current, partition, keyspace, source) !== undefined &&
                  roleInRing(next, partition, keyspace, source) === undefined,
              ),
            )
            // Leaving sources come first: no leaving source follows one that stays.
            expect(
              leaving.indexOf(false) === -1 ||
                !leaving.slice(leaving.indexOf(false)).includes(true),
            ).toBe(true)
            for (const source of sources) {
              for (const part of parts) {
                const keyspace = keyspaces.find((candidate) => candidate.name === part.keyspace)
                if (keyspace === undefined) throw new Error('a part names a known keyspace')
                const role = roleInRing(topology.current, partition, keyspace, source)
                expect(role === 'full' || (role === 'witness' && part.form === 'witness')).toBe(
                  true,
                )
              }
            }
          }
        }
      }),
      { numRuns: 60 },
    )
  })

  it('a role is full when full in either ring, and holders are the owners of both', () => {
    fc.assert(
      fc.property(moveArbitrary, ({ topology, keyspaces }) => {
        const next = topology.next as Ring
        for (const keyspace of keyspaces) {
          for (let partition = 0; partition < PARTITIONS; partition++) {
            const holders = keyspaceHolders(topology, partition, keyspace)
            for (const node of ALL_NODES) {
              const roles = [
                roleInRing(topology.current, partition, keyspace, node),
                roleInRing(next, partition, keyspace, node),
              ]
              const role = roleOf(topology, partition, keyspace, node)
              if (roles.includes('full')) expect(role).toBe('full')
              else if (roles.includes('witness')) expect(role).toBe('witness')
              else expect(role).toBeUndefined()
              expect(holders.includes(node)).toBe(role !== undefined)
            }
          }
        }
      }),
      { numRuns: 40 },
    )
  })

  it('a settled topology plans no transfer, and cleanup names exactly what a move took away', () => {
    const keyspaces = [{ name: 'default', replicas: 3, witnesses: 1 }]
    const keyspace = keyspaces[0] as HandoffKeyspace
    const before = ringOf(ALL_NODES.slice(0, 5))
    const after = ringOf(ALL_NODES.slice(0, 4))
    const moving: Topology = { version: 2, current: before, next: after }
    const settled: Topology = { version: 3, current: after, next: undefined }
    for (const node of ALL_NODES) {
      expect(receivedTransfers(settled, node, keyspaces)).toEqual([])
      // Nothing is lost without a move, whatever the node keeps.
      expect(lostParts(settled, settled, node, keyspaces)).toEqual([])
      const lost = lostParts(moving, settled, node, keyspaces)
      for (let partition = 0; partition < PARTITIONS; partition++) {
        const held =
          roleInRing(before, partition, keyspace, node) !== undefined ||
          roleInRing(after, partition, keyspace, node) !== undefined
        const owned = roleInRing(after, partition, keyspace, node) !== undefined
        const listed = lost.some((part) => part.partition === partition)
        expect(listed).toBe(held && !owned)
      }
    }
    expect(lostParts(moving, settled, ALL_NODES[4] as string, keyspaces).length).toBeGreaterThan(0)
    expect(lostParts(moving, settled, 'n7', keyspaces)).toEqual([])
  })
})

function machine(): TransferMachine {
  const current = ringOf(['n1', 'n2', 'n3'])
  const topology: Topology = {
    version: 2,
    current,
    next: ringOf(['n1', 'n2', 'n3', 'n4'], current),
  }
  const keyspaces = [
    { name: 'a', replicas: 3, witnesses: 0 },
    { name: 'b', replicas: 3, witnesses: 0 },
  ]
  const plan = receivedTransfers(topology, 'n4', keyspaces)[0]
  if (plan === undefined) throw new Error('n4 gains a partition')
  expect(plan.parts.map((part) => part.keyspace)).toEqual(['a', 'b'])
  return new TransferMachine(plan)
}

describe('transfer state machine', () => {
  it('streams every part page by page, then reconciles, then is done', () => {
    const transfer = machine()
    expect(transfer.state).toBe('waiting')
    transfer.begin(transfer.plan.sources[0] as string, 1000)
    expect(transfer.state).toBe('streaming')
    transfer.paged(2, 100, 'k2', false)
    expect(transfer.progress).toMatchObject({ part: 0, after: 'k2', keysMoved: 2, bytesMoved: 100 })
    transfer.paged(1, 50, 'k3', true)
    expect(transfer.currentPart?.keyspace).toBe('b')
    expect(transfer.progress.after).toBe('')
    transfer.paged(0, 10, undefined, true)
    expect(transfer.state).toBe('reconciling')
    transfer.reconciled(2000)
    expect(transfer.state).toBe('done')
    expect(transfer.progress).toMatchObject({ keysMoved: 3, startedAtMs: 1000, finishedAtMs: 2000 })
  })

  it('a failure keeps the cursor, and a retry from another source resumes there', () => {
    const transfer = machine()
    const sources = transfer.plan.sources
    transfer.begin(sources[0] as string, 1)
    transfer.paged(4, 40, 'k4', false)
    transfer.fail('timeout')
    expect(transfer.state).toBe('failed')
    expect(transfer.failures).toBe(1)
    transfer.begin(sources[sources.length - 1] as string, 5)
    expect(transfer.state).toBe('streaming')
    expect(transfer.error).toBeUndefined()
    expect(transfer.progress).toMatchObject({ after: 'k4', keysMoved: 4, startedAtMs: 1 })
    transfer.paged(1, 10, 'k5', false)
    expect(transfer.failures).toBe(0)
  })

  it('refuses transitions out of order and cursors that do not move on', () => {
    const transfer = machine()
    expect(() => transfer.paged(1, 1, 'k', false)).toThrow()
    expect(() => transfer.reconciled(1)).toThrow()
    expect(() => transfer.begin('nobody', 1)).toThrow()
    transfer.begin(transfer.plan.sources[0] as string, 1)
    transfer.paged(1, 1, 'k5', false)
    expect(() => transfer.paged(1, 1, 'k4', false)).toThrow()
  })

  it('a persisted progress reads back unchanged and a done one restores done', () => {
    fc.assert(
      fc.property(
        fc.record({
          part: fc.nat(2),
          after: fc.string({ maxLength: 8 }),
          reconciled: fc.boolean(),
          keysMoved: fc.nat(),
          bytesMoved: fc.nat(),
          startedAtMs: fc.option(fc.nat(), { nil: undefined }),
          finishedAtMs: fc.option(fc.nat(), { nil: undefined }),
        }),
        (progress) => {
          const read = progressFromUntrusted(decode(encode(progressToPlain(progress))))
          expect(read).toEqual(progress)
        },
      ),
    )
    expect(progressFromUntrusted({ ...progressToPlain(FRESH_PROGRESS), part: -1 })).toBeUndefined()
    expect(progressFromUntrusted('nonsense')).toBeUndefined()
    const done = new TransferMachine(machine().plan, {
      ...FRESH_PROGRESS,
      part: 2,
      reconciled: true,
    })
    expect(done.state).toBe('done')
  })
})

describe('transfer page answers', () => {
  const record: KeyRecord = {
    kv: update(emptyVersioned<KvPayload>(), EMPTY_VECTOR, 'n1.1', {
      kind: 'value',
      value: new Uint8Array([1]),
      contentType: 'text/plain',
    }).versioned,
  }
  const wire = encodeKeyRecord(record)
  const request = { after: 'b', limit: 4 }

  it('accepts ascending keys after the cursor', () => {
    const answer = decodePageAnswer(
      {
        records: [
          ['c', wire],
          ['d', wire],
        ],
        complete: false,
      },
      limits,
      request,
    )
    expect(answer.records.map((entry) => entry.key)).toEqual(['c', 'd'])
    expect(answer.complete).toBe(false)
    expect(decodePageAnswer({ records: [], complete: true }, limits, request).records).toEqual([])
  })

  it('refuses pages that would not move the cursor on or exceed the limit', () => {
    const bad = [
      { records: [['a', wire]], complete: false },
      {
        records: [
          ['c', wire],
          ['c', wire],
        ],
        complete: false,
      },
      { records: [], complete: false },
      { records: [['c', wire]] },
      {
        records: [
          ['c', wire],
          ['d', wire],
          ['e', wire],
          ['f', wire],
          ['g', wire],
        ],
        complete: true,
      },
    ]
    for (const answer of bad) {
      expect(() => decodePageAnswer(answer, limits, request)).toThrow(/invalid|must|page|array/)
    }
    expect(TRANSFER_PAGE_KEYS_MAX).toBeGreaterThanOrEqual(request.limit)
  })
})
