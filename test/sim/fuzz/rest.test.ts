/**
 * Goal: hostile REST input never crashes a node, never answers 500, always fails with the
 * documented JSON error shape, and never changes acknowledged data it was not addressed to.
 * Method: a 3-node simulated cluster (real MurmurNode code, in-memory network) with an eventual
 * keyspace, a witness keyspace and a strong keyspace. Canary values, a counter and a set are
 * written and acknowledged first. Then a seeded generator sends requests built from hostile
 * parts to random nodes: every method, known and junk routes, unknown, malformed and oversized
 * keyspace names and keys (invalid percent-encoding, invalid UTF-8, 1 KiB+), consistency
 * parameters out of range or of the wrong type, forged and truncated context tokens,
 * idempotency keys and fencing tokens, precondition headers, random bytes, malformed JSON and
 * JSON of the wrong types or sizes, and bodies beyond the value limit. Every answer is checked;
 * afterwards every node still answers /health, and every canary reads back unchanged with
 * r=all. Seeds are printed; MURMUR_SEED replays a run, MURMUR_FUZZ_REQUESTS sets its length.
 */

import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import { pick, type Random, SeededRandom } from '../../../src/env/random.js'
import { SimCluster, type SimResponse } from '../cluster.js'
import { call } from '../replication/harness.js'
import { failureWithSeed, pickSeeds } from '../seed.js'

const CONFIG = `
nodes: [{ id: n1, zone: a }, { id: n2, zone: b }, { id: n3, zone: c }]
ring: { partitions: 16 }
keyspaces:
  default: { replicas: 3, durability: sync }
  wit: { replicas: 3, witnesses: 1, durability: sync }
  reg: { mode: strong, replicas: 3 }
storage: { engine: memory }
gossip: { preset: local, gossipIntervalMs: 200 }
raft: { tickMs: 100, electionTicks: 10 }
requests: { timeoutMs: 1500, peerTimeoutMs: 400 }
limits: { valueBytesMax: 4096 }
`

const NODES = ['n1', 'n2', 'n3'] as const
const VALUE_BYTES_MAX = 4096
/** Canary names carry this prefix, which the generator never produces. */
const CANARY = 'canary-7f3a9c'

function requestCount(): number {
  const fromEnv = process.env['MURMUR_FUZZ_REQUESTS']
  if (fromEnv === undefined || fromEnv === '') return 400
  const count = Number(fromEnv)
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new Error(`MURMUR_FUZZ_REQUESTS must be a positive integer, got ${fromEnv}`)
  }
  return count
}

// ---------------------------------------------------------------------------------------------
// Hostile parts.

const KEYSPACES = ['default', 'wit', 'reg', 'nope', 'UPPER', '', 'a'.repeat(65), '..', '%2e%2e']
const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'FOO']
const PARAMETERS = [
  'r',
  'w',
  'pr',
  'pw',
  'consistency',
  'timeout',
  'repair',
  'returnbody',
  'durability',
  'prefix',
  'limit',
  'cursor',
  'x',
]
const PARAMETER_VALUES = [
  '',
  '0',
  '-1',
  '1',
  '2',
  '3',
  '4',
  '99999999999999999999',
  '1.5',
  '1e3',
  'NaN',
  'one',
  'two',
  'three',
  'quorum',
  'all',
  'linearizable',
  'serializable',
  'blocking',
  'async',
  'true',
  'false',
  'sync',
  'none',
  '%00',
  '%ff',
  'é',
]
const CONTENT_TYPES = [
  'application/json',
  'application/octet-stream',
  'text/plain; charset=utf-8',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  '',
  'x'.repeat(300),
  ';;;',
]

/** A string of `length` characters (code points) drawn from `alphabet`. */
function stringOf(random: Random, alphabet: string, length: number): string {
  const characters = [...alphabet]
  let text = ''
  for (let index = 0; index < length; index++) text += pick(random, characters)
  return text
}

function randomBytes(random: Random, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let index = 0; index < length; index++) bytes[index] = random.int(256)
  return bytes
}

/** A key as it appears in a path: plain, unicode, percent-garbage, invalid UTF-8 or too long. */
function keySegment(random: Random): string {
  switch (random.int(8)) {
    case 0:
      return stringOf(random, 'abcxyz019-_.~', 1 + random.int(12))
    case 1:
      return encodeURIComponent(stringOf(random, 'aé漢🙂\u0000\n /?#%', 1 + random.int(6)))
    case 2:
      return pick(random, ['%', '%z', '%zz', '%f', '%ff%fe', '%c0%af', '%ed%a0%80', '%00'])
    case 3:
      return 'k'.repeat(1000 + random.int(60))
    case 4:
      return encodeURIComponent('é'.repeat(510 + random.int(6)))
    case 5:
      return pick(random, ['', '.', '..', '%2f', 'a%2fb', '%20'])
    case 6:
      return stringOf(random, 'k0', 1 + random.int(3))
    default:
      return `${stringOf(random, 'abc', 2)}/${stringOf(random, 'xyz', 2)}`
  }
}

/** Mostly a declared keyspace and a plain key, so requests get past routing often. */
/** The methods a path's route serves. */
function methodsFor(path: string): readonly string[] {
  if (path.startsWith('/v1/kv/')) return ['GET', 'PUT', 'DELETE']
  if (path.startsWith('/v1/counters/') || path.startsWith('/v1/sets/')) return ['GET', 'POST']
  if (path.startsWith('/v1/locks/')) return ['POST', 'PUT', 'DELETE']
  return ['GET']
}

function pathOf(random: Random): string {
  const keyspace = random.chance(0.75)
    ? pick(random, ['default', 'wit', 'reg'])
    : pick(random, KEYSPACES)
  const key = random.chance(0.5) ? stringOf(random, 'abk0', 1 + random.int(3)) : keySegment(random)
  let path: string
  switch (random.int(12)) {
    case 0:
    case 1:
    case 2:
      path = `/v1/kv/${keyspace}/${key}`
      break
    case 3:
      path = `/v1/kv/${keyspace}`
      break
    case 4:
    case 5:
      path = `/v1/counters/${keyspace}/${key}`
      break
    case 6:
    case 7:
      path = `/v1/sets/${keyspace}/${key}`
      break
    case 8:
      path = `/v1/locks/${key}`
      break
    case 9:
      path = pick(random, ['/v1/cluster', '/v1/cluster/ring', '/v1/raft', '/v1/stats', '/ready'])
      break
    case 10:
      path = pick(random, ['/v1', '/v1/', '/v1/kv', '/v1/kv/', '//v1//kv', '/v2/kv/default/a'])
      break
    default:
      path = `/${stringOf(random, 'abv1/%.', 1 + random.int(20))}`
  }
  if (path.includes(CANARY)) path = path.replaceAll(CANARY, 'not-a-canary')
  const parameters: string[] = []
  for (let count = random.int(4); count > 0; count--) {
    parameters.push(`${pick(random, PARAMETERS)}=${pick(random, PARAMETER_VALUES)}`)
  }
  return parameters.length === 0 ? path : `${path}?${parameters.join('&')}`
}

/** A context token: a real one from a canary read, damaged, or junk. */
function contextOf(random: Random, realContexts: readonly string[]): string {
  const real = realContexts.length > 0 ? pick(random, realContexts) : 'AAAA'
  switch (random.int(6)) {
    case 0:
      return real.slice(0, random.int(real.length))
    case 1:
      return `${real.slice(0, -2)}${stringOf(random, 'AZaz09-_', 2)}`
    case 2:
      return Buffer.from(randomBytes(random, 1 + random.int(80))).toString('base64url')
    case 3:
      return stringOf(random, '!@#$ *', 1 + random.int(10))
    case 4:
      return 'A'.repeat(10_000)
    default:
      return real
  }
}

function headersOf(random: Random, realContexts: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {}
  if (random.chance(0.5)) headers['Content-Type'] = pick(random, CONTENT_TYPES)
  if (random.chance(0.3)) headers['X-Murmur-Context'] = contextOf(random, realContexts)
  if (random.chance(0.2)) {
    headers['Idempotency-Key'] = pick(random, ['', 'k', 'x'.repeat(2000), 'é', 'a b'])
  }
  if (random.chance(0.15)) {
    headers['If-Match'] = pick(random, ['*', '0', '-1', '"1"', 'abc', '99999999999999999999'])
  }
  if (random.chance(0.1)) headers['If-None-Match'] = pick(random, ['*', '1', ''])
  if (random.chance(0.1)) {
    headers['X-Murmur-Fencing-Token'] = pick(random, ['', '0', '-5', '1.5', 'abc', '1e400'])
  }
  return headers
}

function jsonBodyOf(random: Random): string {
  const numbers = [0, -1, 1, 1.5, 2 ** 53, -(2 ** 53), 1e308, Number.MAX_SAFE_INTEGER]
  const bodies: unknown[] = [
    { increment: pick(random, numbers) },
    { decrement: pick(random, numbers) },
    { increment: '1' },
    { increment: null },
    { increment: 1, decrement: 1 },
    { add: [stringOf(random, 'ab', 3)] },
    { add: Array.from({ length: 1 + random.int(3000) }, (_, index) => `e${index}`) },
    { add: ['x'.repeat(5000)] },
    { add: [1, null, {}, []] },
    { remove: ['a'], context: 'junk' },
    { add: 'a' },
    { ttlMs: pick(random, [-1, 0, 1, 1e12, 'x']) },
    { token: pick(random, ['', 'x', 5]) },
    [],
    null,
    'text',
    { ['__proto__']: { polluted: true } },
  ]
  return JSON.stringify(pick(random, bodies))
}

function bodyOf(random: Random): string | Uint8Array | undefined {
  switch (random.int(7)) {
    case 0:
      return undefined
    case 1:
      return ''
    case 2:
      return randomBytes(random, random.int(2000))
    case 3:
      return randomBytes(random, VALUE_BYTES_MAX + 1 + random.int(100))
    case 4:
      return pick(random, ['{', '{"increment":', '[1,2', '{"add":[}', 'nul', '\u0000'])
    default:
      return jsonBodyOf(random)
  }
}

// ---------------------------------------------------------------------------------------------
// Checks.

interface Canaries {
  /** Plain values by "keyspace/key". */
  readonly values: Map<string, string>
  readonly counter: number
  readonly set: readonly string[]
  readonly contexts: string[]
}

function expectJsonError(response: SimResponse, what: string): void {
  const type = response.headers.get('Content-Type') ?? ''
  expect(type, `${what}: content type`).toMatch(/^application\/json/)
  const body = JSON.parse(response.body) as { error?: { code?: unknown; message?: unknown } }
  expect(typeof body.error?.code, `${what}: error code`).toBe('string')
  expect(typeof body.error?.message, `${what}: error message`).toBe('string')
}

/** The answer to one hostile request: no 500, and every error in the documented shape. */
function checkAnswer(method: string, path: string, response: SimResponse): void {
  const what = `${method} ${path.slice(0, 120)} -> ${response.status} ${response.body.slice(0, 200)}`
  expect(response.status, what).not.toBe(500)
  expect([501, 502, 505].includes(response.status), what).toBe(false)
  if (response.status >= 400 && method !== 'HEAD') expectJsonError(response, what)
}

/** Canary writes retry a 503 (the strong group may not have elected a leader yet), 20 times. */
async function acknowledgedPut(cluster: SimCluster, node: string, path: string, value: string) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const response = await call(cluster, node, 'PUT', path, value)
    if (response.status !== 503) return response
    await cluster.sim.runFor(500)
  }
  throw new Error(`${path}: no answer but 503 in 20 attempts`)
}

async function writeCanaries(cluster: SimCluster): Promise<Canaries> {
  const values = new Map<string, string>()
  const contexts: string[] = []
  for (const keyspace of ['default', 'wit', 'reg']) {
    for (let index = 0; index < 4; index++) {
      const key = `${CANARY}-${index}`
      const value = `value of ${keyspace}/${key}`
      const all = keyspace === 'reg' ? '' : '?w=all'
      const node = NODES[index % 3] ?? 'n1'
      const response = await acknowledgedPut(
        cluster,
        node,
        `/v1/kv/${keyspace}/${key}${all}`,
        value,
      )
      expect(response.status, `canary ${keyspace}/${key}: ${response.body}`).toBe(204)
      values.set(`${keyspace}/${key}`, value)
      const context = response.headers.get('X-Murmur-Context')
      if (context !== null) contexts.push(context)
    }
  }
  const counted = await call(
    cluster,
    'n1',
    'POST',
    `/v1/counters/default/${CANARY}-c?w=all`,
    '{"increment":7}',
    { 'Content-Type': 'application/json' },
  )
  expect(counted.status, counted.body).toBe(200)
  const added = await call(
    cluster,
    'n2',
    'POST',
    `/v1/sets/default/${CANARY}-s?w=all`,
    '{"add":["a","b"]}',
    { 'Content-Type': 'application/json' },
  )
  expect(added.status, added.body).toBe(200)
  contexts.push((JSON.parse(added.body) as { context: string }).context)
  return { values, counter: 7, set: ['a', 'b'], contexts }
}

async function checkCanaries(cluster: SimCluster, canaries: Canaries): Promise<void> {
  for (const [name, value] of canaries.values) {
    const all = name.startsWith('reg/') ? '' : '?r=all'
    const read = await call(cluster, 'n3', 'GET', `/v1/kv/${name}${all}`)
    expect(read.status, `canary ${name}: ${read.body}`).toBe(200)
    expect(read.body, `canary ${name}`).toBe(value)
  }
  const counter = await call(cluster, 'n2', 'GET', `/v1/counters/default/${CANARY}-c?r=all`)
  expect(JSON.parse(counter.body), 'canary counter').toEqual({ value: canaries.counter })
  const set = await call(cluster, 'n1', 'GET', `/v1/sets/default/${CANARY}-s?r=all`)
  expect((JSON.parse(set.body) as { elements: string[] }).elements, 'canary set').toEqual(
    canaries.set,
  )
}

async function fuzzOnce(seed: number, requests: number): Promise<Map<number, number>> {
  const cluster = await SimCluster.create({ seed, configText: CONFIG })
  expect(await cluster.converge(10_000), 'membership converged').toBe(true)
  const random = new SeededRandom(seed).fork('requests')
  const canaries = await writeCanaries(cluster)
  const statuses = new Map<number, number>()
  for (let index = 0; index < requests; index++) {
    const path = pathOf(random)
    const method = random.chance(0.7) ? pick(random, methodsFor(path)) : pick(random, METHODS)
    const headers = headersOf(random, canaries.contexts)
    const body = ['GET', 'HEAD'].includes(method) ? undefined : bodyOf(random)
    const response = await call(cluster, pick(random, NODES), method, path, body, headers)
    checkAnswer(method, path, response)
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
  }
  for (const node of NODES) {
    const health = await call(cluster, node, 'GET', '/health')
    expect(health.status, `${node} health`).toBe(200)
  }
  await checkCanaries(cluster, canaries)
  return statuses
}

describe('REST fuzzing', () => {
  it('answers hostile requests with JSON errors and changes no acknowledged data', async () => {
    const requests = requestCount()
    for (const seed of pickSeeds('rest fuzz', 2)) {
      try {
        const statuses = await fuzzOnce(seed, requests)
        const summary = JSON.stringify([...statuses].sort((a, b) => a[0] - b[0]))
        console.log(`[sim] rest fuzz seed=${seed}: ${requests} requests, statuses ${summary}`)
      } catch (error) {
        throw failureWithSeed(seed, error)
      }
    }
  }, 120_000)
})
