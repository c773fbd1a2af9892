/**
 * `murmur cluster join|leave|replace|plan|clear|commit|status`: live topology changes through
 * the admin REST routes (docs/OPERATIONS.md, Changing the topology). Changes are staged one at
 * a time, reviewed with `plan`, and committed as one new ring version; `status` follows the
 * move's transfers. `commit` commits from the version the plan was shown for: `--version`
 * when given, else the version the node reports right before committing.
 */

import type { AdminTopologyView } from '../api/openapi/schemas.js'
import { adminTopology, topologyCommitted } from '../api/openapi/schemas.js'
import { Transport } from '../client/transport.js'
import { expectStatus, jsonBody, parseJson } from '../client/values.js'
import { type ParsedArgs, UsageError } from './args.js'
import {
  CLIENT_USAGE,
  EXIT,
  emit,
  integerValue,
  parseClientArgs,
  positional,
  runClientCommand,
  transportOptionsFrom,
} from './client-support.js'
import type { Command } from './main.js'

const ADMIN_PATH = '/v1/admin/topology'
const JSON_HEADERS = { 'Content-Type': 'application/json' }
const TRANSFER_LINES_MAX = 20

/** The admin routes as the CLI calls them. */
export class TopologyAdminClient {
  constructor(private readonly transport: Transport) {}

  async view(): Promise<AdminTopologyView> {
    const reply = await this.transport.send({ method: 'GET', path: ADMIN_PATH, retry: true })
    expectStatus(reply, [200])
    return parseJson(reply, adminTopology)
  }

  async stage(change: Record<string, string>): Promise<AdminTopologyView> {
    const reply = await this.transport.send({
      method: 'POST',
      path: `${ADMIN_PATH}/stage`,
      headers: JSON_HEADERS,
      body: jsonBody(change),
      retry: false,
    })
    expectStatus(reply, [200])
    return parseJson(reply, adminTopology)
  }

  async clear(): Promise<AdminTopologyView> {
    const reply = await this.transport.send({
      method: 'DELETE',
      path: `${ADMIN_PATH}/stage`,
      retry: true,
    })
    expectStatus(reply, [200])
    return parseJson(reply, adminTopology)
  }

  async commit(version: number): Promise<number> {
    const reply = await this.transport.send({
      method: 'POST',
      path: `${ADMIN_PATH}/commit`,
      headers: JSON_HEADERS,
      body: jsonBody({ version }),
      // A commit names the version it expects, so sending it again can never apply twice.
      retry: true,
    })
    expectStatus(reply, [200])
    return parseJson(reply, topologyCommitted).version
  }
}

function changeText(change: AdminTopologyView['staged'][number]): string {
  return change.with === undefined
    ? `${change.action} ${change.node}`
    : `replace ${change.node} with ${change.with}`
}

/** A table of primaries and replicas per node. */
export function ownershipLines(
  title: string,
  ownership: Readonly<Record<string, { primaries: number; replicas: number }>>,
): string[] {
  const lines = [
    title,
    `  ${'node'.padEnd(10)} ${'primaries'.padStart(9)} ${'replicas'.padStart(9)}`,
  ]
  for (const [node, owned] of Object.entries(ownership)) {
    lines.push(
      `  ${node.padEnd(10)} ${String(owned.primaries).padStart(9)} ${String(owned.replicas).padStart(9)}`,
    )
  }
  return lines
}

/** The human form of the admin view: version, staged changes, plan, transfers. */
export function topologyText(view: AdminTopologyView): string {
  const lines = [`topology version ${view.version}${view.moving ? ', moving' : ', settled'}`]
  lines.push(
    view.staged.length === 0
      ? 'staged: nothing'
      : `staged: ${view.staged.map((change) => changeText(change)).join('; ')}`,
  )
  const plan = view.plan as {
    ok: boolean
    message?: string
    transfers?: unknown[]
    ring?: { ownership: Record<string, { primaries: number; replicas: number }> }
  }
  if (plan.ok && plan.ring !== undefined) {
    lines.push(`plan: ${plan.transfers?.length ?? 0} partition moves`)
    lines.push(...ownershipLines('after the plan:', plan.ring.ownership))
  } else if (view.staged.length > 0) {
    lines.push(`plan: cannot apply: ${plan.message ?? 'unknown reason'}`)
  }
  lines.push(...ownershipLines('now:', view.current.ownership))
  if (view.moving) lines.push(...transferLines(view))
  return lines.join('\n')
}

/** Progress of the move, and the transfers not done yet (the first TRANSFER_LINES_MAX). */
export function transferLines(view: {
  readonly progress: {
    total: number
    done: number
    failed: number
    keysMoved: number
    bytesMoved: number
  }
  readonly transfers: readonly {
    partition: number
    receiver: string
    source: string
    state: string
    keysMoved: number
    bytesMoved: number
  }[]
}): string[] {
  const { progress } = view
  const lines = [
    `transfers: ${progress.done}/${progress.total} done, ${progress.failed} failed, ${progress.keysMoved} keys and ${progress.bytesMoved} bytes moved`,
  ]
  const pending = view.transfers.filter((transfer) => transfer.state !== 'done')
  for (const transfer of pending.slice(0, TRANSFER_LINES_MAX)) {
    lines.push(
      `  partition ${String(transfer.partition).padStart(4)} ${transfer.source} -> ${transfer.receiver} ${transfer.state} (${transfer.keysMoved} keys, ${transfer.bytesMoved} bytes)`,
    )
  }
  if (pending.length > TRANSFER_LINES_MAX) {
    lines.push(`  ... and ${pending.length - TRANSFER_LINES_MAX} more`)
  }
  return lines
}

/** Runs one `murmur cluster` action against `admin`; answers the exit code. */
export async function runClusterAction(
  args: ParsedArgs,
  admin: TopologyAdminClient,
): Promise<number> {
  const action = positional(
    args,
    0,
    'an action: join, leave, replace, plan, clear, commit or status',
  )
  const show = (view: AdminTopologyView) => emit(args, view, () => topologyText(view))
  switch (action) {
    case 'join':
    case 'leave': {
      expectPositionals(args, 2)
      show(await admin.stage({ action, node: positional(args, 1, '<node>') }))
      return EXIT.ok
    }
    case 'replace': {
      expectPositionals(args, 3)
      const node = positional(args, 1, '<old node>')
      const replacement = positional(args, 2, '<new node>')
      show(await admin.stage({ action, node, with: replacement }))
      return EXIT.ok
    }
    case 'plan':
    case 'status':
      expectPositionals(args, 1)
      show(await admin.view())
      return EXIT.ok
    case 'clear':
      expectPositionals(args, 1)
      show(await admin.clear())
      return EXIT.ok
    case 'commit': {
      expectPositionals(args, 1)
      const given = integerValue(args, 'version', 1, Number.MAX_SAFE_INTEGER)
      const version = await admin.commit(given ?? (await admin.view()).version)
      emit(args, { version }, () => `committed topology version ${version}; the move is under way`)
      return EXIT.ok
    }
    default:
      throw new UsageError(`unknown cluster action "${action}"`)
  }
}

function expectPositionals(args: ParsedArgs, count: number): void {
  const extra = args.positionals[count]
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`)
}

export const clusterCommand: Command = {
  summary: 'change the ring: stage joins, leaves and replacements, then commit them',
  usage: [
    'murmur cluster join <node> | leave <node> | replace <old> <new> | plan | clear | commit [--version <v>] | status',
    '',
    '  join <node>         stage adding a node listed in cluster.yml (e.g. a standby node)',
    '  leave <node>        stage removing a node from the ring',
    '  replace <old> <new> stage handing <old>’s ownership to <new> (a dead node’s replacement)',
    '  plan                show the staged changes and the ring and transfers they give',
    '  clear               drop the staged changes',
    '  commit              commit the plan as the next ring version; the move starts',
    '  status              show the version, the move’s transfers and ownership per node',
    '',
    '  --version <v>       commit only from version v (default: the version shown right now)',
    '',
    'Needs an admin token when the cluster has API tokens.',
    '',
    ...CLIENT_USAGE,
  ].join('\n'),
  async run(argv) {
    const args = parseClientArgs(argv, { version: { type: 'string' } }, 3)
    return runClientCommand(args, () =>
      runClusterAction(args, new TopologyAdminClient(new Transport(transportOptionsFrom(args)))),
    )
  },
}
