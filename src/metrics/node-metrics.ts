/**
 * The metrics of one node, in a prom-client Registry of its own: never the global default
 * registry, because the simulator and tests run many nodes in one process.
 *
 * Two kinds of metric live here. Request latency and Raft commit latency are observed as they
 * happen (one histogram observation each). Everything else is pulled: each scrape reads the
 * counters and state the services already keep, so their hot paths do no extra work. /metrics
 * renders the registry as Prometheus text; /v1/stats serves the same samples as JSON and the
 * dashboard's per-node summary is computed from them, so every view shows the same numbers.
 *
 * Lifecycle: build it first (the request middleware and the commit observer must exist when the
 * app and services are built), `attach` the services once they exist, and in a real process
 * `includeProcessMetrics` for event-loop lag, heap, GC and CPU, which are process-wide.
 */

import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import { assert } from '../env/assert.js'
import type { Clock } from '../env/clock.js'
import type { StrongService } from '../runtime/strong/service.js'
import { VERSION } from '../version.js'
import { RequestMetrics } from './http.js'
import { countMembershipEvents, type MembershipSource, membershipMetrics } from './membership.js'
import { registerPulled } from './pulled.js'
import { COMMIT_LATENCY_BUCKETS_SECONDS, raftMetrics } from './raft.js'
import {
  type ReplicationSource,
  replicationMetrics,
  type StorageSource,
  storageMetrics,
} from './replication.js'
import { type NodeSummary, type StatsSnapshot, summarize, toSnapshot } from './stats.js'

export interface NodeMetricsOptions {
  readonly nodeId: string
  /** Configured keyspace names: the only values the keyspace label takes besides "other". */
  readonly keyspaces: readonly string[]
  readonly clock: Clock
}

/** The services a node's metrics read at scrape time. */
export interface MetricSources {
  readonly actor: string
  readonly ring: { readonly version: number; readonly partitionCount: number }
  readonly kv: ReplicationSource
  readonly membership: MembershipSource
  readonly strong: Pick<StrongService, 'raftView' | 'members' | 'isMember'>
  readonly storage: StorageSource
}

export class NodeMetrics {
  readonly registry = new Registry()
  readonly requests: RequestMetrics
  private readonly options: NodeMetricsOptions
  private readonly commitLatency: Histogram<string>
  private attached = false
  private processMetrics = false

  constructor(options: NodeMetricsOptions) {
    this.options = options
    this.requests = new RequestMetrics({
      registry: this.registry,
      keyspaces: options.keyspaces,
      nowMs: () => options.clock.nowMs(),
    })
    this.commitLatency = new Histogram({
      name: 'murmur_raft_commit_latency_seconds',
      help: 'Time from a proposal on the leader to its apply there (members of the Raft group only).',
      buckets: [...COMMIT_LATENCY_BUCKETS_SECONDS],
      registers: [this.registry],
    })
  }

  /** Records one applied proposal's commit latency. */
  readonly observeCommitLatencyMs = (latencyMs: number): void => {
    this.commitLatency.observe(latencyMs / 1000)
  }

  /** Starts reading the node's services at every scrape. Call once. */
  attach(sources: MetricSources): void {
    assert(!this.attached, 'node metrics attached twice')
    this.attached = true
    this.registerNodeInfo(sources)
    const pulled = [
      ...replicationMetrics(sources.kv),
      ...storageMetrics(sources.storage),
      ...membershipMetrics(sources.membership),
      ...(sources.strong.isMember
        ? raftMetrics({
            selfId: this.options.nodeId,
            members: sources.strong.members,
            raftView: () => sources.strong.raftView(),
          })
        : []),
    ]
    for (const metric of pulled) registerPulled(this.registry, metric)
    countMembershipEvents(this.registry, sources.membership)
  }

  /**
   * Adds prom-client's process metrics (event-loop lag from monitorEventLoopDelay, heap, GC,
   * CPU, file descriptors). They describe the whole process, so only a process that runs one
   * node includes them. Call once.
   */
  includeProcessMetrics(): void {
    assert(!this.processMetrics, 'process metrics included twice')
    this.processMetrics = true
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 })
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  /** Every sample, as JSON (GET /v1/stats). */
  async snapshot(): Promise<StatsSnapshot> {
    const metrics = await this.registry.getMetricsAsJSON()
    return toSnapshot(this.options.nodeId, this.options.clock.wallMs(), metrics)
  }

  /** The dashboard's figures for this node. */
  async summary(): Promise<NodeSummary> {
    return summarize(await this.snapshot())
  }

  private registerNodeInfo(sources: MetricSources): void {
    const registers = [this.registry]
    const info = new Gauge({
      name: 'murmur_node_info',
      help: "1, labelled with the node's id, its actor (data-directory incarnation) and version.",
      labelNames: ['node', 'actor', 'version'],
      registers,
    })
    info.set({ node: this.options.nodeId, actor: sources.actor, version: VERSION }, 1)
    registerPulled(this.registry, {
      name: 'murmur_ring_partitions',
      help: 'Partitions of the ring.',
      type: 'gauge',
      read: () => sources.ring.partitionCount,
    })
    registerPulled(this.registry, {
      name: 'murmur_ring_version',
      help: 'Version of the ring this node routes by.',
      type: 'gauge',
      read: () => sources.ring.version,
    })
  }
}
