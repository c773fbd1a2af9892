/**
 * Goal: the in-memory network delivers, loses, delays, reorders and duplicates messages exactly
 * as its policy says, models crashed nodes, fails requests with the same errors as TCP, and is
 * deterministic.
 * Method: a tiny virtual clock in this file (a sorted timer list advanced by hand, letting
 * promise chains settle after each timer) drives a MemoryNetwork; each test scripts messages
 * and checks what handlers saw and how requests settled, at which virtual time.
 */

import { describe, expect, it } from 'vitest'
import type { Clock, Timer } from '../../../src/env/clock.js'
import { MurmurError } from '../../../src/env/errors.js'
import { SeededRandom } from '../../../src/env/random.js'
import type { NodeId } from '../../../src/env/transport.js'
import {
  type DeliveryPolicy,
  MemoryNetwork,
  type MemoryNetworkEvent,
} from '../../../src/runtime/memory-network.js'

interface VirtualTimer {
  readonly atMs: number
  readonly sequence: number
  readonly callback: () => void
  cancelled: boolean
}

/** Resolves once every promise chain started so far has run as far as it can. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

class VirtualClock implements Clock {
  private currentMs = 0
  private sequence = 0
  private timers: VirtualTimer[] = []

  nowMs(): number {
    return this.currentMs
  }

  wallMs(): number {
    return 1_800_000_000_000 + this.currentMs
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    const timer = {
      atMs: this.currentMs + delayMs,
      sequence: this.sequence++,
      callback,
      cancelled: false,
    }
    this.timers.push(timer)
    this.timers.sort((a, b) => a.atMs - b.atMs || a.sequence - b.sequence)
    return {
      cancel: () => {
        timer.cancelled = true
      },
    }
  }

  defer(callback: () => void): void {
    this.setTimer(0, callback)
  }

  /** Runs every timer due within `durationMs`, in order, settling promises after each. */
  async advance(durationMs: number, timersMax = 10_000): Promise<void> {
    const untilMs = this.currentMs + durationMs
    await settle()
    for (let run = 0; run < timersMax; run++) {
      const next = this.timers[0]
      if (next === undefined || next.atMs > untilMs) break
      this.timers.shift()
      if (next.cancelled) continue
      this.currentMs = next.atMs
      next.callback()
      await settle()
    }
    this.currentMs = untilMs
  }
}

/** A request's outcome, captured so tests can check it without awaiting. */
function outcome(promise: Promise<unknown>): {
  value?: unknown
  error?: MurmurError
  settled: boolean
} {
  const result: { value?: unknown; error?: MurmurError; settled: boolean } = { settled: false }
  promise.then(
    (value) => {
      result.value = value
      result.settled = true
    },
    (error: MurmurError) => {
      result.error = error
      result.settled = true
    },
  )
  return result
}

function setup(policy?: DeliveryPolicy, onEvent?: (event: MemoryNetworkEvent) => void) {
  const clock = new VirtualClock()
  const network = new MemoryNetwork({
    clock,
    ...(policy === undefined ? {} : { policy }),
    ...(onEvent === undefined ? {} : { onEvent }),
  })
  const received: { at: number; to: NodeId; from: NodeId; body: unknown }[] = []
  const node = (id: NodeId) => {
    const transport = network.transport(id)
    transport.setHandler((from, body) => {
      received.push({ at: clock.nowMs(), to: id, from, body })
      return { echo: body, by: id }
    })
    return transport
  }
  return { clock, network, received, node }
}

const prompt = { drop: false, delayMs: 0, duplicate: false }

describe('MemoryNetwork', () => {
  it('delivers requests and notifications as copies and returns responses', async () => {
    const { clock, received, node } = setup()
    const a = node('a')
    node('b')
    const body = { key: 'k', tags: ['x'] }
    const answer = outcome(a.request('b', body, 1000))
    body.tags.push('changed after sending')
    a.notify('b', { note: 1 })
    await clock.advance(0)
    expect(answer.value).toEqual({ echo: { key: 'k', tags: ['x'] }, by: 'b' })
    expect(received.map((entry) => entry.body)).toEqual([{ key: 'k', tags: ['x'] }, { note: 1 }])
    expect(received[0]?.body).not.toBe(body)
    expect(received.every((entry) => entry.from === 'a' && entry.to === 'b')).toBe(true)
  })

  it('carries a handler MurmurError back intact and hides foreign errors as internal', async () => {
    const { clock, network } = setup()
    const a = network.transport('a')
    const b = network.transport('b')
    b.setHandler((_from, body) => {
      if (body === 'missing') {
        throw new MurmurError('not_found', 'no such key', { details: { key: 'k' }, definite: true })
      }
      throw new RangeError('index out of range')
    })
    const missing = outcome(a.request('b', 'missing', 1000))
    const broken = outcome(a.request('b', 'broken', 1000))
    await clock.advance(0)
    expect(missing.error).toBeInstanceOf(MurmurError)
    expect(missing.error?.code).toBe('not_found')
    expect(missing.error?.message).toBe('no such key')
    expect(missing.error?.details).toEqual({ key: 'k' })
    expect(missing.error?.definite).toBe(true)
    expect(broken.error?.code).toBe('internal')
    expect(broken.error?.message).toBe('index out of range')
  })

  it('drops what the policy drops, so requests time out', async () => {
    const dropRequests: DeliveryPolicy = (_from, _to, kind) => ({
      ...prompt,
      drop: kind === 'request',
    })
    const { clock, network, received, node } = setup(dropRequests)
    const a = node('a')
    node('b')
    const answer = outcome(a.request('b', 'lost', 250))
    await clock.advance(249)
    expect(answer.settled).toBe(false)
    await clock.advance(1)
    expect(answer.error?.code).toBe('timeout')
    expect(answer.error?.definite).toBe(false)
    expect(received).toEqual([])
    expect(network.stats.dropped).toBe(1)
    expect(a.pendingRequests).toBe(0)
  })

  it('delays each message by its own delay, so later messages can overtake', async () => {
    const delaysMs = [30, 10, 20]
    let calls = 0
    const policy: DeliveryPolicy = () => ({ ...prompt, delayMs: delaysMs[calls++] ?? 0 })
    const { clock, received, node } = setup(policy)
    const a = node('a')
    node('b')
    a.notify('b', 'first')
    a.notify('b', 'second')
    a.notify('b', 'third')
    await clock.advance(15)
    expect(received.map((entry) => entry.body)).toEqual(['second'])
    await clock.advance(15)
    expect(received.map((entry) => [entry.at, entry.body])).toEqual([
      [10, 'second'],
      [20, 'third'],
      [30, 'first'],
    ])
  })

  it('duplicates messages; a duplicated response settles its request once', async () => {
    const policy: DeliveryPolicy = () => ({ ...prompt, delayMs: 5, duplicate: true })
    const { clock, network, received, node } = setup(policy)
    const a = node('a')
    node('b')
    const answer = outcome(a.request('b', 'twice', 1000))
    await clock.advance(10)
    // The request arrived twice, so the handler ran twice; two responses came back.
    expect(received.map((entry) => entry.body)).toEqual(['twice', 'twice'])
    expect(answer.value).toEqual({ echo: 'twice', by: 'b' })
    expect(network.stats.duplicated).toBe(3)
    expect(network.stats.delivered).toBe(3)
  })

  it('tells the other nodes when a node closes its transport, as broken connections would', async () => {
    const { clock, node } = setup()
    const a = node('a')
    const b = node('b')
    const c = node('c')
    const lost: string[] = []
    a.onLinkLost((peer) => lost.push(`a lost ${peer}`))
    b.onLinkLost((peer) => lost.push(`b lost ${peer}`))
    c.onLinkLost((peer) => lost.push(`c lost ${peer}`))
    await c.close()
    expect(lost).toEqual([])
    await clock.advance(0)
    expect(lost).toEqual(['a lost c', 'b lost c'])
  })

  it('models a crashed node: it neither sends nor receives and calls to it time out', async () => {
    const { clock, network, received, node } = setup(() => ({ ...prompt, delayMs: 20 }))
    const a = node('a')
    const b = node('b')
    const inFlight = outcome(a.request('b', 'in flight', 100))
    await clock.advance(10)
    network.setDown('b', true)
    const afterCrash = outcome(a.request('b', 'after crash', 100))
    const fromCrashed = outcome(b.request('a', 'from crashed', 100))
    await clock.advance(100)
    expect(received).toEqual([])
    expect(inFlight.error?.code).toBe('timeout')
    expect(afterCrash.error?.code).toBe('timeout')
    expect(fromCrashed.error?.code).toBe('timeout')
    network.setDown('b', false)
    const recovered = outcome(a.request('b', 'recovered', 100))
    await clock.advance(40)
    expect(recovered.value).toEqual({ echo: 'recovered', by: 'b' })
  })

  it('fails fast for unknown or closed nodes and fails pending requests on close', async () => {
    const { clock, network, node } = setup(() => ({ ...prompt, delayMs: 50 }))
    const a = node('a')
    const b = node('b')
    const unknown = outcome(a.request('nobody', 'x', 100))
    const pending = outcome(a.request('b', 'x', 100))
    await b.close()
    const closedPeer = outcome(a.request('b', 'x', 100))
    await a.close()
    const closedSelf = outcome(a.request('b', 'x', 100))
    await clock.advance(0)
    expect(unknown.error?.code).toBe('unavailable')
    expect(unknown.error?.definite).toBe(true)
    expect(closedPeer.error?.code).toBe('unavailable')
    expect(closedPeer.error?.definite).toBe(true)
    expect(pending.error?.code).toBe('unavailable')
    expect(pending.error?.definite).toBe(false)
    expect(closedSelf.error?.code).toBe('unavailable')
    expect(network.openTransport('a')).toBeUndefined()
  })

  it('delivers nothing meant for a previous incarnation of a restarted node', async () => {
    const { clock, network, received, node } = setup(() => ({ ...prompt, delayMs: 10 }))
    const a = node('a')
    node('b')
    a.notify('b', 'for the old b')
    await network.openTransport('b')?.close()
    node('b')
    a.notify('b', 'for the new b')
    await clock.advance(20)
    expect(received.map((entry) => entry.body)).toEqual(['for the new b'])
  })

  it('replays the same event order from the same seeded policy and clock', async () => {
    const run = async (seed: number): Promise<string[]> => {
      const random = new SeededRandom(seed)
      const policy: DeliveryPolicy = () => ({
        drop: random.chance(0.2),
        delayMs: random.int(50),
        duplicate: random.chance(0.1),
      })
      const log: string[] = []
      const { clock, node } = setup(policy, (event) => {
        log.push(
          `${clock.nowMs()} ${event.type} ${event.from}->${event.to} ${'kind' in event ? event.kind : ''}`,
        )
      })
      const nodes = ['a', 'b', 'c'].map(node)
      for (let round = 0; round < 20; round++) {
        const from = nodes[round % 3]!
        const to = ['a', 'b', 'c'][(round + 1) % 3]!
        const answer = from.request(to, { round }, 200)
        answer.then(
          (value) => log.push(`${clock.nowMs()} answered ${round} ${JSON.stringify(value)}`),
          (error: MurmurError) => log.push(`${clock.nowMs()} failed ${round} ${error.code}`),
        )
        from.notify(to, { round })
        await clock.advance(random.int(10))
      }
      await clock.advance(500)
      return log
    }
    const first = await run(42)
    expect(first.filter((line) => / (answered|failed) /.test(line))).toHaveLength(20)
    expect(await run(42)).toEqual(first)
    expect(await run(43)).not.toEqual(first)
  })
})
