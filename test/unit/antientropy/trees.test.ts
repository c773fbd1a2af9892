/**
 * Goal: a node's anti-entropy trees stay equal to trees built from scratch from its records,
 * whatever mutations the replica store runs (merges and reap deletes, concurrent or not) and
 * even when a scheduled rebuild runs while they happen; key scans list exactly the keys of the
 * asked segments, in key order, resumable from their frontier.
 * Method: the real ObservedReplicaStore over an in-memory engine and group committer, with a
 * clock whose deferred work runs as microtasks; fast-check draws mutation sequences, which run
 * concurrently; a second PartitionTrees built from the same engine is the reference.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Clock } from '../../../src/env/clock.js'
import { silentLogger } from '../../../src/env/log.js'
import { recordHash, segmentOf } from '../../../src/replication/antientropy/tree.js'
import { compareKeys } from '../../../src/replication/names.js'
import type { KeyRecord, KvPayload } from '../../../src/replication/record.js'
import { buildRing, partitionForKey } from '../../../src/ring/index.js'
import { ObservedReplicaStore } from '../../../src/runtime/antientropy/observed-store.js'
import { PartitionTrees } from '../../../src/runtime/antientropy/trees.js'
import { GroupCommitter } from '../../../src/storage/group-commit.js'
import { MemoryDisk, MemoryEngine } from '../../../src/storage/memory.js'
import { emptyVersioned, update } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'

const clock: Clock = {
  nowMs: () => 0,
  wallMs: () => 0,
  setTimer: () => ({ cancel: () => undefined }),
  defer: (callback) => queueMicrotask(callback),
}
const PARTITIONS = 8
const ring = buildRing(
  ['n1', 'n2', 'n3'].map((id) => ({ id, zone: id })),
  { partitionCount: PARTITIONS, replicaSlots: 3 },
)
const keyspace = { name: 'default', replicas: 3, witnesses: 0, durability: 'async' as const }

function open() {
  const engine = new MemoryEngine(new MemoryDisk())
  const commits = new GroupCommitter(engine, clock)
  const store = new ObservedReplicaStore(engine, commits, { hintsPerTargetMax: 100 }, silentLogger)
  const trees = newTrees(engine)
  store.observe(trees)
  return { engine, store, trees }
}

function newTrees(engine: MemoryEngine): PartitionTrees {
  return new PartitionTrees({
    selfId: 'n1',
    topology: { version: 1, current: ring, next: undefined },
    keyspaces: [keyspace],
    depth: 1,
    engine,
    clock,
    log: silentLogger,
  })
}

const addressOf = (key: string) => ({
  partition: partitionForKey(PARTITIONS, 'default', key),
  keyspace: 'default',
  key,
})

function written(actor: string, live: boolean): KeyRecord {
  const payload: KvPayload = live
    ? { kind: 'value', value: new Uint8Array([1]), contentType: 'text/plain' }
    : { kind: 'tombstone', deletedAtMs: 1 }
  return { kv: update(emptyVersioned<KvPayload>(), EMPTY_VECTOR, actor, payload).versioned }
}

/** True when every tree equals the one a fresh rebuild from the same engine gives. */
async function matchesRebuild(engine: MemoryEngine, trees: PartitionTrees): Promise<boolean> {
  const reference = newTrees(engine)
  await reference.rebuildAll(() => false)
  return trees.slots.every((slot) =>
    slot.tree.equals(reference.slot('default', slot.partition)?.tree ?? slot.tree),
  )
}

const operation = fc.tuple(
  fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
  fc.constantFrom('x', 'y'),
  fc.constantFrom('merge-live', 'merge-deleted', 'reap'),
)

describe('PartitionTrees', () => {
  it('one tree per partition this node replicates', () => {
    const { trees } = open()
    expect(trees.slots.length).toBe(PARTITIONS)
    expect(trees.slots[0]?.peers).toHaveLength(2)
    expect(() => trees.slotFor('default', 0, 2)).toThrow(/depth/)
    expect(() => trees.slotFor('other', 0, 1)).toThrow(/no tree/)
  })

  it('store mutations, run concurrently, keep every tree equal to a rebuild (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 40 }), async (operations) => {
        const { engine, store, trees } = open()
        await Promise.all(
          operations.map(async ([key, actor, kind]) => {
            const address = addressOf(key)
            if (kind === 'reap') {
              const current = await store.read(address)
              if (current !== undefined) await store.deleteIfEqual(address, current, false)
            } else {
              await store.merge(address, written(actor, kind === 'merge-live'), false)
            }
          }),
        )
        expect(await matchesRebuild(engine, trees)).toBe(true)
      }),
      { numRuns: 40 },
    )
  })

  it('a rebuild that runs while records change ends equal to a fresh rebuild', async () => {
    const { engine, store, trees } = open()
    for (let index = 0; index < 200; index++) {
      await store.merge(addressOf(`k${index}`), written('x', true), false)
    }
    const writes = Array.from({ length: 100 }, (_, index) =>
      store.merge(addressOf(`k${index * 2}`), written('y', index % 3 !== 0), false),
    )
    await Promise.all([trees.rebuildAll(() => false), ...writes])
    expect(await matchesRebuild(engine, trees)).toBe(true)
    expect(trees.keyCount()).toBe(200)
    expect(trees.rebuilds).toBe(1)
  })

  it('scans list the keys of the asked segments in key order, resumable at the frontier', async () => {
    const { store, trees } = open()
    const slot = trees.slots[0]
    if (slot === undefined) throw new Error('no tree')
    const keys = Array.from({ length: 400 }, (_, index) => `key-${index}`).filter(
      (key) => addressOf(key).partition === slot.partition,
    )
    for (const key of keys) await store.merge(addressOf(key), written('x', true), false)
    const wanted = new Set([0, 1, 2, 3, 4, 5, 6, 7])
    const expected = keys
      .filter((key) => wanted.has(segmentOf(key, slot.tree.segments)))
      .sort(compareKeys)
    const seen: string[] = []
    let after = ''
    for (let page = 0; page < 100; page++) {
      const part = await trees.scanSegments(slot, wanted, after, 3)
      expect(part.entries.length).toBeLessThanOrEqual(3)
      for (const entry of part.entries) {
        expect(entry.hash).toEqual(recordHash(entry.key, written('x', true)))
        seen.push(entry.key)
      }
      if (part.frontier === undefined) break
      after = part.frontier
    }
    expect(seen).toEqual(expected)
    expect(expected.length).toBeGreaterThan(3)
  })
})

describe('trees following the topology', () => {
  const grown = buildRing(
    ['n1', 'n2', 'n3', 'n4'].map((id) => ({ id, zone: id })),
    { partitionCount: PARTITIONS, replicaSlots: 3, previous: ring },
  )
  const treesOf = (selfId: string) =>
    new PartitionTrees({
      selfId,
      topology: { version: 1, current: ring, next: undefined },
      keyspaces: [keyspace],
      depth: 1,
      engine: new MemoryEngine(new MemoryDisk()),
      clock,
      log: silentLogger,
    })
  const gained = Array.from({ length: PARTITIONS }, (_, partition) => partition).filter(
    (partition) => grown.preferences[partition]?.includes('n4'),
  )

  it('a gained partition gets an empty tree at once, rebuilt before its first exchange', () => {
    const trees = treesOf('n4')
    expect(trees.slots).toHaveLength(0)
    trees.sync({ version: 2, current: ring, next: grown }, true)
    expect(trees.slots.map((slot) => slot.partition)).toEqual(gained)
    for (const slot of trees.slots) {
      expect(slot.tree.keyCount).toBe(0)
      expect(trees.drifted.has(slot)).toBe(true)
      // Its peers are the partition's other holders, old owners and new alike.
      const holders = new Set([
        ...(ring.preferences[slot.partition] ?? []),
        ...(grown.preferences[slot.partition] ?? []),
      ])
      expect(new Set([...slot.peers, 'n4'])).toEqual(holders)
    }
  })

  it('a partition lost stays held while moving, then is set aside until dropped', () => {
    const trees = treesOf('n1')
    const lost = gained.filter((partition) => !grown.preferences[partition]?.includes('n1'))
    expect(lost.length).toBeGreaterThan(0)
    const partition = lost[0] as number
    trees.sync({ version: 2, current: ring, next: grown }, true)
    expect(trees.slots).toHaveLength(PARTITIONS)
    expect(trees.drop('default', partition)).toBe(false)
    trees.sync({ version: 3, current: grown, next: undefined }, true)
    expect(trees.slots.map((slot) => slot.partition)).not.toContain(partition)
    expect(trees.slot('default', partition)?.held).toBe(false)
    expect(() => trees.slotFor('default', partition, 1)).toThrow(/no tree/)
    expect(trees.drop('default', partition)).toBe(true)
    expect(trees.slot('default', partition)).toBeUndefined()
  })
})
