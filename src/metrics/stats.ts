/**
 * The JSON forms of a node's metrics. A snapshot is every sample of the node's registry, the
 * very values /metrics renders as text, so the two never disagree. A summary condenses one
 * snapshot into the few figures the dashboard shows per node (client requests, latency
 * buckets, errors, hints, repairs, event-loop lag, storage, Raft role); it holds totals, and
 * the reader turns two summaries into rates. Both are plain data, fit for JSON and msgpack.
 */

import type { MetricObjectWithValues, MetricValue } from 'prom-client'
import { z } from 'zod'
import { UNMATCHED_ROUTE } from './http.js'
import type { Labels } from './pulled.js'

export interface StatsSample {
  /** The sample's own name where it differs from the metric's (histogram _bucket, _sum, _count). */
  readonly name?: string
  readonly labels: Labels
  /** null for a value JSON cannot carry (NaN, infinities). */
  readonly value: number | null
}

export interface StatsMetric {
  readonly type: string
  readonly help: string
  readonly samples: readonly StatsSample[]
}

export interface StatsSnapshot {
  readonly node: string
  /** Wall-clock time of the snapshot, in milliseconds since the Unix epoch. */
  readonly timeMs: number
  readonly metrics: Readonly<Record<string, StatsMetric>>
}

export const nodeSummarySchema = z.object({
  node: z.string().max(64),
  timeMs: z.number(),
  /** Client requests answered (monitoring routes left out), and those answered 5xx. */
  requests: z.number(),
  serverErrors: z.number(),
  quorumFailures: z.number(),
  /** Cumulative latency buckets of client requests: [upper bound in seconds or "+Inf", count]. */
  latencyBuckets: z.array(z.tuple([z.string().max(32), z.number()])).max(64),
  hintsPending: z.number(),
  hintsStored: z.number(),
  hintsDelivered: z.number(),
  readRepairs: z.number(),
  repairsInFlight: z.number(),
  readsWithSiblings: z.number(),
  /** p99 event-loop delay in seconds; null where the process metrics are off (simulator). */
  eventLoopLagP99Seconds: z.number().nullable(),
  storageBytes: z.number(),
  raft: z.object({ role: z.string().max(32), term: z.number(), leader: z.boolean() }).nullable(),
})

/** The figures the dashboard shows for one node. Peers send them, so they are validated. */
export type NodeSummary = z.infer<typeof nodeSummarySchema>

/** Route labels of health checks, scrapes and the dashboard, which are not client traffic. */
const MONITORING_ROUTE_PREFIXES = [
  '/health',
  '/ready',
  '/metrics',
  '/ui',
  '/v1/stats',
  '/v1/cluster',
  '/v1/raft',
  '/v1/debug',
  '/openapi',
  '/docs',
  UNMATCHED_ROUTE,
] as const

export function isMonitoringRoute(route: string): boolean {
  return MONITORING_ROUTE_PREFIXES.some((prefix) => route.startsWith(prefix))
}

/** A snapshot of prom-client's JSON form of a registry. */
export function toSnapshot(
  node: string,
  timeMs: number,
  metrics: readonly MetricObjectWithValues<MetricValue<string>>[],
): StatsSnapshot {
  const byName: Record<string, StatsMetric> = {}
  for (const metric of metrics) {
    byName[metric.name] = {
      type: String(metric.type),
      help: metric.help,
      samples: metric.values.map((sample) => toSample(metric.name, sample)),
    }
  }
  return { node, timeMs, metrics: byName }
}

function toSample(metricName: string, sample: MetricValue<string>): StatsSample {
  const labels: Record<string, string> = {}
  for (const [name, value] of Object.entries(sample.labels)) {
    if (value !== undefined) labels[name] = String(value)
  }
  const value = Number.isFinite(sample.value) ? sample.value : null
  const name = (sample as { metricName?: string }).metricName
  return name === undefined || name === metricName ? { labels, value } : { name, labels, value }
}

function samplesOf(snapshot: StatsSnapshot, metric: string, name = metric): StatsSample[] {
  const found = snapshot.metrics[metric]
  if (found === undefined) return []
  return found.samples.filter((sample) => (sample.name ?? metric) === name)
}

function total(samples: readonly StatsSample[], keep: (labels: Labels) => boolean = () => true) {
  let sum = 0
  for (const sample of samples) if (keep(sample.labels)) sum += sample.value ?? 0
  return sum
}

function first(snapshot: StatsSnapshot, metric: string): number | null {
  return samplesOf(snapshot, metric)[0]?.value ?? null
}

const isClientRequest = (labels: Labels) => !isMonitoringRoute(labels['route'] ?? '')

/** The dashboard's per-node figures, from one snapshot. */
export function summarize(snapshot: StatsSnapshot): NodeSummary {
  const requests = samplesOf(snapshot, 'murmur_http_requests_total')
  return {
    node: snapshot.node,
    timeMs: snapshot.timeMs,
    requests: total(requests, isClientRequest),
    serverErrors: total(
      requests,
      (labels) => isClientRequest(labels) && (labels['status'] ?? '').startsWith('5'),
    ),
    quorumFailures: total(samplesOf(snapshot, 'murmur_quorum_failures_total')),
    latencyBuckets: latencyBuckets(snapshot),
    hintsPending: total(samplesOf(snapshot, 'murmur_hints_pending')),
    hintsStored: total(samplesOf(snapshot, 'murmur_hints_stored_total')),
    hintsDelivered: total(samplesOf(snapshot, 'murmur_hints_delivered_total')),
    readRepairs: total(samplesOf(snapshot, 'murmur_kv_read_repairs_total')),
    repairsInFlight: total(samplesOf(snapshot, 'murmur_kv_read_repairs_in_flight')),
    readsWithSiblings: total(samplesOf(snapshot, 'murmur_kv_reads_with_siblings_total')),
    eventLoopLagP99Seconds: first(snapshot, 'nodejs_eventloop_lag_p99_seconds'),
    storageBytes:
      total(samplesOf(snapshot, 'murmur_storage_table_files_bytes')) +
      total(samplesOf(snapshot, 'murmur_storage_memtable_bytes')),
    raft: raftSummary(snapshot),
  }
}

/** Client requests' latency buckets, summed over every label set, in bucket order. */
function latencyBuckets(snapshot: StatsSnapshot): [string, number][] {
  const metric = 'murmur_http_request_duration_seconds'
  const counts = new Map<string, number>()
  for (const sample of samplesOf(snapshot, metric, `${metric}_bucket`)) {
    if (!isClientRequest(sample.labels)) continue
    const bound = sample.labels['le'] ?? '+Inf'
    counts.set(bound, (counts.get(bound) ?? 0) + (sample.value ?? 0))
  }
  return [...counts].sort(([a], [b]) => boundOf(a) - boundOf(b))
}

function boundOf(le: string): number {
  return le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le)
}

function raftSummary(snapshot: StatsSnapshot): NodeSummary['raft'] {
  const role = samplesOf(snapshot, 'murmur_raft_role').find((sample) => sample.value === 1)
  if (role === undefined) return null
  return {
    role: role.labels['role'] ?? 'unknown',
    term: first(snapshot, 'murmur_raft_term') ?? 0,
    leader: first(snapshot, 'murmur_raft_has_leader') === 1,
  }
}
