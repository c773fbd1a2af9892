/**
 * A linearizability checker: does some total order of the operations, consistent with their
 * real-time order, explain every output under the model's sequential specification?
 *
 * The search is Wing & Gong's, with Lowe's memoization ("Testing for linearizability", 2017):
 * walk the history's call and return events in time order, linearize any operation whose call
 * precedes the first outstanding return, backtrack when that return is reached with its
 * operation still unplaced, and never revisit a (set of linearized operations, state) node,
 * since the rest of the search depends on nothing else. Before searching, the history is split
 * by the model's `partition` (Horn & Kroening, "Faster linearizability checking via
 * P-compositionality", 2015): a history is linearizable exactly when each partition is, and the
 * cost of the search is exponential in the partition's size, not the history's.
 *
 * Pending operations (no return) may take effect at any point after their call or never: they
 * have no return event, so they never force a backtrack, and the search succeeds as soon as
 * every completed operation is placed. Because they stay candidates to the end, they are what
 * makes long histories hard. Three rules keep them in check; each is sound because whatever
 * linearization it rules out, one that the search still tries exists too:
 * - the model drops those whose effect no other operation could observe (`dropUnobservable`);
 * - one is never placed where it leaves the state as it was;
 * - a node is pruned when a finished node had the same completed operations and state and a
 *   subset of its pending ones (see StateCache in search-state.ts).
 *
 * The search is bounded by `stepsMax` (model steps plus backtracks, over all partitions), which
 * also bounds the memo, since every memo entry costs a step. When the budget runs out before an
 * answer, the verdict is `unknown`. Partitions are searched smallest first, so a violation in a
 * small partition is found even when a large one would exhaust the budget.
 */

import { assert } from '../env/assert.js'
import {
  assertWellFormed,
  type CompletedOperation,
  type History,
  type Operation,
} from './history.js'
import type { Model } from './models.js'
import {
  type BitLayout,
  Bitset,
  callEntry,
  EventList,
  isCall,
  layoutBits,
  NONE,
  SearchStack,
  StateCache,
} from './search-state.js'

export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown'

export interface CheckOptions {
  /** Budget of search steps over the whole history; the answer is `unknown` beyond it. */
  readonly stepsMax: number
}

/** Why a history is not linearizable, found in the first partition that has no linearization. */
export interface Violation<I, O> {
  /** Index into `model.partition(history)`. */
  readonly partitionIndex: number
  /** The operations of that partition that took part in the search. */
  readonly partition: History<I, O>
  /** The longest sequence of operations the search could linearize, in linearization order. */
  readonly longestPrefix: readonly Operation<I, O>[]
  /** The model state after `longestPrefix`, described by the model. */
  readonly stateAfterPrefix: string
  /** The earliest-returning completed operation left out of `longestPrefix`. */
  readonly blockingOperation: CompletedOperation<I, O> | undefined
  /** A few lines for a human: the tail of the prefix, the state, the blocking operation. */
  readonly description: string
}

export interface CheckResult<I, O> {
  readonly verdict: Verdict
  readonly stepsCount: number
  readonly operationsCount: number
  readonly partitionsCount: number
  /** Partitions that ran out of budget before an answer. */
  readonly unknownPartitionIndexes: readonly number[]
  /** Present exactly when the verdict is `not-linearizable`. */
  readonly violation: Violation<I, O> | undefined
}

/** How many operations of the prefix a violation's description shows. */
const descriptionPrefixOperationsCountMax = 8

/** Checks `history` against `model`, within a budget of `options.stepsMax` search steps. */
export function checkLinearizability<S, I, O>(
  model: Model<S, I, O>,
  history: History<I, O>,
  options: CheckOptions,
): CheckResult<I, O> {
  assert(Number.isSafeInteger(options.stepsMax) && options.stepsMax > 0, 'stepsMax must be > 0')
  assertWellFormed(history)
  const partitions = model.partition(history)
  assert(
    partitions.reduce((sum, partition) => sum + partition.length, 0) === history.length,
    'partition must place every operation exactly once',
  )
  const order = partitions.map((_, index) => index)
  order.sort((left, right) => sizeOf(partitions, left) - sizeOf(partitions, right) || left - right)

  let stepsCount = 0
  const unknownPartitionIndexes: number[] = []
  for (const partitionIndex of order) {
    const partition = partitions[partitionIndex] ?? []
    const search = searchPartition(model, partition, options.stepsMax - stepsCount)
    stepsCount += search.stepsCount
    if (search.outcome === 'unknown') unknownPartitionIndexes.push(partitionIndex)
    if (search.outcome === 'not-linearizable') {
      const violation = explain(model, partitionIndex, search)
      return result('not-linearizable', stepsCount, history, partitions, [], violation)
    }
  }
  unknownPartitionIndexes.sort((left, right) => left - right)
  const verdict = unknownPartitionIndexes.length === 0 ? 'linearizable' : 'unknown'
  return result(verdict, stepsCount, history, partitions, unknownPartitionIndexes, undefined)
}

function sizeOf<I, O>(partitions: readonly History<I, O>[], index: number): number {
  return partitions[index]?.length ?? 0
}

function result<I, O>(
  verdict: Verdict,
  stepsCount: number,
  history: History<I, O>,
  partitions: readonly History<I, O>[],
  unknownPartitionIndexes: readonly number[],
  violation: Violation<I, O> | undefined,
): CheckResult<I, O> {
  return {
    verdict,
    stepsCount,
    operationsCount: history.length,
    partitionsCount: partitions.length,
    unknownPartitionIndexes,
    violation,
  }
}

// ---------------------------------------------------------------------------------------------
// Explaining a violation

function explain<S, I, O>(
  model: Model<S, I, O>,
  partitionIndex: number,
  search: PartitionSearch<I, O>,
): Violation<I, O> {
  const prefix = search.longestPrefix.map((index) => search.operations[index])
  const longestPrefix = prefix.filter((operation) => operation !== undefined)
  assert(longestPrefix.length === prefix.length, 'prefix names an unknown operation')
  // Replaying the prefix is cheaper than keeping every state the search passed through.
  let state = model.init()
  for (const operation of longestPrefix) {
    const next = model.step(state, operation.input, outputOf(operation))
    assert(next.ok, 'the longest prefix must replay')
    state = next.state
  }
  const placed = new Set(longestPrefix)
  let blockingOperation: CompletedOperation<I, O> | undefined
  for (const operation of search.operations) {
    if (operation.status !== 'completed' || placed.has(operation)) continue
    if (blockingOperation === undefined || operation.returnTime < blockingOperation.returnTime) {
      blockingOperation = operation
    }
  }
  const stateAfterPrefix = model.describeState(state)
  const lines = [
    `partition ${partitionIndex} (${search.operations.length} operations) has no linearization;`,
    `the longest linearizable prefix has ${longestPrefix.length} operations, ending with:`,
    ...longestPrefix
      .slice(-descriptionPrefixOperationsCountMax)
      .map((operation) => `  ${describe(model, operation)}`),
    `state after the prefix: ${stateAfterPrefix}`,
  ]
  if (blockingOperation !== undefined) {
    lines.push(`earliest-returning operation left out: ${describe(model, blockingOperation)}`)
  }
  return {
    partitionIndex,
    partition: search.operations,
    longestPrefix,
    stateAfterPrefix,
    blockingOperation,
    description: lines.join('\n'),
  }
}

function outputOf<I, O>(operation: Operation<I, O>): O | undefined {
  return operation.status === 'completed' ? operation.output : undefined
}

function describe<S, I, O>(model: Model<S, I, O>, operation: Operation<I, O>): string {
  const returned = operation.status === 'completed' ? String(operation.returnTime) : 'never'
  const text = model.describeOperation(operation.input, outputOf(operation))
  return `client ${operation.clientId}: ${text} [call ${operation.callTime}, return ${returned}]`
}

// ---------------------------------------------------------------------------------------------
// Search over one partition

interface PartitionSearch<I, O> {
  readonly outcome: Verdict
  readonly stepsCount: number
  /** The operations searched (unobservable pending operations removed). */
  readonly operations: readonly Operation<I, O>[]
  /** Operation indexes of the longest linearization found, in order. */
  readonly longestPrefix: readonly number[]
}

/** Searches one partition with at most `stepsMax` steps. */
function searchPartition<S, I, O>(
  model: Model<S, I, O>,
  partition: History<I, O>,
  stepsMax: number,
): PartitionSearch<I, O> {
  const operations = model.dropUnobservable(partition)
  assert(
    operations.length <= partition.length &&
      operations.filter(({ status }) => status === 'completed').length ===
        partition.filter(({ status }) => status === 'completed').length,
    'dropUnobservable must keep every completed operation',
  )
  const search = new Search(model, operations)
  const outcome = search.run(stepsMax)
  return { outcome, stepsCount: search.stepsCount, operations, longestPrefix: search.longest() }
}

/** The depth-first search over one partition; `entry` walks the event list for candidates. */
class Search<S, I, O> {
  stepsCount = 0
  private readonly inputs: readonly I[]
  private readonly outputs: readonly (O | undefined)[]
  private readonly events: EventList
  private readonly layout: BitLayout
  private readonly linearized: Bitset
  private readonly cache: StateCache<S>
  private readonly stack: SearchStack<S>
  private state: S
  private completedRemaining: number

  constructor(
    private readonly model: Model<S, I, O>,
    operations: readonly Operation<I, O>[],
  ) {
    this.inputs = operations.map((operation) => operation.input)
    this.outputs = operations.map(outputOf)
    this.events = new EventList(operations)
    this.layout = layoutBits(operations)
    this.linearized = new Bitset(this.layout.bitsCount, this.layout.fixedWordsCount)
    this.cache = new StateCache(model)
    this.stack = new SearchStack(operations.length)
    this.state = model.init()
    this.completedRemaining = operations.filter(({ status }) => status === 'completed').length
  }

  run(stepsMax: number): Verdict {
    let entry = this.events.first()
    while (this.completedRemaining > 0) {
      if (this.stepsCount >= stepsMax) return 'unknown'
      this.stepsCount++
      // A completed operation's return event is still in the list, so the walk meets it first.
      assert(entry !== NONE, 'event walk ran past the last return')
      if (isCall(entry)) {
        entry = this.tryLinearize(entry)
      } else if (this.stack.depth === 0) {
        return 'not-linearizable'
      } else {
        entry = this.backtrack()
      }
    }
    return 'linearizable'
  }

  longest(): readonly number[] {
    return this.stack.longest()
  }

  /** Linearizes the candidate when it fits and is new; returns the next entry to look at. */
  private tryLinearize(entry: number): number {
    const operation = entry >> 1
    const next = this.model.step(this.state, this.inputs[operation] as I, this.outputs[operation])
    if (!next.ok) return this.events.next(entry)
    // A pending operation that changes nothing here may as well be left out.
    const completed = this.events.isCompleted(operation)
    if (!completed && this.model.equal(next.state, this.state)) return this.events.next(entry)
    const bit = this.layout.bitOf[operation] ?? NONE
    this.linearized.toggle(bit)
    const cacheEntry = this.cache.visit(this.linearized, next.state)
    if (cacheEntry === NONE) {
      this.linearized.toggle(bit)
      return this.events.next(entry)
    }
    this.stack.push({ operation, stateBefore: this.state, cacheEntry })
    this.state = next.state
    this.events.lift(operation)
    if (completed) this.completedRemaining--
    return this.events.first()
  }

  /** Undoes the last linearization; returns the entry after the undone call. */
  private backtrack(): number {
    const frame = this.stack.pop()
    this.cache.leave(frame.cacheEntry)
    this.state = frame.stateBefore
    this.linearized.toggle(this.layout.bitOf[frame.operation] ?? NONE)
    this.events.unlift(frame.operation)
    if (this.events.isCompleted(frame.operation)) this.completedRemaining++
    return this.events.next(callEntry(frame.operation))
  }
}
