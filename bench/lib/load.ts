/**
 * HTTP load generation for benchmarks: wrk when it is installed (a C load generator that takes
 * little CPU from the system under test), autocannon from npm otherwise. Both report req/s and
 * latency percentiles in one shape.
 */

import { execFile, execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { MissingToolError } from './scenario.js'

const run = promisify(execFile)

export interface LoadResult {
  readonly tool: 'wrk' | 'autocannon'
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
  readonly non2xx: number
  readonly requests: number
}

export interface LoadSpec {
  readonly url: string
  readonly connections: number
  readonly durationSeconds: number
  /** wrk threads (default 1); scripts may point each thread at another server. */
  readonly threads?: number
  readonly method?: 'GET' | 'PUT' | 'POST'
  /** Lua script for wrk; when set, autocannon is not an option. */
  readonly wrkScript?: string
  readonly wrkEnv?: Readonly<Record<string, string>>
  readonly body?: string
  readonly headers?: Readonly<Record<string, string>>
}

let wrkAvailable: boolean | undefined

export function hasWrk(): boolean {
  if (wrkAvailable === undefined) {
    try {
      execFileSync('wrk', ['-v'], { stdio: 'ignore' })
      wrkAvailable = true
    } catch (error) {
      // wrk -v exits 1 after printing its version.
      wrkAvailable = (error as { status?: number }).status === 1
    }
  }
  return wrkAvailable
}

export async function generateLoad(spec: LoadSpec): Promise<LoadResult> {
  if (hasWrk()) return runWrk(spec)
  if (spec.wrkScript !== undefined)
    throw new MissingToolError('this scenario needs wrk (apt-get install -y wrk)')
  return runAutocannon(spec)
}

function parseDurationMs(text: string): number {
  const match = /^([0-9.]+)(us|ms|s|m)$/.exec(text.trim())
  if (match === null) return Number.NaN
  const value = Number(match[1])
  const unit = match[2]
  return unit === 'us'
    ? value / 1000
    : unit === 'ms'
      ? value
      : unit === 's'
        ? value * 1000
        : value * 60_000
}

async function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const args = [
    `-t${spec.threads ?? 1}`,
    `-c${spec.connections}`,
    `-d${spec.durationSeconds}s`,
    '--timeout',
    '5s',
    '--latency',
  ]
  let script = spec.wrkScript
  if (
    script === undefined &&
    (spec.method !== undefined || spec.body !== undefined || spec.headers !== undefined)
  ) {
    const lines = [`wrk.method = "${spec.method ?? 'GET'}"`]
    if (spec.body !== undefined) lines.push(`wrk.body = ${JSON.stringify(spec.body)}`)
    for (const [name, value] of Object.entries(spec.headers ?? {}))
      lines.push(`wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`)
    script = join(mkdtempSync(join(tmpdir(), 'murmur-wrk-')), 'request.lua')
    writeFileSync(script, `${lines.join('\n')}\n`)
  }
  if (script !== undefined) args.push('-s', script)
  args.push(spec.url)
  const { stdout } = await run('wrk', args, {
    env: { ...process.env, ...spec.wrkEnv },
    maxBuffer: 16 * 1024 * 1024,
  })
  const rps = Number(/Requests\/sec:\s+([0-9.]+)/.exec(stdout)?.[1])
  const p50 = parseDurationMs(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1] ?? '')
  const p99 = parseDurationMs(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1] ?? '')
  const requests = Number(/([0-9]+) requests in/.exec(stdout)?.[1] ?? 0)
  const non2xx = Number(/Non-2xx or 3xx responses:\s+([0-9]+)/.exec(stdout)?.[1] ?? 0)
  const socket =
    /Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)/.exec(stdout)
  const errors =
    socket === null ? 0 : socket.slice(1).reduce((sum, value) => sum + Number(value), 0)
  return { tool: 'wrk', requestsPerSecond: rps, p50Ms: p50, p99Ms: p99, errors, non2xx, requests }
}

async function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
  const args = [
    autocannonPath(),
    '--json',
    '-c',
    String(spec.connections),
    '-d',
    String(spec.durationSeconds),
    '-m',
    spec.method ?? 'GET',
  ]
  if (spec.body !== undefined) args.push('-b', spec.body)
  for (const [name, value] of Object.entries(spec.headers ?? {}))
    args.push('-H', `${name}=${value}`)
  args.push(spec.url)
  const { stdout } = await run(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 })
  const report = JSON.parse(stdout) as {
    requests: { average: number; total: number }
    latency: { p50: number; p99: number }
    errors: number
    non2xx: number
  }
  return {
    tool: 'autocannon',
    requestsPerSecond: report.requests.average,
    p50Ms: report.latency.p50,
    p99Ms: report.latency.p99,
    errors: report.errors,
    non2xx: report.non2xx,
    requests: report.requests.total,
  }
}

function autocannonPath(): string {
  return join(process.cwd(), 'node_modules', 'autocannon', 'autocannon.js')
}
