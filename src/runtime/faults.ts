/**
 * Fault injection for real processes: a partition "via the transport". When a node runs with
 * `MURMUR_FAULTS=1`, `POST /v1/debug/faults {"blockPeers": ["n2"]}` makes it drop all traffic
 * with those peers, in both directions: peer requests to them fail at once as unreachable
 * (definite: never sent), notifications to them are dropped, requests, notifications and
 * answers from them are ignored (their senders time out), and gossip datagrams to and from
 * their gossip addresses are dropped. Blocking a peer on both sides of a link, or on one side
 * only, gives symmetric or asymmetric partitions.
 *
 * The TCP and UDP transports consult one PeerFaults object, so this is the only place that
 * decides what is blocked. Without the variable no PeerFaults exists and the route is absent.
 */

import type { NodeId, PacketAddress } from '../env/transport.js'

/** The question the transports ask for every message. */
export interface FaultFilter {
  blocksPeer(nodeId: NodeId): boolean
  blocksAddress(address: PacketAddress): boolean
}

/** The environment variable that enables fault injection. */
export const FAULTS_VARIABLE = 'MURMUR_FAULTS'

export class PeerFaults implements FaultFilter {
  private blockedPeers = new Set<NodeId>()
  private blockedAddresses = new Set<PacketAddress>()

  /** `gossipAddressOf` maps a node id to the address its gossip datagrams come from. */
  constructor(private readonly gossipAddressOf: (nodeId: NodeId) => PacketAddress | undefined) {}

  /** Replaces the set of blocked peers (an empty list heals every link). */
  block(nodeIds: readonly NodeId[]): void {
    this.blockedPeers = new Set(nodeIds)
    this.blockedAddresses = new Set()
    for (const nodeId of nodeIds) {
      const address = this.gossipAddressOf(nodeId)
      if (address !== undefined) this.blockedAddresses.add(address)
    }
  }

  blocked(): NodeId[] {
    return [...this.blockedPeers].sort()
  }

  blocksPeer(nodeId: NodeId): boolean {
    return this.blockedPeers.size > 0 && this.blockedPeers.has(nodeId)
  }

  blocksAddress(address: PacketAddress): boolean {
    return this.blockedAddresses.size > 0 && this.blockedAddresses.has(address)
  }
}
