/**
 * Goal: the GroupCommitter keeps its contract: one engine batch per event-loop turn, synced if
 * any write asked, strict submission order, one batch at a time, failures confined to their
 * batch, early flushes at the limits, refusals past the queue bound.
 * Method: a hand-driven clock whose `defer` queues callbacks that a test runs explicitly (one
 * call = the end of one turn), and a wrapping engine over MemoryEngine that records every
 * engine write and can hold a write in flight or fail it. A fast-check property checks the
 * ordering and atomicity rules over random writes, turns and limits; one test uses the real
 * SystemClock.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Clock, SystemClock, type Timer } from '../../../src/env/clock.js'
import { isMurmurError, MurmurError } from '../../../src/env/errors.js'
import type {
  Bytes,
  KeyRange,
  StorageEngine,
  StorageStats,
  WriteOp,
} from '../../../src/storage/engine.js'
import { GroupCommitter } from '../../../src/storage/group-commit.js'
import { MemoryEngine } from '../../../src/storage/memory.js'

/** A clock whose deferred callbacks run only when the test ends the turn. */
class TurnClock implements Clock {
  private deferred: (() => void)[] = []

  nowMs(): number {
    return 0
  }

  wallMs(): number {
    return 0
  }

  setTimer(): Timer {
    throw new Error('group commit must not use timers')
  }

  defer(callback: () => void): void {
    this.deferred.push(callback)
  }

  /** Ends the current turn: runs what was deferred in it, then lets promise chains settle. */
  async endTurn(): Promise<void> {
    const callbacks = this.deferred
    this.deferred = []
    for (const callback of callbacks) callback()
    await settle()
  }
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

interface RecordedWrite {
  readonly ops: readonly WriteOp[]
  readonly sync: boolean
}

/** Records engine writes; can hold the next write in flight or make it fail. */
class RecordingEngine implements StorageEngine {
  readonly kind = 'memory'
  readonly writes: RecordedWrite[] = []
  inFlight = 0
  inFlightMax = 0
  private readonly inner = new MemoryEngine()
  private failNext: Error | undefined
  private holds: (() => void)[] = []
  private holdNext = false

  failNextWrite(error: Error): void {
    this.failNext = error
  }

  holdNextWrite(): void {
    this.holdNext = true
  }

  release(): void {
    const holds = this.holds
    this.holds = []
    for (const release of holds) release()
  }

  async write(ops: readonly WriteOp[], options: { readonly sync: boolean }): Promise<void> {
    this.writes.push({ ops: [...ops], sync: options.sync })
    this.inFlight++
    this.inFlightMax = Math.max(this.inFlightMax, this.inFlight)
    try {
      if (this.holdNext) {
        this.holdNext = false
        await new Promise<void>((resolve) => this.holds.push(resolve))
      }
      const failure = this.failNext
      this.failNext = undefined
      if (failure !== undefined) throw failure
      await this.inner.write(ops, options)
    } finally {
      this.inFlight--
    }
  }

  get(key: Bytes): Promise<Bytes | undefined> {
    return this.inner.get(key)
  }

  getMany(keys: readonly Bytes[]): Promise<(Bytes | undefined)[]> {
    return this.inner.getMany(keys)
  }

  iterate(range: KeyRange): AsyncIterable<readonly [Bytes, Bytes]> {
    return this.inner.iterate(range)
  }

  stats(): Promise<StorageStats> {
    return this.inner.stats()
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}

const key = (name: string): Bytes => new TextEncoder().encode(name)
const put = (name: string, value = 1, valueBytes = 1): WriteOp => ({
  type: 'put',
  key: key(name),
  value: new Uint8Array(valueBytes).fill(value),
})
const keysOf = (write: RecordedWrite | undefined): string[] =>
  (write?.ops ?? []).map((op) => new TextDecoder().decode(op.key))

/** Tracks how a promise settled, without leaving a rejection unhandled. */
function track(promise: Promise<void>): {
  state: 'pending' | 'resolved' | 'rejected'
  error?: unknown
} {
  const tracked: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = {
    state: 'pending',
  }
  promise.then(
    () => {
      tracked.state = 'resolved'
    },
    (error: unknown) => {
      tracked.state = 'rejected'
      tracked.error = error
    },
  )
  return tracked
}

describe('GroupCommitter', () => {
  it('writes every write of one turn as one batch, synced if any asked for sync', async () => {
    const clock = new TurnClock()
    const engine = new RecordingEngine()
    const committer = new GroupCommitter(engine, clock)
    const writes = Array.from({ length: 50 }, (_, index) =>
      track(committer.write([put(`k${index}`)], { sync: index === 17 })),
    )
    await settle()
    expect(engine.writes).toHaveLength(0)
    await clock.endTurn()
    expect(engine.writes).toHaveLength(1)
    expect(engine.writes[0]?.sync).toBe(true)
    expect(keysOf(engine.writes[0])).toEqual(writes.map((_, index) => `k${index}`))
    expect(writes.every((write) => write.state === 'resolved')).toBe(true)
    expect(committer.counters).toMatchObject({
      batchesWritten: 1,
      opsWritten: 50,
      syncedBatches: 1,
    })

    await Promise.all([committer.write([put('a')], { sync: false }), clock.endTurn()])
    expect(engine.writes[1]?.sync).toBe(false)
    expect(committer.counters).toMatchObject({
      batchesWritten: 2,
      opsWritten: 51,
      syncedBatches: 1,
    })
  })

  it('keeps turns in order and one batch in flight while the next one queues', async () => {
    const clock = new TurnClock()
    const engine = new RecordingEngine()
    const committer = new GroupCommitter(engine, clock)
    engine.holdNextWrite()
    const first = track(committer.write([put('k', 1)], { sync: true }))
    await clock.endTurn()
    expect(engine.writes).toHaveLength(1)
    const second = track(committer.write([put('k', 2)], { sync: false }))
    const third = track(committer.write([put('other', 3)], { sync: false }))
    await clock.endTurn()
    // The second turn is sealed and queued, but waits for the batch in flight.
    expect(engine.writes).toHaveLength(1)
    expect(committer.queuedOpsCount).toBe(2)
    expect([first.state, second.state, third.state]).toEqual(['pending', 'pending', 'pending'])
    engine.release()
    await settle()
    await settle()
    expect(engine.writes.map(keysOf)).toEqual([['k'], ['k', 'other']])
    expect([first.state, second.state, third.state]).toEqual(['resolved', 'resolved', 'resolved'])
    expect(engine.inFlightMax).toBe(1)
    expect(await engine.get(key('k'))).toEqual(Uint8Array.of(2))
  })

  it('rejects exactly the writes of a failed batch', async () => {
    const clock = new TurnClock()
    const engine = new RecordingEngine()
    const committer = new GroupCommitter(engine, clock)
    const failure = new MurmurError('unavailable', 'disk on fire')
    engine.failNextWrite(failure)
    engine.holdNextWrite()
    const failed = [
      track(committer.write([put('a')], { sync: true })),
      track(committer.write([put('b')], { sync: false })),
    ]
    await clock.endTurn()
    const later = track(committer.write([put('c')], { sync: true }))
    await clock.endTurn()
    engine.release()
    await settle()
    await settle()
    expect(failed.map((write) => write.state)).toEqual(['rejected', 'rejected'])
    expect(failed.map((write) => write.error)).toEqual([failure, failure])
    expect(later.state).toBe('resolved')
    expect(await engine.getMany([key('a'), key('b'), key('c')])).toEqual([
      undefined,
      undefined,
      Uint8Array.of(1),
    ])
    expect(committer.counters).toMatchObject({ batchesWritten: 1, batchesFailed: 1, opsWritten: 1 })
  })

  it('flushes early when a batch reaches its op or byte limit, never splitting a write', async () => {
    const clock = new TurnClock()
    const engine = new RecordingEngine()
    const byOps = new GroupCommitter(engine, clock, { batchOpsMax: 4 })
    for (let index = 0; index < 10; index++) void byOps.write([put(`o${index}`)], { sync: false })
    await clock.endTurn()
    expect(engine.writes.map((write) => write.ops.length)).toEqual([4, 4, 2])
    expect(byOps.counters.earlyFlushes).toBe(2)

    engine.writes.length = 0
    const byBytes = new GroupCommitter(engine, clock, { batchBytesMax: 100 })
    // Each op is 2 key bytes + 40 value bytes: two fit, a third would pass 100.
    for (let index = 0; index < 5; index++)
      void byBytes.write([put(`b${index}`, 1, 40)], { sync: false })
    void byBytes.write([put('xx', 1, 500)], { sync: false })
    void byBytes.write([put('b9', 1, 10)], { sync: false })
    await clock.endTurn()
    expect(engine.writes.map(keysOf)).toEqual([['b0', 'b1'], ['b2', 'b3'], ['b4'], ['xx'], ['b9']])
  })

  it('refuses writes past queuedOpsMax with a definite overloaded error', async () => {
    const clock = new TurnClock()
    const engine = new RecordingEngine()
    const committer = new GroupCommitter(engine, clock, { queuedOpsMax: 3 })
    const accepted = track(committer.write([put('a'), put('b')], { sync: false }))
    const refused = committer.write([put('c'), put('d')], { sync: false })
    await expect(refused).rejects.toSatisfy(
      (error: unknown) => isMurmurError(error, 'overloaded') && error.definite === true,
    )
    const fits = track(committer.write([put('e')], { sync: false }))
    await clock.endTurn()
    expect([accepted.state, fits.state]).toEqual(['resolved', 'resolved'])
    expect(committer.counters.writesRefused).toBe(1)
    expect(keysOf(engine.writes[0])).toEqual(['a', 'b', 'e'])
  })

  it('drains pending and in-flight batches, and groups a real turn on the SystemClock', async () => {
    const engine = new RecordingEngine()
    const committer = new GroupCommitter(engine, new SystemClock())
    const writes = Array.from({ length: 20 }, (_, index) =>
      committer.write([put(`s${index}`)], { sync: false }),
    )
    await committer.drain()
    await Promise.all(writes)
    expect(engine.writes).toHaveLength(1)
    expect(engine.writes[0]?.ops).toHaveLength(20)
    await committer.drain()
  })

  it('applies random writes in submission order with each write whole in one batch', async () => {
    const write = fc.record({ opsCount: fc.integer({ min: 1, max: 5 }), sync: fc.boolean() })
    const turn = fc.array(write, { minLength: 1, maxLength: 8 })
    const limits = fc.record({
      batchOpsMax: fc.integer({ min: 1, max: 12 }),
      batchBytesMax: fc.integer({ min: 1, max: 60 }),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(turn, { minLength: 1, maxLength: 6 }),
        limits,
        async (turns, limit) => {
          const clock = new TurnClock()
          const engine = new RecordingEngine()
          const committer = new GroupCommitter(engine, clock, limit)
          const submitted: { readonly names: string[]; readonly sync: boolean }[] = []
          const settled: Promise<void>[] = []
          for (const writes of turns) {
            for (const { opsCount, sync } of writes) {
              const names = Array.from({ length: opsCount }, (_, op) => `${submitted.length}-${op}`)
              submitted.push({ names, sync })
              settled.push(
                committer.write(
                  names.map((name) => put(name)),
                  { sync },
                ),
              )
            }
            await clock.endTurn()
          }
          await Promise.all(settled)
          expect(engine.writes.flatMap(keysOf)).toEqual(submitted.flatMap((entry) => entry.names))
          for (const batch of engine.writes) {
            // The writes whose ops this batch holds; each must be held whole.
            const members = [...new Set(keysOf(batch).map((name) => Number(name.split('-')[0])))]
            const memberOps = members.reduce(
              (total, index) => total + (submitted[index]?.names.length ?? 0),
              0,
            )
            expect(memberOps).toBe(batch.ops.length)
            expect(batch.sync).toBe(members.some((index) => submitted[index]?.sync === true))
            if (members.length > 1) {
              expect(batch.ops.length).toBeLessThanOrEqual(limit.batchOpsMax)
              expect(
                batch.ops.reduce((total, op) => total + op.key.length + 1, 0),
              ).toBeLessThanOrEqual(limit.batchBytesMax)
            }
          }
          expect(engine.inFlightMax).toBe(1)
          expect(engine.writes.length).toBeGreaterThanOrEqual(turns.length)
        },
      ),
      { numRuns: 100 },
    )
  })
})
