/**
 * The operator's routes: `GET /metrics` (Prometheus text), `GET /v1/stats` (the same samples
 * as JSON), `GET /v1/stats/cluster` (every member's dashboard summary, gathered over the peer
 * transport) and `GET /ui` (the live dashboard, one self-contained page that polls the JSON
 * routes of the node that served it). None of them changes state.
 */

import type { Hono } from 'hono'
import type { ClusterStatsEntry } from '../metrics/cluster-stats.js'
import type { StatsSnapshot } from '../metrics/stats.js'
import type { ApiEnv, RouteModule } from './app.js'
import { DASHBOARD_HEADERS, DASHBOARD_HTML } from './ui/page.js'

export interface MetricsRouteSource {
  readonly nodeId: string
  readonly contentType: string
  text(): Promise<string>
  snapshot(): Promise<StatsSnapshot>
  clusterSummaries(): Promise<readonly ClusterStatsEntry[]>
  wallMs(): number
}

/** Monitoring answers are always fresh. */
const NO_STORE = { 'Cache-Control': 'no-store' } as const

export function metricsRoutes(source: MetricsRouteSource): RouteModule {
  return (app: Hono<ApiEnv>) => {
    app.get('/metrics', async (c) =>
      c.body(await source.text(), 200, { ...NO_STORE, 'Content-Type': source.contentType }),
    )
    app.get('/v1/stats', async (c) => c.json(await source.snapshot(), 200, NO_STORE))
    app.get('/v1/stats/cluster', async (c) => {
      const nodes = await source.clusterSummaries()
      return c.json({ node: source.nodeId, timeMs: source.wallMs(), nodes }, 200, NO_STORE)
    })
    app.get('/ui', (c) => c.html(DASHBOARD_HTML, 200, { ...NO_STORE, ...DASHBOARD_HEADERS }))
  }
}
