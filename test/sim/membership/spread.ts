/**
 * Helpers shared by the membership simulations: tracking how far a piece of news has spread
 * (which members have seen it, first and last time), and the dissemination bound the tests
 * assert, derived from push gossip's growth.
 */

import type { MemberId } from '../../../src/membership/member.js'
import type { MembershipEvent } from '../../../src/membership/membership.js'
import type { MembershipCluster } from './cluster.js'

export class Spread {
  readonly observers = new Set<MemberId>()
  firstMs = Number.NaN
  lastMs = Number.NaN

  constructor(
    cluster: MembershipCluster,
    private readonly matches: (event: MembershipEvent) => boolean,
  ) {
    cluster.onEvent((observer, event) => {
      if (!this.matches(event) || this.observers.has(observer)) return
      this.observers.add(observer)
      if (Number.isNaN(this.firstMs)) this.firstMs = cluster.sim.nowMs
      this.lastMs = cluster.sim.nowMs
    })
  }

  get count(): number {
    return this.observers.size
  }

  /** Gossip rounds from `startMs` until the last observer saw the news. */
  roundsSince(startMs: number, gossipIntervalMs: number): number {
    return (this.lastMs - startMs) / gossipIntervalMs
  }
}

/**
 * Rounds within which push gossip with fan-out `fanout` and loss `loss` reaches n members: the
 * informed set grows by a factor of about (1 + f) per round until it covers the cluster
 * (log_{1+f} n rounds), then each remaining member is missed with probability about e^-f per
 * round (ln n / f rounds for the last one), with f = fanout · (1 − loss); plus three rounds for
 * the update to reach its first gossip tick and the random phases of the ticks.
 */
export function disseminationRoundsBound(n: number, fanout: number, loss: number): number {
  const effective = fanout * (1 - loss)
  return Math.ceil(Math.log(n) / Math.log(1 + effective) + Math.log(n) / effective) + 3
}
