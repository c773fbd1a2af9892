/**
 * Goal: Lifeguard's arithmetic: suspicion bounds and timeouts equal memberlist's for n = 5, 100
 * and 1000, confirmations shorten the timeout and are never double-counted, the health
 * multiplier saturates in [0, max] and scales timeouts, and event-loop lag feeds it.
 *
 * Method: direct calls on suspicion.ts and awareness.ts with memberlist's LAN values, and a
 * core fed a lag report.
 */

import { describe, expect, it } from 'vitest'
import { Awareness } from '../../../src/membership/awareness.js'
import { MEMBERSHIP_PRESETS } from '../../../src/membership/config.js'
import {
  Suspicion,
  suspicionBounds,
  suspicionTimeoutMs,
} from '../../../src/membership/suspicion.js'
import { encodePart, framePacket } from '../../../src/membership/wire.js'
import { makeCore, TestNetwork } from './harness.js'

const lan = MEMBERSHIP_PRESETS.lan

describe('suspicion timeout', () => {
  it.each([
    [5, 4_000, 24_000, 2],
    [100, 8_000, 48_000, 2],
    [1000, 12_000, 72_000, 2],
    [3, 4_000, 24_000, 0],
  ])('n=%i: min %i ms, max %i ms, %i confirmations expected', (n, minMs, maxMs, expected) => {
    expect(suspicionBounds(lan, n)).toEqual({ minMs, maxMs, confirmationsExpected: expected })
  })

  it('shrinks logarithmically from max to min as confirmations arrive', () => {
    const bounds = suspicionBounds(lan, 100)
    expect(suspicionTimeoutMs(bounds, 0)).toBe(48_000)
    // memberlist: 48 - (48 - 8) · log(2)/log(3) = 22.762... s, floored to the millisecond.
    expect(suspicionTimeoutMs(bounds, 1)).toBe(22_762)
    expect(suspicionTimeoutMs(bounds, 2)).toBe(8_000)
    expect(suspicionTimeoutMs(bounds, 10)).toBe(8_000)
  })

  it('starts at the minimum when no confirmations can be expected', () => {
    expect(suspicionTimeoutMs(suspicionBounds(lan, 3), 0)).toBe(4_000)
  })

  it('counts each confirmer once and never the accuser or the suspect', () => {
    const suspicion = new Suspicion('s', 'accuser', 1_000, suspicionBounds(lan, 100))
    expect(suspicion.deadlineMs()).toBe(49_000)
    expect(suspicion.confirm('accuser')).toBe(false)
    expect(suspicion.confirm('s')).toBe(false)
    expect(suspicion.confirm('x')).toBe(true)
    expect(suspicion.confirm('x')).toBe(false)
    expect(suspicion.confirmations).toBe(1)
    expect(suspicion.deadlineMs()).toBe(23_762)
    expect(suspicion.confirm('y')).toBe(true)
    expect(suspicion.confirm('z')).toBe(false)
    expect(suspicion.deadlineMs()).toBe(9_000)
    suspicion.postpone(500)
    expect(suspicion.deadlineMs()).toBe(9_500)
  })
})

describe('awareness', () => {
  it('saturates in [0, max] and scales timeouts by score + 1', () => {
    const awareness = new Awareness(8)
    awareness.applyDelta(-1)
    expect(awareness.score).toBe(0)
    expect(awareness.scaleMs(500)).toBe(500)
    awareness.applyDelta(3)
    expect(awareness.scaleMs(500)).toBe(2_000)
    awareness.applyDelta(100)
    expect(awareness.score).toBe(8)
    expect(awareness.scaleMs(1_000)).toBe(9_000)
  })

  it('rises on failed probes without nacks and falls on successful probes', () => {
    const network = new TestNetwork()
    const ids = ['a', 'b', 'c']
    for (const id of ids) network.add(makeCore(id, { known: ids }))
    const a = network.cores.get('a.test:7946')!
    network.unreachable.add('b.test:7946')
    network.unreachable.add('c.test:7946')
    network.runUntil(6_000, 0)
    // Every probe failed and no helper answered with a nack: a doubts itself.
    expect(a.awarenessScore).toBeGreaterThan(1)
    const raised = a.awarenessScore
    network.unreachable.clear()
    network.runUntil(120_000, 6_000)
    expect(a.awarenessScore).toBeLessThan(raised)
  })

  it('is fed by event-loop lag, which also postpones pending deadlines', () => {
    const core = makeCore('a', { known: ['a', 'b'] })
    core.reportEventLoopLag(100, 0)
    expect(core.awarenessScore).toBe(0)
    core.reportEventLoopLag(1_500, 0)
    expect(core.awarenessScore).toBe(1)
  })

  it('does not count time the member could not listen against a suspect', () => {
    const core = makeCore('a', { known: ['a', 'b', 'c'] })
    const accusation = framePacket([
      encodePart({ type: 'suspect', incarnation: 0, id: 'b', fromId: 'c' }),
    ])
    core.receivePacket('c.test:7946', accusation, 0)
    expect(core.member('b')?.state).toBe('suspect')
    core.reportEventLoopLag(1_500, 100)
    // n = 3 expects no confirmations, so the timeout is the 4 s minimum, moved by the lag.
    core.tick(4_000)
    expect(core.member('b')?.state).toBe('suspect')
    core.tick(5_500)
    expect(core.member('b')?.state).toBe('dead')
  })
})
