/**
 * Scenario "health": one murmur node's GET /health against a bare hono hello-world in the same
 * run. The ratio shows what murmur's HTTP stack (routing, middleware, error handling) costs
 * over the framework's floor.
 */

import { freePorts } from '../../test/support/ports.js'
import { generateLoad } from '../lib/load.js'
import type { ScenarioReport } from '../lib/report.js'
import {
  alternate,
  benchCluster,
  medianRps,
  type Scenario,
  SUMMARY_COLUMNS,
  startHonoAnchor,
  stopProcess,
  summaryRow,
} from '../lib/scenario.js'
import { round } from '../lib/stats.js'

const CONNECTIONS = 32

export const healthScenario: Scenario = {
  name: 'health',
  description: `GET /health on one murmur node vs GET / on a bare hono hello-world, ${CONNECTIONS} connections, alternating runs.`,
  async run(options): Promise<ScenarioReport> {
    const cluster = await benchCluster({ nodes: 1, file: { storage: { engine: 'rocksdb' } } })
    const [anchorPort] = await freePorts(1)
    const anchor = await startHonoAnchor(anchorPort as number)
    try {
      await cluster.startAll()
      const spec = { connections: CONNECTIONS, durationSeconds: options.durationSeconds }
      const series = await alternate(options.runs, [
        {
          label: 'hono hello-world',
          measure: () => generateLoad({ ...spec, url: `http://127.0.0.1:${anchorPort}/` }),
        },
        {
          label: 'murmur GET /health',
          measure: () => generateLoad({ ...spec, url: `${cluster.node('n1').url}/health` }),
        },
      ])
      const [honoSeries, murmurSeries] = series as [(typeof series)[0], (typeof series)[0]]
      const ratio = medianRps(murmurSeries) / medianRps(honoSeries)
      return {
        scenario: 'health',
        description: this.description,
        parameters: {
          connections: CONNECTIONS,
          durationSeconds: options.durationSeconds,
          runs: options.runs,
          tool: honoSeries.results[0]?.tool,
        },
        tables: [
          {
            title: 'Throughput and latency (medians)',
            columns: SUMMARY_COLUMNS,
            rows: series.map(summaryRow),
          },
          {
            title: 'Ratio',
            columns: ['measure', 'value'],
            rows: [['murmur /health ÷ hono hello-world (req/s)', round(ratio, 3)]],
          },
        ],
        notes: [
          'Load generator, anchor and node share the same 2 cores, so absolute numbers are lower than on dedicated hardware; compare ratios.',
        ],
        raw: series,
      }
    } finally {
      await stopProcess(anchor)
      await cluster.destroy()
    }
  },
}
