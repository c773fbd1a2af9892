/**
 * `npm run bench -- [scenario ...] [--runs N] [--duration S]`: runs benchmark scenarios and
 * writes their reports to bench/results/. Benchmarks are never part of `npm test`: they print
 * and record numbers; they do not pass or fail on them.
 */

import { constants } from 'node:os'
import { parseArgs } from 'node:util'
import { writeReport } from './lib/report.js'
import { MissingToolError, type Scenario, stopAnchors } from './lib/scenario.js'
import { antiEntropyScenario } from './scenarios/antientropy.js'
import { contrastScenario } from './scenarios/contrast.js'
import { crdtScenario } from './scenarios/crdt.js'
import { healthScenario } from './scenarios/health.js'
import { kvScenario } from './scenarios/kv.js'
import { membershipScenario } from './scenarios/membership.js'
import { strongScenario } from './scenarios/strong.js'
import { topologyScenario } from './scenarios/topology.js'
import { witnessScenario } from './scenarios/witness.js'

const SCENARIOS: readonly Scenario[] = [
  healthScenario,
  membershipScenario,
  kvScenario,
  strongScenario,
  crdtScenario,
  contrastScenario,
  witnessScenario,
  antiEntropyScenario,
  topologyScenario,
]

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: {
      runs: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  })
  if (values.help === true) {
    console.log(
      `usage: npm run bench -- [scenario ...] [--runs N] [--duration S]\nscenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`,
    )
    return 0
  }
  const runs = Number(values.runs)
  const durationSeconds = Number(values.duration)
  if (
    !Number.isInteger(runs) ||
    runs < 1 ||
    !Number.isFinite(durationSeconds) ||
    durationSeconds <= 0
  ) {
    console.error(
      'bench: --runs must be a positive integer and --duration a positive number of seconds',
    )
    return 2
  }
  const selected =
    positionals.length === 0
      ? SCENARIOS
      : positionals.map((name) => SCENARIOS.find((scenario) => scenario.name === name))
  if (selected.some((scenario) => scenario === undefined)) {
    console.error(`bench: unknown scenario; choose from ${SCENARIOS.map((s) => s.name).join(', ')}`)
    return 2
  }
  for (const scenario of selected as Scenario[]) {
    console.log(`bench ${scenario.name}: ${scenario.description}`)
    const report = await scenario.run({ runs, durationSeconds })
    console.log(writeReport(report))
  }
  return 0
}

process.on('exit', stopAnchors)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`bench: stopped by ${signal}`)
    process.exit(128 + constants.signals[signal])
  })
}
// Output closed early (`npm run bench | head`): stop, and let the exit handler stop the anchors.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(141)
    throw error
  })
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const detail =
      error instanceof MissingToolError
        ? error.message
        : error instanceof Error
          ? (error.stack ?? error.message)
          : String(error)
    console.error(`bench failed: ${detail}`)
    process.exit(1)
  },
)
