/**
 * Lifeguard's local health multiplier (memberlist's awareness.go). A saturating score in
 * [0, max]: failed probes, missing nacks, refuting a suspicion about oneself and event-loop lag
 * raise it; successful probes lower it. Probe intervals and timeouts are scaled by score + 1, so
 * a member that cannot trust its own timing accuses others more slowly.
 */

import { assert } from '../env/assert.js'

export class Awareness {
  private current = 0

  constructor(private readonly scoreMax: number) {
    assert(
      Number.isSafeInteger(scoreMax) && scoreMax >= 0,
      'awareness max must be a non-negative integer',
    )
  }

  get score(): number {
    return this.current
  }

  applyDelta(delta: number): void {
    assert(Number.isSafeInteger(delta), 'awareness delta must be an integer')
    this.current = Math.min(this.scoreMax, Math.max(0, this.current + delta))
  }

  scaleMs(durationMs: number): number {
    return durationMs * (this.current + 1)
  }
}
