/**
 * Where a node keeps the topology it acts on, and how it finds one at start.
 *
 * The topology lives in the storage meta sublevel under the name `topology`, in record form,
 * written with sync before the node acts on it, so a restarted node resumes exactly the version
 * it acted on (never an older one: it may have acknowledged writes under the newer one).
 *
 * At start (`startTopology`): the stored topology; else, for a fresh or wiped node, the newest
 * one the other nodes of cluster.yml answer `topology.get` with, asking them all at once and
 * waiting at most `topology.startWaitMs`; else version 1 from cluster.yml. A node that falls
 * back to version 1 while the cluster has moved on learns the newer version as soon as a peer
 * fences one of its requests or gossips its version.
 */

import type { Config } from '../../config/load.js'
import type { Clock } from '../../env/clock.js'
import { errorMessage, MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { NodeId, PeerTransport } from '../../env/transport.js'
import type { Topology } from '../../ring/topology.js'
import { topologyFromUntrusted, topologyToRecord } from '../../ring/topology-plan.js'
import type { StorageEngine } from '../../storage/engine.js'
import { metaKey } from '../../storage/layout.js'
import { getRecord, putRecordOp, type RecordType } from '../../storage/records.js'
import { parseTopologyAnswer, TOPOLOGY_GET_TYPE } from './messages.js'
import { initialTopologyFor } from './settings.js'

const TOPOLOGY_KEY = metaKey('topology')

const TOPOLOGY_RECORD: RecordType<Topology> = {
  name: 'topology',
  parse: (value) => topologyFromUntrusted(value),
}

export async function loadTopology(storage: StorageEngine): Promise<Topology | undefined> {
  return getRecord(storage, TOPOLOGY_RECORD, TOPOLOGY_KEY)
}

/** Writes `topology` durably; resolves once it is synced. */
export async function persistTopology(storage: StorageEngine, topology: Topology): Promise<void> {
  await storage.write([putRecordOp(TOPOLOGY_KEY, topologyToRecord(topology))], { sync: true })
}

export interface StartOptions {
  readonly config: Config
  readonly selfId: NodeId
  readonly clock: Clock
  readonly storage: StorageEngine
  readonly peers: PeerTransport
  readonly log: Logger
}

/** The topology a node starts on; see the module comment. It is stored before it returns. */
export async function startTopology(options: StartOptions): Promise<Topology> {
  const { config, storage, log } = options
  const stored = await loadTopology(storage)
  if (stored !== undefined) {
    checkShape(stored, config)
    log.info('topology loaded', { version: stored.version, moving: stored.next !== undefined })
    return stored
  }
  const fetched = await newestFromPeers(options)
  const topology = fetched ?? initialTopologyFor(config)
  checkShape(topology, config)
  await persistTopology(storage, topology)
  log.info('topology chosen at start', {
    version: topology.version,
    source: fetched === undefined ? 'cluster.yml' : 'peers',
  })
  return topology
}

/** A topology of another partition count cannot be acted on: the data layout depends on it. */
function checkShape(topology: Topology, config: Config): void {
  if (topology.current.partitionCount !== config.ring.partitions) {
    throw new MurmurError(
      'config_invalid',
      `the stored topology has ${topology.current.partitionCount} partitions, but ring.partitions is ${config.ring.partitions}; the partition count cannot change`,
    )
  }
}

/** Asks every other node at once; the newest answer within the wait, or undefined. */
async function newestFromPeers(options: StartOptions): Promise<Topology | undefined> {
  const { config, selfId, peers, clock, log } = options
  const others = config.nodes.map((node) => node.id).filter((id) => id !== selfId)
  const waitMs = config.topology.startWaitMs
  if (others.length === 0 || waitMs === 0) return undefined
  log.info('asking the other nodes for the topology', { nodes: others.length, waitMs })
  let newest: Topology | undefined
  const timeoutMs = Math.max(1, Math.min(waitMs, config.topology.fetchTimeoutMs))
  const asks = others.map(async (id) => {
    try {
      const topology = parseTopologyAnswer(
        await peers.request(id, { type: TOPOLOGY_GET_TYPE }, timeoutMs),
      )
      log.info('a node told its topology', { from: id, version: topology.version })
      if (newest === undefined || topology.version > newest.version) newest = topology
    } catch (error) {
      log.debug('a node did not tell its topology', { from: id, error: errorMessage(error) })
    }
  })
  let timer: { cancel(): void } | undefined
  const waited = new Promise<void>((resolve) => {
    timer = clock.setTimer(waitMs, resolve)
  })
  await Promise.race([Promise.all(asks), waited])
  timer?.cancel()
  if (newest === undefined) log.info('no node told its topology; using version 1 from cluster.yml')
  return newest
}
