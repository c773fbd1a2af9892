/**
 * A token bucket: the throttle of background work such as hint replay. Tokens accrue at
 * `ratePerSecond` up to `burst`; `delayMs` tells how long to wait before `consume`, so one
 * caller can check several buckets and consume from all of them at once. Pure: time is an argument, so the simulator replays throttled work exactly.
 */

import { assert } from '../env/assert.js'

export class TokenBucket {
  private tokens: number
  private lastMs: number

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    nowMs: number,
  ) {
    assert(ratePerSecond > 0 && Number.isFinite(ratePerSecond), 'rate must be positive')
    assert(burst >= 1 && Number.isFinite(burst), 'burst must be at least 1')
    this.tokens = burst
    this.lastMs = nowMs
  }

  /**
   * Milliseconds until `amount` tokens are available (0 when they are now). An amount above
   * the burst is available once the bucket is full, so a single oversized item is slowed
   * down, never refused forever.
   */
  delayMs(amount: number, nowMs: number): number {
    assert(amount >= 0 && Number.isFinite(amount), `bad token amount ${amount}`)
    this.refill(nowMs)
    const needed = Math.min(amount, this.burst)
    if (this.tokens >= needed) return 0
    return Math.ceil(((needed - this.tokens) / this.ratePerSecond) * 1000)
  }

  /** Takes `amount` tokens; the bucket may go into debt, which later refills repay. */
  consume(amount: number, nowMs: number): void {
    assert(amount >= 0 && Number.isFinite(amount), `bad token amount ${amount}`)
    this.refill(nowMs)
    this.tokens -= amount
  }

  private refill(nowMs: number): void {
    const elapsedMs = Math.max(0, nowMs - this.lastMs)
    this.lastMs = Math.max(this.lastMs, nowMs)
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs / 1000) * this.ratePerSecond)
  }
}
