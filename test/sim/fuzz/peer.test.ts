/**
 * Goal: nonsense on the peer protocol never crashes a node, never escapes as an internal
 * error, and never changes acknowledged data it does not address. The transport's framing,
 * checksums and handshake are fuzzed at the socket level (test/unit/runtime/tcp-transport,
 * test/unit/security); this test sends well-framed messages whose contents are hostile.
 * Method: a 3-node simulated cluster (real MurmurNode code) with an eventual, a witness and a
 * strong keyspace, canaries written and acknowledged first. A peer that is not a member sends
 * every message type the nodes serve (and junk types) with bodies built from the protocol's
 * field names and hostile values: wrong types, out-of-range integers, oversized strings and
 * arrays, random bytes where records are expected, and well-formed records of the wrong shape
 * for other (non-canary) keys. Every answer must be a value or a MurmurError other than
 * `internal`; afterwards every node still serves reads and writes and every canary reads back
 * unchanged. Seeds are printed; MURMUR_SEED replays a run.
 */

import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import { pick, type Random, SeededRandom } from '../../../src/env/random.js'
import { encodeKeyRecord } from '../../../src/replication/record.js'
import { emptyVersioned, update } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'
import { SimCluster } from '../cluster.js'
import { call, settle } from '../replication/harness.js'
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
`

const NODES = ['n1', 'n2', 'n3'] as const
const MESSAGES_PER_SEED = 600
/** Canary keys carry this prefix, which the generator never produces. */
const CANARY = 'canary-5d1e'

const TYPES = [
  'kv.coordinate',
  'kv.replicate',
  'kv.read',
  'kv.list',
  'kv.reapCheck',
  'kv.reap',
  'crdt.coordinate',
  'aae.hashes',
  'aae.keys',
  'aae.records',
  'membership.pushPull',
  'node.ping',
  'raft.message',
  'raft.snapshot',
  'strong.forward',
  'kv.nope',
  '',
  'x'.repeat(100),
]

const FIELDS = [
  'keyspace',
  'key',
  'operation',
  'value',
  'contentType',
  'context',
  'w',
  'pw',
  'r',
  'timeoutMs',
  'returnBody',
  'record',
  'hintFor',
  'partitions',
  'partition',
  'prefix',
  'after',
  'limit',
  'keys',
  'entries',
  'level',
  'indices',
  'segments',
  'depth',
  'frontier',
  'amount',
  'add',
  'remove',
  'id',
  'forward',
  'idempotencyKey',
  'messages',
  'term',
  'from',
  'to',
  'index',
  'data',
  'offset',
  'done',
]

function randomBytes(random: Random, length: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let index = 0; index < length; index++) bytes[index] = random.int(256)
  return bytes
}

function fuzzKey(random: Random): string {
  return pick(random, ['a', 'b', 'k0', 'é', '', 'x'.repeat(2000), `key-${random.int(50)}`])
}

/** A well-formed record of some key's state, for a key that is not a canary. */
function recordWire(random: Random): unknown {
  let kv = emptyVersioned<{ kind: 'value'; value: Uint8Array; contentType: string }>()
  for (let count = 1 + random.int(3); count > 0; count--) {
    kv = update(kv, EMPTY_VECTOR, `${pick(random, NODES)}.e${random.int(3)}`, {
      kind: 'value' as const,
      value: randomBytes(random, random.int(40)),
      contentType: 'application/octet-stream',
    }).versioned
  }
  return encodeKeyRecord({ kv })
}

/** A hostile value for a field: wrong types, extremes, oversized, or plausible. */
function value(random: Random, field: string, depth = 0): unknown {
  switch (random.int(14)) {
    case 0:
      return null
    case 1:
      return pick(random, [-1, 0, 1, 2, 3, 1.5, 2 ** 53, -(2 ** 31), Number.NaN, 1e308])
    case 2:
      return pick(random, ['', 'default', 'wit', 'reg', 'NOPE', 'put', 'delete', 'n1'])
    case 3:
      return 'z'.repeat(random.int(5000))
    case 4:
      return randomBytes(random, random.int(300))
    case 5:
      return random.chance(0.5)
    case 6:
      return depth > 2
        ? []
        : Array.from({ length: random.int(5) }, () => value(random, field, depth + 1))
    case 7:
      return Array.from({ length: 300 + random.int(5000) }, (_, index) => index)
    case 8:
      return depth > 2 ? {} : { [pick(random, FIELDS)]: value(random, field, depth + 1) }
    case 9:
      return recordWire(random)
    case 10:
      return { kv: randomBytes(random, 20), c: 'x', s: [1, 2] }
    case 11:
      return field === 'key' ? fuzzKey(random) : pick(random, ['default', 'wit'])
    default:
      return field === 'keyspace' ? pick(random, ['default', 'wit', 'reg']) : fuzzKey(random)
  }
}

/** The fields each kv message allows, so half the bodies get past the field check. */
const TEMPLATES = new Map<string, readonly string[]>([
  [
    'kv.coordinate',
    ['operation', 'value', 'contentType', 'context', 'w', 'pw', 'timeoutMs', 'returnBody'],
  ],
  ['kv.replicate', ['record', 'hintFor']],
  ['kv.read', ['hintFor']],
  ['kv.list', ['partitions', 'prefix', 'after', 'limit']],
  ['kv.reapCheck', ['keys']],
  ['kv.reap', ['entries']],
])

function templatedBody(random: Random): unknown {
  const type = pick(random, [...TEMPLATES.keys()])
  const body: Record<string, unknown> = { type }
  if (type === 'kv.reapCheck' || type === 'kv.reap') {
    const length = type === 'kv.reap' ? 3 : 2
    body[type === 'kv.reap' ? 'entries' : 'keys'] = Array.from({ length: random.int(4) }, () =>
      [pick(random, ['default', 'wit']), fuzzKey(random), recordWire(random)].slice(0, length),
    )
    return body
  }
  body['keyspace'] = pick(random, ['default', 'wit', 'reg', 'nope'])
  if (type !== 'kv.list') body['key'] = fuzzKey(random)
  for (const field of TEMPLATES.get(type) ?? []) {
    if (random.chance(0.8)) body[field] = value(random, field)
  }
  return body
}

function bodyOf(random: Random): unknown {
  if (random.chance(0.05)) return pick(random, [null, 7, 'text', [], randomBytes(random, 10)])
  if (random.chance(0.5)) return templatedBody(random)
  const body: Record<string, unknown> = { type: pick(random, TYPES) }
  // Mostly addressed like a real message, so decoders get past the address.
  if (random.chance(0.7)) {
    body['keyspace'] = pick(random, ['default', 'wit'])
    body['key'] = fuzzKey(random)
  }
  for (let count = random.int(6); count > 0; count--) {
    const field = pick(random, FIELDS)
    body[field] = value(random, field)
  }
  return body
}

/** Fails when a field anywhere in `body` could name a canary (the generator never does). */
function assertNoCanary(body: unknown): void {
  expect(
    JSON.stringify(body, (_name, item) => (item instanceof Uint8Array ? '' : item)) ?? '',
  ).not.toContain(CANARY)
}

async function writeCanaries(cluster: SimCluster): Promise<Map<string, string>> {
  const values = new Map<string, string>()
  for (const keyspace of ['default', 'wit', 'reg']) {
    for (let index = 0; index < 3; index++) {
      const path = `/v1/kv/${keyspace}/${CANARY}-${index}${keyspace === 'reg' ? '' : '?w=all'}`
      let status = 0
      for (let attempt = 0; attempt < 20 && status !== 204; attempt++) {
        status = (await call(cluster, pick(cluster.sim.random, NODES), 'PUT', path, `v${index}`))
          .status
        if (status === 503) await cluster.sim.runFor(500)
      }
      expect(status, `canary ${path}`).toBe(204)
      values.set(`${keyspace}/${CANARY}-${index}`, `v${index}`)
    }
  }
  return values
}

async function fuzzOnce(seed: number): Promise<Map<string, number>> {
  const cluster = await SimCluster.create({ seed, configText: CONFIG })
  expect(await cluster.converge(10_000), 'membership converged').toBe(true)
  const canaries = await writeCanaries(cluster)
  const hostile = cluster.network.transport('mallory')
  const random = new SeededRandom(seed).fork('peer fuzz')
  const outcomes = new Map<string, number>()
  for (let index = 0; index < MESSAGES_PER_SEED; index++) {
    const body = bodyOf(random)
    assertNoCanary(body)
    const answer = hostile.request(pick(random, NODES), body, 1000).then(
      () => 'answered',
      (error: unknown) => {
        const what = `${JSON.stringify(body, (_name, item) => (item instanceof Uint8Array ? `<${item.length} bytes>` : item)).slice(0, 300)}`
        expect(isMurmurError(error), `${what}: ${String(error)}`).toBe(true)
        const code = isMurmurError(error) ? error.code : 'thrown'
        expect(code, `${what}: ${String(error)}`).not.toBe('internal')
        return code
      },
    )
    const outcome = await settle(cluster, answer, 5000)
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1)
  }
  await hostile.close()
  await cluster.sim.runFor(3000)
  for (const [name, expected] of canaries) {
    const all = name.startsWith('reg/') ? '' : '?r=all'
    const read = await call(cluster, 'n2', 'GET', `/v1/kv/${name}${all}`)
    expect(read.status, `canary ${name}: ${read.body}`).toBe(200)
    expect(read.body, `canary ${name}`).toBe(expected)
  }
  const put = await call(cluster, 'n3', 'PUT', '/v1/kv/default/after-fuzz?w=all', 'fine')
  expect(put.status, put.body).toBe(204)
  return outcomes
}

describe('peer protocol fuzzing', () => {
  it('answers hostile peer messages with errors and changes no acknowledged data', async () => {
    for (const seed of pickSeeds('peer fuzz', 2)) {
      try {
        const outcomes = await fuzzOnce(seed)
        const summary = JSON.stringify([...outcomes].sort())
        console.log(`[sim] peer fuzz seed=${seed}: ${MESSAGES_PER_SEED} messages, ${summary}`)
      } catch (error) {
        throw failureWithSeed(seed, error)
      }
    }
  }, 120_000)
})
