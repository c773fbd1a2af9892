/**
 * A murmur node: the composition of every service around the pure cores, built from a Config
 * and a NodeEnvironment. The environment carries every source of IO and nondeterminism (clock,
 * randomness, storage engine, peer and packet transports, logger), so the very same node code
 * runs in a real process (src/runtime/process.ts) and in the deterministic simulator
 * (test/sim), which passes virtual ones.
 *
 * Effect-ordering contract (what every service built here relies on):
 *   1. A write is acknowledged (to a client, or to a peer counting toward a quorum) only after
 *      the GroupCommitter has written it; with durability `sync`, only after the batch's fsync.
 *   2. Peer messages that depend on local state are sent after that state is written.
 *   3. Cores decide; this layer carries out their effects in the order they were returned.
 */

import type { Hono } from 'hono'
import type { ApiEnv } from '../api/app.js'
import { createApp } from '../api/app.js'
import { type ClusterSource, clusterRoutes, type MemberView } from '../api/cluster-routes.js'
import type { Config, NodeConfig } from '../config/load.js'
import { findNode } from '../config/load.js'
import type { Clock } from '../env/clock.js'
import type { Logger } from '../env/log.js'
import type { Random } from '../env/random.js'
import type { PeerTransport } from '../env/transport.js'
import { buildRing, type Ring } from '../ring/index.js'
import { replicaRoles } from '../ring/queries.js'
import type { StorageEngine } from '../storage/engine.js'
import { GroupCommitter } from '../storage/group-commit.js'
import { actorOf, bootIdentity, type NodeIdentity } from './identity.js'
import { PeerRouter } from './peer-router.js'

export interface NodeEnvironment {
  readonly clock: Clock
  readonly random: Random
  readonly storage: StorageEngine
  /** Where the storage lives, for messages ("<memory>" in the simulator). */
  readonly storageLocation: string
  readonly peers: PeerTransport
  readonly log: Logger
}

export class MurmurNode {
  readonly config: Config
  readonly self: NodeConfig
  readonly env: NodeEnvironment
  readonly identity: NodeIdentity
  readonly actor: string
  readonly router = new PeerRouter()
  readonly commits: GroupCommitter
  readonly ring: Ring
  readonly app: Hono<ApiEnv>
  private readonly startedAtMs: number
  private stopped = false

  private constructor(
    config: Config,
    self: NodeConfig,
    env: NodeEnvironment,
    identity: NodeIdentity,
  ) {
    this.config = config
    this.self = self
    this.env = env
    this.identity = identity
    this.actor = actorOf(identity)
    this.startedAtMs = env.clock.wallMs()
    this.commits = new GroupCommitter(env.storage, env.clock)
    this.ring = buildRing(
      config.nodes.map((node) => ({ id: node.id, zone: node.zone })),
      { partitionCount: config.ring.partitions, replicaSlots: replicaSlotsFor(config) },
    )
    this.router.register('node.ping', () => ({ pong: self.id, epoch: identity.epoch }))
    this.router.attach(env.peers)
    this.app = createApp({
      requestBodyBytesMax: config.limits.requestBodyBytesMax,
      log: env.log,
      routes: [clusterRoutes(this.clusterSource())],
    })
  }

  /** Boots a node: loads or creates its identity, then builds its services. */
  static async open(config: Config, nodeId: string, env: NodeEnvironment): Promise<MurmurNode> {
    const self = findNode(config, nodeId)
    const identity = await bootIdentity(
      env.storage,
      nodeId,
      env.random,
      env.clock.wallMs(),
      env.storageLocation,
    )
    const node = new MurmurNode(config, self, env, identity)
    env.log.info('node started', { node: nodeId, actor: node.actor, boots: identity.boots })
    return node
  }

  /** Stops services in reverse order of dependency; the environment's owner closes IO. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.commits.drain()
  }

  private clusterSource(): ClusterSource {
    return {
      clusterName: this.config.cluster.name,
      nodeId: this.self.id,
      readiness: () => ({ ready: !this.stopped, reasons: this.stopped ? ['stopping'] : [] }),
      members: () => this.members(),
      status: () => ({
        startedAt: new Date(this.startedAtMs).toISOString(),
        ring: { version: this.ring.version, partitions: this.ring.partitionCount },
      }),
      ring: () => this.ringView(),
    }
  }

  private members(): MemberView[] {
    return this.config.nodes.map((node) => ({
      id: node.id,
      state: node.id === this.self.id ? 'alive' : 'unknown',
      incarnation: 0,
      zone: node.zone,
      httpAddress: `${node.host}:${node.httpPort}`,
      peerAddress: `${node.host}:${node.peerPort}`,
      gossipAddress: `${node.host}:${node.gossipPort}`,
      lastChangeAt: null,
    }))
  }

  private ringView(): unknown {
    const ring = this.ring
    return {
      version: ring.version,
      partitions: ring.partitionCount,
      nodes: ring.nodes,
      keyspaces: this.config.keyspaces.map((keyspace) => ({
        name: keyspace.name,
        mode: keyspace.mode,
        replicas: keyspace.replicas,
        witnesses: keyspace.witnesses,
        partitions:
          keyspace.mode === 'strong'
            ? []
            : ring.preferences.map((_, partition) => ({
                partition,
                ...replicaRoles(ring, partition, keyspace.replicas, keyspace.witnesses),
              })),
      })),
      preferences: ring.preferences.map((nodes, partition) => ({ partition, nodes })),
    }
  }
}

/** Preference lists hold as many nodes as the largest keyspace needs (at least 3 when possible). */
function replicaSlotsFor(config: Config): number {
  const needed = Math.max(3, ...config.keyspaces.map((keyspace) => keyspace.replicas))
  return Math.min(needed, config.nodes.length)
}
