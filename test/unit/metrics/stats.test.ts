/**
 * Goal: a node's dashboard summary counts client traffic only (health checks, scrapes and the
 * dashboard left out), sums latency buckets over every label set in bucket order, and reads
 * the Raft role only where the node runs a replica; the summary schema refuses malformed peer
 * answers. Method: summarize() on snapshots built by hand.
 */

import { describe, expect, it } from 'vitest'
import { nodeSummarySchema, type StatsSnapshot, summarize } from '../../../src/metrics/stats.js'

function snapshot(metrics: StatsSnapshot['metrics']): StatsSnapshot {
  return { node: 'n1', timeMs: 1000, metrics }
}

const requests = {
  type: 'counter',
  help: '',
  samples: [
    { labels: { route: '/v1/kv/:keyspace/:key', status: '204' }, value: 10 },
    { labels: { route: '/v1/kv/:keyspace/:key', status: '503' }, value: 2 },
    { labels: { route: '/v1/stats/cluster', status: '200' }, value: 50 },
    { labels: { route: '/metrics', status: '500' }, value: 1 },
    { labels: { route: 'unmatched', status: '404' }, value: 7 },
  ],
}

const name = 'murmur_http_request_duration_seconds_bucket'
const latency = {
  type: 'histogram',
  help: '',
  samples: [
    { name, labels: { route: '/v1/kv/:keyspace/:key', method: 'GET', le: '0.01' }, value: 3 },
    { name, labels: { route: '/v1/kv/:keyspace/:key', method: 'GET', le: '+Inf' }, value: 4 },
    { name, labels: { route: '/v1/kv/:keyspace/:key', method: 'PUT', le: '0.01' }, value: 1 },
    { name, labels: { route: '/v1/kv/:keyspace/:key', method: 'PUT', le: '+Inf' }, value: 8 },
    { name, labels: { route: '/v1/kv/:keyspace/:key', method: 'PUT', le: '0.005' }, value: 0 },
    { name, labels: { route: '/health', method: 'GET', le: '+Inf' }, value: 99 },
    { name: `${name.slice(0, -7)}_count`, labels: { route: '/v1/kv/:keyspace/:key' }, value: 12 },
  ],
}

describe('node summary', () => {
  it('counts client requests and their latency, leaving monitoring out', () => {
    const summary = summarize(
      snapshot({
        murmur_http_requests_total: requests,
        murmur_http_request_duration_seconds: latency,
        murmur_hints_pending: {
          type: 'gauge',
          help: '',
          samples: [
            { labels: { target: 'n2' }, value: 3 },
            { labels: { target: 'n3' }, value: 4 },
          ],
        },
      }),
    )
    expect(summary.requests).toBe(12)
    expect(summary.serverErrors).toBe(2)
    expect(summary.latencyBuckets).toEqual([
      ['0.005', 0],
      ['0.01', 4],
      ['+Inf', 12],
    ])
    expect(summary.hintsPending).toBe(7)
    expect(summary.raft).toBeNull()
    expect(summary.eventLoopLagP99Seconds).toBeNull()
    expect(nodeSummarySchema.parse(summary)).toEqual(summary)
  })

  it('reads the Raft role from the role gauge', () => {
    const gauge = (value: number) => ({ type: 'gauge', help: '', samples: [{ labels: {}, value }] })
    const summary = summarize(
      snapshot({
        murmur_raft_role: {
          type: 'gauge',
          help: '',
          samples: [
            { labels: { role: 'follower' }, value: 0 },
            { labels: { role: 'leader' }, value: 1 },
          ],
        },
        murmur_raft_term: gauge(7),
        murmur_raft_has_leader: gauge(1),
      }),
    )
    expect(summary.raft).toEqual({ role: 'leader', term: 7, leader: true })
  })

  it('refuses malformed summaries from peers', () => {
    const valid = summarize(snapshot({}))
    expect(nodeSummarySchema.safeParse(valid).success).toBe(true)
    expect(nodeSummarySchema.safeParse({ ...valid, requests: '12' }).success).toBe(false)
    expect(nodeSummarySchema.safeParse({ ...valid, node: 'x'.repeat(65) }).success).toBe(false)
    const buckets = Array.from({ length: 65 }, (_, index): [string, number] => [String(index), 1])
    expect(nodeSummarySchema.safeParse({ ...valid, latencyBuckets: buckets }).success).toBe(false)
  })
})
