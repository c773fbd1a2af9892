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
import {
  type ClusterRingView,
  type ClusterSource,
  clusterRoutes,
  type MemberView,
} from '../api/cluster-routes.js'
import { crdtRoutes } from '../api/crdt-routes.js'
import { faultRoutes } from '../api/fault-routes.js'
import { kvRoutes } from '../api/kv-routes.js'
import { type MetricsRouteSource, metricsRoutes } from '../api/metrics-routes.js'
import { openApiRoutes } from '../api/openapi/routes.js'
import { strongRoutes } from '../api/strong-routes.js'
import { topologyRoutes } from '../api/topology-routes.js'
import type { Config, NodeConfig } from '../config/load.js'
import { findNode } from '../config/load.js'
import type { Clock } from '../env/clock.js'
import type { Logger } from '../env/log.js'
import type { Random } from '../env/random.js'
import type { PacketTransport, PeerTransport } from '../env/transport.js'
import type { MemberSnapshot } from '../membership/member.js'
import { antiEntropyMetrics } from '../metrics/antientropy.js'
import {
  ClusterStatsGatherer,
  type ClusterStatsSource,
  registerStatsHandler,
} from '../metrics/cluster-stats.js'
import { handoffMetrics } from '../metrics/handoff.js'
import { NodeMetrics } from '../metrics/node-metrics.js'
import { registerPulled } from '../metrics/pulled.js'
import { replicaRoles } from '../ring/queries.js'
import type { Ring } from '../ring/ring.js'
import type { Topology } from '../ring/topology.js'
import type { StorageEngine } from '../storage/engine.js'
import { GroupCommitter } from '../storage/group-commit.js'
import type { PeerFaults } from './faults.js'
import { actorOf, bootIdentity, type NodeIdentity } from './identity.js'
import { CrdtService } from './kv/crdt-service.js'
import { KvService } from './kv/service.js'
import { MembershipDriver } from './membership-driver.js'
import { PeerRouter } from './peer-router.js'
import { StrongService } from './strong/service.js'
import { TopologyAdmin } from './topology/admin.js'
import { RING_VERSION_META, TopologyManager } from './topology/manager.js'
import { replicasMaxFor } from './topology/settings.js'
import { topologyStatus } from './topology/status.js'
import { startTopology } from './topology/store.js'
import type { TopologyView } from './topology/view.js'

export interface NodeEnvironment {
  readonly clock: Clock
  readonly random: Random
  readonly storage: StorageEngine
  /** Where the storage lives, for messages ("<memory>" in the simulator). */
  readonly storageLocation: string
  readonly peers: PeerTransport
  /** The gossip datagram path; its local address is this node's gossip address. */
  readonly packets: PacketTransport
  readonly log: Logger
  /** Fault injection (MURMUR_FAULTS=1 only): adds POST /v1/debug/faults. */
  readonly faults?: PeerFaults
  /** The topology the data plane acts on, when the simulator drives it; else cluster.yml's. */
  readonly topology?: TopologyView
}

/** Which nodes can take part in requests now, as membership sees them. */
export interface Liveness {
  /** Alive or suspect: worth sending to. Dead, left and unknown nodes are not. */
  isUsable(nodeId: string): boolean
  /** Subscribes to changes of any member's state; returns the unsubscribe function. */
  onChange(listener: (nodeId: string, usable: boolean) => void): () => void
}

/** Time past gossip.leaveTimeoutMs a stopping node waits for its leave to settle. */
const LEAVE_WAIT_MARGIN_MS = 500

export class MurmurNode {
  readonly config: Config
  readonly self: NodeConfig
  readonly env: NodeEnvironment
  readonly identity: NodeIdentity
  readonly actor: string
  readonly router = new PeerRouter()
  readonly commits: GroupCommitter
  /** The versioned ring this node acts on: stored, adopted and spread (src/runtime/topology). */
  readonly topology: TopologyManager
  readonly membership: MembershipDriver
  readonly liveness: Liveness
  readonly kv: KvService
  /** Counters and sets, served through the kv service's coordinator and store. */
  readonly crdt: CrdtService
  /** The strong keyspaces and locks: the Raft group (members) or forwarding to it. */
  readonly strong: StrongService
  readonly app: Hono<ApiEnv>
  /** This node's metrics registry: /metrics, /v1/stats and the dashboard read it. */
  readonly metrics: NodeMetrics
  private readonly clusterStats: ClusterStatsGatherer
  private readonly startedAtMs: number
  private stopped = false

  private constructor(
    config: Config,
    self: NodeConfig,
    env: NodeEnvironment,
    identity: NodeIdentity,
    topology: Topology,
  ) {
    this.config = config
    this.self = self
    this.env = env
    this.identity = identity
    this.actor = actorOf(identity)
    this.startedAtMs = env.clock.wallMs()
    this.clusterStats = new ClusterStatsGatherer(this.statsSource(), () => env.clock.nowMs())
    this.metrics = new NodeMetrics({
      nodeId: self.id,
      keyspaces: config.keyspaces.map((keyspace) => keyspace.name),
      clock: env.clock,
    })
    this.commits = new GroupCommitter(env.storage, env.clock)
    this.router.register('node.ping', () => ({ pong: self.id, epoch: identity.epoch }))
    this.router.attach(env.peers)
    this.membership = new MembershipDriver({
      config: config.gossip,
      local: {
        id: self.id,
        address: env.packets.localAddress,
        meta: {
          zone: self.zone,
          http: `${self.host}:${self.httpPort}`,
          peer: `${self.host}:${self.peerPort}`,
          [RING_VERSION_META]: String(topology.version),
        },
      },
      incarnation: identity.boots,
      random: env.random.fork('membership'),
      clock: env.clock,
      packets: env.packets,
      peers: env.peers,
      router: this.router,
      seeds: config.seeds
        .filter((id) => id !== self.id)
        .map((id) => {
          const seed = findNode(config, id)
          return `${seed.host}:${seed.gossipPort}`
        }),
      onError: (error) => env.log.debug('membership', { error }),
    })
    this.liveness = membershipLiveness(this.membership, self.id)
    this.strong = new StrongService({
      config,
      selfId: self.id,
      clock: env.clock,
      random: env.random.fork('strong'),
      storage: env.storage,
      peers: env.peers,
      router: this.router,
      log: env.log,
      onCommitLatencyMs: this.metrics.observeCommitLatencyMs,
    })
    this.topology = new TopologyManager({
      config,
      selfId: self.id,
      clock: env.clock,
      storage: env.storage,
      peers: env.peers,
      router: this.router,
      log: env.log.child({ component: 'topology' }),
      group: this.strong,
      initial: topology,
    })
    this.kv = new KvService({
      config,
      selfId: self.id,
      actor: this.actor,
      boots: identity.boots,
      topology: env.topology ?? this.topology,
      liveness: this.liveness,
      peers: env.peers,
      router: this.router,
      clock: env.clock,
      random: env.random,
      storage: env.storage,
      commits: this.commits,
      log: env.log,
    })
    this.topology.attachTransferReport(this.kv)
    this.crdt = new CrdtService({
      config,
      selfId: self.id,
      actor: this.actor,
      boots: identity.boots,
      kv: this.kv,
      router: this.router,
      clock: env.clock,
      log: env.log,
    })
    this.app = createApp({
      requestBodyBytesMax: config.limits.requestBodyBytesMax,
      log: env.log,
      observe: this.metrics.requests.middleware,
      routes: [
        clusterRoutes(this.clusterSource()),
        metricsRoutes(this.metricsRouteSource()),
        // The API's own description: /openapi.json and /docs.
        openApiRoutes(),
        topologyRoutes({
          backend: new TopologyAdmin({
            config,
            group: this.strong,
            transfers: () => this.topology.transfers(),
          }),
          timeoutMs: config.requests.timeoutMs,
          timeoutMsMax: config.requests.timeoutMsMax,
        }),
        // Strong keyspaces first: the module passes every other keyspace on to the kv routes.
        strongRoutes({
          backend: this.strong,
          keyBytesMax: this.kv.limits.keyBytesMax,
          valueBytesMax: config.limits.valueBytesMax,
          listPageMax: config.limits.listPageMax,
          timeoutMs: config.requests.timeoutMs,
          timeoutMsMax: config.requests.timeoutMsMax,
        }),
        ...(env.faults === undefined
          ? []
          : [
              faultRoutes(
                env.faults,
                config.nodes.map((node) => node.id),
              ),
            ]),
        crdtRoutes({
          backend: this.crdt,
          keyBytesMax: this.kv.limits.keyBytesMax,
          requestBodyBytesMax: config.limits.requestBodyBytesMax,
          setElementBytesMax: config.limits.setElementBytesMax,
          setElementsMax: config.limits.setElementsMax,
          timeoutMs: config.requests.timeoutMs,
          timeoutMsMax: config.requests.timeoutMsMax,
          readRepair: config.replication.readRepair,
        }),
        kvRoutes({
          backend: this.kv,
          keyBytesMax: this.kv.limits.keyBytesMax,
          valueBytesMax: config.limits.valueBytesMax,
          siblingsWarn: config.limits.siblingsWarn,
          listPageMax: config.limits.listPageMax,
          timeoutMs: config.requests.timeoutMs,
          timeoutMsMax: config.requests.timeoutMsMax,
          readRepair: config.replication.readRepair,
        }),
      ],
    })
    this.attachMetrics()
  }

  /** The ring whose owners answer reads now (the current ring of the topology acted on). */
  get ring(): Ring {
    return this.topology.topology().current
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
    const topology = await startTopology({
      config,
      selfId: nodeId,
      clock: env.clock,
      storage: env.storage,
      peers: env.peers,
      log: env.log.child({ component: 'topology' }),
    })
    const node = new MurmurNode(config, self, env, identity, topology)
    await node.kv.open()
    await node.strong.open()
    node.membership.start()
    node.topology.start(node.membership)
    env.log.info('node started', { node: nodeId, actor: node.actor, boots: identity.boots })
    return node
  }

  /** Stops services in reverse order of dependency; the environment's owner closes IO. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.topology.stop()
    this.kv.stop()
    this.strong.stop()
    await Promise.race([
      this.membership.leave(),
      new Promise<void>((resolve) =>
        this.env.clock.setTimer(this.config.gossip.leaveTimeoutMs + LEAVE_WAIT_MARGIN_MS, resolve),
      ),
    ])
    this.membership.stop()
    await this.commits.drain()
  }

  /** Points the metrics at the services and answers peers' requests for this node's summary. */
  private attachMetrics(): void {
    this.metrics.attach({
      actor: this.actor,
      ring: this.ringSummary(),
      kv: this.kv,
      membership: this.membership,
      strong: this.strong,
      storage: this.env.storage,
    })
    for (const metric of antiEntropyMetrics(this.kv)) registerPulled(this.metrics.registry, metric)
    for (const metric of handoffMetrics(this.kv)) registerPulled(this.metrics.registry, metric)
    registerStatsHandler(this.router, this.statsSource())
  }

  private statsSource(): ClusterStatsSource {
    return {
      selfId: this.self.id,
      peers: this.env.peers,
      summary: () => this.metrics.summary(),
      members: () => this.membership.members(),
    }
  }

  private metricsRouteSource(): MetricsRouteSource {
    const metrics = this.metrics
    return {
      nodeId: this.self.id,
      contentType: metrics.contentType,
      text: () => metrics.text(),
      snapshot: () => metrics.snapshot(),
      clusterSummaries: () => this.clusterStats.gather(),
      wallMs: () => this.env.clock.wallMs(),
    }
  }

  private clusterSource(): ClusterSource {
    return {
      clusterName: this.config.cluster.name,
      nodeId: this.self.id,
      readiness: () => this.readiness(),
      members: () => this.members(),
      status: () => ({
        startedAt: new Date(this.startedAtMs).toISOString(),
        ring: {
          version: this.topology.topology().version,
          partitions: this.config.ring.partitions,
        },
        topology: topologyStatus(this.topology, replicasMaxFor(this.config)),
        replication: this.kv.status(),
        antiEntropy: this.kv.antiEntropyStatus(),
      }),
      ring: () => this.ringView(),
    }
  }

  /** Ready once the node has joined: it sees another member alive, or it is alone by design. */
  private readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = []
    if (this.stopped) reasons.push('stopping')
    const others = this.membership.members().filter((member) => member.id !== this.self.id)
    if (this.config.nodes.length > 1 && !others.some((member) => member.state === 'alive')) {
      reasons.push('not joined: no other member is alive yet')
    }
    return { ready: reasons.length === 0, reasons }
  }

  /** Every member of the config and every member gossip knows of, with its state here. */
  private members(): MemberView[] {
    const nowMs = this.env.clock.nowMs()
    const wallMs = this.env.clock.wallMs()
    const known = new Map<string, MemberSnapshot>(
      this.membership.members().map((member) => [member.id, member]),
    )
    const ids = new Set([...this.config.nodes.map((node) => node.id), ...known.keys()])
    return [...ids].sort().map((id) => {
      const member = known.get(id)
      const configured = this.config.nodes.find((node) => node.id === id)
      const meta = member?.meta ?? {}
      return {
        id,
        state: member?.state ?? 'unknown',
        incarnation: member?.incarnation ?? 0,
        zone: meta['zone'] ?? configured?.zone ?? 'default',
        httpAddress:
          meta['http'] ??
          (configured === undefined ? '' : `${configured.host}:${configured.httpPort}`),
        peerAddress:
          meta['peer'] ??
          (configured === undefined ? '' : `${configured.host}:${configured.peerPort}`),
        gossipAddress:
          member?.address ??
          (configured === undefined ? '' : `${configured.host}:${configured.gossipPort}`),
        lastChangeAt:
          member === undefined
            ? null
            : new Date(wallMs - (nowMs - member.stateChangedMs)).toISOString(),
      }
    })
  }

  /** The ring version and partition count, read live for the metrics. */
  private ringSummary(): { readonly version: number; readonly partitionCount: number } {
    const manager = this.topology
    return {
      get version() {
        return manager.topology().version
      },
      partitionCount: this.config.ring.partitions,
    }
  }

  private ringView(): ClusterRingView {
    const topology = this.topology.topology()
    const ring = topology.current
    return {
      version: topology.version,
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

/** Liveness as membership sees it; this node itself is always usable. */
function membershipLiveness(membership: MembershipDriver, selfId: string): Liveness {
  const usable = (state: MemberSnapshot['state'] | undefined) =>
    state === 'alive' || state === 'suspect'
  return {
    isUsable: (nodeId) => nodeId === selfId || usable(membership.core.member(nodeId)?.state),
    onChange: (listener) =>
      membership.onEvent((event) => listener(event.member.id, usable(event.member.state))),
  }
}
