/**
 * Goal: the append hold delays only a leader's appends without entries, for at most its hold
 * time; drops one only when the next message to the same follower is an append of the same
 * term; keeps every follower's messages in order; and runs a timer only while it holds
 * something. Method: route hand-built message sequences on the simulator's virtual clock and
 * record what goes out and when; fast-check generates random sequences of batches and pauses
 * and checks those properties on every one.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Entry, Message } from '../../../src/raft/index.js'
import { AppendHold } from '../../../src/runtime/strong/append-hold.js'
import { Simulation } from '../../sim/simulation.js'

const HOLD_MS = 5

function append(to: string, term: number, entryCount: number, commit = 1): Message {
  const entries: Entry[] = Array.from({ length: entryCount }, (_, offset) => ({
    kind: 'normal',
    index: 10 + offset,
    term,
    data: new Uint8Array([offset]),
  }))
  return { type: 'append', from: 'n1', to, term, index: 9, logTerm: term, entries, commit }
}

function heartbeat(to: string, term: number): Message {
  const context = new Uint8Array(0)
  return { type: 'heartbeat', from: 'n1', to, term, commit: 1, round: 1, context }
}

interface Sent {
  readonly message: Message
  readonly atMs: number
}

function harness() {
  const sim = new Simulation(1)
  const sent: Sent[] = []
  let replaced = 0
  const hold = new AppendHold({
    clock: sim.clock(),
    holdMs: HOLD_MS,
    release: (messages) => {
      for (const message of messages) sent.push({ message, atMs: sim.nowMs })
    },
    onReplaced: () => replaced++,
  })
  const route = (messages: Message[]) => {
    for (const message of hold.route(messages)) sent.push({ message, atMs: sim.nowMs })
  }
  return { sim, sent, hold, route, replacedCount: () => replaced }
}

describe('append hold', () => {
  it('holds an append without entries until its hold time ends', () => {
    const { sim, sent, route } = harness()
    const notice = append('n2', 3, 0)
    route([notice])
    expect(sent).toEqual([])
    sim.runPureFor(HOLD_MS - 1)
    expect(sent).toEqual([])
    sim.runPureFor(1)
    expect(sent).toEqual([{ message: notice, atMs: HOLD_MS }])
    expect(sim.pendingEvents).toBe(0)
  })

  it('drops a held append that the next append of the same term replaces', () => {
    const { sim, sent, route, replacedCount } = harness()
    route([append('n2', 3, 0), append('n3', 3, 0)])
    const next = append('n2', 3, 1, 2)
    route([next])
    sim.runPureFor(HOLD_MS)
    expect(sent.map((each) => each.message)).toEqual([next, append('n3', 3, 0)])
    expect(replacedCount()).toBe(1)
  })

  it('sends a held append ahead of any other message to the same follower', () => {
    const { sent, route } = harness()
    const notice = append('n2', 3, 0)
    route([notice])
    route([heartbeat('n2', 3)])
    expect(sent.map((each) => each.message)).toEqual([notice, heartbeat('n2', 3)])
  })

  it('never drops a held append for an append of another term', () => {
    const { sent, route, replacedCount } = harness()
    const old = append('n2', 3, 0)
    route([old])
    route([append('n2', 4, 1)])
    expect(sent.map((each) => each.message)).toEqual([old, append('n2', 4, 1)])
    expect(replacedCount()).toBe(0)
  })

  it('runs no timer once nothing is held, and drops everything on stop', () => {
    const { sim, sent, hold, route } = harness()
    route([append('n2', 3, 0)])
    route([append('n2', 3, 1)])
    sim.runPureFor(HOLD_MS * 2)
    expect(sent).toHaveLength(1)
    expect(sim.processedEvents).toBe(0)
    route([append('n3', 3, 0)])
    hold.stop()
    sim.runPureFor(HOLD_MS * 2)
    expect(sent).toHaveLength(1)
  })

  it('releases everything at once on request', () => {
    const { sent, hold, route } = harness()
    route([append('n2', 3, 0), append('n3', 3, 0)])
    hold.releaseAll()
    expect(sent.map((each) => each.message.to)).toEqual(['n2', 'n3'])
  })

  it('keeps order, bounds delay and drops only replaced appends, for any sequence', () => {
    const message = fc
      .record({
        to: fc.constantFrom('n2', 'n3', 'n4'),
        term: fc.integer({ min: 3, max: 4 }),
        kind: fc.constantFrom('notice', 'append', 'heartbeat'),
      })
      .map(({ to, term, kind }) => {
        if (kind === 'heartbeat') return heartbeat(to, term)
        return append(to, term, kind === 'notice' ? 0 : 1)
      })
    const step = fc.record({
      batch: fc.array(message, { maxLength: 6 }),
      pauseMs: fc.integer({ min: 0, max: 2 * HOLD_MS }),
    })
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        const { sim, sent, route } = harness()
        const routed: Sent[] = []
        for (const { batch, pauseMs } of steps) {
          for (const each of batch) routed.push({ message: each, atMs: sim.nowMs })
          route(batch)
          sim.runPureFor(pauseMs)
        }
        sim.runPureFor(HOLD_MS)
        checkDelivery(routed, sent)
        expect(sim.pendingEvents).toBe(0)
      }),
      { numRuns: 300 },
    )
  })
})

/** Per follower: `sent` is `routed` in order, minus replaced notices, each within HOLD_MS. */
function checkDelivery(routed: readonly Sent[], sent: readonly Sent[]): void {
  for (const to of new Set(routed.map((each) => each.message.to))) {
    const input = routed.filter((each) => each.message.to === to)
    const output = sent.filter((each) => each.message.to === to)
    let position = 0
    input.forEach((each, index) => {
      const delivered = output[position]
      if (delivered !== undefined && delivered.message === each.message) {
        expect(delivered.atMs - each.atMs).toBeLessThanOrEqual(HOLD_MS)
        position++
        return
      }
      // Only a notice whose successor is an append of the same term may be missing.
      const next = input[index + 1]?.message
      expect(each.message.type === 'append' && each.message.entries.length === 0).toBe(true)
      expect(next?.type === 'append' && next.term === each.message.term).toBe(true)
    })
    expect(position).toBe(output.length)
  }
}
