/**
 * Goal: membership works between real processes: five nodes on loopback find each other
 * through the seeds, every survivor marks a node killed with SIGKILL as dead, and the node,
 * restarted with the same id and data directory, is alive again in every view with a higher
 * incarnation (memberlist #311 must not happen here). Method: real `murmur start` processes with
 * the `local` gossip preset, observed through each node's GET /v1/cluster, every wait bounded.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventually, TestCluster } from '../support/cluster.js'

interface MemberView {
  readonly id: string
  readonly state: string
  readonly incarnation: number
}

let cluster: TestCluster

async function view(id: string): Promise<MemberView[]> {
  const { status, body } = await cluster.json(id, '/v1/cluster')
  expect(status).toBe(200)
  return (body as { members: MemberView[] }).members
}

async function stateOf(observer: string, subject: string): Promise<MemberView | undefined> {
  try {
    return (await view(observer)).find((member) => member.id === subject)
  } catch {
    return undefined
  }
}

async function everyoneSees(
  observers: readonly string[],
  subject: string,
  state: string,
): Promise<boolean> {
  const states = await Promise.all(observers.map((observer) => stateOf(observer, subject)))
  return states.every((member) => member?.state === state)
}

beforeAll(async () => {
  cluster = await TestCluster.create({
    nodes: 5,
    file: { gossip: { preset: 'local' }, keyspaces: {} },
  })
  await cluster.startAll()
}, 60_000)

afterAll(async () => {
  await cluster.destroy()
}, 30_000)

describe('membership between real processes', () => {
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5']

  it('every node sees all five alive', async () => {
    for (const subject of ids) {
      await eventually(
        () => everyoneSees(ids, subject, 'alive'),
        15_000,
        `not every node sees ${subject} alive`,
      )
    }
    for (const id of ids) await cluster.waitFor(id, '/ready', 5000)
  }, 30_000)

  it('a node killed with SIGKILL is marked dead by every survivor', async () => {
    await cluster.kill('n4')
    const survivors = ids.filter((id) => id !== 'n4')
    await eventually(
      () => everyoneSees(survivors, 'n4', 'dead'),
      30_000,
      'not every survivor marked n4 dead',
    )
  }, 40_000)

  it('the restarted node is alive everywhere with a higher incarnation', async () => {
    const before = Math.max(
      ...(await Promise.all(
        ['n1', 'n2'].map(async (id) => (await stateOf(id, 'n4'))?.incarnation ?? 0),
      )),
    )
    await cluster.start('n4')
    await eventually(
      () => everyoneSees(ids, 'n4', 'alive'),
      10_000,
      'the restarted n4 is not alive in every view',
    )
    const after = await stateOf('n1', 'n4')
    expect(after?.incarnation).toBeGreaterThan(before)
  }, 30_000)
})
