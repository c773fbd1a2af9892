/**
 * Goal: dotted version vectors lose no acknowledged write and do not explode siblings.
 * Method: (1) random histories of several replicas and clients, then a full sync, checked
 * against the exact rule "a write survives unless some write's context covered it". (2) The
 * Riak sibling-explosion scenario: k clients doing read-modify-write through random
 * coordinators with N=3, W=2, R=2, run both on DVV and on a small reference model of plain
 * server-actor version vectors (Riak before 2.0). DVV stays within one sibling per client;
 * the reference model, as a negative control, exceeds k on the same schedules.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Random, SeededRandom } from '../../../src/env/random.js'
import {
  compare,
  context,
  emptyVersioned,
  payloads,
  sync,
  update,
  type Versioned,
} from '../../../src/versioning/dvv.js'
import {
  type Actor,
  dotKey,
  EMPTY_VECTOR,
  type VersionVector,
  vectorCovers,
  vectorDescends,
  vectorGet,
  vectorJoin,
  vectorWithDot,
} from '../../../src/versioning/version-vector.js'
import { actorOf, historyArbitrary, syncAll } from './histories.js'

describe('no lost writes', () => {
  it('keeps every write no context covered, and only those, after a full sync', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }).chain(historyArbitrary), (history) => {
        const merged = syncAll(history.replicas)
        const present = new Map(merged.siblings.map((sibling) => [dotKey(sibling.dot), sibling]))
        for (const written of history.writes) {
          const superseded = history.writes.some((other) =>
            vectorCovers(other.context, written.dot),
          )
          const sibling = present.get(dotKey(written.dot))
          expect(sibling !== undefined).toBe(!superseded)
          if (sibling !== undefined) expect(sibling.payload).toBe(written.payload)
        }
        expect(merged.siblings.length).toBeLessThanOrEqual(history.writes.length)
        for (const replica of history.replicas) {
          expect(compare(sync(replica, merged), merged)).toBe('equal')
        }
      }),
      { numRuns: 300 },
    )
  })
})

/** One client's write, the payload of the explosion scenario. */
interface WriteTag {
  readonly client: number
  readonly sequence: number
}

/** A versioning scheme as the scenario drives it: put at a coordinator, merge replicas. */
interface VersioningModel<S> {
  empty(): S
  put(local: S, seen: VersionVector, actor: Actor, tag: WriteTag): S
  merge(a: S, b: S): S
  context(state: S): VersionVector
  values(state: S): readonly WriteTag[]
}

const dvvModel: VersioningModel<Versioned<WriteTag>> = {
  empty: () => emptyVersioned(),
  put: (local, seen, actor, tag) => update(local, seen, actor, tag).versioned,
  merge: sync,
  // Plain updates never leave cloud dots, so the vector is the whole context.
  context: (state) => context(state).vector,
  values: payloads,
}

/**
 * Reference model of plain server-actor version vectors: one clock per key and no dots. A
 * write whose context has seen the whole local clock replaces every sibling; otherwise the
 * coordinator cannot tell which siblings the client saw, so it keeps them all.
 */
interface PlainState {
  readonly clock: VersionVector
  readonly values: readonly WriteTag[]
}

const plainModel: VersioningModel<PlainState> = {
  empty: () => ({ clock: EMPTY_VECTOR, values: [] }),
  put: (local, seen, actor, tag) => {
    const counter = Math.max(vectorGet(local.clock, actor), vectorGet(seen, actor)) + 1
    const clock = vectorWithDot(vectorJoin(local.clock, seen), { actor, counter })
    const values = vectorDescends(seen, local.clock) ? [tag] : [...local.values, tag]
    return { clock, values }
  },
  merge: (a, b) => {
    if (vectorDescends(a.clock, b.clock)) return a
    if (vectorDescends(b.clock, a.clock)) return b
    const values = [...a.values]
    for (const tag of b.values) {
      if (!values.some((held) => held.client === tag.client && held.sequence === tag.sequence)) {
        values.push(tag)
      }
    }
    return { clock: vectorJoin(a.clock, b.clock), values }
  },
  context: (state) => state.clock,
  values: (state) => state.values,
}

/** One scheduling decision: which client acts, where, and whether anti-entropy runs. */
interface ScenarioStep {
  readonly client: number
  readonly coordinator: number
  readonly quorumChoice: number
  readonly antiEntropy: readonly [number, number] | null
}

const REPLICAS = 3

interface ScenarioResult {
  readonly siblingsCountMax: number
  /** True when some replica ever held two siblings from the same client. */
  readonly clientRepeated: boolean
}

/**
 * Runs the read-modify-write scenario: a client without a context reads from R=2 replicas,
 * a client with one writes through the step's coordinator and replicates to one more replica
 * (W=2). R+W>N, so every read sees the reader's own previous write.
 */
function runScenario<S>(
  model: VersioningModel<S>,
  clientsCount: number,
  steps: readonly ScenarioStep[],
): ScenarioResult {
  const replicas: S[] = Array.from({ length: REPLICAS }, () => model.empty())
  const contexts: Array<VersionVector | undefined> = Array.from(
    { length: clientsCount },
    () => undefined,
  )
  const sequences = Array.from({ length: clientsCount }, () => 0)
  const at = (index: number): S => replicas[index % REPLICAS] as S
  let siblingsCountMax = 0
  let clientRepeated = false
  for (const step of steps) {
    const client = step.client % clientsCount
    const seen = contexts[client]
    if (seen === undefined) {
      const skipped = step.quorumChoice % REPLICAS
      contexts[client] = model.context(model.merge(at(skipped + 1), at(skipped + 2)))
    } else {
      const coordinator = step.coordinator % REPLICAS
      const sequence = (sequences[client] ?? 0) + 1
      sequences[client] = sequence
      const written = model.put(at(coordinator), seen, actorOf(coordinator), { client, sequence })
      replicas[coordinator] = written
      const target = (coordinator + 1 + (step.quorumChoice % 2)) % REPLICAS
      replicas[target] = model.merge(at(target), written)
      contexts[client] = undefined
    }
    if (step.antiEntropy !== null) {
      const [from, to] = step.antiEntropy
      replicas[to % REPLICAS] = model.merge(at(to), at(from))
    }
    for (const replica of replicas) {
      const clients = model.values(replica).map((tag) => tag.client)
      siblingsCountMax = Math.max(siblingsCountMax, clients.length)
      if (new Set(clients).size !== clients.length) clientRepeated = true
    }
  }
  return { siblingsCountMax, clientRepeated }
}

const stepArbitrary: fc.Arbitrary<ScenarioStep> = fc.record({
  client: fc.nat(15),
  coordinator: fc.nat(REPLICAS - 1),
  quorumChoice: fc.nat(5),
  antiEntropy: fc.option(fc.tuple(fc.nat(REPLICAS - 1), fc.nat(REPLICAS - 1)), { freq: 4 }),
})

function randomSteps(random: Random, count: number): ScenarioStep[] {
  return Array.from({ length: count }, () => ({
    client: random.int(16),
    coordinator: random.int(REPLICAS),
    quorumChoice: random.int(6),
    antiEntropy: random.chance(0.2) ? [random.int(REPLICAS), random.int(REPLICAS)] : null,
  }))
}

describe('no sibling explosion', () => {
  it('keeps at most one sibling per client under interleaved read-modify-write', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(stepArbitrary, { maxLength: 200, size: 'max' }),
        (clientsCount, steps) => {
          const result = runScenario(dvvModel, clientsCount, steps)
          expect(result.clientRepeated).toBe(false)
          expect(result.siblingsCountMax).toBeLessThanOrEqual(clientsCount)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('negative control: plain server-actor vectors exceed k on the same schedules', () => {
    const clientsCount = 3
    for (let seed = 1; seed <= 20; seed++) {
      const steps = randomSteps(new SeededRandom(seed), 300)
      const dvv = runScenario(dvvModel, clientsCount, steps)
      const plain = runScenario(plainModel, clientsCount, steps)
      expect(dvv.siblingsCountMax, `seed ${seed}`).toBeLessThanOrEqual(clientsCount)
      expect(plain.siblingsCountMax, `seed ${seed}`).toBeGreaterThan(clientsCount)
    }
  })

  it('replays the classic two-client interleaving: DVV holds 2 siblings, plain vectors grow', () => {
    // Each round, A reads; B writes with the context of its previous read; B reads; A writes.
    // Every write lands after another client's write, so every write is concurrent with one.
    const rounds = 10
    const run = <S>(model: VersioningModel<S>): number[] => {
      let state = model.empty()
      let contextB = model.context(state)
      const counts: number[] = []
      for (let round = 1; round <= rounds; round++) {
        const contextA = model.context(state)
        state = model.put(state, contextB, actorOf(0), { client: 1, sequence: round })
        contextB = model.context(state)
        state = model.put(state, contextA, actorOf(0), { client: 0, sequence: round })
        counts.push(model.values(state).length)
      }
      return counts
    }
    expect(run(dvvModel)).toEqual(Array.from({ length: rounds }, () => 2))
    expect(run(plainModel)).toEqual(Array.from({ length: rounds }, (_, index) => 2 * (index + 1)))
  })
})
