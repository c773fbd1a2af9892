/**
 * `murmur lock acquire|renew|release <name>` (leases with fencing tokens) and `murmur status`
 * (the cluster as one node sees it: members, their state and zones, the ring version with the
 * transfers of a move under way and ownership per node, and the Raft group).
 */

import type { ClusterView, RaftView } from '../client/client.js'
import { type ParsedArgs, UsageError } from './args.js'
import {
  CLIENT_USAGE,
  clientFrom,
  EXIT,
  emit,
  integerValue,
  parseClientArgs,
  positional,
  runClientCommand,
} from './client-support.js'
import { ownershipLines, transferLines } from './cluster-commands.js'
import type { Command } from './main.js'

const TTL_MS_MAX = 86_400_000

async function lock(args: ParsedArgs): Promise<number> {
  const action = positional(args, 0, 'an action: acquire, renew or release')
  const name = positional(args, 1, '<name>')
  const ttlMs = integerValue(args, 'ttl', 1, TTL_MS_MAX)
  const token = integerValue(args, 'token', 1, Number.MAX_SAFE_INTEGER)
  const timeoutMs = integerValue(args, 'timeout', 1, 3_600_000)
  const options = timeoutMs === undefined ? {} : { timeoutMs }
  const client = clientFrom(args)
  if (action === 'release') {
    if (token === undefined) throw new UsageError('release needs --token')
    await client.locks.release(name, token, options)
    emit(args, { released: true }, () => 'released')
    return EXIT.ok
  }
  if (action !== 'acquire' && action !== 'renew')
    throw new UsageError(`unknown lock action "${action}"`)
  if (ttlMs === undefined) throw new UsageError(`${action} needs --ttl <ms>`)
  if (action === 'renew' && token === undefined) throw new UsageError('renew needs --token')
  const grant =
    action === 'acquire'
      ? await client.locks.acquire(name, ttlMs, options)
      : await client.locks.renew(name, token as number, ttlMs, options)
  emit(
    args,
    grant,
    () =>
      `token ${grant.token} (fencing token ${grant.fencingToken}), expires ${new Date(grant.expiresAtMs).toISOString()}`,
  )
  return EXIT.ok
}

export const lockCommand: Command = {
  summary: 'acquire, renew or release a lock with a fencing token',
  usage: [
    'murmur lock acquire <name> --ttl <ms> | renew <name> --token <t> --ttl <ms> | release <name> --token <t>',
    '',
    '  --ttl <ms>        lease length, 1..86400000',
    '  --token <t>       the token acquire returned',
    '  --timeout <ms>    server-side timeout of the request',
    '',
    ...CLIENT_USAGE,
  ].join('\n'),
  async run(argv) {
    const args = parseClientArgs(
      argv,
      { ttl: { type: 'string' }, token: { type: 'string' }, timeout: { type: 'string' } },
      2,
    )
    return runClientCommand(args, () => lock(args))
  },
}

function statusText(cluster: ClusterView, raft: RaftView | undefined): string {
  const lines = [
    `cluster ${cluster.cluster}, seen from ${cluster.node} (murmur ${cluster.version})`,
    '',
    `  ${'node'.padEnd(8)} ${'state'.padEnd(8)} ${'zone'.padEnd(8)} http`,
  ]
  for (const member of cluster.members) {
    lines.push(
      `  ${member.id.padEnd(8)} ${member.state.padEnd(8)} ${member.zone.padEnd(8)} ${member.httpAddress}`,
    )
  }
  const topology = cluster.topology
  if (topology !== undefined) {
    lines.push('', `ring: version ${topology.version}${topology.moving ? ', moving' : ', settled'}`)
    if (topology.moving) lines.push(...transferLines(topology))
    lines.push(...ownershipLines('ownership:', topology.ownership))
  }
  if (raft !== undefined) {
    lines.push(
      '',
      `raft: leader ${raft.leader ?? 'none'}, ${cluster.node} is ${raft.role ?? 'not a member'}${raft.term === undefined ? '' : ` (term ${raft.term})`}`,
    )
  }
  return lines.join('\n')
}

async function status(args: ParsedArgs): Promise<number> {
  const client = clientFrom(args)
  const cluster = await client.cluster()
  // The Raft view is optional: a node may run without strong mode.
  const raft = await client.raft().catch(() => undefined)
  emit(args, { ...cluster, raft: raft ?? null }, () => statusText(cluster, raft))
  const alive = cluster.members.filter((member) => member.state === 'alive').length
  return alive === cluster.members.length ? EXIT.ok : EXIT.unavailable
}

export const statusCommand: Command = {
  summary: 'show the members, the ring (version, transfers, ownership) and the Raft group',
  usage: [
    'murmur status [options]',
    '',
    'Exits 0 when every member is alive, 3 otherwise.',
    '',
    ...CLIENT_USAGE,
  ].join('\n'),
  async run(argv) {
    const args = parseClientArgs(argv, {}, 0)
    return runClientCommand(args, () => status(args))
  },
}
