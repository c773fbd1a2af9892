/**
 * Seed discipline for simulation tests: MURMUR_SEED replays one run; otherwise each test draws
 * a fresh seed and prints it, so any failure names the seed that reproduces it.
 */

import { randomInt } from 'node:crypto'

/** The seed for one simulation run: MURMUR_SEED when set, otherwise a fresh random one. */
export function pickSeed(label: string): number {
  const fromEnv = process.env['MURMUR_SEED']
  const seed = fromEnv === undefined || fromEnv === '' ? randomInt(0, 2 ** 32) : Number(fromEnv)
  if (!Number.isSafeInteger(seed) || seed < 0)
    throw new Error(`MURMUR_SEED must be a non-negative integer, got ${fromEnv}`)
  console.log(`[sim] ${label}: seed=${seed} (replay with MURMUR_SEED=${seed})`)
  return seed
}

/**
 * `count` seeds for a many-seed test (MURMUR_SEED_COUNT overrides the count). The first seed is
 * the base seed, MURMUR_SEED when set, so `MURMUR_SEED=<failing seed> MURMUR_SEED_COUNT=1`
 * replays exactly the run that failed.
 */
export function pickSeeds(label: string, count: number): number[] {
  const countFromEnv = process.env['MURMUR_SEED_COUNT']
  if (countFromEnv !== undefined && countFromEnv !== '') count = Number(countFromEnv)
  if (!Number.isSafeInteger(count) || count < 1)
    throw new Error(`MURMUR_SEED_COUNT must be a positive integer, got ${countFromEnv}`)
  const base = pickSeed(`${label} (base of ${count} seeds)`)
  const seeds: number[] = []
  for (let index = 0; index < count; index++) seeds.push((base + index * 0x9e3779b1) >>> 0)
  return seeds
}

/** Wraps a per-seed check so a failure names its seed. */
export function failureWithSeed(seed: number, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error)
  const wrapped = new Error(
    `seed ${seed}: ${message} (replay with MURMUR_SEED=${seed} MURMUR_SEED_COUNT=1)`,
  )
  if (error instanceof Error && error.stack !== undefined)
    wrapped.stack = `${wrapped.message}\n${error.stack}`
  return wrapped
}
