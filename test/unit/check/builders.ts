/**
 * Builders of register histories for the checker's tests: small constructors so a hand-written
 * history reads as a timeline (`read(client, call, return, value)` is a read that ran over
 * [call, return] and saw `value`), a sequential register, and a seeded simulation of clients
 * running against it.
 */

import type { CompletedOperation, Operation, PendingOperation } from '../../../src/check/history.js'
import type {
  RegisterInput,
  RegisterOutput,
  RegisterState,
  RegisterValue,
} from '../../../src/check/models.js'
import type { Random } from '../../../src/env/random.js'

export type RegisterOperation = Operation<RegisterInput, RegisterOutput>

function completed(
  clientId: number,
  input: RegisterInput,
  output: RegisterOutput,
  callTime: number,
  returnTime: number,
): CompletedOperation<RegisterInput, RegisterOutput> {
  return { status: 'completed', clientId, input, output, callTime, returnTime }
}

export function read(
  clientId: number,
  callTime: number,
  returnTime: number,
  value: RegisterState,
  key = '',
): RegisterOperation {
  return completed(clientId, { kind: 'read', key }, { kind: 'read', value }, callTime, returnTime)
}

export function write(
  clientId: number,
  callTime: number,
  returnTime: number,
  value: RegisterValue,
  key = '',
): RegisterOperation {
  return completed(clientId, { kind: 'write', key, value }, { kind: 'write' }, callTime, returnTime)
}

export function cas(
  clientId: number,
  callTime: number,
  returnTime: number,
  [expected, value]: readonly [RegisterValue, RegisterValue],
  swapped: boolean,
): RegisterOperation {
  const input: RegisterInput = { kind: 'cas', key: '', expected, value }
  return completed(clientId, input, { kind: 'cas', swapped }, callTime, returnTime)
}

/** An operation that never returned: it may take effect at any time after `callTime`, or never. */
export function pending(
  clientId: number,
  callTime: number,
  input: RegisterInput,
): PendingOperation<RegisterInput> {
  return { status: 'pending', clientId, input, callTime }
}

/** Applies `input` to a sequential register, returning its output and the new state. */
export function applyToRegister(
  state: RegisterState,
  input: RegisterInput,
): { output: RegisterOutput; state: RegisterState } {
  switch (input.kind) {
    case 'read':
      return { output: { kind: 'read', value: state }, state }
    case 'write':
      return { output: { kind: 'write' }, state: input.value }
    case 'cas': {
      const swapped = state === input.expected
      return { output: { kind: 'cas', swapped }, state: swapped ? input.value : state }
    }
  }
}

export interface SimulationOptions {
  readonly operationsCount: number
  readonly clientsCount: number
  /** Chance that an operation never gets an answer (it then took effect or not, evenly). */
  readonly pendingProbability: number
}

interface Planned {
  readonly clientId: number
  readonly input: RegisterInput
  readonly callTime: number
  readonly returnTime: number
  readonly point: number
  readonly isPending: boolean
}

/** Reads, writes of a value unique to the operation, and CASes from a recent value to one. */
function randomInput(random: Random, index: number): RegisterInput {
  const draw = random.int(10)
  if (draw < 5) return { kind: 'read', key: '' }
  if (draw < 8) return { kind: 'write', key: '', value: index }
  return { kind: 'cas', key: '', expected: Math.max(0, index - 1 - random.int(8)), value: index }
}

/**
 * Clients that each run one operation at a time against one register, with random latencies;
 * every operation takes effect at a random instant inside its interval, so the history is
 * linearizable by construction. As a careful harness would, writes use unique values and a CAS
 * that finds another value is recorded as failed (left out). Operations come in call order.
 */
export function simulateClients(random: Random, options: SimulationOptions): RegisterOperation[] {
  const freeAt = new Array<number>(options.clientsCount).fill(0)
  const planned: Planned[] = []
  for (let index = 0; index < options.operationsCount; index++) {
    const clientId = index % options.clientsCount
    const callTime = (freeAt[clientId] ?? 0) + random.int(3)
    const returnTime = callTime + 1 + random.int(20)
    freeAt[clientId] = returnTime
    const point = callTime + random.float() * (returnTime - callTime)
    const isPending = random.chance(options.pendingProbability)
    const input = randomInput(random, index)
    planned.push({ clientId, input, callTime, returnTime, point, isPending })
  }
  planned.sort((left, right) => left.point - right.point)
  let state: RegisterState = null
  const operations: RegisterOperation[] = []
  for (const step of planned) {
    const applied = applyToRegister(state, step.input)
    if (!step.isPending || random.chance(0.5)) state = applied.state
    if (step.isPending) operations.push(pending(step.clientId, step.callTime, step.input))
    else if (applied.output.kind !== 'cas' || applied.output.swapped) {
      operations.push(
        completed(step.clientId, step.input, applied.output, step.callTime, step.returnTime),
      )
    }
  }
  return operations.sort((left, right) => left.callTime - right.callTime)
}
