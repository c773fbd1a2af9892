/**
 * Lifeguard's dynamic suspicion timeout ("dogpile"), after memberlist's suspicion.go. A
 * suspicion starts at the maximum timeout and shrinks logarithmically towards the minimum as
 * independent members confirm it, so a lone (possibly unhealthy) accuser waits long while a
 * crash seen by many is declared quickly. Each confirmer counts once; the first accuser and the
 * suspect itself never count as confirmations.
 */

import { assert } from '../env/assert.js'
import type { MemberId } from './member.js'

export interface SuspicionBounds {
  /** suspicionMult · max(1, log10 n) · probeIntervalMs. */
  readonly minMs: number
  /** suspicionMaxTimeoutMult · minMs. */
  readonly maxMs: number
  /** Confirmations expected before the timeout reaches the minimum. */
  readonly confirmationsExpected: number
}

/** The bounds for a cluster of `memberCount` members, exactly as memberlist computes them. */
export function suspicionBounds(
  config: {
    readonly suspicionMult: number
    readonly suspicionMaxTimeoutMult: number
    readonly probeIntervalMs: number
  },
  memberCount: number,
): SuspicionBounds {
  assert(Number.isSafeInteger(memberCount) && memberCount >= 1, 'member count must be positive')
  // memberlist truncates the node scale to thousandths before multiplying.
  const nodeScaleMilli = Math.floor(Math.max(1, Math.log10(memberCount)) * 1000)
  const minMs = Math.floor((config.suspicionMult * nodeScaleMilli * config.probeIntervalMs) / 1000)
  const maxMs = config.suspicionMaxTimeoutMult * minMs
  let confirmationsExpected = config.suspicionMult - 2
  if (memberCount - 2 < confirmationsExpected) confirmationsExpected = 0
  return { minMs, maxMs, confirmationsExpected: Math.max(0, confirmationsExpected) }
}

/** The timeout after `confirmations` independent confirmations. */
export function suspicionTimeoutMs(bounds: SuspicionBounds, confirmations: number): number {
  assert(Number.isSafeInteger(confirmations) && confirmations >= 0, 'bad confirmation count')
  if (bounds.confirmationsExpected < 1) return bounds.minMs
  const fraction = Math.log(confirmations + 1) / Math.log(bounds.confirmationsExpected + 1)
  const raw = bounds.maxMs - fraction * (bounds.maxMs - bounds.minMs)
  return Math.max(bounds.minMs, Math.floor(raw))
}

export class Suspicion {
  private readonly confirmers = new Set<MemberId>()
  private startMs: number

  constructor(
    readonly suspectId: MemberId,
    accuserId: MemberId,
    startMs: number,
    private readonly bounds: SuspicionBounds,
  ) {
    assert(Number.isFinite(startMs), 'suspicion start must be finite')
    this.startMs = startMs
    this.confirmers.add(accuserId)
  }

  /** Independent confirmations so far, excluding the first accuser. */
  get confirmations(): number {
    return this.confirmers.size - 1
  }

  /** Counts a confirmation; false when it is a repeat or no longer changes the timeout. */
  confirm(fromId: MemberId): boolean {
    if (fromId === this.suspectId || this.confirmers.has(fromId)) return false
    if (this.confirmations >= this.bounds.confirmationsExpected) return false
    this.confirmers.add(fromId)
    return true
  }

  deadlineMs(): number {
    return this.startMs + suspicionTimeoutMs(this.bounds, this.confirmations)
  }

  /** Moves the deadline later: time the local member could not listen does not count. */
  postpone(delayMs: number): void {
    assert(delayMs >= 0, 'postpone by a negative delay')
    this.startMs += delayMs
  }
}
