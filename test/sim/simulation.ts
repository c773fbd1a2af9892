/**
 * The deterministic simulator's heart: a virtual clock and one event queue ordered by
 * (virtual time, sequence number). Every source of nondeterminism a node can see (time, timers,
 * randomness, network delivery, disk) is driven from here, so one seed replays one run exactly.
 *
 * Two ways to run: `runPure` calls events back to back, for pure synchronous cores; `run` also
 * lets every promise chain started by an event settle before the next event, so real node code
 * with async/await runs unchanged (FoundationDB's model). With no real IO in play, microtask
 * order is itself deterministic.
 */

import { assert } from '../../src/env/assert.js'
import type { Clock, Timer } from '../../src/env/clock.js'
import { type Random, SeededRandom } from '../../src/env/random.js'

interface ScheduledEvent {
  readonly atMs: number
  readonly sequence: number
  readonly callback: () => void
  cancelled: boolean
}

/** A binary min-heap of events by (atMs, sequence). */
class EventQueue {
  private readonly heap: ScheduledEvent[] = []

  get size(): number {
    return this.heap.length
  }

  push(event: ScheduledEvent): void {
    this.heap.push(event)
    let index = this.heap.length - 1
    while (index > 0) {
      const parent = (index - 1) >> 1
      if (!this.less(index, parent)) break
      this.swap(index, parent)
      index = parent
    }
  }

  peek(): ScheduledEvent | undefined {
    return this.heap[0]
  }

  pop(): ScheduledEvent | undefined {
    const top = this.heap[0]
    const last = this.heap.pop()
    if (top === undefined || last === undefined) return undefined
    if (this.heap.length > 0) {
      this.heap[0] = last
      this.siftDown(0)
    }
    return top
  }

  private siftDown(start: number): void {
    let index = start
    for (;;) {
      const left = index * 2 + 1
      const right = left + 1
      let smallest = index
      if (left < this.heap.length && this.less(left, smallest)) smallest = left
      if (right < this.heap.length && this.less(right, smallest)) smallest = right
      if (smallest === index) return
      this.swap(index, smallest)
      index = smallest
    }
  }

  private less(a: number, b: number): boolean {
    const left = this.heap[a] as ScheduledEvent
    const right = this.heap[b] as ScheduledEvent
    return left.atMs < right.atMs || (left.atMs === right.atMs && left.sequence < right.sequence)
  }

  private swap(a: number, b: number): void {
    const item = this.heap[a] as ScheduledEvent
    this.heap[a] = this.heap[b] as ScheduledEvent
    this.heap[b] = item
  }
}

/** Resolves after every microtask queued so far (and those they queue) has run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

export interface RunLimits {
  /** Stop once virtual time would pass this instant. */
  readonly untilMs: number
  /** Safety bound on the number of events processed in this call. */
  readonly eventsMax?: number
}

export class Simulation {
  readonly seed: number
  readonly random: Random
  /** The event log: one line per notable event, compared across runs by determinism tests. */
  readonly log: string[] = []
  private readonly queue = new EventQueue()
  private currentMs = 0
  private sequence = 0
  private eventsProcessed = 0

  constructor(seed: number) {
    this.seed = seed
    this.random = new SeededRandom(seed)
  }

  get nowMs(): number {
    return this.currentMs
  }

  get pendingEvents(): number {
    return this.queue.size
  }

  get processedEvents(): number {
    return this.eventsProcessed
  }

  /** Schedules `callback` after `delayMs` of virtual time; returns a cancellable timer. */
  schedule(delayMs: number, callback: () => void): Timer {
    assert(
      Number.isFinite(delayMs) && delayMs >= 0,
      `delay must be a non-negative number, got ${delayMs}`,
    )
    const event: ScheduledEvent = {
      atMs: this.currentMs + delayMs,
      sequence: this.sequence++,
      callback,
      cancelled: false,
    }
    this.queue.push(event)
    return {
      cancel: () => {
        event.cancelled = true
      },
    }
  }

  record(line: string): void {
    this.log.push(`${this.currentMs.toFixed(3)} ${line}`)
  }

  /** A Clock for one node; `skewMs` offsets its wall clock (not its timers) from true time. */
  clock(options: { skewMs?: number; wallEpochMs?: number } = {}): Clock {
    const skewMs = options.skewMs ?? 0
    const wallEpochMs = options.wallEpochMs ?? 1_800_000_000_000
    return {
      nowMs: () => this.currentMs,
      wallMs: () => wallEpochMs + this.currentMs + skewMs,
      setTimer: (delayMs, callback) => this.schedule(Math.max(0, delayMs), callback),
      defer: (callback) => {
        this.schedule(0, callback)
      },
    }
  }

  /** Runs events back to back without letting promises settle: for pure synchronous cores. */
  runPure(limits: RunLimits): number {
    const eventsMax = limits.eventsMax ?? 100_000_000
    let processed = 0
    while (processed < eventsMax) {
      const event = this.takeNext(limits.untilMs)
      if (event === undefined) break
      event.callback()
      processed++
    }
    return processed
  }

  /** Runs events, letting every promise chain settle after each one: for async node code. */
  async run(limits: RunLimits): Promise<number> {
    const eventsMax = limits.eventsMax ?? 10_000_000
    let processed = 0
    await settle()
    while (processed < eventsMax) {
      const event = this.takeNext(limits.untilMs)
      if (event === undefined) break
      event.callback()
      processed++
      await settle()
    }
    return processed
  }

  /** Advances time by `durationMs`, running everything due in between. */
  runFor(durationMs: number, eventsMax?: number): Promise<number> {
    return this.run({
      untilMs: this.currentMs + durationMs,
      ...(eventsMax === undefined ? {} : { eventsMax }),
    })
  }

  runPureFor(durationMs: number, eventsMax?: number): number {
    return this.runPure({
      untilMs: this.currentMs + durationMs,
      ...(eventsMax === undefined ? {} : { eventsMax }),
    })
  }

  /**
   * Runs until `predicate` holds (checked after every event) or the limits are reached.
   * Returns whether the predicate held.
   */
  async runUntil(predicate: () => boolean, limits: RunLimits): Promise<boolean> {
    const eventsMax = limits.eventsMax ?? 10_000_000
    let processed = 0
    await settle()
    while (!predicate()) {
      if (processed >= eventsMax) return false
      const event = this.takeNext(limits.untilMs)
      if (event === undefined) return predicate()
      event.callback()
      processed++
      await settle()
    }
    return true
  }

  /** The pure-core variant of runUntil. */
  runPureUntil(predicate: () => boolean, limits: RunLimits): boolean {
    const eventsMax = limits.eventsMax ?? 100_000_000
    let processed = 0
    while (!predicate()) {
      if (processed >= eventsMax) return false
      const event = this.takeNext(limits.untilMs)
      if (event === undefined) return predicate()
      event.callback()
      processed++
    }
    return true
  }

  /**
   * Pops the next live event due no later than `untilMs` and moves the clock to it. When none
   * is due, moves the clock to `untilMs` (time passes even when nothing happens).
   */
  private takeNext(untilMs: number): ScheduledEvent | undefined {
    for (;;) {
      const next = this.queue.peek()
      if (next === undefined || next.atMs > untilMs) {
        if (Number.isFinite(untilMs) && untilMs > this.currentMs) this.currentMs = untilMs
        return undefined
      }
      this.queue.pop()
      if (next.cancelled) continue
      this.currentMs = next.atMs
      this.eventsProcessed++
      return next
    }
  }
}
