/**
 * Goal: a primary runs each forwarded write once. Copies of a forward id share the first
 * copy's answer (fulfilled or rejected, in flight or settled), and the table forgets ids by
 * age and by count so it stays bounded. Method: the table on a hand-moved clock, with work
 * functions that count their calls.
 */

import { describe, expect, it } from 'vitest'
import type { Clock } from '../../../src/env/clock.js'
import { ForwardedWrites } from '../../../src/runtime/kv/forwarded-writes.js'

function handClock(): Clock & { advance(ms: number): void } {
  let nowMs = 0
  return {
    nowMs: () => nowMs,
    wallMs: () => nowMs,
    setTimer: () => ({ cancel: () => undefined }),
    defer: (callback) => queueMicrotask(callback),
    advance: (ms) => {
      nowMs += ms
    },
  }
}

describe('forwarded writes', () => {
  it('answers a copy with the first copy’s outcome, without running the work again', async () => {
    const table = new ForwardedWrites(handClock(), 1000, 10)
    let calls = 0
    let finish: (value: string) => void = () => undefined
    const work = () => {
      calls++
      return new Promise<string>((resolve) => {
        finish = resolve
      })
    }
    const first = table.run('a', work)
    const copy = table.run('a', work)
    expect(first.duplicate).toBe(false)
    expect(copy.duplicate).toBe(true)
    finish('minted once')
    expect(await copy.answer).toBe('minted once')
    expect(await table.run('a', work).answer).toBe('minted once')
    expect(calls).toBe(1)
  })

  it('shares a failure too, so a copy cannot retry a write that may have happened', async () => {
    const table = new ForwardedWrites(handClock(), 1000, 10)
    let calls = 0
    const work = () => {
      calls++
      return Promise.reject(new Error('quorum unavailable'))
    }
    await expect(table.run('b', work).answer).rejects.toThrow('quorum unavailable')
    await expect(table.run('b', work).answer).rejects.toThrow('quorum unavailable')
    expect(calls).toBe(1)
  })

  it('forgets ids after the retention time and beyond the count limit', async () => {
    const clock = handClock()
    const table = new ForwardedWrites(clock, 1000, 3)
    const work = (value: string) => () => Promise.resolve(value)
    table.run('old', work('old'))
    clock.advance(1000)
    // The id is forgotten once its time is up: the next copy runs again.
    expect(table.run('old', work('again')).duplicate).toBe(false)
    for (const id of ['x', 'y', 'z']) table.run(id, work(id))
    expect(table.size).toBe(3)
    // 'old' was the oldest of four and made room.
    expect(table.run('old', work('third')).duplicate).toBe(false)
    expect(table.run('z', work('z')).duplicate).toBe(true)
  })
})
