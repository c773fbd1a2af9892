/**
 * Goal: witness replicas work between real processes: with three replicas of which one is a
 * witness, a witness coordinates the writes it receives for its keys, quorum writes keep
 * succeeding through kill -9 of a full replica (the witness of
 * each of its keys is promoted and keeps the value as a hint), quorum reads return the latest
 * acknowledged values meanwhile, the restarted replica gets every value back, and afterwards
 * no witness holds a value: no hints are left, and the witness's own records on disk hold
 * digests only. Changing the witness count later loses no acknowledged write.
 * Method: three `murmur start` processes on 127.0.0.1 (RocksDB, sync durability), keyspace
 * `witnessed` with N=3 and one witness. Writers put unique values without a context, so every
 * acknowledged value must survive as a value or a sibling. At the end every process is
 * stopped and each node's RocksDB is opened directly to inspect the records it keeps as a
 * witness. Then the witness count changes (1 → 0 → 2) by the documented procedure (rewrite
 * cluster.yml, restart the nodes one by one, read every key with r=all&repair=blocking), with
 * writes after each change, and every node must still return every acknowledged value (at
 * r=one where every replica is full). Every wait is bounded.
 */

import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { holdsDigests, holdsValues } from '../../src/replication/witness.js'
import { partitionForKey } from '../../src/ring/index.js'
import { KEY_RECORD_TYPE } from '../../src/runtime/kv/store.js'
import { dataKey, sublevelRange } from '../../src/storage/layout.js'
import { decodeStoredRecord } from '../../src/storage/records.js'
import { RocksDbEngine } from '../../src/storage/rocksdb.js'
import { eventually, TestCluster } from '../support/cluster.js'

const KEYSPACE = 'witnessed'
const KEYS = Array.from({ length: 24 }, (_, index) => `k${index}`)
const VICTIM = 'n1'

let cluster: TestCluster
/** key → values acknowledged for it, in order. */
const acknowledged = new Map<string, string[]>()
/** key → its witness. */
const witnessOf = new Map<string, string>()
/** key → the node that coordinated its latest acknowledged write. */
const coordinatorOf = new Map<string, string>()
let partitionCount = 0
let sequence = 0

interface RingAnswer {
  readonly partitions: number
  readonly keyspaces: readonly {
    readonly name: string
    readonly partitions?: readonly {
      readonly partition: number
      readonly full: readonly string[]
      readonly witnesses: readonly string[]
    }[]
  }[]
}

beforeAll(async () => {
  cluster = await TestCluster.create({
    nodes: 3,
    file: {
      gossip: { preset: 'local' },
      keyspaces: { [KEYSPACE]: { replicas: 3, witnesses: 1 } },
      requests: { timeoutMs: 3000, peerTimeoutMs: 1000 },
      replication: { hintReplayIntervalMs: 500 },
    },
  })
  await cluster.startAll()
  for (const id of ['n1', 'n2', 'n3']) await cluster.waitFor(id, '/ready', 15_000)
  const ring = (await cluster.json('n2', '/v1/cluster/ring')).body as RingAnswer
  partitionCount = ring.partitions
  const keyspace = ring.keyspaces.find((candidate) => candidate.name === KEYSPACE)
  for (const key of KEYS) {
    const place = keyspace?.partitions?.find(
      (candidate) => candidate.partition === partitionForKey(partitionCount, KEYSPACE, key),
    )
    const witness = place?.witnesses[0]
    if (witness === undefined) throw new Error(`no witness for ${key}`)
    witnessOf.set(key, witness)
  }
}, 60_000)

afterAll(async () => {
  await cluster.destroy()
}, 30_000)

async function put(node: string, key: string): Promise<number> {
  const value = `v${++sequence}`
  try {
    const response = await cluster.request(node, `/v1/kv/${KEYSPACE}/${key}?w=quorum`, {
      method: 'PUT',
      body: value,
      headers: { 'Content-Type': 'text/plain' },
    })
    await response.arrayBuffer()
    if (response.status === 204) {
      acknowledged.set(key, [...(acknowledged.get(key) ?? []), value])
      coordinatorOf.set(key, response.headers.get('X-Murmur-Coordinator') ?? '')
    }
    return response.status
  } catch {
    return -1
  }
}

/** The live values a read returns (one for 200, the siblings for 300). */
async function read(node: string, key: string, level: string): Promise<string[]> {
  const response = await cluster.request(node, `/v1/kv/${KEYSPACE}/${key}?r=${level}`)
  const text = await response.text()
  if (response.status === 200) return [text]
  expect(response.status).toBe(300)
  const body = JSON.parse(text) as { siblings: { value: string | null }[] }
  return body.siblings
    .filter((sibling) => sibling.value !== null)
    .map((sibling) => Buffer.from(sibling.value as string, 'base64').toString())
}

async function hintsHeld(node: string): Promise<number> {
  const { body } = await cluster.json(node, '/v1/cluster')
  const held = (body as { replication: { hintsHeld: Record<string, number> } }).replication
    .hintsHeld
  return Object.values(held).reduce((sum, count) => sum + count, 0)
}

async function seenDead(observer: string, node: string): Promise<boolean> {
  const { body } = await cluster.json(observer, '/v1/cluster')
  const members = (body as { members: { id: string; state: string }[] }).members
  return members.find((member) => member.id === node)?.state === 'dead'
}

describe('witness replicas between real processes', () => {
  it('keeps quorum writes working through kill -9 of a full replica, via the witness', async () => {
    const sentToWitness: string[] = []
    for (const [index, key] of KEYS.entries()) {
      const node = index % 2 === 0 ? 'n2' : 'n3'
      expect(await put(node, key)).toBe(204)
      if (witnessOf.get(key) === node) sentToWitness.push(key)
    }
    // A witness coordinates the writes of its own keys instead of forwarding them.
    expect(sentToWitness.length).toBeGreaterThan(0)
    for (const key of sentToWitness) expect(coordinatorOf.get(key)).toBe(witnessOf.get(key))
    await cluster.kill(VICTIM)
    await eventually(
      async () => (await seenDead('n2', VICTIM)) && (await seenDead('n3', VICTIM)),
      20_000,
      `${VICTIM} seen dead`,
    )
    const statuses: number[] = []
    for (let round = 0; round < 2; round++) {
      for (const [index, key] of KEYS.entries()) {
        statuses.push(await put(index % 2 === 0 ? 'n3' : 'n2', key))
      }
    }
    expect(statuses.filter((status) => status !== 204)).toEqual([])
    // The victim is a full replica of about two thirds of the keys; their witnesses hold its
    // values as hints until it comes back.
    expect((await hintsHeld('n2')) + (await hintsHeld('n3'))).toBeGreaterThan(0)
    for (const key of KEYS) {
      const latest = acknowledged.get(key)?.at(-1)
      expect(await read('n2', key, 'quorum')).toContain(latest)
    }
  }, 90_000)

  it('hands every value back to the restarted replica and drops the temporary copies', async () => {
    await cluster.start(VICTIM)
    await cluster.waitFor(VICTIM, '/ready', 15_000)
    await eventually(
      async () => {
        const held = await Promise.all(['n1', 'n2', 'n3'].map((node) => hintsHeld(node)))
        return held.every((count) => count === 0)
      },
      30_000,
      'every hint handed off',
    )
    for (const key of KEYS) {
      const present = await read(VICTIM, key, 'all')
      for (const value of acknowledged.get(key) ?? []) expect(present).toContain(value)
    }
  }, 60_000)

  it('leaves no value in any witness record on disk', async () => {
    for (const node of ['n1', 'n2', 'n3']) await cluster.kill(node)
    let witnessRecords = 0
    for (const node of ['n1', 'n2', 'n3']) {
      const engine = await RocksDbEngine.open(join(cluster.dir, 'data', node))
      try {
        let hints = 0
        for await (const _ of engine.iterate(sublevelRange('hints'))) hints++
        expect(hints).toBe(0)
        for (const key of KEYS) {
          if (witnessOf.get(key) !== node) continue
          const bytes = dataKey(partitionForKey(partitionCount, KEYSPACE, key), KEYSPACE, key)
          const stored = await engine.get(bytes)
          expect(stored).toBeDefined()
          if (stored === undefined) continue
          const record = decodeStoredRecord(KEY_RECORD_TYPE, bytes, stored)
          expect(holdsValues(record)).toBe(false)
          expect(holdsDigests(record)).toBe(true)
          witnessRecords++
        }
      } finally {
        await engine.close()
      }
    }
    expect(witnessRecords).toBe(KEYS.length)
  }, 60_000)

  it('loses nothing when the witness count changes, following the documented procedure', async () => {
    for (const witnesses of [0, 2]) {
      setWitnesses(witnesses)
      // The previous test stopped every node; after that, a rolling restart.
      if (!cluster.isRunning('n1')) await cluster.startAll()
      for (const node of ['n1', 'n2', 'n3']) {
        if (witnesses !== 0) await cluster.restart(node)
        await cluster.waitFor(node, '/ready', 15_000)
      }
      // The procedure's repair pass: every key read with r=all and blocking repair. Right after
      // a rolling restart such a read can still time out, so each key is retried for a bounded
      // time; what must never happen is a lost value, checked below.
      for (const key of KEYS) {
        await eventually(
          async () => {
            const response = await cluster.request(
              'n1',
              `/v1/kv/${KEYSPACE}/${key}?r=all&repair=blocking`,
            )
            await response.arrayBuffer()
            return response.status === 200 || response.status === 300
          },
          30_000,
          `${key}: the repair read answers 200 or 300`,
          200,
        )
      }
      for (const [index, key] of KEYS.entries()) {
        expect(await put(['n1', 'n2', 'n3'][index % 3] as string, key)).toBe(204)
      }
      for (const node of ['n1', 'n2', 'n3']) {
        for (const key of KEYS) {
          const present = await read(node, key, witnesses === 0 ? 'one' : 'quorum')
          for (const value of acknowledged.get(key) ?? []) expect(present).toContain(value)
        }
      }
    }
  }, 120_000)
})

/** Rewrites the keyspace's witness count in the cluster file (nodes read it when they start). */
function setWitnesses(witnesses: number): void {
  const file = parse(readFileSync(cluster.configPath, 'utf8')) as {
    keyspaces: Record<string, { witnesses: number }>
  }
  const keyspace = file.keyspaces[KEYSPACE]
  if (keyspace === undefined) throw new Error(`no keyspace ${KEYSPACE} in the cluster file`)
  keyspace.witnesses = witnesses
  writeFileSync(cluster.configPath, stringify(file))
}
