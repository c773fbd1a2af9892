/**
 * The randomness seam: a small, fast, seeded generator (xoshiro128**, seeded through
 * splitmix32). Cores take a Random and never call Math.random, so a simulation run replays
 * exactly from its seed. `fork` derives an independent stream, so adding a node or a consumer
 * does not shift the draws of the others.
 */

import { assert } from './assert.js'

export interface Random {
  /** A uniformly distributed unsigned 32-bit integer. */
  u32(): number
  /** A float in [0, 1). */
  float(): number
  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number
  /** True with probability `probability`. */
  chance(probability: number): boolean
  /** An independent stream derived from this one and `label`. */
  fork(label: string): Random
}

function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) >>> 0
  let z = next
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
  z = (z ^ (z >>> 16)) >>> 0
  return [next, z]
}

/** FNV-1a over the UTF-16 code units of a string, for deriving seeds from labels. */
export function hashLabel(label: string): number {
  let hash = 0x811c9dc5
  for (let index = 0; index < label.length; index++) {
    hash ^= label.charCodeAt(index)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash >>> 0
}

function rotl(value: number, shift: number): number {
  return ((value << shift) | (value >>> (32 - shift))) >>> 0
}

export class SeededRandom implements Random {
  readonly seed: number
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    assert(Number.isSafeInteger(seed), `seed must be an integer, got ${seed}`)
    this.seed = seed >>> 0
    let state = this.seed ^ Math.floor(seed / 0x1_0000_0000)
    let word: number
    ;[state, word] = splitmix32(state)
    this.s0 = word
    ;[state, word] = splitmix32(state)
    this.s1 = word
    ;[state, word] = splitmix32(state)
    this.s2 = word
    ;[state, word] = splitmix32(state)
    this.s3 = word
    // xoshiro must never start from the all-zero state.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  u32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0
    const t = (this.s1 << 9) >>> 0
    this.s2 = (this.s2 ^ this.s0) >>> 0
    this.s3 = (this.s3 ^ this.s1) >>> 0
    this.s1 = (this.s1 ^ this.s2) >>> 0
    this.s0 = (this.s0 ^ this.s3) >>> 0
    this.s2 = (this.s2 ^ t) >>> 0
    this.s3 = rotl(this.s3, 11)
    return result
  }

  float(): number {
    return this.u32() / 0x1_0000_0000
  }

  int(maxExclusive: number): number {
    assert(
      Number.isSafeInteger(maxExclusive) && maxExclusive > 0,
      `int bound must be positive, got ${maxExclusive}`,
    )
    if (maxExclusive <= 0x1_0000_0000) {
      // Rejection sampling keeps the draw exactly uniform.
      const limit = 0x1_0000_0000 - (0x1_0000_0000 % maxExclusive)
      for (;;) {
        const value = this.u32()
        if (value < limit) return value % maxExclusive
      }
    }
    return Math.floor(this.float() * maxExclusive)
  }

  chance(probability: number): boolean {
    assert(
      probability >= 0 && probability <= 1,
      `probability must be in [0, 1], got ${probability}`,
    )
    return this.float() < probability
  }

  fork(label: string): Random {
    return new SeededRandom((this.u32() ^ hashLabel(label)) >>> 0)
  }
}

/** Fisher-Yates shuffle in place, driven by `random`. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = random.int(index + 1)
    const item = items[index] as T
    items[index] = items[other] as T
    items[other] = item
  }
  return items
}

/** A uniformly chosen element; the array must not be empty. */
export function pick<T>(random: Random, items: readonly T[]): T {
  assert(items.length > 0, 'pick from an empty array')
  return items[random.int(items.length)] as T
}
