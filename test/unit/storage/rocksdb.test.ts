/**
 * Goal: the RocksDB engine meets the StorageEngine contract on a real disk, and refuses bad
 * directories with one-line messages that name the cause and the path.
 * Method: the shared contract suite (engine-suite.ts) runs against RocksDbEngine in a fresh
 * temporary directory per test; the open-failure tests use a path whose parent is a regular
 * file (tests run as root, so permission bits alone would not block them) and a directory that
 * an engine already holds. Every directory is removed afterwards.
 */

import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isMurmurError, type MurmurError } from '../../../src/env/errors.js'
import { RocksDbEngine } from '../../../src/storage/rocksdb.js'
import { describeEngineContract } from './engine-suite.js'

function temporaryDirectory(): string {
  return mkdtempSync(join(tmpdir(), 'murmur-rocksdb-'))
}

describeEngineContract('RocksDbEngine', () => {
  const directory = temporaryDirectory()
  return {
    open: () => RocksDbEngine.open(join(directory, 'db')),
    dispose: async () => rmSync(directory, { recursive: true, force: true }),
  }
})

async function openFailure(directory: string): Promise<MurmurError> {
  const error = await RocksDbEngine.open(directory).then(
    async (engine) => {
      await engine.close()
      return undefined
    },
    (caught: unknown) => caught,
  )
  expect(isMurmurError(error, 'config_invalid')).toBe(true)
  const message = (error as MurmurError).message
  expect(message).not.toContain('\n')
  expect(message).toContain(directory)
  return error as MurmurError
}

describe('RocksDbEngine.open', () => {
  let root: string

  beforeEach(() => {
    root = temporaryDirectory()
  })

  afterEach(() => {
    rmSync(root, { recursive: true, force: true })
  })

  it('creates missing parent directories', async () => {
    const engine = await RocksDbEngine.open(join(root, 'a', 'b', 'c'))
    expect(engine.kind).toBe('rocksdb')
    await engine.close()
  })

  it('explains a directory that cannot be created because a parent is a file', async () => {
    const file = join(root, 'file')
    writeFileSync(file, 'not a directory')
    const error = await openFailure(join(file, 'db'))
    expect(error.message).toMatch(/cannot be created: the path or one of its parents is a file/)
    expect((await openFailure(file)).message).toMatch(/is a file/)
  })

  it('explains a directory that is already in use', async () => {
    const directory = join(root, 'db')
    const engine = await RocksDbEngine.open(directory)
    try {
      const error = await openFailure(directory)
      expect(error.message).toMatch(/already in use .*RocksDB LOCK is held/)
      // The holder is unaffected by the refused open.
      await engine.write([{ type: 'put', key: Uint8Array.of(1), value: Uint8Array.of(2) }], {
        sync: true,
      })
      expect(await engine.get(Uint8Array.of(1))).toEqual(Buffer.of(2))
    } finally {
      await engine.close()
    }
    const reopened = await RocksDbEngine.open(directory)
    expect(await reopened.get(Uint8Array.of(1))).toEqual(Buffer.of(2))
    await reopened.close()
  })

  it('serves reads through the pool when synchronous reads are disabled', async () => {
    const engine = await RocksDbEngine.open(join(root, 'db'), { synchronousReadKeysMax: 0 })
    try {
      await engine.write([{ type: 'put', key: Uint8Array.of(7), value: Uint8Array.of(8) }], {
        sync: false,
      })
      expect(await engine.getMany([Uint8Array.of(7), Uint8Array.of(9)])).toEqual([
        Buffer.of(8),
        undefined,
      ])
    } finally {
      await engine.close()
    }
  })

  it('writes the WAL uncompressed unless asked to compress it', async () => {
    const walBytes = async (directory: string, walCompression?: boolean): Promise<number> => {
      const engine = await RocksDbEngine.open(
        directory,
        walCompression === undefined ? {} : { walCompression },
      )
      try {
        const value = new Uint8Array(1000).fill(97)
        for (let index = 0; index < 100; index++) {
          const key = Uint8Array.of(1, index)
          await engine.write([{ type: 'put', key, value }], { sync: false })
        }
        return readdirSync(directory)
          .filter((name) => name.endsWith('.log'))
          .reduce((total, name) => total + statSync(join(directory, name)).size, 0)
      } finally {
        await engine.close()
      }
    }
    expect(await walBytes(join(root, 'plain'))).toBeGreaterThan(100_000)
    expect(await walBytes(join(root, 'compressed'), true)).toBeLessThan(50_000)
  })
})
