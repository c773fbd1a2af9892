/**
 * Goal: the topology admin actions work on real processes: a cluster of three founding nodes
 * and one standby stages, plans and commits a join through REST and the CLI, refuses what it
 * must (an unknown node, a join of a member, a leave below the replica count, nothing staged, a
 * commit from a version that moved on), and every node, including one restarted after kill -9 and the standby restarted on a
 * wiped data directory, reports the same ring version. Method: TestCluster processes on
 * loopback with free ports; the cluster file is edited to mark n4 standby before the start;
 * every wait is bounded; every process is stopped by PID at the end.
 */

import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { type CliRun, eventually, runCli, TestCluster } from '../support/cluster.js'

const WAIT_MS = 20_000
let cluster: TestCluster

function cli(args: readonly string[], timeoutMs = 15_000): Promise<CliRun> {
  return runCli([...args, '--config', cluster.configPath], { env: { MURMUR_URL: '' }, timeoutMs })
}

async function admin(
  id: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const init: RequestInit = { method, headers: { 'Content-Type': 'application/json' } }
  if (body !== undefined) init.body = JSON.stringify(body)
  const answer = await cluster.json(id, `/v1/admin/topology${path}`, init)
  return { status: answer.status, body: answer.body as Record<string, unknown> }
}

async function versionOf(id: string): Promise<number> {
  const view = await cluster.json(id, '/v1/cluster')
  return (view.body as { topology: { version: number } }).topology.version
}

/** Waits until every node reports one version of at least `least`; answers it. */
async function sameVersionEverywhere(least: number): Promise<number> {
  let versions: number[] = []
  await eventually(
    async () => {
      versions = await Promise.all(cluster.nodes.map((node) => versionOf(node.id)))
      return versions.every((version) => version === versions[0] && version >= least)
    },
    WAIT_MS,
    `every node on one version of at least ${least}`,
    100,
  )
  return versions[0] as number
}

beforeAll(async () => {
  cluster = await TestCluster.create({
    nodes: 4,
    file: {
      keyspaces: { default: { replicas: 3 } },
      ring: { partitions: 16 },
      topology: { finishCheckIntervalMs: 300, startWaitMs: 2000, fetchTimeoutMs: 1000 },
    },
  })
  const file = parse(readFileSync(cluster.configPath, 'utf8')) as {
    nodes: Record<string, unknown>[]
  }
  const standby = file.nodes[3]
  if (standby === undefined) throw new Error('the cluster file has no fourth node')
  standby['standby'] = true
  writeFileSync(cluster.configPath, stringify(file))
  await cluster.startAll()
  for (const node of cluster.nodes) await cluster.waitFor(node.id, '/ready', WAIT_MS)
}, 60_000)

afterAll(async () => {
  await cluster?.destroy()
})

describe('topology admin on real processes', () => {
  it('starts on version 1 without the standby node', async () => {
    const view = await admin('n4', 'GET', '')
    expect(view.status).toBe(200)
    expect(view.body['version']).toBe(1)
    const current = view.body['current'] as { nodes: { id: string }[] }
    expect(current.nodes.map((node) => node.id)).toEqual(['n1', 'n2', 'n3'])
  })

  it('refuses what cannot apply', async () => {
    const nothing = await admin('n1', 'POST', '/commit', { version: 1 })
    expect(nothing.status).toBe(400)
    expect((nothing.body['error'] as { reason: string }).reason).toBe('nothing_staged')
    const member = await admin('n2', 'POST', '/stage', { action: 'join', node: 'n1' })
    expect(member.status).toBe(400)
    expect((member.body['error'] as { reason: string }).reason).toBe('already_in_ring')
    const unknown = await cli(['cluster', 'leave', 'n9'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/not in the ring|not listed/)
    const below = await cli(['cluster', 'leave', 'n1'])
    expect(below.code).toBe(2)
    expect(below.stderr).toMatch(/fewer than the 3 replicas/)
  })

  it('stages, plans and commits a join through REST and the CLI', async () => {
    const staged = await admin('n2', 'POST', '/stage', { action: 'join', node: 'n4' })
    expect(staged.status).toBe(200)
    expect(staged.body['staged']).toEqual([{ action: 'join', node: 'n4' }])
    const plan = await cli(['cluster', 'plan'])
    expect(plan.code).toBe(0)
    expect(plan.stdout).toMatch(/staged: join n4/)
    expect(plan.stdout).toMatch(/plan: \d+ partition moves/)
    const stale = await admin('n3', 'POST', '/commit', { version: 5 })
    expect(stale.status).toBe(409)
    expect((stale.body['error'] as { code: string }).code).toBe('precondition_failed')
    const committed = await cli(['cluster', 'commit', '--version', '1', '--json'])
    expect(committed.code, committed.stderr).toBe(0)
    expect(JSON.parse(committed.stdout)).toEqual({ version: 2 })
    expect(await sameVersionEverywhere(2)).toBeGreaterThanOrEqual(2)
    // A commit from a version that moved on is a conflict, through REST and the CLI.
    const late = await admin('n1', 'POST', '/commit', { version: 1 })
    expect(late.status).toBe(409)
    const lateCli = await cli(['cluster', 'commit', '--version', '1'])
    expect(lateCli.code).toBe(1)
    expect(lateCli.stderr).toMatch(/murmur: .*version/)
    // The move may finish meanwhile: version 2 moving, or 3 settled.
    const status = await cli(['status'])
    expect(status.stdout).toMatch(/ring: version (2, moving|3, settled)/)
    expect(status.stdout).toMatch(/ownership:\n\s+node\s+primaries\s+replicas/)
  }, 60_000)

  it('brings a restarted node and a wiped standby to the same version', async () => {
    const before = await sameVersionEverywhere(2)
    await cluster.restart('n3')
    await cluster.kill('n4')
    rmSync(join(cluster.dir, 'data', 'n4'), { recursive: true, force: true })
    await cluster.start('n4')
    const after = await sameVersionEverywhere(before)
    expect(after).toBeGreaterThanOrEqual(before)
    const n4 = (await cluster.json('n4', '/v1/cluster')).body as {
      topology: { ownership: Record<string, unknown>; nextOwnership?: Record<string, unknown> }
    }
    expect(Object.keys(n4.topology.nextOwnership ?? n4.topology.ownership)).toContain('n4')
  }, 60_000)
})
