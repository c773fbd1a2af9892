/**
 * The nemesis clients: each runs a bounded loop of operations against random running nodes and
 * records every operation with its outcome (ok / fail / unknown, see http.ts), in a form the
 * checkers (checkers.ts) can decide:
 *
 * - Registers (eventual and witness keyspaces): each client owns its keys and writes each key
 *   with the context of its last acknowledged write, or of a read that returned that write's
 *   value, so every acknowledged write is superseded only by a later write of the same client
 *   that saw it. A read whose context might not cover the last acknowledged write is never
 *   adopted (it would turn that write into a sibling rather than supersede it).
 * - Counters: keys shared by every client; each update carries its own Idempotency-Key and is
 *   retried with it through other nodes until its outcome is known or attempts run out.
 * - Sets: each client owns its keys; an element is added only while the client believes it
 *   absent, and removed only with the context of the answer to the add that put it there, so
 *   every acknowledged remove saw the acknowledged add before it.
 * - Strong registers: reads, writes and compare-and-sets with request ids, recorded as a
 *   CAS-register history for the linearizability checker (src/check).
 */

import { HistoryRecorder } from '../../src/check/history.js'
import type { RegisterInput, RegisterOutput } from '../../src/check/models.js'
import { pick, type Random } from '../../src/env/random.js'
import { decodeCausalContextToken } from '../../src/versioning/context-token.js'
import type { TestCluster } from '../support/cluster.js'
import { type Answer, call, errorCode, type Outcome, sleep, writeOutcome } from './http.js'

/** Operations one client runs at most, whatever the run's length. */
const CLIENT_OPERATIONS_MAX = 200_000
/** Attempts of one retry-safe update (same Idempotency-Key or request id) before it stays unknown. */
const RETRY_ATTEMPTS_MAX = 5
/** Think time between two operations of one client, which bounds the load on two cores. */
const THINK_MS = 15
export const REQUEST_TIMEOUT_MS = 2500

/** Counts of operations by `area.operation.outcome` and of failures by error code. */
export class OperationCounts {
  readonly byOutcome = new Map<string, number>()
  readonly byError = new Map<string, number>()

  add(area: string, operation: string, outcome: Outcome, answer?: Answer): void {
    const name = `${area}.${operation}.${outcome}`
    this.byOutcome.set(name, (this.byOutcome.get(name) ?? 0) + 1)
    if (outcome !== 'ok') {
      const code = `${area}.${operation}.${errorCode(answer)}`
      this.byError.set(code, (this.byError.get(code) ?? 0) + 1)
    }
  }

  total(): number {
    let total = 0
    for (const count of this.byOutcome.values()) total += count
    return total
  }
}

/** What every client loop shares: the cluster, a stop flag and the counts. */
export class ClientContext {
  running = true

  constructor(
    readonly cluster: TestCluster,
    readonly counts: OperationCounts,
    /** Distinguishes the idempotency keys and values of one run from those of another. */
    readonly runTag: string,
  ) {}

  /** A running node chosen by `random`, or undefined while none runs. */
  node(random: Random): string | undefined {
    const running = this.cluster.nodes.filter((node) => this.cluster.isRunning(node.id))
    return running.length === 0 ? undefined : pick(random, running).id
  }
}

/** Runs `step` until the context stops or the operation budget is spent. */
export async function clientLoop(
  context: ClientContext,
  random: Random,
  step: (node: string) => Promise<void>,
): Promise<void> {
  for (let operation = 0; operation < CLIENT_OPERATIONS_MAX && context.running; operation++) {
    const node = context.node(random)
    if (node === undefined) {
      await sleep(50)
      continue
    }
    await step(node)
    await sleep(THINK_MS)
  }
}

interface RetriedOutcome {
  readonly outcome: Outcome
  readonly answer: Answer | undefined
  /** Whether an earlier attempt's outcome was unknown: it may have applied on its own. */
  readonly retriedAfterUnknown: boolean
}

/**
 * A retry-safe update: sends it through `random` nodes until an answer is definite or attempts
 * run out; the same idempotency key rides on every attempt, so it applies at most once.
 */
async function retried(
  context: ClientContext,
  random: Random,
  first: string,
  send: (node: string) => Promise<Answer | undefined>,
  okStatuses: readonly number[] = [200, 204],
): Promise<RetriedOutcome> {
  let node = first
  let answer: Answer | undefined
  let outcome: Outcome = 'unknown'
  let unknownBefore = false
  for (let attempt = 0; attempt < RETRY_ATTEMPTS_MAX; attempt++) {
    answer = await send(node)
    outcome = writeOutcome(answer, okStatuses)
    if (outcome !== 'unknown' || !context.running) break
    unknownBefore = true
    await sleep(100)
    node = context.node(random) ?? node
  }
  // A retry that definitely failed says nothing of an earlier attempt that may have applied.
  if (outcome === 'fail' && unknownBefore) outcome = 'unknown'
  return { outcome, answer, retriedAfterUnknown: unknownBefore }
}

/** A CRDT read is answered when it returns the state or says the key was never written. */
function readOutcome(answer: Answer | undefined): Outcome {
  return answer?.status === 200 || answer?.status === 404 ? 'ok' : 'fail'
}

/** A CRDT client's read of one key through `node`, counted under `type`. */
async function readCrdt(
  context: ClientContext,
  type: 'counter' | 'set',
  node: string,
  path: string,
): Promise<void> {
  const answer = await call(context.cluster, node, path)
  context.counts.add(type, 'get', readOutcome(answer), answer)
}

/** A CRDT client's update: POSTed with its own Idempotency-Key on every attempt (`retried`). */
function updateCrdt(
  context: ClientContext,
  random: Random,
  node: string,
  path: string,
  update: unknown,
  idempotencyKey: string,
): Promise<RetriedOutcome> {
  const init = {
    method: 'POST',
    body: JSON.stringify(update),
    headers: { 'Idempotency-Key': idempotencyKey },
  }
  return retried(context, random, node, (target) => call(context.cluster, target, path, init))
}

// Registers (plain values of eventual and witness keyspaces) ---------------------------------

export interface RegisterWrite {
  readonly kind: 'put' | 'delete'
  /** The value a put wrote; null for a delete. */
  readonly value: string | null
  readonly outcome: Outcome
  /** For a person reading a violation: where it ran and which contexts it sent and got. */
  readonly trace?: WriteTrace
}

export interface WriteTrace {
  readonly node: string
  readonly status: number | null
  readonly coordinator: string | null
  readonly replicas: string | null
  readonly sentContext: string | null
  readonly answerContext: string | null
}

function traceOf(node: string, sent: string | undefined, answer: Answer | undefined): WriteTrace {
  return {
    node,
    status: answer?.status ?? null,
    coordinator: answer?.headers.get('X-Murmur-Coordinator') ?? null,
    replicas: answer?.headers.get('X-Murmur-Replicas') ?? null,
    sentContext: readableContext(sent),
    answerContext: readableContext(answer?.headers.get('X-Murmur-Context') ?? undefined),
  }
}

/** A context token as `actor=counter` entries and `+actor@counter` dots, or null for none. */
function readableContext(token: string | undefined): string | null {
  if (token === undefined) return null
  try {
    const { vector, cloud } = decodeCausalContextToken(token)
    const entries = [...vector.entries()].sort().map(([actor, counter]) => `${actor}=${counter}`)
    const named = cloud.map((dot) => `+${dot.actor}@${dot.counter}`)
    return [...entries, ...named].join(' ')
  } catch {
    return `undecodable ${token.slice(0, 24)}`
  }
}

/** One owned key: its writes in order and the context the next write carries. */
export interface RegisterKey {
  readonly keyspace: string
  readonly key: string
  readonly writes: RegisterWrite[]
  context: string | undefined
  lastAcknowledged: RegisterWrite | undefined
  /** Reads whose context the client adopted: after which write, through which node, which. */
  readonly adoptions?: { afterWrite: number; node: string; context: string | null }[]
}

/** The live values a GET answer shows: one for 200, the live siblings for 300, none for 404. */
export function liveValues(answer: Answer): string[] | undefined {
  if (answer.status === 404) return []
  if (answer.status === 200) return [answer.text]
  if (answer.status !== 300) return undefined
  const body = JSON.parse(answer.text) as {
    siblings: { value: string | null; deleted: boolean }[]
  }
  return body.siblings
    .filter((sibling) => !sibling.deleted && sibling.value !== null)
    .map((sibling) => Buffer.from(sibling.value ?? '', 'base64').toString())
}

export class RegisterClient {
  readonly keys: RegisterKey[]
  private sequence = 0

  constructor(
    private readonly context: ClientContext,
    private readonly random: Random,
    readonly keyspace: string,
    readonly client: number,
    keysPerClient: number,
  ) {
    this.keys = Array.from({ length: keysPerClient }, (_, index) => ({
      keyspace,
      key: `r-c${client}-${index}`,
      writes: [],
      context: undefined,
      lastAcknowledged: undefined,
      adoptions: [],
    }))
  }

  run(): Promise<void> {
    return clientLoop(this.context, this.random, (node) => this.step(node))
  }

  private async step(node: string): Promise<void> {
    const state = pick(this.random, this.keys)
    const choice = this.random.float()
    if (choice < 0.35) await this.read(node, state)
    else if (choice < 0.45 && state.lastAcknowledged?.kind === 'put') await this.remove(node, state)
    else await this.put(node, state)
  }

  private path(state: RegisterKey): string {
    return `/v1/kv/${state.keyspace}/${state.key}?timeout=${REQUEST_TIMEOUT_MS}`
  }

  private headers(state: RegisterKey): Record<string, string> {
    return state.context === undefined ? {} : { 'X-Murmur-Context': state.context }
  }

  private async put(node: string, state: RegisterKey): Promise<void> {
    const value = `${this.context.runTag}/${state.key}/${++this.sequence}`
    const sent = state.context
    const answer = await call(this.context.cluster, node, this.path(state), {
      method: 'PUT',
      body: value,
      headers: { 'Content-Type': 'text/plain', ...this.headers(state) },
    })
    const outcome = writeOutcome(answer, [204])
    this.record(state, { kind: 'put', value, outcome, trace: traceOf(node, sent, answer) }, answer)
  }

  private async remove(node: string, state: RegisterKey): Promise<void> {
    const sent = state.context
    const answer = await call(this.context.cluster, node, this.path(state), {
      method: 'DELETE',
      headers: this.headers(state),
    })
    const outcome = writeOutcome(answer, [204])
    const trace = traceOf(node, sent, answer)
    this.record(state, { kind: 'delete', value: null, outcome, trace }, answer)
  }

  private record(state: RegisterKey, write: RegisterWrite, answer: Answer | undefined): void {
    state.writes.push(write)
    this.context.counts.add(this.keyspace, write.kind, write.outcome, answer)
    if (write.outcome !== 'ok') return
    state.lastAcknowledged = write
    // A write's answer carries a context covering what it superseded plus itself.
    state.context = answer?.headers.get('X-Murmur-Context') ?? state.context
  }

  private async read(node: string, state: RegisterKey): Promise<void> {
    const answer = await call(this.context.cluster, node, this.path(state))
    const values = answer === undefined ? undefined : liveValues(answer)
    this.context.counts.add(this.keyspace, 'get', values === undefined ? 'fail' : 'ok', answer)
    const last = state.lastAcknowledged
    if (values === undefined || last?.kind !== 'put' || last.value === null) return
    // Only a read that shows the last acknowledged value provably covers it.
    if (!values.includes(last.value)) return
    const adopted = answer?.headers.get('X-Murmur-Context') ?? null
    const readable = readableContext(adopted ?? undefined)
    state.adoptions?.push({ afterWrite: state.writes.length - 1, node, context: readable })
    state.context = adopted ?? state.context
  }
}

// Counters ---------------------------------------------------------------------------------

export interface CounterTally {
  readonly key: string
  acknowledged: number
  unknownIncrements: number
  unknownDecrements: number
}

export class CounterClient {
  private sequence = 0

  constructor(
    private readonly context: ClientContext,
    private readonly random: Random,
    private readonly keyspace: string,
    private readonly client: number,
    private readonly tallies: readonly CounterTally[],
  ) {}

  run(): Promise<void> {
    return clientLoop(this.context, this.random, (node) => this.step(node))
  }

  private async step(node: string): Promise<void> {
    const tally = pick(this.random, this.tallies)
    const path = `/v1/counters/${this.keyspace}/${tally.key}?timeout=${REQUEST_TIMEOUT_MS}`
    if (this.random.chance(0.25)) return readCrdt(this.context, 'counter', node, path)
    const amount = 1 + this.random.int(9)
    const decrement = this.random.chance(0.3)
    const { outcome, answer } = await updateCrdt(
      this.context,
      this.random,
      node,
      path,
      decrement ? { decrement: amount } : { increment: amount },
      `${this.context.runTag}-c${this.client}-${++this.sequence}`,
    )
    this.context.counts.add('counter', 'update', outcome, answer)
    const delta = decrement ? -amount : amount
    if (outcome === 'ok') tally.acknowledged += delta
    else if (outcome === 'unknown' && decrement) tally.unknownDecrements += amount
    else if (outcome === 'unknown') tally.unknownIncrements += amount
  }
}

// Sets -------------------------------------------------------------------------------------

export interface SetUpdate {
  readonly kind: 'add' | 'remove'
  readonly outcome: Outcome
  /**
   * An update acknowledged after an attempt of unknown outcome: that attempt may have been
   * applied by another coordinator too, as a second add of its own (see checkers.ts).
   */
  readonly retried?: boolean
}

/** One element of an owned set: its updates in order, and the context of its acknowledged add. */
export interface SetElement {
  readonly key: string
  readonly element: string
  readonly updates: SetUpdate[]
  addContext: string | undefined
}

const SET_ELEMENTS_PER_KEY = 6

export class SetClient {
  readonly elements: SetElement[] = []
  private sequence = 0

  constructor(
    private readonly context: ClientContext,
    private readonly random: Random,
    private readonly keyspace: string,
    private readonly client: number,
    keysPerClient: number,
  ) {
    for (let index = 0; index < keysPerClient; index++) {
      for (let element = 0; element < SET_ELEMENTS_PER_KEY; element++) {
        this.elements.push({
          key: `s-c${client}-${index}`,
          element: `e${element}`,
          updates: [],
          addContext: undefined,
        })
      }
    }
  }

  run(): Promise<void> {
    return clientLoop(this.context, this.random, (node) => this.step(node))
  }

  private async step(node: string): Promise<void> {
    const state = pick(this.random, this.elements)
    const path = `/v1/sets/${this.keyspace}/${state.key}?timeout=${REQUEST_TIMEOUT_MS}`
    if (this.random.chance(0.2)) return readCrdt(this.context, 'set', node, path)
    // Remove only with the context of the add that is known to hold the element.
    const kind = state.addContext === undefined ? 'add' : 'remove'
    const { outcome, answer, retriedAfterUnknown } = await updateCrdt(
      this.context,
      this.random,
      node,
      path,
      kind === 'add'
        ? { add: [state.element] }
        : { remove: [state.element], context: state.addContext },
      `${this.context.runTag}-s${this.client}-${++this.sequence}`,
    )
    this.context.counts.add('set', kind, outcome, answer)
    state.updates.push(retriedAfterUnknown ? { kind, outcome, retried: true } : { kind, outcome })
    if (outcome === 'fail') return
    state.addContext = undefined
    if (outcome === 'ok' && kind === 'add' && answer !== undefined)
      state.addContext = (JSON.parse(answer.text) as { context: string }).context
  }
}

// Strong registers ---------------------------------------------------------------------------

export class StrongClient {
  private sequence = 0
  private readonly seen = new Map<string, { value: string; etag: string }>()

  constructor(
    private readonly context: ClientContext,
    private readonly random: Random,
    private readonly keyspace: string,
    private readonly client: number,
    private readonly keys: readonly string[],
    private readonly history: HistoryRecorder<RegisterInput, RegisterOutput>,
  ) {}

  run(): Promise<void> {
    return clientLoop(this.context, this.random, (node) => this.step(node))
  }

  private path(key: string): string {
    return `/v1/kv/${this.keyspace}/${key}?timeout=${REQUEST_TIMEOUT_MS}`
  }

  private async step(node: string): Promise<void> {
    const key = pick(this.random, this.keys)
    const choice = this.random.float()
    if (choice < 0.4) await this.read(node, key)
    else await this.write(node, key, choice < 0.7 ? undefined : this.seen.get(key))
  }

  /** Reads `key` through `node`; true when the read completed. */
  async read(node: string, key: string): Promise<boolean> {
    this.history.invoke(this.client, { kind: 'read', key }, performance.now())
    const answer = await call(this.context.cluster, node, this.path(key))
    if (answer?.status === 200 || answer?.status === 404) {
      const value = answer.status === 200 ? answer.text : null
      this.history.ok(this.client, { kind: 'read', value }, performance.now())
      if (value === null) this.seen.delete(key)
      else this.seen.set(key, { value, etag: answer.headers.get('ETag') ?? '' })
      this.context.counts.add('strong', 'get', 'ok')
      return true
    }
    this.history.fail(this.client, performance.now())
    this.context.counts.add('strong', 'get', 'fail', answer)
    return false
  }

  private async write(node: string, key: string, seen?: { value: string; etag: string }) {
    const value = `${this.context.runTag}-c${this.client}-${++this.sequence}`
    const input: RegisterInput =
      seen === undefined
        ? { kind: 'write', key, value }
        : { kind: 'cas', key, expected: seen.value, value }
    this.history.invoke(this.client, input, performance.now())
    // The request id makes every attempt the same command: the state machine applies it once.
    const headers: Record<string, string> = {
      'X-Murmur-Request-Id': `w-${value}`,
      ...(seen === undefined ? {} : { 'If-Match': seen.etag }),
    }
    const { outcome, answer } = await retried(this.context, this.random, node, (target) =>
      call(this.context.cluster, target, this.path(key), { method: 'PUT', body: value, headers }),
    )
    const operation = seen === undefined ? 'put' : 'cas'
    const now = performance.now()
    if (answer?.status === 204) {
      this.history.ok(
        this.client,
        seen === undefined ? { kind: 'write' } : { kind: 'cas', swapped: true },
        now,
      )
      this.context.counts.add('strong', operation, 'ok')
    } else if (answer?.status === 412 && seen !== undefined) {
      this.history.ok(this.client, { kind: 'cas', swapped: false }, now)
      this.context.counts.add('strong', operation, 'ok')
    } else if (outcome === 'fail') {
      this.history.fail(this.client, now)
      this.context.counts.add('strong', operation, 'fail', answer)
    } else {
      this.history.info(this.client, now)
      this.context.counts.add('strong', operation, 'unknown', answer)
    }
  }
}

export function strongHistory(): HistoryRecorder<RegisterInput, RegisterOutput> {
  return new HistoryRecorder<RegisterInput, RegisterOutput>()
}
