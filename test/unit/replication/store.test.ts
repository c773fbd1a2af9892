/**
 * Goal: the replica store keeps its contract: read-modify-write is serialized per key so
 * concurrent merges never lose each other, a corrupt record reads as missing (and is counted)
 * and is re-created by the next merge, hints merge into one per target and key, are bounded
 * per target, survive a restart in their counts and are deleted only when unchanged; a
 * mutation writes its record and the hint it asks for together or not at all; listing
 * skips deleted keys and reports where a bounded scan stopped; dot counters never repeat
 * across restarts; the keyed mutex bounds its waiters.
 * Method: the real store over an in-memory engine and group committer, with a clock whose
 * deferred work runs as microtasks (no timers), and records built with the DVV core.
 */

import { describe, expect, it } from 'vitest'
import type { Clock } from '../../../src/env/clock.js'
import { isMurmurError } from '../../../src/env/errors.js'
import { silentLogger } from '../../../src/env/log.js'
import {
  EMPTY_RECORD,
  type KeyRecord,
  type KvPayload,
  recordsEqual,
} from '../../../src/replication/record.js'
import { DotCounter, LEASE_BLOCK } from '../../../src/runtime/kv/dot-counter.js'
import { KeyedMutex } from '../../../src/runtime/kv/keyed-mutex.js'
import { ReplicaStore } from '../../../src/runtime/kv/store.js'
import { GroupCommitter } from '../../../src/storage/group-commit.js'
import { dataKey } from '../../../src/storage/layout.js'
import { MemoryDisk, MemoryEngine } from '../../../src/storage/memory.js'
import { emptyVersioned, update } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'

const clock: Clock = {
  nowMs: () => 0,
  wallMs: () => 0,
  setTimer: () => ({ cancel: () => undefined }),
  defer: (callback) => queueMicrotask(callback),
}

function open(disk = new MemoryDisk(), hintsPerTargetMax = 100) {
  const engine = new MemoryEngine(disk)
  const commits = new GroupCommitter(engine, clock)
  const store = new ReplicaStore(engine, commits, { hintsPerTargetMax }, silentLogger)
  return { disk, engine, store }
}

const address = { partition: 3, keyspace: 'default', key: 'k' }
const value = (text: string): KvPayload => ({
  kind: 'value',
  value: new TextEncoder().encode(text),
  contentType: 'text/plain',
})
function written(actor: string, payload: KvPayload, base: KeyRecord = EMPTY_RECORD): KeyRecord {
  const kv = base.kv ?? emptyVersioned<KvPayload>()
  return { kv: update(kv, EMPTY_VECTOR, actor, payload).versioned }
}

describe('ReplicaStore', () => {
  it('serializes concurrent merges of one key so neither is lost', async () => {
    const { store } = open()
    const a = written('n1.a', value('a'))
    const b = written('n2.b', value('b'))
    await Promise.all([store.merge(address, a, true), store.merge(address, b, false)])
    const stored = await store.read(address)
    expect(stored?.kv?.siblings.length).toBe(2)
  })

  it('reads a corrupt record as missing, counts it, and re-creates it on merge', async () => {
    const { engine, store } = open()
    await engine.write(
      [{ type: 'put', key: dataKey(3, 'default', 'k'), value: new Uint8Array([1, 2, 3, 4, 5]) }],
      {
        sync: true,
      },
    )
    expect(await store.read(address)).toBeUndefined()
    expect(store.counters.corruptRecords).toBe(1)
    let sawCorrupt = false
    await store.update(
      address,
      (current, corrupt) => {
        sawCorrupt = corrupt
        return { record: undefined, result: current }
      },
      false,
    )
    expect(sawCorrupt).toBe(true)
    const record = written('n1.a', value('x'))
    await store.merge(address, record, true)
    expect(recordsEqual((await store.read(address)) ?? EMPTY_RECORD, record)).toBe(true)
  })

  it('deletes a record only while it equals the expected state', async () => {
    const { store } = open()
    const first = written('n1.a', value('x'))
    await store.merge(address, first, true)
    const second = written('n1.a', value('y'), first)
    await store.merge(address, second, true)
    expect(await store.deleteIfEqual(address, first, true)).toBe(false)
    expect(await store.deleteIfEqual(address, second, true)).toBe(true)
    expect(await store.read(address)).toBeUndefined()
  })

  it('merges hints per target and key, bounds them, and keeps counts across a restart', async () => {
    const { disk, engine, store } = open(new MemoryDisk(), 2)
    await store.mergeHint('n4', address, written('n1.a', value('a')), true)
    await store.mergeHint('n4', address, written('n2.b', value('b')), true)
    await store.mergeHint('n4', { ...address, key: 'k2' }, written('n1.a', value('c')), true)
    expect(store.hintCount('n4')).toBe(2)
    const refusal = store.mergeHint(
      'n4',
      { ...address, key: 'k3' },
      written('n1.a', value('d')),
      true,
    )
    await expect(refusal).rejects.toSatisfy((error: unknown) => isMurmurError(error, 'overloaded'))
    expect((await store.readHint('n4', address))?.kv?.siblings.length).toBe(2)
    expect(await store.hasHint(address, ['n2', 'n4'])).toBe(true)
    expect(await store.hasHint(address, ['n2'])).toBe(false)
    await engine.close()
    const reopened = open(disk, 2).store
    await reopened.open()
    expect(reopened.hintCountsByTarget()).toEqual(new Map([['n4', 2]]))
  })

  it('writes a record with the hint its mutation asks for, or neither when refused', async () => {
    const { disk, engine, store } = open(new MemoryDisk(), 1)
    const first = written('n1.a', value('a'))
    const kept = await store.update(
      address,
      () => ({ record: first, hint: { target: 'n4', record: first }, result: 'kept' }),
      true,
    )
    expect(kept).toBe('kept')
    expect(recordsEqual((await store.read(address)) ?? EMPTY_RECORD, first)).toBe(true)
    expect(recordsEqual((await store.readHint('n4', address)) ?? EMPTY_RECORD, first)).toBe(true)
    expect(store.hintCount('n4')).toBe(1)
    // A second key would need a second hint for n4, beyond the bound: nothing is written.
    const other = { ...address, key: 'k2' }
    const refusal = store.update(
      other,
      () => ({ record: first, hint: { target: 'n4', record: first }, result: 'kept' }),
      true,
    )
    await expect(refusal).rejects.toSatisfy((error: unknown) => isMurmurError(error, 'overloaded'))
    expect(await store.read(other)).toBeUndefined()
    // Unsynced, the record and its hint are lost together.
    const second = written('n2.b', value('b'), first)
    await store.update(
      address,
      () => ({ record: second, hint: { target: 'n4', record: second }, result: undefined }),
      false,
    )
    expect(disk.crash()).toBe(2)
    await engine.close().catch(() => undefined)
    const reopened = open(disk, 1).store
    expect(recordsEqual((await reopened.read(address)) ?? EMPTY_RECORD, first)).toBe(true)
    expect(recordsEqual((await reopened.readHint('n4', address)) ?? EMPTY_RECORD, first)).toBe(true)
  })

  it('hands hints out in pages and deletes one only if it did not change', async () => {
    const { store } = open()
    for (const key of ['a', 'b', 'c'])
      await store.mergeHint('n5', { ...address, key }, written('n1.a', value(key)), true)
    const first = await store.hintsAfter('n5', undefined, 2)
    expect(first.map((entry) => entry.address.key)).toEqual(['a', 'b'])
    const rest = await store.hintsAfter('n5', first[1]?.key, 2)
    expect(rest.map((entry) => entry.address.key)).toEqual(['c'])
    const entry = first[0]
    if (entry === undefined) throw new Error('no hint')
    await store.mergeHint('n5', entry.address, written('n2.b', value('newer')), true)
    expect(await store.deleteHintIfEqual('n5', entry.address, entry.record)).toBe(false)
    const current = await store.readHint('n5', entry.address)
    expect(await store.deleteHintIfEqual('n5', entry.address, current ?? EMPTY_RECORD)).toBe(true)
    expect(store.hintCount('n5')).toBe(2)
  })

  it('lists live keys only, and says where a bounded scan stopped', async () => {
    const { store } = open()
    const tombstone: KvPayload = { kind: 'tombstone', deletedAtMs: 1 }
    for (const key of ['a', 'b', 'c', 'd']) {
      await store.merge(
        { ...address, key },
        written('n1.a', key === 'b' ? tombstone : value(key)),
        true,
      )
    }
    const where = { partition: 3, keyspace: 'default' }
    expect(await store.listLive(where, '', '', 10, 100)).toEqual({
      keys: ['a', 'c', 'd'],
      frontier: undefined,
    })
    expect(await store.listLive(where, '', 'a', 1, 100)).toEqual({ keys: ['c'], frontier: 'c' })
    expect(await store.listLive(where, '', '', 10, 2)).toEqual({ keys: ['a'], frontier: 'b' })
  })
})

describe('DotCounter', () => {
  it('issues floors above every counter of an earlier run', async () => {
    const disk = new MemoryDisk()
    const first = await DotCounter.open(new MemoryEngine(disk))
    const floor = first.floor()
    await first.observe(floor + 1)
    await first.observe(floor + 10)
    disk.crash()
    const second = await DotCounter.open(new MemoryEngine(disk))
    expect(second.floor()).toBeGreaterThan(floor + 10)
  })

  it('makes a counter durable before it may be acknowledged', async () => {
    const counter = await DotCounter.open(new MemoryEngine(new MemoryDisk()))
    const far = counter.floor() + 3 * LEASE_BLOCK
    const waiting = counter.observe(far)
    expect(waiting).toBeInstanceOf(Promise)
    await waiting
    expect(counter.observe(far)).toBeUndefined()
    expect(counter.highest).toBe(far)
  })
})

describe('KeyedMutex', () => {
  it('runs work on one key in order and refuses waiters beyond its bound', async () => {
    const mutex = new KeyedMutex(1)
    const order: string[] = []
    let release: () => void = () => undefined
    const first = mutex.run(
      'k',
      () =>
        new Promise<void>((resolve) => {
          order.push('first')
          release = resolve
        }),
    )
    const second = mutex.run('k', async () => {
      order.push('second')
    })
    await expect(mutex.run('k', async () => undefined)).rejects.toSatisfy((error: unknown) =>
      isMurmurError(error, 'overloaded'),
    )
    await mutex.run('other', async () => {
      order.push('other')
    })
    release()
    await Promise.all([first, second])
    expect(order).toEqual(['first', 'other', 'second'])
    expect(mutex.heldCount).toBe(0)
  })
})
