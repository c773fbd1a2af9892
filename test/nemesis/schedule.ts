/**
 * The nemesis schedule: a list of steps derived from one seed alone, so `MURMUR_SEED` replays
 * the same faults on the same nodes with the same durations (the interleaving with client
 * requests and the processes' own timing still vary from run to run). A step injects one fault,
 * or two at once on different nodes, holds them, heals everything and leaves a healthy gap.
 * The first steps of a schedule cover every fault kind once, in a seeded order.
 */

import { assert } from '../../src/env/assert.js'
import { pick, type Random, SeededRandom, shuffle } from '../../src/env/random.js'

export const FAULT_KINDS = [
  'kill',
  'pause',
  'partition-halves',
  'partition-isolate',
  'partition-asymmetric',
  'wipe',
  'clock-skew',
  'corrupt',
] as const

export type FaultKind = (typeof FAULT_KINDS)[number]

/** Kinds that may run alongside another fault within one step. */
const PAIRABLE: readonly FaultKind[] = [
  'kill',
  'pause',
  'partition-halves',
  'partition-isolate',
  'partition-asymmetric',
  'clock-skew',
]

export interface Fault {
  readonly kind: FaultKind
  /** The node the fault hits (for partitions: the smaller side's first node, or the blocker). */
  readonly node: string
  /** Partitions: the nodes on the target's side (halves) or the peer it blocks (asymmetric). */
  readonly peers: readonly string[]
  /** Clock skew: the wall-clock offset in milliseconds. */
  readonly skewMs: number
}

export interface Step {
  readonly faults: readonly Fault[]
  readonly holdMs: number
  readonly gapMs: number
}

export interface ScheduleOptions {
  readonly seed: number
  readonly nodeIds: readonly string[]
  /** Nodes whose data may be wiped (never a Raft voter: a voter that forgets its log is unsafe). */
  readonly wipeable: readonly string[]
  readonly steps: number
  readonly holdMsMin: number
  readonly holdMsMax: number
}

export function buildSchedule(options: ScheduleOptions): Step[] {
  assert(options.steps >= 1 && options.steps <= 10_000, 'steps out of range')
  assert(options.nodeIds.length >= 3, 'a nemesis needs at least three nodes')
  const random = new SeededRandom(options.seed).fork('schedule')
  const kinds = shuffle(random, [...FAULT_KINDS])
  const steps: Step[] = []
  for (let index = 0; index < options.steps; index++) {
    const kind = kinds[index] ?? pick(random, FAULT_KINDS)
    const first = fault(random, kind, options, [])
    const faults = [first]
    if (index >= kinds.length && PAIRABLE.includes(kind) && random.chance(0.35)) {
      const second = pick(
        random,
        PAIRABLE.filter((candidate) => !(isPartition(candidate) && isPartition(kind))),
      )
      faults.push(fault(random, second, options, [first.node, ...first.peers]))
    }
    const span = options.holdMsMax - options.holdMsMin
    steps.push({
      faults,
      holdMs: options.holdMsMin + random.int(span + 1),
      gapMs: 500 + random.int(1000),
    })
  }
  return steps
}

export function isPartition(kind: FaultKind): boolean {
  return kind.startsWith('partition')
}

function fault(
  random: Random,
  kind: FaultKind,
  options: ScheduleOptions,
  busy: readonly string[],
): Fault {
  const free = options.nodeIds.filter((id) => !busy.includes(id))
  const candidates = kind === 'wipe' ? options.wipeable : free
  const node = pick(random, candidates.length > 0 ? candidates : options.nodeIds)
  const others = options.nodeIds.filter((id) => id !== node)
  switch (kind) {
    case 'partition-halves': {
      // The minority side: the target and one other node (two of five).
      const partner = pick(random, others)
      return { kind, node, peers: [partner], skewMs: 0 }
    }
    case 'partition-asymmetric':
      return { kind, node, peers: [pick(random, others)], skewMs: 0 }
    case 'clock-skew': {
      const magnitudeMs = 5_000 + random.int(55_000)
      return { kind, node, peers: [], skewMs: random.chance(0.5) ? magnitudeMs : -magnitudeMs }
    }
    default:
      return { kind, node, peers: [], skewMs: 0 }
  }
}

/** One line per step, for the log and the JSON summary. */
export function describeStep(step: Step): string {
  const faults = step.faults.map((fault) => {
    const peers = fault.peers.length > 0 ? `+${fault.peers.join('+')}` : ''
    const skew = fault.kind === 'clock-skew' ? `(${fault.skewMs}ms)` : ''
    return `${fault.kind}:${fault.node}${peers}${skew}`
  })
  return `${faults.join(' & ')} hold ${step.holdMs}ms`
}
