/** The shape every benchmark scenario has, and helpers for alternating anchor runs. */

import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type ClusterOptions, REPO_ROOT, sleep, TestCluster } from '../../test/support/cluster.js'
import type { LoadResult } from './load.js'
import type { ScenarioReport } from './report.js'
import { median, round } from './stats.js'

/** A tool or package a scenario needs is missing: reported as one line, without a stack. */
export class MissingToolError extends Error {}

export interface BenchOptions {
  /** Repetitions of each measurement (medians are reported). */
  readonly runs: number
  readonly durationSeconds: number
}

export interface Scenario {
  readonly name: string
  readonly description: string
  run(options: BenchOptions): Promise<ScenarioReport>
}

/** Anchor processes still running, and temporary directories not yet removed. */
const anchors = new Set<ChildProcess>()
const directories = new Set<string>()

/**
 * Starts an anchor process (etcd, a floor, hono) that `stopAnchors` kills if the bench stops
 * early: an error, Ctrl-C, or its output closed (`npm run bench | head`).
 */
export function spawnAnchor(command: string, args: readonly string[]): ChildProcess {
  const child = spawn(command, args, { stdio: 'ignore' })
  anchors.add(child)
  child.once('exit', () => anchors.delete(child))
  return child
}

/** A new temporary directory that `stopAnchors` removes if nothing removed it before. */
export function anchorDirectory(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), prefix))
  directories.add(directory)
  return directory
}

/** Removes a directory from `anchorDirectory` once its anchor stopped. */
export function removeAnchorDirectory(directory: string): void {
  rmSync(directory, { recursive: true, force: true })
  directories.delete(directory)
}

/** murmur clusters the bench started; their nodes and directories go with the bench too. */
const clusters = new Set<TestCluster>()

/** A murmur cluster for a scenario (TestCluster.create), which `stopAnchors` also stops. */
export async function benchCluster(options: ClusterOptions): Promise<TestCluster> {
  const cluster = await TestCluster.create(options)
  clusters.add(cluster)
  return cluster
}

/**
 * Kills every anchor and murmur node still running and removes their directories; synchronous,
 * for 'exit'.
 */
export function stopAnchors(): void {
  for (const child of anchors) child.kill('SIGKILL')
  anchors.clear()
  for (const cluster of clusters) {
    for (const node of cluster.nodes) node.process?.kill('SIGKILL')
    directories.add(cluster.dir)
  }
  clusters.clear()
  for (const directory of directories) rmSync(directory, { recursive: true, force: true })
  directories.clear()
}

/** Starts the hono hello-world anchor on `port` and waits until it answers. */
export async function startHonoAnchor(port: number): Promise<ChildProcess> {
  const child = spawnAnchor(process.execPath, [
    join(REPO_ROOT, 'dist-bench/bench/anchors/hono-hello.js'),
    String(port),
  ])
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/`)
      if (response.ok) return child
    } catch {
      // Not listening yet.
    }
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error('the hono anchor did not start')
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

export interface Series {
  readonly label: string
  readonly results: LoadResult[]
}

/** Runs each measurement `runs` times, alternating their order every round. */
export async function alternate(
  runs: number,
  measurements: readonly { label: string; measure: () => Promise<LoadResult> }[],
): Promise<Series[]> {
  const series = measurements.map((measurement) => ({
    label: measurement.label,
    results: [] as LoadResult[],
  }))
  for (let round = 0; round < runs; round++) {
    const order =
      round % 2 === 0
        ? measurements.map((_, index) => index)
        : measurements.map((_, index) => measurements.length - 1 - index)
    for (const index of order) {
      const measurement = measurements[index]
      if (measurement === undefined) continue
      const result = await measurement.measure()
      console.log(
        `  ${measurement.label} round ${round + 1}: ${Math.round(result.requestsPerSecond)} req/s, p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms`,
      )
      series[index]?.results.push(result)
    }
  }
  return series
}

/** One summary row: label, median req/s, median p50, median p99, errors. */
export function summaryRow(series: Series): (string | number)[] {
  const rps = median(series.results.map((result) => result.requestsPerSecond))
  const p50 = median(series.results.map((result) => result.p50Ms))
  const p99 = median(series.results.map((result) => result.p99Ms))
  const errors = series.results.reduce((sum, result) => sum + result.errors + result.non2xx, 0)
  return [series.label, Math.round(rps), round(p50), round(p99), errors]
}

export const SUMMARY_COLUMNS = [
  'system',
  'req/s (median)',
  'p50 ms',
  'p99 ms',
  'errors + non-2xx',
] as const

export function medianRps(series: Series): number {
  return median(series.results.map((result) => result.requestsPerSecond))
}
