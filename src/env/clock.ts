/**
 * The time seam. Pure cores never read a clock: they take `nowMs` as an argument. The runtime
 * around them owns a Clock, which in production is the process's monotonic clock and real
 * timers and in the simulator is a virtual clock driven by the event queue (test/sim).
 */

import { assert } from './assert.js'

export interface Timer {
  /** Cancels the timer; calling it after the timer fired, or twice, does nothing. */
  cancel(): void
}

export interface Clock {
  /** Milliseconds on a monotonic clock; never goes backwards. Only differences are meaningful. */
  nowMs(): number
  /** Milliseconds since the Unix epoch, for display and for deadlines that outlive a process. */
  wallMs(): number
  /** Runs `callback` once, no earlier than `delayMs` from now. */
  setTimer(delayMs: number, callback: () => void): Timer
  /** Runs `callback` after the work of the current event-loop turn (group commit uses it). */
  defer(callback: () => void): void
}

/** The production clock: performance.now(), Date.now() and Node's timers. */
export class SystemClock implements Clock {
  nowMs(): number {
    return performance.now()
  }

  wallMs(): number {
    return Date.now()
  }

  setTimer(delayMs: number, callback: () => void): Timer {
    // Timers never keep the process alive on their own: servers and sockets do.
    const handle = setTimeout(callback, Math.max(0, delayMs))
    handle.unref()
    return { cancel: () => clearTimeout(handle) }
  }

  defer(callback: () => void): void {
    setImmediate(callback)
  }
}

/**
 * The production clock with an adjustable offset on the wall clock only, for fault injection
 * (src/runtime/faults.ts): a node whose `wallMs` runs ahead or behind the others, as with a
 * misconfigured NTP daemon. The monotonic clock and the timers are left alone, because a real
 * skewed node still measures intervals correctly; only features that read the wall clock
 * (tombstone times, CRDT idempotency marks, Raft command stamps for lock expiry, status
 * timestamps) see the skew.
 */
export class SkewableClock extends SystemClock {
  private skewMs = 0

  override wallMs(): number {
    return Date.now() + this.skewMs
  }

  /** The current offset of `wallMs` from the system's wall clock, in milliseconds. */
  wallSkewMs(): number {
    return this.skewMs
  }

  /** Sets the offset; 0 restores the system's wall clock. */
  setWallSkewMs(skewMs: number): void {
    assert(Number.isSafeInteger(skewMs), `wall clock skew must be an integer, got ${skewMs}`)
    this.skewMs = skewMs
  }
}
