/**
 * Request metrics: one hono middleware that counts every request and observes its latency by
 * method, route pattern, keyspace and consistency level, and counts quorum failures from the
 * error the route raised. Every label comes from a bounded set (the app's route patterns,
 * configured keyspaces, known levels, "other" for the rest), so no client input can grow the
 * number of series. The cost per request is two clock reads, a few string slices, one Map
 * lookup and a few additions to plain numbers, which the registry reads at scrape time; the
 * series objects are created once per label set.
 */

import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { Counter, type Registry } from 'prom-client'
import { isMurmurError } from '../env/errors.js'
import { LEVEL_NAMES, REPLICAS_MAX } from '../replication/consistency.js'
import { type HistogramSeries, PulledHistogram } from './pulled-histogram.js'

/** Upper bounds of the latency buckets, in seconds: 0.5 ms to 10 s. */
export const LATENCY_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const

/** The route label of requests no route matched. */
export const UNMATCHED_ROUTE = 'unmatched'
/** The level label of requests that take no consistency level. */
export const NO_LEVEL = 'none'

/** Routes `/v1/<kind>/*` serve `/v1/<kind>/{keyspace}` (listing) and `.../{keyspace}/{key}`. */
const KEYED_WILDCARD = /^\/v1\/[a-z]+\/\*$/
/** Series kept per request metric; past it, new label sets share the "other" series. */
const SERIES_COUNT_MAX = 4096

/** Levels a request may name: eventual levels, replica counts and the strong ones. */
const KNOWN_LEVELS: ReadonlySet<string> = new Set([
  ...LEVEL_NAMES,
  ...Array.from({ length: REPLICAS_MAX }, (_, index) => String(index + 1)),
  'linearizable',
  'serializable',
])

export interface RequestLabels {
  readonly method: string
  readonly route: string
  readonly keyspace: string
  readonly level: string
}

export interface RequestMetricsOptions {
  readonly registry: Registry
  /** Names of the configured keyspaces; any other keyspace is labelled "other". */
  readonly keyspaces: readonly string[]
  /** Milliseconds on a monotonic clock (the node's Clock). */
  readonly nowMs: () => number
}

/** The request count of one label set and status, and the latency series it shares. */
interface Series {
  readonly labels: RequestLabels
  readonly status: string
  readonly latency: HistogramSeries
  requests: number
}

const OVERFLOW_KEY = 'overflow'
const OVERFLOW_LABELS: RequestLabels = {
  method: 'other',
  route: 'other',
  keyspace: 'other',
  level: 'other',
}

/**
 * The request counter and latency histogram of one node, and the middleware that feeds them.
 * Both are plain numbers per label set, read by the registry at scrape time; quorum failures
 * are rare and go straight to a prom-client counter.
 */
export class RequestMetrics {
  private readonly series = new Map<string, Series>()
  private readonly latencySeries = new Map<string, HistogramSeries>()
  private readonly latency: PulledHistogram
  private readonly quorumFailures: Counter<string>
  private readonly keyspaces: ReadonlySet<string>
  private readonly nowMs: () => number

  constructor(options: RequestMetricsOptions) {
    const registers = [options.registry]
    const series = this.series
    this.keyspaces = new Set(options.keyspaces)
    this.nowMs = options.nowMs
    new Counter({
      name: 'murmur_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern, keyspace, level and status code.',
      labelNames: ['method', 'route', 'keyspace', 'level', 'status'],
      registers,
      collect() {
        this.reset()
        for (const each of series.values()) {
          this.inc({ ...each.labels, status: each.status }, each.requests)
        }
      },
    })
    this.latency = new PulledHistogram({
      name: 'murmur_http_request_duration_seconds',
      help: 'HTTP request latency from routing to the response, by method, route, keyspace and level.',
      labelNames: ['method', 'route', 'keyspace', 'level'],
      buckets: LATENCY_BUCKETS_SECONDS,
      registry: options.registry,
      series: () => this.latencySeries.values(),
    })
    this.quorumFailures = new Counter({
      name: 'murmur_quorum_failures_total',
      help: 'Requests answered 503 because too few replicas (quorum_unavailable) or Raft members (no_quorum) answered.',
      labelNames: ['method', 'keyspace', 'level', 'code'],
      registers,
    })
  }

  /** The middleware; install it before every other middleware so it sees every answer. */
  readonly middleware: MiddlewareHandler = async (c, next) => {
    const startMs = this.nowMs()
    await next()
    const elapsedSeconds = (this.nowMs() - startMs) / 1000
    const url = c.req.url
    const queryAt = url.indexOf('?')
    const query = queryAt === -1 ? '' : url.slice(queryAt + 1)
    const labels = requestLabels(c.req.method, c.req.path, query, routePath(c, -1), this.keyspaces)
    const status = c.res.status
    const series = this.seriesFor(labels, status)
    series.requests++
    series.latency.observe(elapsedSeconds)
    const error = c.error
    if (
      status === 503 &&
      (isMurmurError(error, 'quorum_unavailable') || isMurmurError(error, 'no_quorum'))
    ) {
      this.quorumFailures.inc({
        method: labels.method,
        keyspace: labels.keyspace,
        level: labels.level,
        code: error.code,
      })
    }
  }

  private seriesFor(labels: RequestLabels, status: number): Series {
    const key = `${labels.method} ${labels.route} ${labels.keyspace} ${labels.level} ${status}`
    const known = this.series.get(key)
    if (known !== undefined) return known
    // Past the limit, new label sets share one series rather than grow memory without bound.
    if (this.series.size >= SERIES_COUNT_MAX) return this.overflowSeries()
    const created = {
      labels,
      status: String(status),
      latency: this.latencyFor(labels),
      requests: 0,
    }
    this.series.set(key, created)
    return created
  }

  private overflowSeries(): Series {
    const known = this.series.get(OVERFLOW_KEY)
    if (known !== undefined) return known
    const labels = OVERFLOW_LABELS
    const created = { labels, status: 'other', latency: this.latencyFor(labels), requests: 0 }
    this.series.set(OVERFLOW_KEY, created)
    return created
  }

  private latencyFor(labels: RequestLabels): HistogramSeries {
    const key = `${labels.method} ${labels.route} ${labels.keyspace} ${labels.level}`
    let series = this.latencySeries.get(key)
    if (series === undefined) {
      series = this.latency.createSeries({ ...labels })
      this.latencySeries.set(key, series)
    }
    return series
  }
}

/**
 * The labels of one request. `matchedRoute` is the pattern of the last route hono matched;
 * "/*" means only the app-wide middleware matched. Keyed routes (`/v1/kv/*`, `/v1/counters/*`,
 * ...) serve both single keys and keyspace listings under one pattern; the two differ in cost,
 * so they are told apart here, and the keyspace and level come from the path and query.
 */
export function requestLabels(
  method: string,
  path: string,
  query: string,
  matchedRoute: string,
  keyspaces: ReadonlySet<string>,
): RequestLabels {
  const knownMethod = METHODS.has(method) ? method : 'other'
  if (matchedRoute === '' || matchedRoute === '/*' || matchedRoute === '*') {
    return { method: knownMethod, route: UNMATCHED_ROUTE, keyspace: NO_LEVEL, level: NO_LEVEL }
  }
  if (!KEYED_WILDCARD.test(matchedRoute)) {
    return { method: knownMethod, route: matchedRoute, keyspace: NO_LEVEL, level: NO_LEVEL }
  }
  const prefix = matchedRoute.slice(0, -1)
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : ''
  const slash = rest.indexOf('/')
  const name = slash === -1 ? rest : rest.slice(0, slash)
  const keyspace = keyspaces.has(name) ? name : 'other'
  if (slash === -1) {
    return { method: knownMethod, route: `${prefix}:keyspace`, keyspace, level: NO_LEVEL }
  }
  const parameter = method === 'GET' || method === 'HEAD' ? 'r' : 'w'
  return {
    method: knownMethod,
    route: `${prefix}:keyspace/:key`,
    keyspace,
    level: levelLabel(query, parameter),
  }
}

const METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'PUT',
  'POST',
  'DELETE',
  'PATCH',
  'OPTIONS',
])

/** The level a query names with `parameter` (r or w), else with `consistency`, else "default". */
export function levelLabel(query: string, parameter: 'r' | 'w'): string {
  let shorthand: string | undefined
  let level: string | undefined
  for (const pair of query.split('&', 16)) {
    const equals = pair.indexOf('=')
    if (equals === -1) continue
    const name = pair.slice(0, equals)
    if (name === parameter) level = pair.slice(equals + 1)
    else if (name === 'consistency') shorthand = pair.slice(equals + 1)
  }
  const given = level ?? shorthand
  if (given === undefined) return 'default'
  const lowered = given.toLowerCase()
  return KNOWN_LEVELS.has(lowered) ? lowered : 'invalid'
}
