/**
 * Health, readiness and the cluster views: `/health` (the process is up), `/ready` (joined and
 * the ring is known), `/v1/cluster` (this node's view of the members) and `/v1/cluster/ring`
 * (partition → preference list, with full replicas and witnesses per keyspace).
 */

import type { Hono } from 'hono'
import { MurmurError } from '../env/errors.js'
import type { ReplicaRoles } from '../ring/queries.js'
import type { RingNode } from '../ring/ring.js'
import { VERSION } from '../version.js'
import type { ApiEnv, RouteModule } from './app.js'

export interface MemberView {
  readonly id: string
  readonly state: 'alive' | 'suspect' | 'dead' | 'left' | 'unknown'
  readonly incarnation: number
  readonly zone: string
  readonly httpAddress: string
  readonly peerAddress: string
  readonly gossipAddress: string
  /** ISO time of the last state change seen by this node, when known. */
  readonly lastChangeAt: string | null
}

/** The body of GET /v1/cluster/ring: the current ring, and each keyspace's replica roles. */
export interface ClusterRingView {
  readonly version: number
  readonly partitions: number
  readonly nodes: readonly RingNode[]
  readonly keyspaces: readonly {
    readonly name: string
    readonly mode: 'eventual' | 'strong'
    readonly replicas: number
    readonly witnesses: number
    /** Empty for a strong keyspace. */
    readonly partitions: readonly ({ readonly partition: number } & ReplicaRoles)[]
  }[]
  readonly preferences: readonly { readonly partition: number; readonly nodes: readonly string[] }[]
}

export interface ClusterSource {
  readonly clusterName: string
  readonly nodeId: string
  readiness(): { readonly ready: boolean; readonly reasons: readonly string[] }
  members(): readonly MemberView[]
  /** Extra per-node status sections (membership counters, ring version, raft...). */
  status(): Readonly<Record<string, unknown>>
  ring(): ClusterRingView
}

export function clusterRoutes(source: ClusterSource): RouteModule {
  return (app: Hono<ApiEnv>) => {
    app.get('/health', (c) => c.json({ status: 'ok', node: source.nodeId, version: VERSION }))
    app.get('/ready', (c) => {
      const readiness = source.readiness()
      if (readiness.ready) return c.json({ ready: true, node: source.nodeId })
      throw new MurmurError(
        'unavailable',
        `node ${source.nodeId} is not ready: ${readiness.reasons.join('; ')}`,
        {
          details: { reasons: readiness.reasons },
        },
      )
    })
    app.get('/v1/cluster', (c) =>
      c.json({
        cluster: source.clusterName,
        node: source.nodeId,
        version: VERSION,
        members: source.members(),
        ...source.status(),
      }),
    )
    app.get('/v1/cluster/ring', (c) => c.json(source.ring()))
  }
}
