/**
 * Reachable CRDT states for property tests. A "world" is a few replicas, each with its own
 * actor, that apply random updates, merge full states in random pairs and deliver random
 * deltas (in any order, duplicated or never). Every state any replica ever held is reachable,
 * so laws checked on pairs and triples drawn from one world's history are checked on states
 * that share a causal past, as real replicas do. Drawing states from unrelated worlds would
 * reuse actors across replicas, which the types forbid.
 */

import fc from 'fast-check'
import * as GCounter from '../../../src/crdt/g-counter.js'
import * as GSet from '../../../src/crdt/g-set.js'
import * as Orswot from '../../../src/crdt/orswot.js'
import * as PnCounter from '../../../src/crdt/pn-counter.js'
import * as ReplicatedCounter from '../../../src/crdt/replicated-counter.js'
import * as ReplicatedSet from '../../../src/crdt/replicated-set.js'
import type { DecodeErrorCode } from '../../../src/crdt/validation.js'
import { assert } from '../../../src/env/assert.js'
import type { Dot, VersionVector } from '../../../src/versioning/version-vector.js'

/** The functions every CRDT module exports, as the generic laws use them. */
export interface CrdtModule<S> {
  empty(): S
  merge(left: S, right: S): S
  equals(left: S, right: S): boolean
  lessOrEqual(left: S, right: S): boolean
  encode(state: S): unknown
  decode(raw: unknown, code: DecodeErrorCode): S
  byteSize(state: S): number
}

export interface Update<S> {
  readonly state: S
  readonly delta: S
}

export interface TypeUnderTest<S, Operation> {
  readonly name: string
  readonly module: CrdtModule<S>
  readonly operation: fc.Arbitrary<Operation>
  /** The operation as full mutator and as delta mutator; undefined when the type refuses it. */
  update(
    state: S,
    actor: string,
    operation: Operation,
    history: readonly S[],
  ): Update<S> | undefined
}

export type Command<Operation> =
  | { readonly kind: 'update'; readonly replica: number; readonly operation: Operation }
  | { readonly kind: 'merge'; readonly from: number; readonly to: number }
  | { readonly kind: 'deliver'; readonly delta: number; readonly to: number }

export interface Step<S> {
  readonly before: S
  readonly after: S
  readonly delta: S
}

export interface World<S, Operation> {
  readonly replicas: S[]
  /** Every state any replica held, in the order they appeared, starting with the empty state. */
  readonly history: S[]
  readonly deltas: S[]
  readonly steps: Step<S>[]
  /** The updates the type accepted, in order. */
  readonly applied: Array<{ readonly replica: number; readonly operation: Operation }>
}

/** One actor per replica: unique, non-ASCII in one case, as node incarnations are named. */
export const ACTORS = ['n1.3f9a', 'n2.b07c', 'n3.γ41d'] as const

export const ELEMENTS = ['apple', 'b', 'c', 'd', 'ü', '𝄞 clef'] as const

function commandArbitrary<Operation>(
  operation: fc.Arbitrary<Operation>,
  deliveries: boolean,
): fc.Arbitrary<Command<Operation>> {
  const replica = fc.nat({ max: ACTORS.length - 1 })
  const update = fc.record({ kind: fc.constant('update' as const), replica, operation })
  const merge = fc.record({ kind: fc.constant('merge' as const), from: replica, to: replica })
  const deliver = fc.record({ kind: fc.constant('deliver' as const), delta: fc.nat(), to: replica })
  return fc.oneof(
    { weight: 4, arbitrary: update },
    { weight: 2, arbitrary: merge },
    { weight: deliveries ? 1 : 0, arbitrary: deliver },
  )
}

/**
 * Random command lists. With `deliveries` off, replicas exchange full states only, so every
 * replica's state is causally complete; with it on, deltas also arrive in any order.
 */
export function commandsArbitrary<Operation>(
  operation: fc.Arbitrary<Operation>,
  lengthMax = 40,
  deliveries = true,
): fc.Arbitrary<Command<Operation>[]> {
  return fc.array(commandArbitrary(operation, deliveries), { maxLength: lengthMax, size: 'max' })
}

/** Hooks a test uses to run a reference model in lockstep with a world. */
export interface WorldObserver<S, Operation> {
  /** An update was offered to `replica`; `accepted` says whether the type applied it. */
  update?(replica: number, operation: Operation, before: S, accepted: boolean, history: S[]): void
  merge?(from: number, to: number): void
  deliver?(deltaIndex: number, to: number): void
  /** Replica `replica` now holds `state`. */
  settled?(replica: number, state: S): void
}

export function runWorld<S, Operation>(
  type: TypeUnderTest<S, Operation>,
  commands: readonly Command<Operation>[],
  observer: WorldObserver<S, Operation> = {},
): World<S, Operation> {
  const { module } = type
  const world: World<S, Operation> = {
    replicas: ACTORS.map(() => module.empty()),
    history: [module.empty()],
    deltas: [],
    steps: [],
    applied: [],
  }
  for (const command of commands) {
    const target = command.kind === 'update' ? command.replica : command.to
    const before = world.replicas[target] as S
    let after: S
    if (command.kind === 'update') {
      const actor = ACTORS[command.replica] as string
      const update = type.update(before, actor, command.operation, world.history)
      observer.update?.(
        command.replica,
        command.operation,
        before,
        update !== undefined,
        world.history,
      )
      if (update === undefined) continue
      after = update.state
      world.deltas.push(update.delta)
      world.steps.push({ before, after, delta: update.delta })
      world.applied.push({ replica: command.replica, operation: command.operation })
    } else if (command.kind === 'merge') {
      observer.merge?.(command.from, command.to)
      after = module.merge(before, world.replicas[command.from] as S)
    } else {
      if (world.deltas.length === 0) continue
      const deltaIndex = command.delta % world.deltas.length
      observer.deliver?.(deltaIndex, command.to)
      after = module.merge(before, world.deltas[deltaIndex] as S)
    }
    world.replicas[target] = after
    world.history.push(after)
    observer.settled?.(target, after)
  }
  return world
}

export function worldArbitrary<S, Operation>(
  type: TypeUnderTest<S, Operation>,
  lengthMax = 40,
): fc.Arbitrary<World<S, Operation>> {
  return commandsArbitrary(type.operation, lengthMax).map((commands) => runWorld(type, commands))
}

/** Merges every replica into one state and hands it back to all: quiescence. */
export function quiesce<S>(module: CrdtModule<S>, replicas: readonly S[]): S[] {
  const joined = replicas.reduce((left, right) => module.merge(left, right), module.empty())
  return replicas.map((replica) => module.merge(replica, joined))
}

export const gCounterType: TypeUnderTest<GCounter.GCounter, number> = {
  name: 'G-Counter',
  module: GCounter,
  operation: fc.integer({ min: 1, max: 1_000_000 }),
  update: (state, actor, amount) => ({
    state: GCounter.increment(state, actor, amount),
    delta: GCounter.incrementDelta(state, actor, amount),
  }),
}

export interface CounterOperation {
  readonly direction: 'increment' | 'decrement'
  readonly amount: number
}

export const pnCounterType: TypeUnderTest<PnCounter.PnCounter, CounterOperation> = {
  name: 'PN-Counter',
  module: PnCounter,
  operation: fc.record({
    direction: fc.constantFrom('increment', 'decrement'),
    amount: fc.integer({ min: 1, max: 1_000_000 }),
  }),
  update: (state, actor, { direction, amount }) =>
    direction === 'increment'
      ? {
          state: PnCounter.increment(state, actor, amount),
          delta: PnCounter.incrementDelta(state, actor, amount),
        }
      : {
          state: PnCounter.decrement(state, actor, amount),
          delta: PnCounter.decrementDelta(state, actor, amount),
        },
}

const elementsArbitrary = fc.subarray([...ELEMENTS], { minLength: 1, maxLength: 3 })

export const gSetType: TypeUnderTest<GSet.GSet, string[]> = {
  name: 'G-Set',
  module: GSet,
  operation: elementsArbitrary,
  update: (state, _actor, elements) => ({
    state: GSet.addAll(state, elements),
    delta: GSet.addAllDelta(state, elements),
  }),
}

/**
 * A set update. A remove's context is none (a context-free remove), this replica's own read,
 * or the read of any state some replica held earlier (`history[pick % length]`), which may be
 * ahead of this replica and then defers.
 */
export type SetOperation =
  | { readonly kind: 'add'; readonly elements: readonly string[] }
  | {
      readonly kind: 'remove'
      readonly elements: readonly string[]
      readonly context: 'none' | 'own' | number
    }

export const setOperationArbitrary: fc.Arbitrary<SetOperation> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), elements: elementsArbitrary }),
  fc.record({
    kind: fc.constant('remove' as const),
    elements: elementsArbitrary,
    context: fc.oneof(fc.constant('none' as const), fc.constant('own' as const), fc.nat()),
  }),
)

export function resolveContext(
  operation: Extract<SetOperation, { kind: 'remove' }>,
  state: Orswot.Orswot,
  history: readonly Orswot.Orswot[],
): VersionVector | undefined {
  if (operation.context === 'none') return undefined
  if (operation.context === 'own' || history.length === 0) return Orswot.context(state)
  return Orswot.context(history[operation.context % history.length] as Orswot.Orswot)
}

export const orswotType: TypeUnderTest<Orswot.Orswot, SetOperation> = {
  name: 'ORSWOT',
  module: Orswot,
  operation: setOperationArbitrary,
  update: (state, actor, operation, history) => {
    if (operation.kind === 'add') {
      return {
        state: Orswot.addAll(state, actor, operation.elements),
        delta: Orswot.addAllDelta(state, actor, operation.elements),
      }
    }
    const context = resolveContext(operation, state, history)
    const result = Orswot.removeAll(state, operation.elements, context)
    const delta = Orswot.removeAllDelta(state, operation.elements, context)
    assert(result.ok === delta.ok, 'a remove and its delta must agree on refusal')
    if (!result.ok || !delta.ok) return undefined
    return { state: result.state, delta: delta.state }
  },
}

/**
 * A replicated counter update: plain, or keyed with one of a few idempotency keys, so that
 * replicas often apply the same keyed update (a retry through another coordinator) or reuse a
 * key with another amount (refused).
 */
export type ReplicatedCounterOperation =
  | { readonly kind: 'plain'; readonly amount: number }
  | { readonly kind: 'keyed'; readonly key: number; readonly amount: number }

const signedAmount = fc
  .tuple(fc.boolean(), fc.integer({ min: 1, max: 1000 }))
  .map(([negative, amount]) => (negative ? -amount : amount))

export const replicatedCounterOperation: fc.Arbitrary<ReplicatedCounterOperation> = fc.oneof(
  fc.record({ kind: fc.constant('plain' as const), amount: signedAmount }),
  fc.record({
    kind: fc.constant('keyed' as const),
    key: fc.nat({ max: 5 }),
    amount: fc.constantFrom(-2, -1, 1, 2),
  }),
)

/** The update id of a keyed operation: the key digest, a dot, the content digest. */
export function keyedId(key: number, amount: number): string {
  return `key${key}.amount${amount}`
}

export const replicatedCounterType: TypeUnderTest<
  ReplicatedCounter.ReplicatedCounter,
  ReplicatedCounterOperation
> = {
  name: 'replicated counter',
  module: ReplicatedCounter,
  operation: replicatedCounterOperation,
  update: (state, actor, operation, history) => {
    if (operation.kind === 'plain') {
      const next = ReplicatedCounter.update(state, actor, operation.amount)
      // A plain update's delta is the plain half of the new state, a PN-Counter's full state.
      return { state: next, delta: { ...ReplicatedCounter.empty(), plain: next.plain } }
    }
    const id = keyedId(operation.key, operation.amount)
    if (ReplicatedCounter.lookup(state, id) !== 'new') return undefined
    const atMs = history.length
    return {
      state: ReplicatedCounter.updateKeyed(state, actor, id, operation.amount, atMs),
      delta: ReplicatedCounter.updateKeyedDelta(state, actor, id, operation.amount, atMs),
    }
  },
}

export const replicatedSetType: TypeUnderTest<ReplicatedSet.ReplicatedSet, SetOperation> = {
  name: 'replicated set',
  module: ReplicatedSet,
  operation: setOperationArbitrary,
  update: (state, actor, operation, history) => {
    const inner = orswotType.update(
      state.set,
      actor,
      operation,
      history.map((held) => held.set),
    )
    if (inner === undefined) return undefined
    // An add is keyed by its content, so replicas often apply the same keyed add (a retry
    // through another coordinator, minting other dots); a remove gets an id of its own.
    const id =
      operation.kind === 'add'
        ? `add-${[...operation.elements].sort().join('+')}`
        : `${actor}.${history.length}`
    if (ReplicatedSet.lookup(state, id) !== 'new') return undefined
    const copies = new Map<string, Dot>()
    if (operation.kind === 'add') {
      for (const element of operation.elements) {
        const dot = inner.state.entries.get(element)?.[0]
        assert(dot !== undefined, 'an added element holds its new dot')
        copies.set(element, dot)
      }
    }
    const mark = { id, atMs: history.length, copies }
    return {
      state: ReplicatedSet.withSet(state, inner.state, mark),
      delta: ReplicatedSet.withSet(ReplicatedSet.empty(), inner.delta, mark),
    }
  },
}
