/**
 * Goal: the presets carry memberlist's values and pass validation; validation reports bad
 * configs as sentences naming the field.
 *
 * Method: direct checks of MEMBERSHIP_PRESETS and validateMembershipConfig.
 */

import { describe, expect, it } from 'vitest'
import { MEMBERSHIP_PRESETS, validateMembershipConfig } from '../../../src/membership/config.js'

describe('membership config', () => {
  it('has memberlist LAN values', () => {
    expect(MEMBERSHIP_PRESETS.lan).toMatchObject({
      probeIntervalMs: 1_000,
      probeTimeoutMs: 500,
      indirectChecks: 3,
      suspicionMult: 4,
      suspicionMaxTimeoutMult: 6,
      retransmitMult: 4,
      gossipIntervalMs: 200,
      gossipNodes: 3,
      gossipToTheDeadMs: 30_000,
      pushPullIntervalMs: 30_000,
      pushPullTimeoutMs: 10_000,
      awarenessMaxMultiplier: 8,
      packetBytesMax: 1_400,
    })
  })

  it('has memberlist local and WAN values', () => {
    expect(MEMBERSHIP_PRESETS.local).toMatchObject({
      probeTimeoutMs: 200,
      indirectChecks: 1,
      suspicionMult: 3,
      retransmitMult: 2,
      gossipIntervalMs: 100,
      gossipToTheDeadMs: 15_000,
      pushPullIntervalMs: 15_000,
    })
    expect(MEMBERSHIP_PRESETS.wan).toMatchObject({
      probeIntervalMs: 5_000,
      probeTimeoutMs: 3_000,
      suspicionMult: 6,
      gossipIntervalMs: 500,
      gossipNodes: 4,
      gossipToTheDeadMs: 60_000,
      pushPullIntervalMs: 60_000,
    })
  })

  it.each(['local', 'lan', 'wan'] as const)('preset %s is valid', (name) => {
    expect(validateMembershipConfig(MEMBERSHIP_PRESETS[name])).toEqual([])
  })

  it('requires the probe timeout to be below the probe interval', () => {
    const problems = validateMembershipConfig({ ...MEMBERSHIP_PRESETS.lan, probeTimeoutMs: 1_000 })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(
      'membership.probeTimeoutMs (1000) must be below membership.probeIntervalMs (1000)',
    )
  })

  it('gives changes of the member set at least the ordinary retransmit budget', () => {
    expect(MEMBERSHIP_PRESETS.lan.membershipChangeRetransmitMult).toBe(
      2 * MEMBERSHIP_PRESETS.lan.retransmitMult,
    )
    const problems = validateMembershipConfig({
      ...MEMBERSHIP_PRESETS.lan,
      membershipChangeRetransmitMult: 3,
    })
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(
      'membership.membershipChangeRetransmitMult (3) should not be below membership.retransmitMult (4)',
    )
  })

  it('reports every field out of range or not an integer', () => {
    const problems = validateMembershipConfig({
      ...MEMBERSHIP_PRESETS.lan,
      gossipNodes: 0,
      packetBytesMax: 100,
      probeIntervalMs: 1.5,
    })
    expect(problems).toHaveLength(3)
    expect(problems.join('\n')).toMatch(
      /membership\.gossipNodes must be an integer from 1 to 64, got 0/,
    )
    expect(problems.join('\n')).toMatch(/membership\.packetBytesMax/)
    expect(problems.join('\n')).toMatch(/membership\.probeIntervalMs/)
  })
})
