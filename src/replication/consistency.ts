/**
 * Consistency levels: how many replicas must answer a read (`r`, `pr`) or acknowledge a write
 * (`w`, `pw`). A level is a name (`one | two | three | quorum | all`) or a number; it resolves
 * against a keyspace's replica count N. Shared by the config loader (keyspace defaults) and
 * the REST layer (per-request parameters), so both accept and reject exactly the same inputs.
 * `resolveRequirement` turns a request's parameters into the counts a quorum tally checks.
 */

import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'

export const LEVEL_NAMES = ['one', 'two', 'three', 'quorum', 'all'] as const
export type LevelName = (typeof LEVEL_NAMES)[number]
export type ConsistencyLevel = LevelName | number

export const REPLICAS_MAX = 7

/** Parses a level from user input; undefined when it is not a level at all. */
export function parseLevel(raw: string | number): ConsistencyLevel | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? raw : undefined
  const lowered = raw.trim().toLowerCase()
  if ((LEVEL_NAMES as readonly string[]).includes(lowered)) return lowered as LevelName
  if (/^[0-9]{1,3}$/.test(lowered)) return Number(lowered)
  return undefined
}

export function quorumOf(replicas: number): number {
  assert(
    Number.isSafeInteger(replicas) && replicas >= 1,
    `replica count must be positive, got ${replicas}`,
  )
  return Math.floor(replicas / 2) + 1
}

/** The number of replicas a level needs out of `replicas`; may exceed `replicas` (invalid). */
export function levelCount(level: ConsistencyLevel, replicas: number): number {
  switch (level) {
    case 'one':
      return 1
    case 'two':
      return 2
    case 'three':
      return 3
    case 'quorum':
      return quorumOf(replicas)
    case 'all':
      return replicas
    default:
      return level
  }
}

/**
 * Why `level` cannot be used with `replicas` replicas, or undefined when it can. `allowZero`
 * admits 0, which `pr`/`pw` use to mean "no primary requirement".
 */
export function levelProblem(
  level: ConsistencyLevel,
  replicas: number,
  allowZero = false,
): string | undefined {
  const count = levelCount(level, replicas)
  if (count < (allowZero ? 0 : 1)) return `level ${level} must be at least ${allowZero ? 0 : 1}`
  if (count > replicas)
    return `level ${level} needs ${count} replicas but the keyspace has ${replicas}`
  return undefined
}

/** How many answers (reads) or acknowledgements (writes) a request needs. */
export interface Requirement {
  /** Replicas that must answer or acknowledge, fallbacks included. */
  readonly total: number
  /** Of those, how many must be primary replicas. */
  readonly primaries: number
}

/** The consistency parameters of one request, as raw text from its query string. */
export interface LevelParameters {
  readonly level?: string | undefined
  readonly primaryLevel?: string | undefined
  /** The `consistency` shorthand; the specific parameter wins when both are given. */
  readonly shorthand?: string | undefined
}

/**
 * The requirement of one read or write against a keyspace of `replicas` replicas whose
 * default level is `fallback`. Throws MurmurError('invalid_consistency') naming the parameter
 * for a level that is not a level, is below 1 (below 0 for the primary level) or above N.
 */
export function resolveRequirement(
  parameters: LevelParameters,
  names: { readonly level: string; readonly primaryLevel: string },
  replicas: number,
  fallback: ConsistencyLevel,
): Requirement {
  const chosen = parameters.level ?? parameters.shorthand
  const name = parameters.level === undefined ? 'consistency' : names.level
  const total =
    chosen === undefined ? levelCount(fallback, replicas) : parsed(chosen, name, replicas)
  const primaries =
    parameters.primaryLevel === undefined
      ? 0
      : parsed(parameters.primaryLevel, names.primaryLevel, replicas, true)
  return { total, primaries }
}

function parsed(raw: string, name: string, replicas: number, allowZero = false): number {
  const level = parseLevel(raw)
  if (level === undefined) {
    throw new MurmurError(
      'invalid_consistency',
      `${name}=${raw.slice(0, 32)} is not a level: use one, two, three, quorum, all or a number`,
      { details: { parameter: name }, definite: true },
    )
  }
  const problem = levelProblem(level, replicas, allowZero)
  if (problem !== undefined) {
    throw new MurmurError('invalid_consistency', `${name}: ${problem}`, {
      details: { parameter: name, replicas },
      definite: true,
    })
  }
  return levelCount(level, replicas)
}
