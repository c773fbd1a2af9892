/**
 * Membership metrics: every member's state as this node sees it, gossip traffic, rejected
 * packets, Lifeguard's local health score, and the state changes (suspicions, deaths, ...)
 * this node learned of. Counts and states are pulled from the membership driver and its core at
 * scrape time; state changes are counted by a listener, since the core keeps no history.
 */

import { Counter, type Registry } from 'prom-client'
import type { MemberSnapshot } from '../membership/member.js'
import type { Membership, MembershipEvent, MembershipEventType } from '../membership/membership.js'
import type { MembershipDriverCounters } from '../runtime/membership-driver.js'
import type { PulledMetric, Sample } from './pulled.js'

export const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left'] as const
const EVENT_TYPES: readonly MembershipEventType[] = [
  'joined',
  'alive',
  'suspect',
  'dead',
  'left',
  'updated',
]

export interface MembershipSource {
  readonly counters: Readonly<MembershipDriverCounters>
  readonly core: Pick<Membership, 'rejectedPackets' | 'awarenessScore' | 'pendingBroadcasts'>
  members(): MemberSnapshot[]
  onEvent(listener: (event: MembershipEvent) => void): () => void
}

/** Where gossip datagrams are rejected: the membership core, and the transport's seal check. */
export interface GossipRejectionSource {
  readonly core: Pick<Membership, 'rejectedPackets'>
  /** Datagrams the transport dropped as unauthenticated, by reason. Default none. */
  readonly transportRejections?: () => ReadonlyMap<string, number>
}

export const GOSSIP_REJECTED_METRIC = 'murmur_gossip_packets_rejected_total'

/** Rejected gossip datagrams by reason, the core's and the transport's together. */
export function gossipRejectionsMetric(source: GossipRejectionSource): PulledMetric {
  return {
    name: GOSSIP_REJECTED_METRIC,
    help: 'Gossip datagrams dropped as malformed, foreign or unauthenticated, by reason.',
    type: 'counter',
    labelNames: ['reason'],
    read: () => {
      const counts = new Map<string, number>(Object.entries(source.core.rejectedPackets()))
      for (const [reason, count] of source.transportRejections?.() ?? [])
        counts.set(reason, (counts.get(reason) ?? 0) + count)
      return [...counts].map(([reason, count]): Sample => [{ reason }, count])
    },
  }
}

/** What the UDP transport counts of datagrams it dropped itself. */
export interface GossipDropCounters {
  /** Datagrams over `gossip.packetBytesMax`, outgoing (after sealing) or incoming. */
  readonly oversizeDropped: number
  /** Datagrams the socket failed to send, or whose address did not parse. */
  readonly sendErrors: number
}

/** Datagrams the transport dropped, by reason: a gossip message too large is never sent. */
export function gossipDropsMetric(counters: () => GossipDropCounters): PulledMetric {
  return {
    name: 'murmur_gossip_packets_dropped_total',
    help: 'Gossip datagrams the transport dropped: over gossip.packetBytesMax (oversize) or failed sends (send_error).',
    type: 'counter',
    labelNames: ['reason'],
    read: () => {
      const { oversizeDropped, sendErrors } = counters()
      return [
        [{ reason: 'oversize' }, oversizeDropped],
        [{ reason: 'send_error' }, sendErrors],
      ]
    },
  }
}

export function membershipMetrics(source: MembershipSource): PulledMetric[] {
  const counter = (
    name: string,
    help: string,
    field: keyof MembershipDriverCounters,
  ): PulledMetric => ({ name, help, type: 'counter', read: () => source.counters[field] })
  return [
    {
      name: 'murmur_members',
      help: 'Members of the cluster in each state, as this node sees them (itself included).',
      type: 'gauge',
      labelNames: ['state'],
      read: () => memberCounts(source.members()),
    },
    {
      name: 'murmur_member_state',
      help: "1 for each member's current state, as this node sees it.",
      type: 'gauge',
      labelNames: ['member', 'state'],
      read: () => source.members().map((member) => [{ member: member.id, state: member.state }, 1]),
    },
    counter('murmur_gossip_packets_sent_total', 'Gossip datagrams sent.', 'packetsSent'),
    counter(
      'murmur_gossip_packets_received_total',
      'Gossip datagrams received.',
      'packetsReceived',
    ),
    gossipRejectionsMetric(source),
    counter(
      'murmur_gossip_push_pulls_started_total',
      'Full-state push-pull exchanges this node started.',
      'pushPullsStarted',
    ),
    counter(
      'murmur_gossip_push_pulls_failed_total',
      'Push-pull exchanges this node started that failed.',
      'pushPullsFailed',
    ),
    counter(
      'murmur_gossip_push_pulls_answered_total',
      'Push-pull exchanges other nodes started with this one.',
      'pushPullsAnswered',
    ),
    {
      name: 'murmur_gossip_health_score',
      help: "Lifeguard's local health score (0 is healthy); probe timeouts scale with it.",
      type: 'gauge',
      read: () => source.core.awarenessScore,
    },
    {
      name: 'murmur_gossip_pending_broadcasts',
      help: 'Membership updates queued to be gossiped.',
      type: 'gauge',
      read: () => source.core.pendingBroadcasts,
    },
  ]
}

function memberCounts(members: readonly MemberSnapshot[]): Sample[] {
  const counts = new Map<string, number>(MEMBER_STATES.map((state) => [state, 0]))
  for (const member of members) counts.set(member.state, (counts.get(member.state) ?? 0) + 1)
  return [...counts].map(([state, count]) => [{ state }, count])
}

/** Counts the membership changes this node learns of, by type, from now on. */
export function countMembershipEvents(registry: Registry, source: MembershipSource): () => void {
  const events = new Counter({
    name: 'murmur_membership_events_total',
    help: 'Member state changes this node learned of, by type (suspect and dead are the failure signals).',
    labelNames: ['type'],
    registers: [registry],
  })
  for (const type of EVENT_TYPES) events.inc({ type }, 0)
  return source.onEvent((event) => events.inc({ type: event.type }))
}
