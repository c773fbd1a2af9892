/**
 * What the topology control plane derives from cluster.yml, in one place so that every node
 * derives it identically: the ring's shape (partitions, list length), the planning options
 * (the nodes a change may name, the largest replica count), and version 1 of the topology (the
 * ring of the nodes not marked `standby`).
 */

import type { Config } from '../../config/load.js'
import type { HandoffKeyspace } from '../../replication/handoff.js'
import { REPLICA_SLOTS_MAX } from '../../ring/ring.js'
import type { Topology } from '../../ring/topology.js'
import { initialTopology, type PlanOptions } from '../../ring/topology-plan.js'

export interface RingSettings {
  readonly partitionCount: number
  /** The list length asked for; buildRing clamps it to the node count. */
  readonly replicaSlots: number
}

/** Preference lists hold as many nodes as the largest keyspace needs, at least 3. */
export function ringSettingsFor(config: Config): RingSettings {
  const needed = Math.max(3, ...config.keyspaces.map((keyspace) => keyspace.replicas))
  return {
    partitionCount: config.ring.partitions,
    replicaSlots: Math.min(needed, REPLICA_SLOTS_MAX),
  }
}

/**
 * The largest replica count among the keyspaces the ring places (eventual ones; strong
 * keyspaces live on the Raft group's members): no change may leave fewer nodes, and transfers
 * are computed for it, which covers every smaller keyspace too.
 */
export function replicasMaxFor(config: Config): number {
  const eventual = config.keyspaces.filter((keyspace) => keyspace.mode === 'eventual')
  return Math.max(1, ...eventual.map((keyspace) => keyspace.replicas))
}

export function planOptionsFor(config: Config): PlanOptions {
  return {
    candidates: config.nodes.map((node) => ({ id: node.id, zone: node.zone })),
    replicasMax: replicasMaxFor(config),
    replicaSlots: ringSettingsFor(config).replicaSlots,
  }
}

/** The keyspaces partition transfers move: the eventual ones. */
export function movedKeyspacesFor(config: Config): HandoffKeyspace[] {
  return config.keyspaces
    .filter((keyspace) => keyspace.mode === 'eventual')
    .map((keyspace) => ({
      name: keyspace.name,
      replicas: keyspace.replicas,
      witnesses: keyspace.witnesses,
    }))
}

/** Version 1: the ring of cluster.yml's nodes that are not standby. */
export function initialTopologyFor(config: Config): Topology {
  const founding = config.nodes
    .filter((node) => !node.standby)
    .map((node) => ({ id: node.id, zone: node.zone }))
  return initialTopology(founding, ringSettingsFor(config))
}
