/**
 * Seeded network faults for the simulator: loss, random delay (which reorders), duplication,
 * symmetric partitions and one-way link cuts. One policy object serves both simulated networks
 * (the peer request network and the gossip packet network), keyed by endpoint name.
 */

import { assert } from '../../src/env/assert.js'
import type { Random } from '../../src/env/random.js'

export interface LinkDecision {
  readonly drop: boolean
  readonly delayMs: number
  readonly duplicate: boolean
}

export interface FaultRates {
  /** Probability that a message is lost. */
  readonly lossProbability: number
  /** Probability that a delivered message is delivered twice. */
  readonly duplicateProbability: number
  /** Delay bounds; a uniform draw in between reorders messages in flight. */
  readonly delayMsMin: number
  readonly delayMsMax: number
}

export const NO_FAULTS: FaultRates = {
  lossProbability: 0,
  duplicateProbability: 0,
  delayMsMin: 0,
  delayMsMax: 0,
}

export class NetworkFaults {
  private rates: FaultRates
  private readonly random: Random
  /** endpoint → partition group; endpoints in different groups cannot talk. */
  private groups = new Map<string, number>()
  private readonly cutLinks = new Set<string>()
  private readonly endpointAlias = new Map<string, string>()

  constructor(random: Random, rates: FaultRates = NO_FAULTS) {
    this.random = random
    this.rates = rates
    this.checkRates(rates)
  }

  setRates(rates: FaultRates): void {
    this.checkRates(rates)
    this.rates = rates
  }

  get currentRates(): FaultRates {
    return this.rates
  }

  /** Lets a second name (e.g. a gossip address) stand for the same endpoint in partitions. */
  alias(name: string, endpoint: string): void {
    this.endpointAlias.set(name, endpoint)
  }

  /** Splits endpoints into groups that cannot reach each other; unlisted endpoints reach all. */
  partition(groups: readonly (readonly string[])[]): void {
    this.groups = new Map()
    groups.forEach((group, index) => {
      for (const endpoint of group) this.groups.set(endpoint, index)
    })
  }

  /** Cuts every link to and from `endpoint`. */
  isolate(endpoint: string, others: readonly string[]): void {
    this.partition([[endpoint], others.filter((other) => other !== endpoint)])
  }

  /** Cuts the one-way link from → to. */
  cut(from: string, to: string): void {
    this.cutLinks.add(`${from}\u0000${to}`)
  }

  heal(): void {
    this.groups = new Map()
    this.cutLinks.clear()
  }

  connected(from: string, to: string): boolean {
    const source = this.endpointAlias.get(from) ?? from
    const target = this.endpointAlias.get(to) ?? to
    if (this.cutLinks.has(`${source}\u0000${target}`)) return false
    const sourceGroup = this.groups.get(source)
    const targetGroup = this.groups.get(target)
    return sourceGroup === undefined || targetGroup === undefined || sourceGroup === targetGroup
  }

  /** The fate of one message from → to. Always draws the same number of random values. */
  decide(from: string, to: string): LinkDecision {
    const lossDraw = this.random.float()
    const duplicateDraw = this.random.float()
    const delayDraw = this.random.float()
    const { lossProbability, duplicateProbability, delayMsMin, delayMsMax } = this.rates
    return {
      drop: !this.connected(from, to) || lossDraw < lossProbability,
      duplicate: duplicateDraw < duplicateProbability,
      delayMs: delayMsMin + delayDraw * (delayMsMax - delayMsMin),
    }
  }

  private checkRates(rates: FaultRates): void {
    assert(
      rates.lossProbability >= 0 && rates.lossProbability <= 1,
      'loss probability out of range',
    )
    assert(
      rates.duplicateProbability >= 0 && rates.duplicateProbability <= 1,
      'duplicate probability out of range',
    )
    assert(
      rates.delayMsMin >= 0 && rates.delayMsMax >= rates.delayMsMin,
      'delay bounds out of order',
    )
  }
}
