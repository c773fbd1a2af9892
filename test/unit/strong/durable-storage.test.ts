/**
 * Goal: the durable Raft storage recovers exactly what it made durable (hard state, log,
 * snapshot, compaction point) on both engines, truncates conflicting tails, writes commit-only
 * changes lazily, keeps writes in order, refuses a damaged log, and behaves like the reference
 * MemoryRaftStorage on reads. Method: drive it with hand-built Ready batches, reopen it on the
 * same MemoryDisk (after a clean write and after a simulated power loss) and on a real RocksDB
 * directory, and compare what the reopened storage reports.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { MurmurError } from '../../../src/env/errors.js'
import type { ConfState, Entry, HardState, Ready } from '../../../src/raft/index.js'
import {
  DurableRaftStorage,
  SNAPSHOT_CHUNK_BYTES,
} from '../../../src/runtime/strong/durable-storage.js'
import type { StorageEngine } from '../../../src/storage/engine.js'
import { raftKey } from '../../../src/storage/layout.js'
import { MemoryDisk, MemoryEngine } from '../../../src/storage/memory.js'
import { RocksDbEngine } from '../../../src/storage/rocksdb.js'

const GROUP = 'strong'
const CONF: ConfState = { voters: ['n1', 'n2', 'n3'], learners: [] }

function entry(index: number, term: number, text = `e${index}`): Entry {
  return { kind: 'normal', index, term, data: new TextEncoder().encode(text) }
}

function ready(parts: Partial<Ready>): Ready {
  return {
    softState: { role: 'follower', leader: '' },
    entries: [],
    committedEntries: [],
    messages: [],
    readStates: [],
    mustSync: true,
    ...parts,
  }
}

async function persist(storage: DurableRaftStorage, parts: Partial<Ready>): Promise<void> {
  const staged = ready(parts)
  await storage.write(storage.stageReady(staged), { sync: staged.mustSync })
}

function texts(storage: DurableRaftStorage): string[] {
  const all = storage.entries(
    storage.firstIndex(),
    storage.lastIndex() + 1,
    Number.MAX_SAFE_INTEGER,
  )
  if (!all.ok) throw new Error(all.error)
  return all.value.map((each) =>
    each.kind === 'normal' ? new TextDecoder().decode(each.data) : '',
  )
}

const hardState = (term: number, vote: string, commit: number): HardState => ({
  term,
  vote,
  commit,
})

describe('durable raft storage on a memory disk', () => {
  it('recovers the hard state and log after a crash, and loses only what was never synced', async () => {
    const disk = new MemoryDisk()
    const storage = await DurableRaftStorage.open(new MemoryEngine(disk), GROUP)
    await persist(storage, {
      entries: [entry(1, 1), entry(2, 1)],
      hardState: hardState(1, 'n1', 0),
    })
    // A commit-only change is not written at once...
    expect(
      storage.stageReady(ready({ hardState: hardState(1, 'n1', 2), mustSync: false })),
    ).toEqual([])
    // ...but rides along with the next batch.
    const ops = storage.stageReady(ready({ entries: [entry(3, 1)], mustSync: false }))
    await storage.write(ops, { sync: false })
    expect(disk.crash()).toBeGreaterThan(0)
    const reopened = await DurableRaftStorage.open(new MemoryEngine(disk), GROUP)
    expect(reopened.initialState().hardState).toEqual(hardState(1, 'n1', 0))
    expect(texts(reopened)).toEqual(['e1', 'e2'])
    expect(reopened.lastIndex()).toBe(2)
  })

  it('replaces a conflicting tail and forgets the stale entries on disk', async () => {
    const disk = new MemoryDisk()
    const engine = new MemoryEngine(disk)
    const storage = await DurableRaftStorage.open(engine, GROUP)
    await persist(storage, {
      entries: [1, 2, 3, 4].map((i) => entry(i, 1)),
      hardState: hardState(1, '', 1),
    })
    await persist(storage, { entries: [entry(3, 2, 'new3')], hardState: hardState(2, '', 1) })
    expect(texts(storage)).toEqual(['e1', 'e2', 'new3'])
    expect(await engine.get(raftKey(GROUP, 'log', 4))).toBeUndefined()
    await engine.close()
    const reopened = await DurableRaftStorage.open(new MemoryEngine(disk), GROUP)
    expect(texts(reopened)).toEqual(['e1', 'e2', 'new3'])
    expect(reopened.term(3)).toEqual({ ok: true, value: 2 })
  })

  it('snapshots, compacts and recovers the snapshot with the retained entries', async () => {
    const disk = new MemoryDisk()
    const engine = new MemoryEngine(disk)
    const storage = await DurableRaftStorage.open(engine, GROUP)
    await persist(storage, {
      entries: Array.from({ length: 10 }, (_, i) => entry(i + 1, 1)),
      hardState: hardState(1, '', 10),
    })
    const data = new Uint8Array(SNAPSHOT_CHUNK_BYTES * 2 + 5).fill(7)
    const ops = storage.createSnapshot(8, CONF, data)
    expect(ops).toBeDefined()
    expect(storage.createSnapshot(8, CONF, data)).toBeUndefined()
    await storage.write([...(ops ?? []), ...storage.compact(6)], { sync: true })
    expect(storage.firstIndex()).toBe(7)
    expect(storage.entries(5, 6, 100)).toEqual({ ok: false, error: 'compacted' })
    await engine.close()
    const reopened = await DurableRaftStorage.open(new MemoryEngine(disk), GROUP)
    expect(reopened.firstIndex()).toBe(7)
    expect(reopened.term(6)).toEqual({ ok: true, value: 1 })
    expect(texts(reopened)).toEqual(['e7', 'e8', 'e9', 'e10'])
    const snapshot = reopened.latestSnapshot()
    expect(snapshot.metadata).toEqual({ index: 8, term: 1, confState: CONF })
    expect(Buffer.compare(snapshot.data, data)).toBe(0)
    expect(reopened.initialState()).toMatchObject({ confState: CONF, confStateIndex: 8 })
  })

  it('installs a snapshot from the leader, replacing the whole log', async () => {
    const disk = new MemoryDisk()
    const engine = new MemoryEngine(disk)
    const storage = await DurableRaftStorage.open(engine, GROUP)
    await persist(storage, { entries: [entry(1, 1), entry(2, 1)], hardState: hardState(1, '', 2) })
    const snapshot = {
      metadata: { index: 50, term: 3, confState: CONF },
      data: Uint8Array.of(1, 2),
    }
    await persist(storage, { snapshot, hardState: hardState(3, '', 50) })
    await engine.close()
    const reopened = await DurableRaftStorage.open(new MemoryEngine(disk), GROUP)
    expect(reopened.firstIndex()).toBe(51)
    expect(reopened.lastIndex()).toBe(50)
    expect(reopened.latestSnapshot()).toEqual(snapshot)
    expect(reopened.logBytes).toBe(0)
  })

  it('refuses to open a log with a corrupt or missing entry', async () => {
    const disk = new MemoryDisk()
    const engine = new MemoryEngine(disk)
    const storage = await DurableRaftStorage.open(engine, GROUP)
    await persist(storage, {
      entries: [1, 2, 3].map((i) => entry(i, 1)),
      hardState: hardState(1, '', 0),
    })
    await engine.close()
    disk.corruptValue(raftKey(GROUP, 'log', 2), 40)
    const corrupt = new MemoryEngine(disk)
    await expect(DurableRaftStorage.open(corrupt, GROUP)).rejects.toMatchObject({
      code: 'corrupt_record',
    })
    await corrupt.write([{ type: 'del', key: raftKey(GROUP, 'log', 2) }], { sync: true })
    await expect(DurableRaftStorage.open(corrupt, GROUP)).rejects.toThrow(MurmurError)
    await corrupt.close()
  })

  it('refuses every write after one failed', async () => {
    const engine = new MemoryEngine(new MemoryDisk())
    const storage = await DurableRaftStorage.open(engine, GROUP)
    await engine.close()
    const ops = storage.stageReady(ready({ entries: [entry(1, 1)] }))
    await expect(storage.write(ops, { sync: true })).rejects.toThrow()
    await expect(storage.write(ops, { sync: true })).rejects.toThrow()
  })
})

describe('durable raft storage on RocksDB', () => {
  const directory = mkdtempSync(join(tmpdir(), 'murmur-raft-storage-'))
  afterAll(() => rmSync(directory, { recursive: true, force: true }))

  it('recovers hard state, log and snapshot after reopening the database', async () => {
    let engine: StorageEngine = await RocksDbEngine.open(directory)
    const storage = await DurableRaftStorage.open(engine, GROUP)
    await persist(storage, {
      entries: Array.from({ length: 20 }, (_, i) => entry(i + 1, 2)),
      hardState: hardState(2, 'n2', 20),
    })
    const ops = storage.createSnapshot(15, CONF, Uint8Array.of(9, 9, 9)) ?? []
    await storage.write([...ops, ...storage.compact(10)], { sync: true })
    await engine.close()
    engine = await RocksDbEngine.open(directory)
    const reopened = await DurableRaftStorage.open(engine, GROUP)
    expect(reopened.initialState().hardState).toEqual(hardState(2, 'n2', 20))
    expect(reopened.firstIndex()).toBe(11)
    expect(texts(reopened)).toEqual(Array.from({ length: 10 }, (_, i) => `e${i + 11}`))
    expect(reopened.latestSnapshot().data).toEqual(Uint8Array.of(9, 9, 9))
    await engine.close()
  })
})
