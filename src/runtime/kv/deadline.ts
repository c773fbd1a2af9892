/**
 * The time budget of one client request, on the node's clock. Code that fans out waits with
 * `until(condition)`, which resolves when the condition holds (checked again on every `poke`)
 * or when the budget runs out, whichever comes first; `remainingMs` bounds each peer request.
 */

import { assert } from '../../env/assert.js'
import type { Clock, Timer } from '../../env/clock.js'

interface Waiter {
  readonly condition: () => boolean
  readonly resolve: () => void
}

export class Deadline {
  readonly atMs: number
  private readonly waiters = new Set<Waiter>()
  private readonly timer: Timer
  private expired = false

  constructor(
    private readonly clock: Clock,
    timeoutMs: number,
  ) {
    assert(Number.isFinite(timeoutMs) && timeoutMs > 0, `bad request timeout ${timeoutMs}`)
    this.atMs = clock.nowMs() + timeoutMs
    this.timer = clock.setTimer(timeoutMs, () => {
      this.expired = true
      this.poke()
    })
  }

  get isExpired(): boolean {
    return this.expired
  }

  /** Time left, at least 1 ms so a peer request can still be made and time out. */
  remainingMs(): number {
    return Math.max(1, Math.ceil(this.atMs - this.clock.nowMs()))
  }

  /** Resolves once `condition` holds or the time is up. */
  until(condition: () => boolean): Promise<void> {
    if (this.expired || condition()) return Promise.resolve()
    return new Promise((resolve) => this.waiters.add({ condition, resolve }))
  }

  /** Re-checks every waiter's condition; call after anything it depends on changed. */
  poke(): void {
    for (const waiter of [...this.waiters]) {
      if (this.expired || waiter.condition()) {
        this.waiters.delete(waiter)
        waiter.resolve()
      }
    }
  }

  /** Stops the timer once nothing will wait any more. */
  cancel(): void {
    this.timer.cancel()
    this.expired = true
    this.poke()
  }
}
