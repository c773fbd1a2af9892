/**
 * The history model that the linearizability checker reads: one record per operation, with the
 * client that issued it, its input, and the real-time interval in which it ran.
 *
 * An operation is either completed (it returned an output at `returnTime`) or pending (it never
 * returned: the client crashed, timed out or got an indeterminate answer, Jepsen's `:info`).
 * A pending operation may have taken effect at any instant after its call, or never, so the
 * checker may place it anywhere after `callTime` or leave it out. An operation that failed
 * definitely (Jepsen's `:fail`) did not happen and is not part of the history at all.
 *
 * Times are numbers in any unit, as long as one history uses one clock. Intervals are closed:
 * an operation that returns at the instant another is called counts as concurrent with it,
 * which can only make the checker more permissive, never report a false violation.
 *
 * Most recorders see events (invoke, then ok / fail / info) rather than whole operations;
 * `HistoryRecorder` turns such an event stream into a history and rejects malformed streams
 * with a MurmurError('invalid_request'), since recorded histories are untrusted input.
 */

import { assert } from '../env/assert.js'
import { MurmurError } from '../env/errors.js'

export interface CompletedOperation<I, O> {
  readonly status: 'completed'
  readonly clientId: number
  readonly input: I
  readonly output: O
  readonly callTime: number
  readonly returnTime: number
}

export interface PendingOperation<I> {
  readonly status: 'pending'
  readonly clientId: number
  readonly input: I
  readonly callTime: number
}

export type Operation<I, O> = CompletedOperation<I, O> | PendingOperation<I>

export type History<I, O> = readonly Operation<I, O>[]

/** A recorded history plus the number of definitely failed operations left out of it. */
export interface RecordedHistory<I, O> {
  readonly operations: History<I, O>
  readonly failedCount: number
}

/** Upper bound on the operations of one history, so a runaway recorder cannot exhaust memory. */
export const historyOperationsCountMax = 1_000_000

/** Asserts the structural invariants the checker relies on (a programmer error otherwise). */
export function assertWellFormed<I, O>(operations: History<I, O>): void {
  assert(
    operations.length <= historyOperationsCountMax,
    `history has ${operations.length} operations, more than ${historyOperationsCountMax}`,
  )
  for (const operation of operations) {
    assert(Number.isSafeInteger(operation.clientId), 'clientId must be an integer')
    assert(Number.isFinite(operation.callTime), 'callTime must be finite')
    if (operation.status === 'completed') {
      assert(Number.isFinite(operation.returnTime), 'returnTime must be finite')
      assert(operation.callTime <= operation.returnTime, 'an operation returned before its call')
    }
  }
}

interface Invocation<I> {
  readonly input: I
  readonly callTime: number
  /** Position in the history, so operations keep invocation order. */
  readonly sequence: number
}

/**
 * Builds a history from an event stream. Each client has at most one invocation outstanding; a
 * client whose invocation ended with `info` may invoke again (the indeterminate operation stays
 * pending forever and is concurrent with everything that follows it). Event times must not go
 * backwards.
 */
export class HistoryRecorder<I, O> {
  private readonly outstanding = new Map<number, Invocation<I>>()
  private readonly slots: (Operation<I, O> | undefined)[] = []
  private lastTime = Number.NEGATIVE_INFINITY
  private failed = 0

  /** The input of the client's outstanding invocation, if any, to validate a completion. */
  outstandingInput(clientId: number): I | undefined {
    return this.outstanding.get(clientId)?.input
  }

  invoke(clientId: number, input: I, time: number): void {
    this.advance(time)
    if (!Number.isSafeInteger(clientId)) invalid(`client id ${clientId} is not an integer`)
    if (this.outstanding.has(clientId)) {
      invalid(`client ${clientId} invoked an operation while another is outstanding`)
    }
    if (this.slots.length >= historyOperationsCountMax) {
      invalid(`history has more than ${historyOperationsCountMax} operations`)
    }
    this.outstanding.set(clientId, { input, callTime: time, sequence: this.slots.length })
    this.slots.push(undefined)
  }

  /** The client's outstanding operation returned `output` (Jepsen's `:ok`). */
  ok(clientId: number, output: O, time: number): void {
    const invocation = this.take(clientId, time)
    this.slots[invocation.sequence] = {
      status: 'completed',
      clientId,
      input: invocation.input,
      output,
      callTime: invocation.callTime,
      returnTime: time,
    }
  }

  /** The client's outstanding operation definitely did not happen (Jepsen's `:fail`). */
  fail(clientId: number, time: number): void {
    this.take(clientId, time)
    this.failed++
  }

  /** The outcome of the client's outstanding operation is unknown (Jepsen's `:info`). */
  info(clientId: number, time: number): void {
    const invocation = this.take(clientId, time)
    this.slots[invocation.sequence] = pending(clientId, invocation)
  }

  /** The history so far; invocations still outstanding become pending operations. */
  finish(): RecordedHistory<I, O> {
    for (const [clientId, invocation] of this.outstanding) {
      this.slots[invocation.sequence] = pending(clientId, invocation)
    }
    this.outstanding.clear()
    const operations: Operation<I, O>[] = []
    for (const slot of this.slots) if (slot !== undefined) operations.push(slot)
    return { operations, failedCount: this.failed }
  }

  private take(clientId: number, time: number): Invocation<I> {
    this.advance(time)
    const invocation = this.outstanding.get(clientId)
    if (invocation === undefined) invalid(`client ${clientId} completed without an invocation`)
    this.outstanding.delete(clientId)
    return invocation
  }

  private advance(time: number): void {
    if (!Number.isFinite(time)) invalid(`event time ${time} is not a finite number`)
    if (time < this.lastTime) invalid(`event time ${time} is before the previous ${this.lastTime}`)
    this.lastTime = time
  }
}

function pending<I>(clientId: number, invocation: Invocation<I>): PendingOperation<I> {
  return { status: 'pending', clientId, input: invocation.input, callTime: invocation.callTime }
}

function invalid(message: string): never {
  throw new MurmurError('invalid_request', message)
}
