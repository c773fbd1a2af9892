/**
 * Random reachable histories of one key, shared by the versioning property tests. Replicas
 * coordinate writes with contexts taken from earlier client reads, reads merge a subset of
 * replicas as a read coordinator does, and replicas sync pairwise. Only states produced this
 * way are valid inputs to the lattice laws: a dot names one write, and clocks are exact.
 */

import fc from 'fast-check'
import { emptyVersioned, sync, update, type Versioned } from '../../../src/versioning/dvv.js'
import {
  type Dot,
  EMPTY_VECTOR,
  type VersionVector,
} from '../../../src/versioning/version-vector.js'

export type Step =
  | { readonly kind: 'write'; readonly replica: number; readonly readChoice: number }
  | { readonly kind: 'read'; readonly replicas: readonly number[] }
  | { readonly kind: 'sync'; readonly from: number; readonly to: number }

export interface WriteRecord {
  readonly dot: Dot
  readonly context: VersionVector
  readonly payload: string
}

export interface History {
  /** The final state of each replica. */
  readonly replicas: readonly Versioned<string>[]
  /** Every state any replica or read held, in order of creation. */
  readonly snapshots: readonly Versioned<string>[]
  /** Every context handed to a client, in order. */
  readonly reads: readonly VersionVector[]
  readonly writes: readonly WriteRecord[]
}

export const REPLICA_COUNT = 3
export const STEPS_COUNT_MAX = 40
const READ_CHOICES_COUNT = 8

/** The actor of replica `index`: a node name plus a data-directory incarnation. */
export function actorOf(index: number): string {
  return `n${index}.${(0x3f9a + index * 0x101).toString(16)}`
}

export function stepArbitrary(replicaCount = REPLICA_COUNT): fc.Arbitrary<Step> {
  const replica = fc.nat(replicaCount - 1)
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('write' as const),
        replica,
        readChoice: fc.nat(READ_CHOICES_COUNT),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('read' as const),
        replicas: fc.uniqueArray(replica, { minLength: 1, maxLength: replicaCount }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('sync' as const), from: replica, to: replica }),
    },
  )
}

export function historyArbitrary(replicaCount = REPLICA_COUNT): fc.Arbitrary<History> {
  return fc
    .array(stepArbitrary(replicaCount), { maxLength: STEPS_COUNT_MAX, size: 'max' })
    .map((steps) => runHistory(steps, replicaCount))
}

/** The merged state of several replicas, as a read coordinator computes it. */
export function syncAll<T>(states: readonly Versioned<T>[]): Versioned<T> {
  const [first, ...rest] = states
  if (first === undefined) throw new Error('syncAll needs at least one state')
  return rest.reduce((merged, state) => sync(merged, state), first)
}

/**
 * Picks a context from the reads so far: choice 0 is the empty context, and the others count
 * back from the most recent read, so both fresh and stale contexts occur.
 */
function chooseContext(reads: readonly VersionVector[], readChoice: number): VersionVector {
  if (readChoice === 0 || reads.length === 0) return EMPTY_VECTOR
  return reads[Math.max(0, reads.length - readChoice)] ?? EMPTY_VECTOR
}

export function runHistory(steps: readonly Step[], replicaCount = REPLICA_COUNT): History {
  const replicas = Array.from({ length: replicaCount }, () => emptyVersioned<string>())
  const snapshots: Versioned<string>[] = [...replicas]
  const reads: VersionVector[] = []
  const writes: WriteRecord[] = []
  const stateOf = (index: number): Versioned<string> => {
    const state = replicas[index]
    if (state === undefined) throw new Error(`no replica ${index}`)
    return state
  }
  for (const step of steps) {
    if (step.kind === 'write') {
      const context = chooseContext(reads, step.readChoice)
      const payload = `w${writes.length}`
      const result = update(stateOf(step.replica), context, actorOf(step.replica), payload)
      replicas[step.replica] = result.versioned
      snapshots.push(result.versioned)
      writes.push({ dot: result.dot, context, payload })
    } else if (step.kind === 'read') {
      const merged = syncAll(step.replicas.map(stateOf))
      snapshots.push(merged)
      reads.push(merged.clock.vector)
    } else {
      const merged = sync(stateOf(step.to), stateOf(step.from))
      replicas[step.to] = merged
      snapshots.push(merged)
    }
  }
  return { replicas, snapshots, reads, writes }
}
