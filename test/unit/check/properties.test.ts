/**
 * Goal: the checker never rejects a history that a real register produced, and always rejects
 * one in which a read returns a value nobody wrote.
 *
 * Method: fast-check. (1) Run a sequential register on random operations, giving each a
 * linearization point, then widen every point into a random interval around it (so operations
 * overlap at random) and leave some unanswered (pending, having taken effect or not); such a
 * history is linearizable by construction. (2) Replace one read's result with a value never
 * written: no linearization can explain it.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checkLinearizability } from '../../../src/check/linearizability.js'
import {
  casRegisterModel,
  type RegisterInput,
  type RegisterState,
} from '../../../src/check/models.js'
import { applyToRegister, type RegisterOperation } from './builders.js'

const options = { stepsMax: 5_000_000 }

/** Spacing between linearization points; intervals stretch up to `spreadMax` either side. */
const pointSpacing = 40
const spreadMax = pointSpacing * 3

interface Planned {
  readonly input: RegisterInput
  /** How long before its linearization point the operation was called. */
  readonly before: number
  /** How long after its linearization point the operation returned. */
  readonly after: number
  /** For a pending operation: whether it took effect at its point or never. */
  readonly takesEffect: boolean
}

const valueArbitrary = fc.integer({ min: 0, max: 4 })

const inputArbitrary: fc.Arbitrary<RegisterInput> = fc.oneof(
  fc.constant<RegisterInput>({ kind: 'read', key: '' }),
  valueArbitrary.map((value): RegisterInput => ({ kind: 'write', key: '', value })),
  fc
    .tuple(valueArbitrary, valueArbitrary)
    .map(([expected, value]): RegisterInput => ({ kind: 'cas', key: '', expected, value })),
)

const planArbitrary: fc.Arbitrary<Planned[]> = fc.array(
  fc.record({
    input: inputArbitrary,
    before: fc.integer({ min: 0, max: spreadMax }),
    after: fc.integer({ min: 0, max: spreadMax }),
    takesEffect: fc.boolean(),
  }),
  { minLength: 1, maxLength: 40 },
)

/**
 * Runs the plan on a sequential register and widens each linearization point to an interval.
 * Every `pendingEvery`-th operation (none when 0) gets no answer, and took effect or not.
 */
function run(plan: readonly Planned[], pendingEvery: number): RegisterOperation[] {
  let state: RegisterState = null
  return plan.map((step, index) => {
    const isPending = pendingEvery > 0 && index % pendingEvery === pendingEvery - 1
    const applied = applyToRegister(state, step.input)
    if (!isPending || step.takesEffect) state = applied.state
    const point = (index + 1) * pointSpacing
    const callTime = point - step.before
    const clientId = index
    if (isPending) return { status: 'pending', clientId, input: step.input, callTime }
    const returnTime = point + step.after
    return {
      status: 'completed',
      clientId,
      input: step.input,
      output: applied.output,
      callTime,
      returnTime,
    }
  })
}

describe('generated register histories', () => {
  it('are linearizable when produced by a sequential register', () => {
    fc.assert(
      fc.property(planArbitrary, fc.integer({ min: 0, max: 6 }), (plan, pendingEvery) => {
        const history = run(plan, pendingEvery)
        const result = checkLinearizability(casRegisterModel, history, options)
        expect(result.verdict).toBe('linearizable')
      }),
      { numRuns: 300 },
    )
  })

  it('are not linearizable once one read returns a value never written', () => {
    fc.assert(
      fc.property(
        planArbitrary,
        fc.integer({ min: 0, max: 6 }),
        fc.nat(),
        (plan, pendingEvery, choice) => {
          const history = run(plan, pendingEvery)
          const reads = history
            .map((operation, index) => ({ operation, index }))
            .filter(
              ({ operation }) =>
                operation.status === 'completed' && operation.input.kind === 'read',
            )
          fc.pre(reads.length > 0)
          const target = reads[choice % reads.length]!
          const original = target.operation
          if (original.status !== 'completed') throw new Error('reads were filtered to completed')
          const mutated = history.with(target.index, {
            ...original,
            output: { kind: 'read', value: 'never written' },
          })
          const result = checkLinearizability(casRegisterModel, mutated, options)
          expect(result.verdict).toBe('not-linearizable')
          expect(result.violation?.blockingOperation).toBeDefined()
        },
      ),
      { numRuns: 300 },
    )
  })
})
