/**
 * Goal: the ORSWOT has add-wins observed-remove semantics, applies deferred removes once the
 * adds they saw arrive, keeps canonical metadata, and does not grow under add/remove churn.
 *
 * Method: a reference model (an OR-Set with tombstones, where a tag is a dot, an add
 * tombstones the tags it observed, and a context remove tombstones every tag of the element
 * the context covers) runs in lockstep with random worlds (worlds.ts) and must show the same
 * elements at every replica after every step, including deltas delivered in any order.
 * Targeted properties check add-wins, observed-remove and deferral on random reachable
 * states; a seeded 10,000-cycle churn run bounds the encoded size; examples pin the API.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Orswot from '../../../src/crdt/orswot.js'
import { SeededRandom } from '../../../src/env/random.js'
import { contextCovers } from '../../../src/versioning/dot-context.js'
import {
  type Dot,
  dotKey,
  type VersionVector,
  vectorCovers,
  vectorDescends,
  vectorFromEntries,
  vectorGet,
} from '../../../src/versioning/version-vector.js'
import { encode as encodeMsgpack } from '../../../src/wire/codec.js'
import {
  ACTORS,
  commandsArbitrary,
  ELEMENTS,
  orswotType,
  quiesce,
  resolveContext,
  runWorld,
  type SetOperation,
  type WorldObserver,
  worldArbitrary,
} from './worlds.js'

const RUNS = 120

interface ModelReplica {
  /** dotKey → the add that dot names. */
  readonly adds: Map<string, { readonly dot: Dot; readonly element: string }>
  /** Tombstoned dots. */
  readonly removed: Set<string>
  /** Context removes: every add of `element` that `context` covers is removed. */
  readonly contextRemoves: Map<
    string,
    { readonly context: VersionVector; readonly element: string }
  >
}

function emptyModel(): ModelReplica {
  return { adds: new Map(), removed: new Set(), contextRemoves: new Map() }
}

function unite(target: ModelReplica, source: ModelReplica): void {
  for (const [key, add] of source.adds) target.adds.set(key, add)
  for (const key of source.removed) target.removed.add(key)
  for (const [key, remove] of source.contextRemoves) target.contextRemoves.set(key, remove)
}

function modelValue(model: ModelReplica): string[] {
  const present = new Set<string>()
  for (const [key, { dot, element }] of model.adds) {
    if (model.removed.has(key)) continue
    const removedByContext = [...model.contextRemoves.values()].some(
      (remove) => remove.element === element && vectorCovers(remove.context, dot),
    )
    if (!removedByContext) present.add(element)
  }
  return [...present].sort()
}

function observedTags(model: ModelReplica, element: string): string[] {
  return [...model.adds].filter(([, add]) => add.element === element).map(([key]) => key)
}

/**
 * A model per replica, driven by the world's hooks. With `compareEachStep`, every replica's
 * elements must match its model after every step; that holds when replicas exchange full
 * states. A delta that overtakes the deltas it causally follows can show an element early or
 * late for a while (delta CRDTs promise agreement under causal delivery), so worlds with
 * out-of-order deltas compare canonical form at each step and elements only at quiescence.
 */
function lockstepModel(compareEachStep: boolean): {
  observer: WorldObserver<Orswot.Orswot, SetOperation>
  replicas: ModelReplica[]
} {
  const replicas = ACTORS.map(emptyModel)
  const effects: ModelReplica[] = []
  const counters = ACTORS.map(() => 0)
  const observer: WorldObserver<Orswot.Orswot, SetOperation> = {
    update(replica, operation, before, accepted, history) {
      const model = replicas[replica] as ModelReplica
      const effect = emptyModel()
      if (operation.kind === 'add') {
        expect(accepted).toBe(true)
        for (const element of operation.elements) {
          for (const key of observedTags(model, element)) effect.removed.add(key)
          counters[replica] = (counters[replica] ?? 0) + 1
          const dot = { actor: ACTORS[replica] as string, counter: counters[replica] ?? 0 }
          effect.adds.set(dotKey(dot), { dot, element })
        }
      } else {
        const context = resolveContext(operation, before, history)
        if (context === undefined) {
          const present = modelValue(model)
          const missing = operation.elements.filter((element) => !present.includes(element))
          // Only a model compared at every step can predict the replica's refusals.
          if (compareEachStep) expect(accepted).toBe(missing.length === 0)
          if (!accepted) return
          for (const element of operation.elements) {
            for (const key of observedTags(model, element)) effect.removed.add(key)
          }
        } else {
          expect(accepted).toBe(true)
          for (const element of operation.elements) {
            const key = `${JSON.stringify([...context])}/${element}`
            effect.contextRemoves.set(key, { context, element })
          }
        }
      }
      unite(model, effect)
      effects.push(effect)
    },
    merge: (from, to) => unite(replicas[to] as ModelReplica, replicas[from] as ModelReplica),
    deliver: (index, to) => unite(replicas[to] as ModelReplica, effects[index] as ModelReplica),
    settled(replica, state) {
      expectCanonical(state)
      if (!compareEachStep) return
      expect(Orswot.value(state)).toEqual(modelValue(replicas[replica] as ModelReplica))
    },
  }
  return { observer, replicas }
}

function expectConvergedToModel(replicas: Orswot.Orswot[], models: ModelReplica[]): void {
  const everything = emptyModel()
  for (const model of models) unite(everything, model)
  for (const replica of quiesce(Orswot, replicas)) {
    expect(Orswot.value(replica)).toEqual(modelValue(everything))
    expect(replica.deferred.size).toBe(0)
  }
}

/** The representation invariants that make `equals` structural. */
function expectCanonical(state: Orswot.Orswot): void {
  const seen = new Set<string>()
  for (const dots of state.entries.values()) {
    expect(dots.length).toBeGreaterThan(0)
    for (const [index, dot] of dots.entries()) {
      expect(contextCovers(state.clock, dot)).toBe(true)
      expect(seen.has(dotKey(dot))).toBe(false)
      seen.add(dotKey(dot))
      const previous = dots[index - 1]
      if (previous !== undefined) {
        expect(previous.actor < dot.actor || previous.counter < dot.counter).toBe(true)
      }
    }
  }
  for (const dot of state.clock.cloud) {
    expect(dot.counter).toBeGreaterThan(vectorGet(state.clock.vector, dot.actor) + 1)
  }
  for (const [element, context] of state.deferred) {
    expect(context.size).toBeGreaterThan(0)
    for (const [actor, counter] of context) {
      expect(counter).toBeGreaterThan(vectorGet(state.clock.vector, actor))
    }
    for (const dot of state.entries.get(element) ?? []) {
      expect(vectorCovers(context, dot)).toBe(false)
    }
  }
}

function mustRemove(result: Orswot.RemoveResult): Orswot.Orswot {
  if (!result.ok) throw new Error(`remove refused: ${result.code}`)
  return result.state
}

const elementArbitrary = fc.constantFrom(...ELEMENTS)

describe('ORSWOT semantics', () => {
  it('agrees with the tombstone OR-Set model at every replica after every full-state merge', () => {
    fc.assert(
      fc.property(commandsArbitrary(orswotType.operation, 60, false), (commands) => {
        const model = lockstepModel(true)
        const world = runWorld(orswotType, commands, model.observer)
        expectConvergedToModel(world.replicas, model.replicas)
      }),
      { numRuns: RUNS },
    )
  })

  it('converges to the model when deltas also arrive in any order, duplicated or lost', () => {
    fc.assert(
      fc.property(commandsArbitrary(orswotType.operation, 60, true), (commands) => {
        const model = lockstepModel(false)
        const world = runWorld(orswotType, commands, model.observer)
        expectConvergedToModel(world.replicas, model.replicas)
      }),
      { numRuns: RUNS },
    )
  })

  it('add wins: an add survives a concurrent remove that did not observe it', () => {
    fc.assert(
      fc.property(worldArbitrary(orswotType), elementArbitrary, (world, element) => {
        const [first, second] = quiesce(Orswot, world.replicas) as [Orswot.Orswot, Orswot.Orswot]
        const removed = mustRemove(Orswot.remove(first, element, Orswot.context(first)))
        const added = Orswot.add(second, ACTORS[1], element)
        expect(Orswot.contains(removed, element)).toBe(false)
        expect(Orswot.contains(Orswot.merge(removed, added), element)).toBe(true)
        expect(Orswot.contains(Orswot.merge(added, removed), element)).toBe(true)
      }),
      { numRuns: RUNS },
    )
  })

  it('observed remove: a context remove drops exactly the adds its context saw, everywhere', () => {
    fc.assert(
      fc.property(
        worldArbitrary(orswotType),
        fc.nat(),
        fc.nat({ max: ACTORS.length - 1 }),
        elementArbitrary,
        (world, readIndex, remover, element) => {
          const read = world.history[readIndex % world.history.length] as Orswot.Orswot
          const context = Orswot.context(read)
          const replicas = [...world.replicas]
          const before = quiesce(Orswot, replicas)[0] as Orswot.Orswot
          replicas[remover] = mustRemove(
            Orswot.remove(replicas[remover] as Orswot.Orswot, element, context),
          )
          const after = quiesce(Orswot, replicas)
          const unseen = (before.entries.get(element) ?? []).some(
            (dot) => !vectorCovers(context, dot),
          )
          for (const replica of after) expect(Orswot.contains(replica, element)).toBe(unseen)
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('a remove whose context saw every add removes the element everywhere', () => {
    fc.assert(
      fc.property(
        worldArbitrary(orswotType),
        fc.nat({ max: ACTORS.length - 1 }),
        elementArbitrary,
        (world, remover, element) => {
          const reader = world.replicas.reduce(Orswot.merge)
          const replicas = [...world.replicas]
          replicas[remover] = mustRemove(
            Orswot.remove(replicas[remover] as Orswot.Orswot, element, Orswot.context(reader)),
          )
          for (const replica of quiesce(Orswot, replicas)) {
            expect(Orswot.contains(replica, element)).toBe(false)
          }
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('a remove that arrives before the adds it saw is deferred, then applied once they arrive', () => {
    fc.assert(
      fc.property(worldArbitrary(orswotType), fc.nat(), (world, lagIndex) => {
        const reader = world.replicas.reduce(Orswot.merge)
        const lagging = world.history[lagIndex % world.history.length] as Orswot.Orswot
        const context = Orswot.context(reader)
        const present = Orswot.value(reader)
        let state = mustRemove(Orswot.removeAll(lagging, present, context))
        if (vectorDescends(Orswot.context(lagging), context)) {
          expect(state.deferred.size).toBe(lagging.deferred.size)
        } else {
          for (const element of present) expect(state.deferred.has(element)).toBe(true)
        }
        state = Orswot.merge(state, reader)
        expect(Orswot.value(state)).toEqual([])
        expect(state.deferred.size).toBe(0)
      }),
      { numRuns: RUNS },
    )
  })
})

/**
 * Runs `cycles` add/remove cycles of one element at `actorCount` replicas with seeded random
 * merges and returns the largest encoded size any replica reached.
 */
function churn(actorCount: number, cycles: number, seed: number): number {
  const random = new SeededRandom(seed)
  const actors = Array.from({ length: actorCount }, (_, index) => `n${index + 1}.churn`)
  const replicas = actors.map(() => Orswot.empty())
  let bytesMax = 0
  for (let cycle = 0; cycle < cycles; cycle++) {
    const adder = random.int(actorCount)
    replicas[adder] = Orswot.add(replicas[adder] as Orswot.Orswot, actors[adder] as string, 'x')
    const from = random.int(actorCount)
    const to = random.int(actorCount)
    replicas[to] = Orswot.merge(replicas[to] as Orswot.Orswot, replicas[from] as Orswot.Orswot)
    // Remove with the context of a read at a random replica, often one ahead of the remover.
    const remover = random.int(actorCount)
    const read = replicas[random.int(actorCount)] as Orswot.Orswot
    const state = replicas[remover] as Orswot.Orswot
    replicas[remover] = mustRemove(Orswot.remove(state, 'x', Orswot.context(read)))
    for (const replica of replicas) bytesMax = Math.max(bytesMax, Orswot.byteSize(replica))
  }
  for (const replica of quiesce(Orswot, replicas)) {
    expect(replica.deferred.size).toBe(0)
    expect(encodeMsgpack(Orswot.encode(replica)).length).toBe(Orswot.byteSize(replica))
  }
  return bytesMax
}

describe('ORSWOT metadata', () => {
  it('stays bounded by the number of actors under 10,000 add/remove cycles', () => {
    for (const actorCount of [2, 3, 5, 8]) {
      const bytesMax = churn(actorCount, 10_000, 0x5eed + actorCount)
      // Per actor: a clock entry, at most one live dot of the element and one entry of the
      // element's deferred context, each with a counter below 2^16 after 10,000 cycles.
      expect(bytesMax).toBeLessThanOrEqual(16 + 32 * actorCount)
    }
  })
})

describe('ORSWOT operations', () => {
  const [alice, bob] = ACTORS

  it('an add replaces the dots it observed with one new dot', () => {
    const first = Orswot.add(Orswot.empty(), alice, 'x')
    const second = Orswot.add(first, bob, 'x')
    expect(second.entries.get('x')).toEqual([{ actor: bob, counter: 1 }])
    expect(Orswot.context(second)).toEqual(
      vectorFromEntries([
        [alice, 1],
        [bob, 1],
      ]),
    )
    expect(Orswot.value(second)).toEqual(['x'])
  })

  it('answers value sorted, size and contains', () => {
    const state = Orswot.addAll(Orswot.empty(), alice, ['pear', 'apple', 'fig', 'apple'])
    expect(Orswot.value(state)).toEqual(['apple', 'fig', 'pear'])
    expect(Orswot.size(state)).toBe(3)
    expect(Orswot.contains(state, 'fig')).toBe(true)
    expect(Orswot.contains(state, 'kiwi')).toBe(false)
    // Four dots were minted; the repeated element kept its last one.
    expect(state.entries.get('apple')).toEqual([{ actor: alice, counter: 4 }])
    expect(Orswot.context(state)).toEqual(vectorFromEntries([[alice, 4]]))
  })

  it('refuses a context-free remove of an absent element and applies none of the list', () => {
    const state = Orswot.addAll(Orswot.empty(), alice, ['a', 'b'])
    const result = Orswot.removeAll(state, ['a', 'zzz'], undefined)
    expect(result).toEqual({ ok: false, code: 'precondition_failed', missing: ['zzz'] })
    expect(Orswot.removeAllDelta(state, ['zzz']).ok).toBe(false)
    expect(Orswot.value(mustRemove(Orswot.remove(state, 'a')))).toEqual(['b'])
  })

  it('treats a context remove of an absent element the clock covers as a no-op', () => {
    const state = Orswot.add(Orswot.empty(), alice, 'a')
    const after = mustRemove(Orswot.remove(state, 'zzz', Orswot.context(state)))
    expect(Orswot.equals(after, state)).toBe(true)
  })

  it('refuses to defer removes of more than DEFERRED_ELEMENTS_MAX elements', () => {
    const ahead = vectorFromEntries([[bob, 1]])
    const elements = Array.from({ length: Orswot.DEFERRED_ELEMENTS_MAX }, (_, index) => `e${index}`)
    const full = mustRemove(Orswot.removeAll(Orswot.empty(), elements, ahead))
    expect(full.deferred.size).toBe(Orswot.DEFERRED_ELEMENTS_MAX)
    expect(Orswot.remove(full, 'one-more', ahead)).toEqual({
      ok: false,
      code: 'overloaded',
      deferredElementsCount: Orswot.DEFERRED_ELEMENTS_MAX,
    })
    // An element already deferred only joins the new context into its own.
    const joined = mustRemove(Orswot.remove(full, 'e0', vectorFromEntries([[alice, 2]])))
    expect(joined.deferred.get('e0')).toEqual(
      vectorFromEntries([
        [alice, 2],
        [bob, 1],
      ]),
    )
    // Catching up applies and drops every deferred remove.
    const caughtUp = Orswot.merge(
      joined,
      Orswot.addAll(Orswot.add(Orswot.empty(), bob, 'z'), alice, ['a', 'b']),
    )
    expect(caughtUp.deferred.size).toBe(0)
    expect(Orswot.value(caughtUp)).toEqual(['a', 'b', 'z'])
  })

  it('keeps one trimmed context per deferred element however many removes arrive', () => {
    let state = Orswot.add(Orswot.empty(), alice, 'x')
    for (let counter = 1; counter <= 100; counter++) {
      const context = vectorFromEntries([
        [alice, 1],
        [bob, counter],
      ])
      state = mustRemove(Orswot.remove(state, 'x', context))
    }
    expect(Orswot.value(state)).toEqual([])
    expect([...state.deferred]).toEqual([['x', vectorFromEntries([[bob, 100]])]])
  })

  it('deferred removes do not remove adds made after their context', () => {
    const bobAdds = Orswot.add(Orswot.empty(), bob, 'x')
    const lagging = Orswot.empty()
    const deferred = mustRemove(Orswot.remove(lagging, 'x', Orswot.context(bobAdds)))
    const localAdd = Orswot.add(deferred, alice, 'x')
    const merged = Orswot.merge(localAdd, bobAdds)
    expect(merged.deferred.size).toBe(0)
    expect(merged.entries.get('x')).toEqual([{ actor: alice, counter: 1 }])
  })
})
