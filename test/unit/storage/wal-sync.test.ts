/**
 * Goal: synced RocksDB writes are made durable from the thread pool, sharing fdatasyncs, and
 * the WAL syncer follows RocksDB's log files (numbered `.log` files, new ones synced in the
 * directory too, finished ones released).
 * Method: a WalSyncer on a directory of hand-made log files, counting its syncs; and a real
 * RocksDbEngine whose synced writes must read back after reopening, with fewer WAL rounds
 * than writes when many are in flight at once.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { RocksDbEngine } from '../../../src/storage/rocksdb.js'
import { WalSyncer } from '../../../src/storage/wal-sync.js'

const directories: string[] = []

function directory(): string {
  const created = mkdtempSync(join(tmpdir(), 'murmur-wal-'))
  directories.push(created)
  return created
}

afterEach(() => {
  for (const created of directories.splice(0)) rmSync(created, { recursive: true, force: true })
})

describe('WalSyncer', () => {
  it('syncs every live log once, then only the newest, and the directory for new logs', async () => {
    const dir = directory()
    writeFileSync(join(dir, '000004.log'), 'a')
    writeFileSync(join(dir, '000005.log'), 'b')
    writeFileSync(join(dir, 'MANIFEST-000001'), 'm')
    const syncer = new WalSyncer(dir)
    await syncer.sync()
    expect(syncer.counters).toEqual({ rounds: 1, fileSyncs: 2, directorySyncs: 1, listings: 1 })
    await syncer.sync()
    expect(syncer.counters).toEqual({ rounds: 2, fileSyncs: 3, directorySyncs: 1, listings: 2 })
    writeFileSync(join(dir, '000009.log'), 'c')
    await syncer.sync()
    expect(syncer.counters).toEqual({ rounds: 3, fileSyncs: 5, directorySyncs: 2, listings: 3 })
    await syncer.close()
    await expect(syncer.sync()).rejects.toThrow(/closed/)
  })

  it('lists the directory again only when the generation changed', async () => {
    const dir = directory()
    writeFileSync(join(dir, '000001.log'), 'a')
    let generation = 1
    const syncer = new WalSyncer(dir, () => generation)
    await syncer.sync()
    await syncer.sync()
    expect(syncer.counters).toEqual({ rounds: 2, fileSyncs: 2, directorySyncs: 1, listings: 1 })
    writeFileSync(join(dir, '000002.log'), 'b')
    generation = 2
    await syncer.sync()
    expect(syncer.counters).toEqual({ rounds: 3, fileSyncs: 4, directorySyncs: 2, listings: 2 })
    await syncer.close()
  })

  it('lets calls made during a round share one more round', async () => {
    const dir = directory()
    writeFileSync(join(dir, '000001.log'), 'a')
    const syncer = new WalSyncer(dir)
    await Promise.all(Array.from({ length: 50 }, () => syncer.sync()))
    expect(syncer.counters.rounds).toBe(2)
    await syncer.close()
  })

  it('skips a log deleted between listing and syncing', async () => {
    const dir = directory()
    const syncer = new WalSyncer(dir)
    await syncer.sync()
    expect(syncer.counters).toEqual({ rounds: 1, fileSyncs: 0, directorySyncs: 0, listings: 1 })
    await syncer.close()
  })
})

describe('RocksDbEngine synced writes', () => {
  it('survive a reopen and share WAL syncs when many are in flight', async () => {
    const dir = join(directory(), 'db')
    const engine = await RocksDbEngine.open(dir)
    const writes = Array.from({ length: 40 }, (_, index) =>
      engine.write(
        [{ type: 'put', key: Uint8Array.of(0x02, index), value: Uint8Array.of(index) }],
        {
          sync: true,
        },
      ),
    )
    await Promise.all(writes)
    const rounds = engine.walSyncCounters.rounds
    expect(rounds).toBeGreaterThanOrEqual(1)
    expect(rounds).toBeLessThan(40)
    // The engine found RocksDB's log in its directory: every round synced a file.
    expect(engine.walSyncCounters.fileSyncs).toBeGreaterThanOrEqual(rounds)
    await engine.close()
    const reopened = await RocksDbEngine.open(dir)
    const values = await reopened.getMany(
      Array.from({ length: 40 }, (_, index) => Uint8Array.of(0x02, index)),
    )
    expect(values.map((value) => value?.[0])).toEqual(
      Array.from({ length: 40 }, (_, index) => index),
    )
    await reopened.close()
  })
})
