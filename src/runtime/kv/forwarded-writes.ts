/**
 * Runs each forwarded write once. A node that forwards a write to a primary tags the request
 * with a forward id unique to its incarnation; the primary remembers the answer (settled or
 * still in flight) of every forward id it ran, and a second copy of the same request, which a
 * network may deliver, gets that answer instead of coordinating the write again.
 *
 * Why it matters: coordinating a write mints a dot. Two copies of one write would become two
 * siblings holding the same value with different dots; a client that read only one of them and
 * then deleted or overwrote the key with that context would leave the other behind, so the
 * value it superseded would come back.
 *
 * Bounds: at most `countMax` ids, each kept `retainMs` after it arrived (far longer than any
 * network delivers a copy late); the oldest are forgotten first. A copy that arrives after its
 * id was forgotten, or at a restarted primary, runs again; the transports never deliver
 * messages of a previous incarnation, so only an extremely late copy could.
 */

import { assert } from '../../env/assert.js'
import type { Clock } from '../../env/clock.js'

interface Remembered {
  readonly answer: Promise<unknown>
  readonly arrivedAtMs: number
}

export class ForwardedWrites {
  /** Insertion order is arrival order, so the oldest entries come first. */
  private readonly remembered = new Map<string, Remembered>()

  constructor(
    private readonly clock: Clock,
    private readonly retainMs: number,
    private readonly countMax: number,
  ) {
    assert(retainMs > 0, 'retainMs must be positive')
    assert(Number.isInteger(countMax) && countMax > 0, 'countMax must be a positive integer')
  }

  /**
   * Runs `work` for the first copy of `forwardId`; later copies share its answer and are
   * reported as duplicates.
   */
  run<T>(forwardId: string, work: () => Promise<T>): { answer: Promise<T>; duplicate: boolean } {
    const nowMs = this.clock.nowMs()
    this.forget(nowMs)
    const known = this.remembered.get(forwardId)
    if (known !== undefined) return { answer: known.answer as Promise<T>, duplicate: true }
    const answer = work()
    // The first copy's caller observes a rejection; copies observe it through their own await.
    answer.catch(() => undefined)
    this.remembered.set(forwardId, { answer, arrivedAtMs: nowMs })
    if (this.remembered.size > this.countMax) this.forgetOldest()
    return { answer, duplicate: false }
  }

  get size(): number {
    return this.remembered.size
  }

  private forget(nowMs: number): void {
    for (const [id, entry] of this.remembered) {
      if (entry.arrivedAtMs + this.retainMs > nowMs) return
      this.remembered.delete(id)
    }
  }

  private forgetOldest(): void {
    for (const id of this.remembered.keys()) {
      this.remembered.delete(id)
      return
    }
  }
}
