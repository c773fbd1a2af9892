/**
 * Goal: the in-memory engine meets the StorageEngine contract, orders keys exactly as RocksDB
 * does, and models a disk whose power loss loses exactly the unsynced writes.
 * Method: the shared contract suite (engine-suite.ts) over a fresh MemoryDisk per test; a
 * fast-check model test against a plain Map sorted byte-wise; scripted crash scenarios that
 * write with and without sync, crash the disk and reopen it; the bit-flip test hook.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import type { Bytes, WriteOp } from '../../../src/storage/engine.js'
import { compareBytes } from '../../../src/storage/engine-support.js'
import { dataKey } from '../../../src/storage/layout.js'
import { MemoryDisk, MemoryEngine } from '../../../src/storage/memory.js'
import { ANY_RECORD, getRecord, putRecordOp } from '../../../src/storage/records.js'
import { describeEngineContract } from './engine-suite.js'

describeEngineContract('MemoryEngine', () => {
  const disk = new MemoryDisk()
  return { open: async () => new MemoryEngine(disk), dispose: async () => undefined }
})

const key = (name: string): Bytes => new TextEncoder().encode(name)
const put = (name: string, value: number): WriteOp => ({
  type: 'put',
  key: key(name),
  value: Uint8Array.of(value),
})

async function valuesOf(engine: MemoryEngine, names: readonly string[]): Promise<unknown[]> {
  const values = await engine.getMany(names.map(key))
  return values.map((value) => value?.[0])
}

describe('MemoryEngine ordering', () => {
  it('matches a sorted map under random puts and deletes, in both directions', async () => {
    const keyBytes = fc.uint8Array({ minLength: 1, maxLength: 4, max: 3 })
    const op = fc.oneof(
      fc.record({
        type: fc.constant('put' as const),
        key: keyBytes,
        value: fc.uint8Array({ maxLength: 3 }),
      }),
      fc.record({ type: fc.constant('del' as const), key: keyBytes }),
    )
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(op, { maxLength: 8 }), { maxLength: 30 }),
        async (batches) => {
          const engine = new MemoryEngine()
          const model = new Map<string, Bytes>()
          for (const batch of batches) {
            await engine.write(batch, { sync: false })
            for (const entry of batch) {
              const hex = Buffer.from(entry.key).toString('hex')
              if (entry.type === 'put') model.set(hex, entry.value)
              else model.delete(hex)
            }
          }
          const expected = [...model.entries()]
            .map(([hex, value]) => [Uint8Array.from(Buffer.from(hex, 'hex')), value] as const)
            .sort(([left], [right]) => compareBytes(left, right))
          const forward: (readonly [Bytes, Bytes])[] = []
          for await (const entry of engine.iterate({})) forward.push(entry)
          const backward: (readonly [Bytes, Bytes])[] = []
          for await (const entry of engine.iterate({ reverse: true })) backward.push(entry)
          expect(forward).toEqual(expected)
          expect(backward).toEqual([...expected].reverse())
          expect((await engine.stats()).keysEstimate).toBe(expected.length)
          await engine.close()
        },
      ),
      { numRuns: 200 },
    )
  })

  it('copies bytes in and out, so callers cannot alias stored values, even through Buffers', async () => {
    const engine = new MemoryEngine()
    const value = Uint8Array.of(1, 2, 3)
    // Buffer#slice is a view, so an engine that copied with slice() would keep this memory.
    const bufferKey = Buffer.from('b')
    const bufferValue = Buffer.from([4, 5])
    await engine.write(
      [
        { type: 'put', key: key('k'), value },
        { type: 'put', key: bufferKey, value: bufferValue },
      ],
      { sync: false },
    )
    value[0] = 9
    bufferKey[0] = 0x63
    bufferValue[0] = 9
    const read = (await engine.get(key('k'))) as Bytes
    read[1] = 9
    expect(await engine.getMany([key('k'), key('b'), key('c')])).toEqual([
      Uint8Array.of(1, 2, 3),
      Uint8Array.of(4, 5),
      undefined,
    ])
    await engine.close()
  })
})

describe('MemoryDisk crash semantics', () => {
  it('loses the unsynced tail and keeps synced writes', async () => {
    const disk = new MemoryDisk()
    const engine = new MemoryEngine(disk)
    await engine.write([put('synced', 1)], { sync: true })
    await engine.write([put('unsynced', 2), put('synced', 3)], { sync: false })
    expect(await valuesOf(engine, ['synced', 'unsynced'])).toEqual([3, 2])
    expect(disk.unsyncedOps).toBe(2)
    expect(disk.crash()).toBe(2)
    const reopened = new MemoryEngine(disk)
    expect(await valuesOf(reopened, ['synced', 'unsynced'])).toEqual([1, undefined])
    await reopened.close()
  })

  it('makes every earlier unsynced write durable with a later synced one', async () => {
    const disk = new MemoryDisk()
    const engine = new MemoryEngine(disk)
    await engine.write([put('a', 1)], { sync: false })
    await engine.write([put('b', 2)], { sync: false })
    await engine.write([put('c', 3)], { sync: true })
    await engine.write([put('d', 4)], { sync: false })
    disk.crash()
    const reopened = new MemoryEngine(disk)
    expect(await valuesOf(reopened, ['a', 'b', 'c', 'd'])).toEqual([1, 2, 3, undefined])
    await reopened.close()
  })

  it('makes the tail durable on flush, on a clean close and past unsyncedOpsMax', async () => {
    const disk = new MemoryDisk({ unsyncedOpsMax: 3 })
    let engine = new MemoryEngine(disk)
    await engine.write([put('flushed', 1)], { sync: false })
    await engine.flush()
    expect(disk.unsyncedOps).toBe(0)
    await engine.write([put('closed', 2)], { sync: false })
    await engine.close()
    engine = new MemoryEngine(disk)
    await engine.write([put('x', 1), put('y', 1), put('z', 1)], { sync: false })
    expect(disk.unsyncedOps).toBe(3)
    await engine.write([put('over', 4)], { sync: false })
    expect(disk.unsyncedOps).toBe(0)
    disk.crash()
    engine = new MemoryEngine(disk)
    expect(await valuesOf(engine, ['flushed', 'closed', 'x', 'over'])).toEqual([1, 2, 1, 4])
    await engine.close()
  })

  it('kills the open engine on a crash and lets one engine hold the disk at a time', async () => {
    const disk = new MemoryDisk()
    const engine = new MemoryEngine(disk)
    expect(disk.inUse).toBe(true)
    expect(() => new MemoryEngine(disk)).toThrow(/already open/)
    disk.crash()
    expect(disk.inUse).toBe(false)
    const error = await engine.get(key('a')).catch((caught: unknown) => caught)
    expect(isMurmurError(error, 'unavailable')).toBe(true)
    expect(String(error)).toMatch(/simulated crash/)
    await engine.close()
    const reopened = new MemoryEngine(disk)
    await reopened.close()
  })

  it('flips exactly one stored bit on request, which the record checksum catches', async () => {
    const disk = new MemoryDisk()
    const engine = new MemoryEngine(disk)
    const recordKey = dataKey(1, 'users', 'alice')
    await engine.write([putRecordOp(recordKey, { name: 'alice' })], { sync: true })
    const before = (await engine.get(recordKey)) as Bytes
    expect(disk.corruptValue(key('missing'))).toBe(false)
    expect(disk.corruptValue(recordKey, 37)).toBe(true)
    const after = (await engine.get(recordKey)) as Bytes
    const differingBits = [...before].reduce(
      (count, byte, index) => count + popCount(byte ^ (after[index] as number)),
      0,
    )
    expect(differingBits).toBe(1)
    expect(before[4]! ^ after[4]!).toBe(0x04)
    await expect(getRecord(engine, ANY_RECORD, recordKey)).rejects.toMatchObject({
      code: 'corrupt_record',
    })
    disk.crash()
    const reopened = new MemoryEngine(disk)
    expect(await reopened.get(recordKey)).toEqual(after)
    await reopened.close()
  })
})

function popCount(byte: number): number {
  let count = 0
  for (let bits = byte; bits !== 0; bits &= bits - 1) count++
  return count
}
