/**
 * Benchmark reports: the machine, the parameters, every run, and a Markdown summary of medians.
 * Each scenario writes bench/results/<scenario>-<timestamp>.json (all raw runs) and
 * bench/results/<scenario>.md (the latest summary, which the README quotes).
 */

import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type MachineInfo, machineInfo, machineLine } from './machine.js'

export interface Table {
  readonly title: string
  readonly columns: readonly string[]
  readonly rows: readonly (readonly (string | number)[])[]
}

export interface ScenarioReport {
  readonly scenario: string
  readonly description: string
  readonly parameters: Readonly<Record<string, unknown>>
  readonly tables: readonly Table[]
  readonly notes: readonly string[]
  readonly raw: unknown
}

export const RESULTS_DIR = join(process.cwd(), 'bench', 'results')

function renderTable(table: Table): string {
  const header = `| ${table.columns.join(' | ')} |`
  const rule = `|${table.columns.map(() => '---').join('|')}|`
  const rows = table.rows.map((row) => `| ${row.join(' | ')} |`)
  return [`### ${table.title}`, '', header, rule, ...rows].join('\n')
}

export function renderReport(report: ScenarioReport, machine: MachineInfo): string {
  const parameters = Object.entries(report.parameters).map(
    ([name, value]) => `- ${name}: ${JSON.stringify(value)}`,
  )
  return [
    `# Benchmark: ${report.scenario}`,
    '',
    report.description,
    '',
    `Machine: ${machineLine(machine)}`,
    '',
    'Parameters:',
    ...parameters,
    '',
    ...report.tables.flatMap((table) => [renderTable(table), '']),
    ...(report.notes.length > 0 ? ['Notes:', ...report.notes.map((note) => `- ${note}`), ''] : []),
  ].join('\n')
}

export function writeReport(report: ScenarioReport): string {
  const machine = machineInfo()
  mkdirSync(RESULTS_DIR, { recursive: true })
  const stamp = machine.date.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  writeFileSync(
    join(RESULTS_DIR, `${report.scenario}-${stamp}.json`),
    `${JSON.stringify({ machine, ...report }, null, 2)}\n`,
  )
  const markdown = renderReport(report, machine)
  const path = join(RESULTS_DIR, `${report.scenario}.md`)
  writeFileSync(path, markdown)
  return markdown
}
