/**
 * The behavioural contract of a StorageEngine, written once and run against every engine
 * (rocksdb.test.ts, memory.test.ts), so the simulator's engine cannot drift from production.
 * Each test opens a fresh store through a harness, writes through the engine seam only, and
 * checks reads, scans over the real key layout, durability across a clean reopen, checksum
 * verification through src/storage/records.ts and behaviour after close.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isMurmurError, type MurmurError } from '../../../src/env/errors.js'
import type { Bytes, StorageEngine, WriteOp } from '../../../src/storage/engine.js'
import {
  dataKey,
  decodeDataKey,
  hintKey,
  keyspaceRange,
  metaKey,
  partitionRange,
} from '../../../src/storage/layout.js'
import {
  ANY_RECORD,
  getRecord,
  getRecords,
  putRecordOp,
  scanRecords,
} from '../../../src/storage/records.js'

export interface EngineHarness {
  /** Opens the harness's store; every call opens the same store. */
  open(): Promise<StorageEngine>
  /** Releases everything the harness created (engines must be closed first). */
  dispose(): Promise<void>
}

const text = new TextEncoder()
const bytes = (value: string): Bytes => text.encode(value)
const put = (key: Bytes, value: string): WriteOp => ({ type: 'put', key, value: bytes(value) })
const decodeText = (value: Bytes | undefined): string | undefined =>
  value === undefined ? undefined : new TextDecoder().decode(value)

async function collect(
  engine: StorageEngine,
  range: Parameters<StorageEngine['iterate']>[0],
): Promise<[Bytes, Bytes][]> {
  const entries: [Bytes, Bytes][] = []
  for await (const [key, value] of engine.iterate(range)) entries.push([key, value])
  return entries
}

/** Data keys of `entries` as "partition/keyspace/key" strings, in scan order. */
function describeData(entries: readonly (readonly [Bytes, Bytes])[]): string[] {
  return entries.map(([key]) => {
    const decoded = decodeDataKey(key)
    return decoded === undefined
      ? 'not-data'
      : `${decoded.partition}/${decoded.keyspace}/${decoded.key}`
  })
}

/** Keys in partitions 4..6, keyspaces a/users/users2, plus meta and hint keys around them. */
async function writeLayoutFixture(engine: StorageEngine): Promise<void> {
  const ops: WriteOp[] = [put(metaKey('node-id'), 'n1'), put(hintKey('n2', 7), 'hint')]
  for (const partition of [4, 5, 6]) {
    for (const keyspace of ['a', 'users', 'users2']) {
      for (const key of ['alice', 'alicia', 'bob', 'zoe']) {
        ops.push(put(dataKey(partition, keyspace, key), `${partition}:${keyspace}:${key}`))
      }
    }
  }
  await engine.write(ops, { sync: false })
}

export function describeEngineContract(name: string, createHarness: () => EngineHarness): void {
  describe(`${name}: StorageEngine contract`, () => {
    let harness: EngineHarness
    let engine: StorageEngine

    beforeEach(async () => {
      harness = createHarness()
      engine = await harness.open()
    })

    afterEach(async () => {
      await engine.close()
      await harness.dispose()
    })

    it('puts, overwrites, deletes and reads single keys', async () => {
      const key = bytes('k1')
      expect(await engine.get(key)).toBeUndefined()
      await engine.write([put(key, 'one')], { sync: false })
      expect(decodeText(await engine.get(key))).toBe('one')
      await engine.write([put(key, 'two')], { sync: true })
      expect(decodeText(await engine.get(key))).toBe('two')
      await engine.write([{ type: 'del', key }], { sync: false })
      expect(await engine.get(key)).toBeUndefined()
    })

    it('applies a batch as a whole, in op order, and refuses a malformed batch entirely', async () => {
      await engine.write([put(bytes('gone'), 'x')], { sync: false })
      await engine.write(
        [
          put(bytes('a'), '1'),
          put(bytes('b'), '2'),
          { type: 'del', key: bytes('gone') },
          put(bytes('a'), '3'),
        ],
        { sync: true },
      )
      expect(
        (await engine.getMany([bytes('a'), bytes('b'), bytes('gone')])).map(decodeText),
      ).toEqual(['3', '2', undefined])
      const malformed = [
        put(bytes('c'), '1'),
        { type: 'put', key: new Uint8Array(0), value: bytes('v') },
      ]
      await expect(engine.write(malformed as WriteOp[], { sync: false })).rejects.toThrow(
        /non-empty/,
      )
      expect(await engine.get(bytes('c'))).toBeUndefined()
    })

    it('getMany answers in key order of the request, with undefined for missing keys', async () => {
      const ops: WriteOp[] = []
      for (let index = 0; index < 40; index += 2) ops.push(put(bytes(`k${index}`), `v${index}`))
      await engine.write(ops, { sync: false })
      expect(await engine.getMany([])).toEqual([])
      // 40 keys is past the synchronous-read limit of the RocksDB engine, 3 is below it.
      const many = Array.from({ length: 40 }, (_, index) => bytes(`k${39 - index}`))
      const expected = many.map((_, index) =>
        (39 - index) % 2 === 0 ? `v${39 - index}` : undefined,
      )
      expect((await engine.getMany(many)).map(decodeText)).toEqual(expected)
      const few = [bytes('k2'), bytes('k3'), bytes('k0')]
      expect((await engine.getMany(few)).map(decodeText)).toEqual(['v2', undefined, 'v0'])
    })

    it('scans exactly one partition, excluding its neighbours and other sublevels', async () => {
      await writeLayoutFixture(engine)
      const keys = describeData(await collect(engine, partitionRange(5)))
      expect(keys).toEqual(
        ['a', 'users', 'users2'].flatMap((keyspace) =>
          ['alice', 'alicia', 'bob', 'zoe'].map((key) => `5/${keyspace}/${key}`),
        ),
      )
    })

    it('scans one keyspace of one partition, optionally by key prefix', async () => {
      await writeLayoutFixture(engine)
      expect(describeData(await collect(engine, keyspaceRange(5, 'users')))).toEqual([
        '5/users/alice',
        '5/users/alicia',
        '5/users/bob',
        '5/users/zoe',
      ])
      expect(describeData(await collect(engine, keyspaceRange(6, 'users', 'ali')))).toEqual([
        '6/users/alice',
        '6/users/alicia',
      ])
      expect(await collect(engine, keyspaceRange(6, 'users', 'alx'))).toEqual([])
      expect(await collect(engine, keyspaceRange(7, 'users'))).toEqual([])
    })

    it('scans in reverse and honours limits and exclusive bounds', async () => {
      await writeLayoutFixture(engine)
      const range = keyspaceRange(4, 'a')
      expect(describeData(await collect(engine, { ...range, reverse: true, limit: 3 }))).toEqual([
        '4/a/zoe',
        '4/a/bob',
        '4/a/alicia',
      ])
      expect(describeData(await collect(engine, { ...range, limit: 2 }))).toEqual([
        '4/a/alice',
        '4/a/alicia',
      ])
      expect(await collect(engine, { ...range, limit: 0 })).toEqual([])
      const between = { gt: dataKey(4, 'a', 'alice'), lte: dataKey(4, 'a', 'bob') }
      expect(describeData(await collect(engine, between))).toEqual(['4/a/alicia', '4/a/bob'])
      expect(describeData(await collect(engine, { ...between, reverse: true }))).toEqual([
        '4/a/bob',
        '4/a/alicia',
      ])
    })

    it('scans ranges longer than one fetch step completely and in order', async () => {
      const count = 2500
      const ops: WriteOp[] = []
      for (let index = 0; index < count; index++) {
        ops.push(put(dataKey(9, 'bulk', `key-${String(index).padStart(5, '0')}`), String(index)))
      }
      await engine.write(ops, { sync: false })
      const entries = await collect(engine, partitionRange(9))
      expect(entries).toHaveLength(count)
      expect(entries.map(([, value]) => Number(decodeText(value)))).toEqual(
        Array.from({ length: count }, (_, index) => index),
      )
    })

    it('keeps synced writes across a clean close and reopen', async () => {
      await engine.write([put(bytes('durable'), 'yes')], { sync: true })
      await engine.write([put(bytes('flushed'), 'yes')], { sync: false })
      await engine.flush?.()
      await engine.close()
      engine = await harness.open()
      expect((await engine.getMany([bytes('durable'), bytes('flushed')])).map(decodeText)).toEqual([
        'yes',
        'yes',
      ])
    })

    it('detects a record whose stored bytes had one bit flipped', async () => {
      const good = dataKey(3, 'users', 'good')
      const bad = dataKey(3, 'users', 'bad')
      await engine.write([putRecordOp(good, { n: 1 }), putRecordOp(bad, { n: 2 })], { sync: true })
      const stored = await engine.get(bad)
      expect(stored).toBeDefined()
      const flipped = new Uint8Array(stored as Bytes)
      flipped[flipped.length - 1] = (flipped[flipped.length - 1] as number) ^ 0x01
      await engine.write([{ type: 'put', key: bad, value: flipped }], { sync: true })

      expect(await getRecord(engine, ANY_RECORD, good)).toEqual({ n: 1 })
      const error = await getRecord(engine, ANY_RECORD, bad).catch((caught: unknown) => caught)
      expect(isMurmurError(error, 'corrupt_record')).toBe(true)
      expect((error as MurmurError).message).toContain('data/3/users/"bad"')

      const corrupt: string[] = []
      const onCorrupt = (key: Bytes): void => {
        corrupt.push(describeData([[key, key]])[0] ?? '')
      }
      expect(await getRecords(engine, ANY_RECORD, [bad, good], onCorrupt)).toEqual([
        undefined,
        { n: 1 },
      ])
      const scanned: unknown[] = []
      for await (const entry of scanRecords(engine, ANY_RECORD, partitionRange(3), onCorrupt)) {
        scanned.push(entry.value)
      }
      expect(scanned).toEqual([{ n: 1 }])
      expect(corrupt).toEqual(['3/users/bad', '3/users/bad'])
    })

    it('reports stats as finite non-negative numbers', async () => {
      await writeLayoutFixture(engine)
      await engine.flush?.()
      const stats = await engine.stats()
      for (const value of [stats.liveDataBytes, stats.keysEstimate]) {
        expect(Number.isFinite(value) && value >= 0).toBe(true)
      }
    })

    it('ends a scan in progress with unavailable when the engine closes', async () => {
      const ops: WriteOp[] = []
      for (let index = 0; index < 50; index++) ops.push(put(bytes(`scan-${index}`), 'v'))
      await engine.write(ops, { sync: true })
      const iterator = engine.iterate({})[Symbol.asyncIterator]()
      expect((await iterator.next()).done).toBe(false)
      await engine.close()
      const error = await iterator.next().catch((caught: unknown) => caught)
      expect(isMurmurError(error, 'unavailable')).toBe(true)
      await iterator.return?.()
    })

    it('rejects every call after close with unavailable, and closes twice quietly', async () => {
      await engine.write([put(bytes('k'), 'v')], { sync: true })
      await engine.close()
      await engine.close()
      const attempts: Promise<unknown>[] = [
        engine.get(bytes('k')),
        engine.getMany([bytes('k')]),
        engine.getMany(Array.from({ length: 40 }, () => bytes('k'))),
        engine.write([put(bytes('k'), 'w')], { sync: true }),
        engine.stats(),
        collect(engine, {}),
        engine.flush?.() ?? Promise.reject(new Error('flush missing')),
      ]
      for (const attempt of attempts) {
        const error = await attempt.then(
          () => undefined,
          (caught: unknown) => caught,
        )
        expect(isMurmurError(error, 'unavailable')).toBe(true)
        expect((error as MurmurError).message).toMatch(/closed/)
      }
      engine = await harness.open()
      expect(decodeText(await engine.get(bytes('k')))).toBe('v')
    })
  })
}
