/**
 * Shared pieces of the replication simulations: a SimCluster configuration with fast
 * background timers, clients that talk to nodes through the REST app and record what they saw,
 * and the checker of the no-lost-write rule.
 *
 * The checker knows, for every context token a client was handed for a key, the values it saw
 * with it (a read's siblings; for a write's answer, what the carried context saw plus the
 * written value). A value is legitimately gone when some write attempt, of any outcome,
 * carried a context that saw it. The rule: after healing, every acknowledged value is present
 * unless legitimately gone, and no value that an acknowledged write superseded is present.
 *
 * The read rule (`checkReads`): a read that started after a write was acknowledged, and that a
 * replica answered as a primary after acknowledging that write as a primary, returns the
 * written value unless a write attempt begun before the read ended carried a context that saw
 * it. Replicas are taken from the X-Murmur-Replicas header less the X-Murmur-Hinted ones.
 */

import { Buffer } from 'node:buffer'
import { partitionForKey, preferenceList } from '../../../src/ring/index.js'
import { SimCluster, type SimResponse } from '../cluster.js'
import { pickSeed } from '../seed.js'

export const DEFAULT_GOSSIP = '{ preset: local, gossipIntervalMs: 200 }'

export function replicationConfig(
  nodeCount: number,
  extra = '',
  witnesses = 0,
  gossip = DEFAULT_GOSSIP,
): string {
  const zones = ['a', 'b', 'c', 'd', 'e', 'f', 'g']
  const nodes = Array.from(
    { length: nodeCount },
    (_, index) => `{ id: n${index + 1}, zone: ${zones[index % zones.length]} }`,
  )
  return `
nodes: [${nodes.join(', ')}]
ring: { partitions: 16 }
keyspaces: { default: { replicas: 3, witnesses: ${witnesses}, durability: sync } }
storage: { engine: memory }
gossip: ${gossip}
requests: { timeoutMs: 1500, peerTimeoutMs: 400 }
replication:
  tombstoneGraceMs: 500
  reaperIntervalMs: 500
  hintReplayIntervalMs: 500
${extra}`
}

/** Runs the simulation until `promise` settles, within `limitMs` of virtual time. */
export async function settle<T>(
  cluster: SimCluster,
  promise: Promise<T>,
  limitMs: number,
): Promise<T> {
  let done = false
  const tracked = promise.finally(() => {
    done = true
  })
  // A rejection is observed by the caller's await below; keep the runtime from reporting it.
  tracked.catch(() => undefined)
  const settled = await cluster.sim.runUntil(() => done, { untilMs: cluster.sim.nowMs + limitMs })
  if (!settled) throw new Error(`request did not settle within ${limitMs} ms of virtual time`)
  return tracked
}

/** A cluster started from `configText` with the seed of `label`, once membership converged. */
export async function convergedCluster(label: string, configText: string): Promise<SimCluster> {
  const cluster = await SimCluster.create({ seed: pickSeed(label), configText })
  if (!(await cluster.converge(10_000))) throw new Error('membership did not converge')
  return cluster
}

/** One REST request to `node`, run on the virtual clock until answered (within 10 s). */
export function call(
  cluster: SimCluster,
  node: string,
  method: string,
  path: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<SimResponse> {
  return settle(cluster, cluster.request(node, method, path, body, headers), 10_000)
}

/** A promise that resolves after `ms` of virtual time. */
export function pause(cluster: SimCluster, ms: number): Promise<void> {
  return new Promise((resolve) => cluster.sim.schedule(ms, resolve))
}

export interface Observed {
  readonly status: number
  readonly context: string
  /** Values of live siblings. */
  readonly values: readonly string[]
}

/** Reads a response the way a client would: the values and the context it was handed. */
export function observe(response: SimResponse): Observed {
  const context = response.headers.get('X-Murmur-Context') ?? ''
  if (response.status === 200) return { status: 200, context, values: [response.body] }
  if (response.status === 300) {
    const body = JSON.parse(response.body) as {
      siblings: { value: string | null; deleted: boolean }[]
    }
    const values = body.siblings
      .filter((sibling) => !sibling.deleted && sibling.value !== null)
      .map((sibling) => Buffer.from(sibling.value as string, 'base64').toString())
    return { status: 300, context, values }
  }
  return { status: response.status, context, values: [] }
}

export type Outcome = 'ok' | 'failed' | 'unknown'

interface WriteAttempt {
  readonly key: string
  /** The written value, undefined for a delete. */
  readonly value: string | undefined
  readonly carried: string
  readonly beganMs: number
  outcome: Outcome
  /** When the acknowledgement arrived, and the primaries that acknowledged (not as hints). */
  ackedMs: number
  ackedBy: ReadonlySet<string>
}

interface ReadRecord {
  readonly key: string
  readonly startedMs: number
  readonly endedMs: number
  readonly values: readonly string[]
  readonly answeredBy: ReadonlySet<string>
}

/** The replicas that answered or acknowledged as primaries, from a response's headers. */
export function primaryReplicas(response: SimResponse): Set<string> {
  const replicas = (response.headers.get('X-Murmur-Replicas') ?? '').split(',')
  const hinted = (response.headers.get('X-Murmur-Hinted') ?? '')
    .split(',')
    .map((pair) => pair.split('>')[0])
  return new Set(replicas.filter((node) => node !== '' && !hinted.includes(node)))
}

export class History {
  /**
   * Values seen with each context token, by key and token: a token holds no key, and the same
   * clock can be handed out for two keys (dot counters are per key above a node-wide floor).
   */
  private readonly seen = new Map<string, ReadonlySet<string>>()
  private readonly attempts: WriteAttempt[] = []
  private readonly reads: ReadRecord[] = []

  get writes(): number {
    return this.attempts.length
  }

  acknowledged(): number {
    return this.attempts.filter((attempt) => attempt.outcome === 'ok').length
  }

  seenWith(key: string, token: string): ReadonlySet<string> {
    return this.seen.get(seenKey(key, token)) ?? new Set()
  }

  /** `key`'s `token` was handed out with `values` seen. */
  private see(key: string, token: string, values: Iterable<string>): void {
    if (token === '') return
    const previous = this.seenWith(key, token)
    this.seen.set(seenKey(key, token), new Set([...previous, ...values]))
  }

  /** A read of `key` handed out `context` together with `values`. */
  read(key: string, observed: Observed): void {
    this.see(key, observed.context, observed.values)
  }

  /** A successful read of `key` that ran from `startedMs` to `endedMs`, for `checkReads`. */
  readBetween(key: string, startedMs: number, endedMs: number, response: SimResponse): void {
    if (![200, 300, 404].includes(response.status)) return
    const { values } = observe(response)
    this.reads.push({ key, startedMs, endedMs, values, answeredBy: primaryReplicas(response) })
  }

  /** Starts a write attempt at `nowMs`; settle it with `finish`. */
  begin(key: string, value: string | undefined, carried: string, nowMs = 0): WriteAttempt {
    const attempt: WriteAttempt = {
      key,
      value,
      carried,
      beganMs: nowMs,
      outcome: 'unknown',
      ackedMs: Number.POSITIVE_INFINITY,
      ackedBy: new Set(),
    }
    this.attempts.push(attempt)
    return attempt
  }

  finish(attempt: WriteAttempt, response: SimResponse | undefined, nowMs = 0): void {
    if (response === undefined) return
    if (response.status === 204 || response.status === 200 || response.status === 300) {
      attempt.outcome = 'ok'
      attempt.ackedMs = nowMs
      attempt.ackedBy = primaryReplicas(response)
      const context = response.headers.get('X-Murmur-Context') ?? ''
      const carried = this.seenWith(attempt.key, attempt.carried)
      const own = attempt.value === undefined ? [] : [attempt.value]
      this.see(attempt.key, context, [...carried, ...own])
      return
    }
    const body = safeJson(response.body) as { error?: { definite?: boolean } } | undefined
    attempt.outcome = body?.error?.definite === true ? 'failed' : 'unknown'
  }

  /** Violations of the no-lost-write rule for one key, given the values read after healing. */
  check(key: string, present: ReadonlySet<string>): string[] {
    const attempts = this.attempts.filter((attempt) => attempt.key === key)
    const gone = new Set<string>()
    const goneByAck = new Set<string>()
    for (const attempt of attempts) {
      for (const value of this.seenWith(key, attempt.carried)) {
        gone.add(value)
        if (attempt.outcome === 'ok') goneByAck.add(value)
      }
    }
    const violations: string[] = []
    for (const attempt of attempts) {
      const value = attempt.value
      if (value === undefined || attempt.outcome !== 'ok') continue
      if (!present.has(value) && !gone.has(value)) violations.push(`${key}: lost ${value}`)
    }
    for (const value of present) {
      if (goneByAck.has(value))
        violations.push(`${key}: ${value} came back after it was superseded`)
    }
    return violations
  }

  /** Violations of the read rule for one key (see the file comment). */
  checkReads(key: string): string[] {
    const attempts = this.attempts.filter((attempt) => attempt.key === key)
    const violations: string[] = []
    for (const read of this.reads) {
      if (read.key !== key) continue
      for (const write of attempts) {
        const value = write.value
        if (value === undefined || write.outcome !== 'ok' || write.ackedMs >= read.startedMs)
          continue
        if (![...write.ackedBy].some((node) => read.answeredBy.has(node))) continue
        if (read.values.includes(value)) continue
        const superseded = attempts.some(
          (other) => other.beganMs <= read.endedMs && this.seenWith(key, other.carried).has(value),
        )
        if (!superseded) {
          violations.push(
            `${key}: read at ${read.startedMs} by ${[...read.answeredBy].join(',')} missed ` +
              `${value} acknowledged at ${write.ackedMs} by ${[...write.ackedBy].join(',')}`,
          )
        }
      }
    }
    return violations
  }
}

function seenKey(key: string, token: string): string {
  return `${key}\u0000${token}`
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The primaries of a key in the default keyspace. */
export function primariesOf(cluster: SimCluster, key: string): readonly string[] {
  const ring = cluster.node(cluster.nodeIds.find((id) => cluster.isRunning(id)) ?? 'n1').ring
  return preferenceList(ring, partitionForKey(ring.partitionCount, 'default', key), 3)
}

/** Hints held on every running node. */
export function hintsHeld(cluster: SimCluster): number {
  let count = 0
  for (const id of cluster.nodeIds) {
    if (!cluster.isRunning(id)) continue
    for (const held of cluster.node(id).kv.store.hintCountsByTarget().values()) count += held
  }
  return count
}

/** A key path with percent-encoding. */
export function keyPath(key: string, query = ''): string {
  return `/v1/kv/default/${encodeURIComponent(key)}${query === '' ? '' : `?${query}`}`
}
