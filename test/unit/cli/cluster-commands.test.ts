/**
 * Goal: `murmur cluster join|leave|replace|plan|clear|commit|status` stage, show and commit
 * topology changes as documented: human and JSON output, one-line errors with the documented
 * exit codes (400 refusals are usage errors, 409 conflicts are failed conditions), and usage
 * errors for malformed command lines. Method: the command's action runner against a simulated
 * four-node cluster (three founding nodes, one standby; the receivers report no transfer, so
 * a move stays under way) whose REST apps answer the client transport's requests through a
 * stub fetch; console output is captured.
 */

import { afterEach, describe, expect, it, vi } from 'vitest'
import { UsageError } from '../../../src/cli/args.js'
import { clientExitCode, EXIT, parseClientArgs } from '../../../src/cli/client-support.js'
import { runClusterAction, TopologyAdminClient } from '../../../src/cli/cluster-commands.js'
import { MurmurClientError } from '../../../src/client/errors.js'
import { Transport } from '../../../src/client/transport.js'
import { SimCluster } from '../../sim/cluster.js'
import { settle } from '../../sim/replication/harness.js'

const LIMIT_MS = 20_000
const CONFIG = `
nodes:
  - { id: n1, httpPort: 7001 }
  - { id: n2, httpPort: 7002 }
  - { id: n3, httpPort: 7003 }
  - { id: n4, httpPort: 7004, standby: true }
keyspaces:
  default: { replicas: 3 }
ring: { partitions: 16 }
topology: { startWaitMs: 200 }
log: { level: error }
`

async function simulated(): Promise<{ cluster: SimCluster; admin: TopologyAdminClient }> {
  const cluster = await SimCluster.create({ seed: 7, configText: CONFIG })
  // Receivers report nothing, so a committed move stays under way for the whole test.
  for (const id of cluster.nodeIds)
    cluster.node(id).topology.attachTransferReport({ transfers: () => [] })
  const fetch = async (url: string, init: RequestInit): Promise<Response> => {
    const parsed = new URL(url)
    const id = `n${Number(parsed.port) - 7000}`
    const body = typeof init.body === 'string' ? init.body : undefined
    const answer = await cluster.request(
      id,
      init.method ?? 'GET',
      `${parsed.pathname}${parsed.search}`,
      body,
      (init.headers ?? {}) as Record<string, string>,
    )
    return new Response(answer.body, { status: answer.status, headers: answer.headers })
  }
  // n4 is outside the Raft group: every action is forwarded from it.
  const transport = new Transport({ nodes: ['http://127.0.0.1:7004'], fetch, retries: 0 })
  return { cluster, admin: new TopologyAdminClient(transport) }
}

async function run(
  cluster: SimCluster,
  admin: TopologyAdminClient,
  argv: string[],
): Promise<{ code: number; output: string }> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {})
  try {
    const args = parseClientArgs(argv, { version: { type: 'string' } }, 3)
    const code = await settle(cluster, runClusterAction(args, admin), LIMIT_MS)
    return { code, output: log.mock.calls.map((call) => String(call[0])).join('\n') }
  } finally {
    log.mockRestore()
  }
}

async function failure(
  cluster: SimCluster,
  admin: TopologyAdminClient,
  argv: string[],
): Promise<MurmurClientError> {
  const error = await run(cluster, admin, argv).then(
    () => undefined,
    (thrown: unknown) => thrown,
  )
  expect(error).toBeInstanceOf(MurmurClientError)
  return error as MurmurClientError
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('murmur cluster', () => {
  it('stages, plans, commits and shows a join', async () => {
    const { cluster, admin } = await simulated()
    const joined = await run(cluster, admin, ['join', 'n4'])
    expect(joined.code).toBe(EXIT.ok)
    expect(joined.output).toMatch(/topology version 1, settled/)
    expect(joined.output).toMatch(/staged: join n4/)
    expect(joined.output).toMatch(/plan: \d+ partition moves/)

    const unknown = await failure(cluster, admin, ['join', 'n9'])
    expect(unknown.code).toBe('invalid_request')
    expect(unknown.message).toMatch(/not listed in cluster.yml/)
    expect(clientExitCode(unknown)).toBe(EXIT.usage)

    const stale = await failure(cluster, admin, ['commit', '--version', '5'])
    expect(stale.code).toBe('precondition_failed')
    expect(stale.status).toBe(409)
    expect(clientExitCode(stale)).toBe(EXIT.failed)

    const committed = await run(cluster, admin, ['commit', '--json'])
    expect(JSON.parse(committed.output)).toEqual({ version: 2 })

    const status = await run(cluster, admin, ['status', '--json'])
    const view = JSON.parse(status.output) as {
      version: number
      moving: boolean
      staged: unknown[]
    }
    expect(view).toMatchObject({ version: 2, moving: true, staged: [] })
    const human = await run(cluster, admin, ['status'])
    expect(human.output).toMatch(/topology version 2, moving/)
    expect(human.output).toMatch(/transfers: 0\/\d+ done/)

    // Another commit while the move is under way is a conflict.
    await run(cluster, admin, ['leave', 'n1'])
    const moving = await failure(cluster, admin, ['commit'])
    expect(moving.code).toBe('precondition_failed')
    expect(moving.message).toMatch(/still moving/)
    const cleared = await run(cluster, admin, ['clear'])
    expect(cleared.output).toMatch(/staged: nothing/)
  }, 60_000)

  it('refuses malformed command lines as usage errors', async () => {
    const { cluster, admin } = await simulated()
    for (const argv of [['frob'], ['replace', 'n1'], ['join'], ['plan', 'extra'], []]) {
      await expect(run(cluster, admin, argv)).rejects.toBeInstanceOf(UsageError)
    }
    await expect(run(cluster, admin, ['commit', '--version', 'x'])).rejects.toThrow(/--version/)
  }, 60_000)
})
