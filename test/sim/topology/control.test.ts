/**
 * Goal: the topology control plane never lets two nodes act on different rings under one
 * version. Concurrent commits from different nodes produce exactly one record per version (one
 * commit wins, the others get 409), every node ends on the same version with the same content,
 * a move finishes once its receivers report every transfer done, and a node that crashes during
 * a change catches up after it restarts. Method: a simulated cluster of five real nodes (three
 * founding, two standby; the Raft group on the first three) driven through the admin REST
 * routes; the receivers' transfer reports are stubbed to say "done" for every transfer they
 * need, since moving data is the handoff's business; every topology each node installs is
 * recorded and checked for one content per version. Seeded: the seed picks which nodes commit,
 * stage and crash, and the simulator's network timing; it is printed, and MURMUR_SEED replays.
 */

import { describe, expect, it } from 'vitest'
import { SeededRandom, shuffle } from '../../../src/env/random.js'
import { topologyToRecord } from '../../../src/ring/topology-plan.js'
import { neededTransfers } from '../../../src/runtime/topology/progress.js'
import { SimCluster, type SimResponse } from '../cluster.js'
import { settle } from '../replication/harness.js'
import { failureWithSeed, pickSeeds } from '../seed.js'

const LIMIT_MS = 30_000
const CONFIG = `
nodes:
  - { id: n1 }
  - { id: n2 }
  - { id: n3 }
  - { id: n4, standby: true }
  - { id: n5, standby: true }
keyspaces:
  default: { replicas: 3 }
ring: { partitions: 16 }
topology: { finishCheckIntervalMs: 200, fetchTimeoutMs: 500, startWaitMs: 500 }
log: { level: warn }
`

/** version → the record JSON some node installed under it, and who. */
type Seen = Map<number, { readonly json: string; readonly node: string }>

function watch(cluster: SimCluster, id: string, seen: Seen): void {
  const node = cluster.node(id)
  const record = (topology: Parameters<Parameters<typeof node.topology.onChange>[0]>[0]) => {
    const json = JSON.stringify(topologyToRecord(topology))
    const earlier = seen.get(topology.version)
    if (earlier !== undefined && earlier.json !== json) {
      throw new Error(
        `version ${topology.version}: ${id} and ${earlier.node} installed different rings`,
      )
    }
    seen.set(topology.version, { json, node: id })
  }
  record(node.topology.topology())
  node.topology.onChange(record)
  // Every receiver reports every transfer it needs as done at once.
  node.topology.attachTransferReport({
    transfers: () => {
      const topology = node.topology.topology()
      return neededTransfers(topology, [{ name: 'default', replicas: 3, witnesses: 0 }])
        .filter((transfer) => transfer.receiver === id)
        .map((transfer) => ({
          ...transfer,
          version: topology.version,
          state: 'done' as const,
          keysMoved: 0,
          bytesMoved: 0,
          startedAt: undefined,
          finishedAt: undefined,
          error: undefined,
        }))
    },
  })
}

async function http(
  cluster: SimCluster,
  id: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<SimResponse> {
  const text = body === undefined ? undefined : JSON.stringify(body)
  return settle(cluster, cluster.request(id, method, path, text), LIMIT_MS)
}

async function allOn(cluster: SimCluster, version: number): Promise<void> {
  const running = cluster.nodeIds.filter((id) => cluster.isRunning(id))
  const reached = await cluster.sim.runUntil(
    () => running.every((id) => cluster.node(id).topology.topology().version === version),
    { untilMs: cluster.sim.nowMs + LIMIT_MS },
  )
  const versions = running.map((id) => `${id}@${cluster.node(id).topology.topology().version}`)
  expect(reached, `every node on version ${version}: ${versions.join(' ')}`).toBe(true)
}

/** Concurrent commits from `committers`: exactly one wins. Returns the new version. */
async function commitConcurrently(
  cluster: SimCluster,
  committers: readonly string[],
  from: number,
): Promise<number> {
  const answers = await Promise.all(
    committers.map((id) =>
      http(cluster, id, 'POST', '/v1/admin/topology/commit', { version: from }),
    ),
  )
  const statuses = answers.map((answer) => answer.status).sort()
  expect(statuses[0]).toBe(200)
  expect(statuses.slice(1).every((status) => status === 409)).toBe(true)
  return from + 1
}

async function runSeed(seed: number): Promise<void> {
  const random = new SeededRandom(seed)
  const cluster = await SimCluster.create({ seed, configText: CONFIG })
  const seen: Seen = new Map()
  for (const id of cluster.nodeIds) watch(cluster, id, seen)
  expect(await cluster.converge(LIMIT_MS)).toBe(true)

  // Grow: n4 joins, staged through any node; two nodes commit at once.
  const stager = shuffle(random, [...cluster.nodeIds])[0] ?? 'n1'
  const staged = await http(cluster, stager, 'POST', '/v1/admin/topology/stage', {
    action: 'join',
    node: 'n4',
  })
  expect(staged.status, staged.body).toBe(200)
  const committers = shuffle(random, [...cluster.nodeIds]).slice(0, 2)
  const moving = await commitConcurrently(cluster, committers, 1)
  await allOn(cluster, moving + 1)

  // Replace n2 with n5 while a random node other than the stager crashes and restarts.
  const replaced = await http(cluster, 'n5', 'POST', '/v1/admin/topology/stage', {
    action: 'replace',
    node: 'n2',
    with: 'n5',
  })
  expect(replaced.status, replaced.body).toBe(200)
  const victim = shuffle(
    random,
    cluster.nodeIds.filter((id) => id !== 'n5'),
  )[0] as string
  await cluster.crash(victim)
  const others = shuffle(
    random,
    cluster.nodeIds.filter((id) => id !== victim),
  ).slice(0, 2)
  const second = await commitConcurrently(cluster, others, moving + 1)
  await cluster.start(victim)
  watch(cluster, victim, seen)
  await allOn(cluster, second + 1)

  const finalJson = seen.get(second + 1)?.json
  for (const id of cluster.nodeIds) {
    expect(JSON.stringify(topologyToRecord(cluster.node(id).topology.topology()))).toBe(finalJson)
  }
  const final = cluster.node('n1').topology.topology()
  expect(final.next).toBeUndefined()
  expect(final.current.nodes.map((node) => node.id)).toEqual(['n1', 'n3', 'n4', 'n5'])
  // A commit from a version that moved on is refused.
  const stale = await http(cluster, 'n3', 'POST', '/v1/admin/topology/commit', { version: 1 })
  expect(stale.status).toBe(409)
}

describe('topology control plane in simulation', () => {
  it('writes each version once and brings every node to it', async () => {
    for (const seed of pickSeeds('topology control', 3)) {
      try {
        await runSeed(seed)
      } catch (error) {
        throw failureWithSeed(seed, error)
      }
    }
  }, 120_000)
})
