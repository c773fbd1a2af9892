/**
 * MurmurClient: a typed client for murmur's REST API over global fetch. One client talks to
 * any of the given nodes (murmur is leaderless: every node takes every request) and retries
 * idempotent calls through the next node on connection errors, 503 and 504 (src/client/
 * transport.ts). Failures are MurmurClientError with the API's error code.
 *
 *   const client = new MurmurClient({ nodes: ['http://127.0.0.1:7001'], timeoutMs: 5000, retries: 2 })
 *   const read = await client.kv.get('default', 'cart')
 *   await client.kv.put('default', 'cart', 'apple,pear', { context: read.context, w: 'quorum' })
 */

import { clusterView, health, raftView, ringView } from '../api/openapi/schemas.js'
import { CounterApi, SetApi } from './crdt.js'
import { KvApi } from './kv.js'
import { LockApi, StrongApi } from './strong.js'
import { Transport, type TransportOptions } from './transport.js'
import { expectStatus, parseJson } from './values.js'

export type MurmurClientOptions = TransportOptions

export type ClusterView = ReturnType<typeof clusterView.parse>
export type HealthView = ReturnType<typeof health.parse>
export type RaftView = ReturnType<typeof raftView.parse>
export type RingView = ReturnType<typeof ringView.parse>

export class MurmurClient {
  /** Eventual keyspaces: values, siblings and causal contexts. */
  readonly kv: KvApi
  /** Strong keyspaces: versions, compare-and-set, request ids, fencing. */
  readonly strong: StrongApi
  readonly locks: LockApi
  readonly counters: CounterApi
  readonly sets: SetApi
  private readonly transport: Transport

  constructor(options: MurmurClientOptions) {
    this.transport = new Transport(options)
    this.kv = new KvApi(this.transport)
    this.strong = new StrongApi(this.transport)
    this.locks = new LockApi(this.transport)
    this.counters = new CounterApi(this.transport)
    this.sets = new SetApi(this.transport)
  }

  /** The base URLs this client sends to, normalized. */
  get nodes(): readonly string[] {
    return this.transport.nodes
  }

  /** The view of the cluster from the first node that answers. */
  async cluster(): Promise<ClusterView> {
    return this.getJson('/v1/cluster', clusterView)
  }

  async health(): Promise<HealthView> {
    return this.getJson('/health', health)
  }

  async raft(): Promise<RaftView> {
    return this.getJson('/v1/raft', raftView)
  }

  /** The ring: partitions, preference lists, and every keyspace with its mode. */
  async ring(): Promise<RingView> {
    return this.getJson('/v1/cluster/ring', ringView)
  }

  /** Whether a keyspace is eventual or strong; undefined when the cluster has no such keyspace. */
  async keyspaceMode(keyspace: string): Promise<'eventual' | 'strong' | undefined> {
    const ring = await this.ring()
    return ring.keyspaces.find((candidate) => candidate.name === keyspace)?.mode
  }

  private async getJson<T>(path: string, schema: Parameters<typeof parseJson<T>>[1]): Promise<T> {
    const reply = await this.transport.send({ method: 'GET', path, retry: true })
    expectStatus(reply, [200])
    return parseJson(reply, schema)
  }
}
