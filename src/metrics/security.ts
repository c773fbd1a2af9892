/**
 * Security metrics of a node process: peer connections closed for failing authentication (or
 * any other misbehaviour), by reason, and the gossip rejection counter extended with the
 * datagrams the transport dropped as unauthenticated. Both are pulled from counters the
 * transports keep, so the hot paths pay nothing for them.
 */

import type { Registry } from 'prom-client'
import {
  GOSSIP_REJECTED_METRIC,
  type GossipRejectionSource,
  gossipRejectionsMetric,
} from './membership.js'
import { type PulledMetric, registerPulled, samplesOf } from './pulled.js'

export interface SecuritySource {
  readonly gossip: GossipRejectionSource
  /** Peer connections closed for misbehaving, by reason (e.g. auth_failed). */
  peerRejections(): ReadonlyMap<string, number>
}

export function peerRejectionsMetric(source: SecuritySource): PulledMetric {
  return {
    name: 'murmur_peer_connections_rejected_total',
    help: 'Peer connections closed for misbehaving (auth_failed, handshake_refused, ...), by reason.',
    type: 'counter',
    labelNames: ['reason'],
    read: () => samplesOf('reason', source.peerRejections()),
  }
}

/**
 * Registers the security metrics on a node's registry whose membership metrics are attached:
 * the gossip rejection counter is replaced by one that also reads the transport's counts.
 */
export function registerSecurityMetrics(registry: Registry, source: SecuritySource): void {
  registry.removeSingleMetric(GOSSIP_REJECTED_METRIC)
  registerPulled(registry, gossipRejectionsMetric(source.gossip))
  registerPulled(registry, peerRejectionsMetric(source))
}
