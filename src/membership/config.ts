/**
 * Tuning of the SWIM + Lifeguard membership protocol. Every number a user might tune lives
 * here with a documented default; the presets carry hashicorp/memberlist's values (LAN is its
 * `DefaultLANConfig`, WAN its `DefaultWANConfig`, local its `DefaultLocalConfig`) plus the few
 * settings memberlist lacks (periodic re-join, bounds on the member table). The config loader
 * reports the problems `validateMembershipConfig` returns; the core asserts a valid config.
 */

export interface MembershipConfig {
  /**
   * Protocol period: every member probes one other member per period (ms). Shorter finds
   * failures sooner and costs more packets; Lifeguard scales it by the local health multiplier.
   */
  readonly probeIntervalMs: number
  /**
   * How long a direct ping waits for its ack before indirect probes start (ms). Should be about
   * the p99 round trip: shorter raises false suspicions, longer delays detection.
   */
  readonly probeTimeoutMs: number
  /**
   * Number of members asked to ping a silent target on our behalf (SWIM's k). More helpers
   * make a false suspicion from a lossy path less likely at the cost of more packets.
   */
  readonly indirectChecks: number
  /**
   * Minimum suspicion timeout = suspicionMult · max(1, log10 n) · probeIntervalMs. Higher
   * gives a suspect more time to refute (fewer false deaths) but detects real deaths later.
   */
  readonly suspicionMult: number
  /**
   * Lifeguard: a suspicion starts at suspicionMaxTimeoutMult × the minimum and shrinks towards
   * the minimum as independent confirmations arrive. Higher protects against a lone slow accuser.
   */
  readonly suspicionMaxTimeoutMult: number
  /**
   * Each update is retransmitted retransmitMult · ceil(log10(n + 1)) times. Higher spreads
   * updates more reliably under loss, at the cost of bandwidth.
   */
  readonly retransmitMult: number
  /**
   * A change of the member set (a newcomer, a graceful leave, a declared death) is
   * retransmitted membershipChangeRetransmitMult · ceil(log10(n + 1)) times by every member
   * that learns it. Push gossip misses a given member with probability about
   * e^(−copies · (1 − loss)). News about a known member is repaired when that member next
   * talks to us (a probe, a refutation); a missed change is not: a departed member never
   * speaks again, and a newcomer reaches a given member only once per probe round. It then
   * lasts until a push-pull, a suspicion timer or a probe, so it gets a larger budget than
   * retransmitMult: doubling the budget squares the chance of a miss. It should not be below
   * retransmitMult.
   */
  readonly membershipChangeRetransmitMult: number
  /** Period of the dedicated gossip tick that pushes pending updates (ms). */
  readonly gossipIntervalMs: number
  /** Members gossiped to per gossip tick (fan-out). Higher spreads faster and costs more. */
  readonly gossipNodes: number
  /**
   * Dead members keep receiving gossip this long (ms), so a member wrongly declared dead
   * learns of it and refutes.
   */
  readonly gossipToTheDeadMs: number
  /**
   * Period of full-state push-pull with one random member (ms), scaled up with log2 of the
   * cluster size above 32 members so the cluster-wide rate stays bounded. Repairs any update
   * gossip lost; shorter converges faster and costs more peer traffic.
   */
  readonly pushPullIntervalMs: number
  /** Limit on one push-pull exchange over the peer transport (ms). */
  readonly pushPullTimeoutMs: number
  /**
   * Lifeguard's local health multiplier ceiling: a member unsure of its own health stretches
   * its probe interval and timeouts up to (awarenessMaxMultiplier + 1)×.
   */
  readonly awarenessMaxMultiplier: number
  /** Largest gossip datagram (bytes); compound packets are packed up to this size. */
  readonly packetBytesMax: number
  /**
   * Every rejoinIntervalMs a member pings the seeds it does not see alive and one random dead
   * member, so a healed partition merges by itself. Shorter heals sooner and costs a few packets.
   */
  readonly rejoinIntervalMs: number
  /** Largest member metadata (UTF-8 bytes of all keys and values). */
  readonly metaBytesMax: number
  /** Largest member table; alive claims beyond it are dropped. Bounds memory against floods. */
  readonly membersCountMax: number
  /**
   * Dead and left members are remembered (and dead ones re-contacted) this long (ms), then
   * forgotten. serf's ReconnectTimeout and TombstoneTimeout play this role.
   */
  readonly reconnectTimeoutMs: number
  /**
   * A graceful leave waits at most this long (ms) for its announcement to be sent its full
   * retransmit budget before the member stops (memberlist's BroadcastTimeout).
   */
  readonly leaveTimeoutMs: number
}

export type MembershipPreset = 'local' | 'lan' | 'wan'

export const MEMBERSHIP_PRESETS: Readonly<Record<MembershipPreset, MembershipConfig>> = {
  local: Object.freeze({
    probeIntervalMs: 1_000,
    probeTimeoutMs: 200,
    indirectChecks: 1,
    suspicionMult: 3,
    suspicionMaxTimeoutMult: 6,
    retransmitMult: 2,
    membershipChangeRetransmitMult: 4,
    gossipIntervalMs: 100,
    gossipNodes: 3,
    gossipToTheDeadMs: 15_000,
    pushPullIntervalMs: 15_000,
    pushPullTimeoutMs: 1_000,
    awarenessMaxMultiplier: 8,
    packetBytesMax: 1_400,
    rejoinIntervalMs: 5_000,
    metaBytesMax: 512,
    membersCountMax: 4_096,
    reconnectTimeoutMs: 86_400_000,
    leaveTimeoutMs: 1_000,
  }),
  lan: Object.freeze({
    probeIntervalMs: 1_000,
    probeTimeoutMs: 500,
    indirectChecks: 3,
    suspicionMult: 4,
    suspicionMaxTimeoutMult: 6,
    retransmitMult: 4,
    membershipChangeRetransmitMult: 8,
    gossipIntervalMs: 200,
    gossipNodes: 3,
    gossipToTheDeadMs: 30_000,
    pushPullIntervalMs: 30_000,
    pushPullTimeoutMs: 10_000,
    awarenessMaxMultiplier: 8,
    packetBytesMax: 1_400,
    rejoinIntervalMs: 20_000,
    metaBytesMax: 512,
    membersCountMax: 4_096,
    reconnectTimeoutMs: 86_400_000,
    leaveTimeoutMs: 2_000,
  }),
  wan: Object.freeze({
    probeIntervalMs: 5_000,
    probeTimeoutMs: 3_000,
    indirectChecks: 3,
    suspicionMult: 6,
    suspicionMaxTimeoutMult: 6,
    retransmitMult: 4,
    membershipChangeRetransmitMult: 8,
    gossipIntervalMs: 500,
    gossipNodes: 4,
    gossipToTheDeadMs: 60_000,
    pushPullIntervalMs: 60_000,
    pushPullTimeoutMs: 30_000,
    awarenessMaxMultiplier: 8,
    packetBytesMax: 1_400,
    rejoinIntervalMs: 60_000,
    metaBytesMax: 512,
    membersCountMax: 4_096,
    reconnectTimeoutMs: 86_400_000,
    leaveTimeoutMs: 5_000,
  }),
}

/** The smallest packet that still holds a ping plus one full-size alive message with metadata. */
export const PACKET_BYTES_MIN = 576
/** UDP's own payload ceiling; larger datagrams cannot be sent at all. */
export const PACKET_BYTES_LIMIT = 65_507
/** Keeps metadata small enough that an alive message always fits in a minimum packet. */
export const META_BYTES_LIMIT = 512
const INTEGER_FIELDS_LIMIT = 1_000_000_000

interface IntegerRule {
  readonly field: keyof MembershipConfig
  readonly min: number
  readonly max: number
}

const INTEGER_RULES: readonly IntegerRule[] = [
  { field: 'probeIntervalMs', min: 10, max: 600_000 },
  { field: 'probeTimeoutMs', min: 1, max: 600_000 },
  { field: 'indirectChecks', min: 0, max: 16 },
  { field: 'suspicionMult', min: 1, max: 100 },
  { field: 'suspicionMaxTimeoutMult', min: 1, max: 100 },
  { field: 'retransmitMult', min: 1, max: 100 },
  { field: 'membershipChangeRetransmitMult', min: 1, max: 100 },
  { field: 'gossipIntervalMs', min: 1, max: 600_000 },
  { field: 'gossipNodes', min: 1, max: 64 },
  { field: 'gossipToTheDeadMs', min: 0, max: INTEGER_FIELDS_LIMIT },
  { field: 'pushPullIntervalMs', min: 100, max: INTEGER_FIELDS_LIMIT },
  { field: 'pushPullTimeoutMs', min: 1, max: 600_000 },
  { field: 'awarenessMaxMultiplier', min: 0, max: 64 },
  { field: 'packetBytesMax', min: PACKET_BYTES_MIN, max: PACKET_BYTES_LIMIT },
  { field: 'rejoinIntervalMs', min: 100, max: INTEGER_FIELDS_LIMIT },
  { field: 'metaBytesMax', min: 0, max: META_BYTES_LIMIT },
  { field: 'membersCountMax', min: 2, max: 100_000 },
  { field: 'reconnectTimeoutMs', min: 0, max: INTEGER_FIELDS_LIMIT * 10 },
  { field: 'leaveTimeoutMs', min: 0, max: 600_000 },
]

/**
 * The problems with a config, as sentences naming the field; an empty list means valid.
 * Each field must be an integer in its range, and the probe timeout must leave room for the
 * indirect round inside the probe interval.
 */
export function validateMembershipConfig(config: MembershipConfig): string[] {
  const problems: string[] = []
  for (const rule of INTEGER_RULES) {
    const value = config[rule.field]
    if (!Number.isSafeInteger(value) || value < rule.min || value > rule.max) {
      problems.push(
        `membership.${rule.field} must be an integer from ${rule.min} to ${rule.max}, got ${value}`,
      )
    }
  }
  if (problems.length > 0) return problems
  if (config.probeTimeoutMs >= config.probeIntervalMs) {
    problems.push(
      `membership.probeTimeoutMs (${config.probeTimeoutMs}) must be below membership.probeIntervalMs (${config.probeIntervalMs}), or no time is left for indirect probes`,
    )
  }
  if (config.membershipChangeRetransmitMult < config.retransmitMult) {
    problems.push(
      `membership.membershipChangeRetransmitMult (${config.membershipChangeRetransmitMult}) should not be below membership.retransmitMult (${config.retransmitMult}): a missed change of the member set is repaired only slowly`,
    )
  }
  if (config.gossipIntervalMs > config.probeIntervalMs) {
    problems.push(
      `membership.gossipIntervalMs (${config.gossipIntervalMs}) should not exceed membership.probeIntervalMs (${config.probeIntervalMs}): updates would spread slower than failures are detected`,
    )
  }
  if (config.pushPullTimeoutMs > config.pushPullIntervalMs) {
    problems.push(
      `membership.pushPullTimeoutMs (${config.pushPullTimeoutMs}) must not exceed membership.pushPullIntervalMs (${config.pushPullIntervalMs})`,
    )
  }
  return problems
}
