/**
 * The etcd anchor: a 3-member etcd cluster started as /work/shared/anchors/etcd/run.sh starts
 * it (free loopback ports, data in a temporary directory, every member stopped by its PID), and
 * the wrk script that anchor measures it with.
 */

import { type ChildProcess, execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { sleep } from '../../test/support/cluster.js'
import { freePorts } from '../../test/support/ports.js'
import { generateLoad, type LoadResult } from './load.js'
import {
  anchorDirectory,
  MissingToolError,
  removeAnchorDirectory,
  spawnAnchor,
  stopProcess,
} from './scenario.js'

/** The anchor's wrk script (PUT, linearizable GET or serializable GET over its key space). */
const ETCD_SCRIPT = '/work/shared/anchors/etcd/kv.lua'

export interface EtcdMember {
  readonly name: string
  readonly client: number
  readonly peer: number
  process: ChildProcess | undefined
}

export interface Etcd {
  readonly dir: string
  readonly members: EtcdMember[]
  readonly initialCluster: string
  readonly token: string
}

/** Fails with one line naming the package when `etcd` is not on the PATH. */
function requireEtcd(): void {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' })
  } catch {
    throw new MissingToolError('this scenario needs etcd (apt-get install -y etcd-server)')
  }
}

/** Starts (or, with 'existing', restarts) one member with its data directory. */
export function spawnMember(etcd: Etcd, member: EtcdMember, state: 'new' | 'existing'): void {
  member.process = spawnAnchor('etcd', [
    ...['--name', member.name, '--data-dir', join(etcd.dir, member.name)],
    ...['--listen-client-urls', `http://127.0.0.1:${member.client}`],
    ...['--advertise-client-urls', `http://127.0.0.1:${member.client}`],
    ...['--listen-peer-urls', `http://127.0.0.1:${member.peer}`],
    ...['--initial-advertise-peer-urls', `http://127.0.0.1:${member.peer}`],
    ...['--initial-cluster', etcd.initialCluster, '--initial-cluster-state', state],
    ...['--initial-cluster-token', etcd.token],
    ...['--logger', 'zap', '--log-outputs', join(etcd.dir, `${member.name}.log`)],
  ])
}

/** Three members on free loopback ports, returned once one of them leads. */
export async function startEtcd(): Promise<Etcd> {
  requireEtcd()
  const dir = anchorDirectory('murmur-bench-etcd-')
  const ports = await freePorts(6)
  const members: EtcdMember[] = [0, 1, 2].map((index) => ({
    name: `m${index}`,
    client: ports[index * 2] as number,
    peer: ports[index * 2 + 1] as number,
    process: undefined,
  }))
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',')
  const etcd = { dir, members, initialCluster, token: `bench-${process.pid}` }
  for (const member of members) spawnMember(etcd, member, 'new')
  try {
    await etcdLeader(etcd)
  } catch (error) {
    await stopEtcd(etcd)
    throw error
  }
  return etcd
}

/** The member that reports itself leader, within 30 s. */
export async function etcdLeader(etcd: Etcd): Promise<EtcdMember> {
  for (let attempt = 0; attempt < 120; attempt++) {
    for (const member of etcd.members) {
      if (member.process === undefined) continue
      try {
        const response = await fetch(`${etcdUrl(member)}/v3/maintenance/status`, {
          method: 'POST',
          body: '{}',
          signal: AbortSignal.timeout(1000),
        })
        const status = (await response.json()) as {
          header?: { member_id?: string }
          leader?: string
        }
        if (status.leader !== undefined && status.header?.member_id === status.leader) return member
      } catch {
        // Not up, or not answering yet.
      }
    }
    await sleep(250)
  }
  throw new Error('etcd has no leader within 30 s')
}

export async function stopEtcd(etcd: Etcd): Promise<void> {
  await Promise.all(
    etcd.members.map((member) =>
      member.process === undefined ? undefined : stopProcess(member.process),
    ),
  )
  removeAnchorDirectory(etcd.dir)
}

export const etcdUrl = (member: EtcdMember): string => `http://127.0.0.1:${member.client}`

/** wrk with the anchor's script: `op` over `keys` keys of `valueBytes`-byte values. */
export function etcdLoad(
  url: string,
  load: {
    readonly op: 'put' | 'get_lin' | 'get_ser'
    readonly keys: number
    readonly valueBytes: number
    readonly connections: number
    readonly durationSeconds: number
  },
): Promise<LoadResult> {
  return generateLoad({
    url,
    connections: load.connections,
    durationSeconds: load.durationSeconds,
    wrkScript: ETCD_SCRIPT,
    wrkEnv: { ETCD_OP: load.op, ETCD_KEYS: String(load.keys), ETCD_VLEN: String(load.valueBytes) },
  })
}
