/**
 * Goal: the cluster summary behind the dashboard costs the cluster one fan-out per interval,
 * however many callers poll it. Callers during a gathering share it, an answer younger than
 * CLUSTER_STATS_FRESH_MS is reused, an older one is gathered again, and a member that does not
 * answer shows as an error entry. Method: the gatherer over a fake peer transport that counts
 * requests, on a hand-moved clock.
 */

import { describe, expect, it } from 'vitest'
import type { NodeId, PeerTransport } from '../../../src/env/transport.js'
import type { MemberSnapshot } from '../../../src/membership/member.js'
import { CLUSTER_STATS_FRESH_MS, ClusterStatsGatherer } from '../../../src/metrics/cluster-stats.js'
import type { NodeSummary } from '../../../src/metrics/stats.js'

function summary(node: string): NodeSummary {
  return {
    node,
    timeMs: 0,
    requests: 1,
    serverErrors: 0,
    quorumFailures: 0,
    latencyBuckets: [],
    hintsPending: 0,
    hintsStored: 0,
    hintsDelivered: 0,
    readRepairs: 0,
    repairsInFlight: 0,
    readsWithSiblings: 0,
    eventLoopLagP99Seconds: null,
    storageBytes: 0,
    raft: null,
  }
}

function member(id: string, state: MemberSnapshot['state'] = 'alive'): MemberSnapshot {
  return { id, address: `${id}:1`, meta: {}, incarnation: 1, state, stateChangedMs: 0 }
}

function setup() {
  let nowMs = 0
  const asked: NodeId[] = []
  const peers: PeerTransport = {
    localId: 'a',
    request: async (to) => {
      asked.push(to)
      if (to === 'c') throw new Error('no answer')
      return summary(to)
    },
    notify: () => {},
    setHandler: () => {},
    onLinkLost: () => {},
    close: async () => {},
  }
  const gatherer = new ClusterStatsGatherer(
    {
      selfId: 'a',
      peers,
      summary: async () => summary('a'),
      members: () => [member('c'), member('a'), member('b'), member('d', 'dead')],
    },
    () => nowMs,
  )
  return { gatherer, asked, advance: (ms: number) => (nowMs += ms) }
}

describe('cluster stats gathering', () => {
  it('asks every usable member once and reports the others as errors, sorted by id', async () => {
    const { gatherer, asked } = setup()
    const entries = await gatherer.gather()
    expect(entries.map((entry) => [entry.node, entry.error])).toEqual([
      ['a', null],
      ['b', null],
      ['c', 'no answer'],
      ['d', 'member is dead'],
    ])
    expect(asked.sort()).toEqual(['b', 'c'])
  })

  it('shares a gathering among concurrent callers and reuses a fresh answer', async () => {
    const { gatherer, asked, advance } = setup()
    const [first, second] = await Promise.all([gatherer.gather(), gatherer.gather()])
    expect(second).toBe(first)
    expect(gatherer.gatherings).toBe(1)
    advance(CLUSTER_STATS_FRESH_MS - 1)
    expect(await gatherer.gather()).toBe(first)
    expect(asked).toHaveLength(2)
    advance(1)
    const third = await gatherer.gather()
    expect(third).not.toBe(first)
    expect(gatherer.gatherings).toBe(2)
    expect(asked).toHaveLength(4)
  })
})
