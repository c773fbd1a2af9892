/**
 * `murmur bench`: a small load against a running cluster through the client: `--n` operations
 * (a mix of reads and writes over `--keys` keys) by `--concurrency` workers, one progress line
 * per second and a summary (throughput, latency percentiles, failures by error code). Requests
 * are not retried, so failures show as they happen. It is a quick check, not the benchmark
 * suite (bench/).
 */

import type { MurmurClient } from '../client/client.js'
import { MurmurClientError } from '../client/errors.js'
import type { ParsedArgs } from './args.js'
import { UsageError } from './args.js'
import {
  CLIENT_USAGE,
  clientFrom,
  EXIT,
  emit,
  integerValue,
  parseClientArgs,
  runClientCommand,
  stringValue,
} from './client-support.js'
import type { Command } from './main.js'

interface BenchSpec {
  readonly operations: number
  readonly concurrency: number
  readonly keyspace: string
  readonly keys: number
  readonly valueBytes: number
  /** Percent of operations that are reads. */
  readonly readPercent: number
}

interface Tally {
  readonly latenciesMs: number[]
  readonly failures: Map<string, number>
  started: number
  completed: number
}

export function percentileOf(sorted: readonly number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))
  return sorted[index] as number
}

async function operation(client: MurmurClient, spec: BenchSpec, index: number, value: string) {
  const key = `bench-${index % spec.keys}`
  if ((index * 7919) % 100 < spec.readPercent) await client.kv.get(spec.keyspace, key)
  else await client.kv.put(spec.keyspace, key, value)
}

async function worker(client: MurmurClient, spec: BenchSpec, tally: Tally, value: string) {
  while (tally.started < spec.operations) {
    const index = tally.started++
    const startMs = performance.now()
    try {
      await operation(client, spec, index, value)
      tally.latenciesMs.push(performance.now() - startMs)
    } catch (error) {
      const code = error instanceof MurmurClientError ? error.code : 'internal'
      tally.failures.set(code, (tally.failures.get(code) ?? 0) + 1)
    }
    tally.completed++
  }
}

function specOf(args: ParsedArgs): BenchSpec {
  const keyspace = stringValue(args, 'keyspace') ?? 'default'
  if (!/^[a-z0-9_-]{1,64}$/.test(keyspace))
    throw new UsageError('--keyspace must match [a-z0-9_-]{1,64}')
  return {
    operations: integerValue(args, 'n', 1, 10_000_000) ?? 1000,
    concurrency: integerValue(args, 'concurrency', 1, 1024) ?? 16,
    keyspace,
    keys: integerValue(args, 'keys', 1, 10_000_000) ?? 1000,
    valueBytes: integerValue(args, 'value-bytes', 0, 1_048_576) ?? 100,
    readPercent: integerValue(args, 'reads', 0, 100) ?? 50,
  }
}

function summaryOf(spec: BenchSpec, tally: Tally, elapsedMs: number) {
  const sorted = [...tally.latenciesMs].sort((a, b) => a - b)
  const round = (value: number) => Math.round(value * 100) / 100
  return {
    ...spec,
    elapsedMs: Math.round(elapsedMs),
    succeeded: sorted.length,
    failed: tally.completed - sorted.length,
    failures: Object.fromEntries([...tally.failures].sort()),
    operationsPerSecond: round((sorted.length / elapsedMs) * 1000),
    latencyMs: {
      p50: round(percentileOf(sorted, 0.5)),
      p90: round(percentileOf(sorted, 0.9)),
      p99: round(percentileOf(sorted, 0.99)),
      max: round(sorted[sorted.length - 1] ?? Number.NaN),
    },
  }
}

async function bench(args: ParsedArgs): Promise<number> {
  const spec = specOf(args)
  const client = clientFrom(args)
  const tally: Tally = { latenciesMs: [], failures: new Map(), started: 0, completed: 0 }
  const value = 'x'.repeat(spec.valueBytes)
  const startMs = performance.now()
  let reported = 0
  const progress = setInterval(() => {
    const seconds = Math.round((performance.now() - startMs) / 1000)
    const failed = [...tally.failures.values()].reduce((sum, count) => sum + count, 0)
    // Progress goes to stderr so that --json output stays one document.
    console.error(
      `${String(seconds).padStart(4)}s  ${tally.completed}/${spec.operations} ops  ${tally.completed - reported}/s  failed ${failed}`,
    )
    reported = tally.completed
  }, 1000)
  try {
    const workers = Array.from({ length: spec.concurrency }, () =>
      worker(client, spec, tally, value),
    )
    await Promise.all(workers)
  } finally {
    clearInterval(progress)
  }
  const summary = summaryOf(spec, tally, performance.now() - startMs)
  emit(args, summary, () =>
    [
      `${summary.succeeded} ok, ${summary.failed} failed in ${(summary.elapsedMs / 1000).toFixed(1)} s: ${summary.operationsPerSecond} ops/s`,
      `latency ms: p50 ${summary.latencyMs.p50}  p90 ${summary.latencyMs.p90}  p99 ${summary.latencyMs.p99}  max ${summary.latencyMs.max}`,
      ...(summary.failed === 0 ? [] : [`failures: ${JSON.stringify(summary.failures)}`]),
    ].join('\n'),
  )
  return summary.failed === 0 ? EXIT.ok : EXIT.unavailable
}

export const benchCommand: Command = {
  summary: 'run a small read/write load against the cluster and summarize it',
  usage: [
    'murmur bench [options]',
    '',
    '  --n <count>            operations in all (default 1000)',
    '  --concurrency <c>      requests in flight (default 16)',
    '  --keyspace <name>      an eventual keyspace (default default)',
    '  --keys <count>         distinct keys (default 1000)',
    '  --value-bytes <n>      bytes per written value (default 100)',
    '  --reads <percent>      share of reads, 0..100 (default 50)',
    '',
    'Prints a progress line per second (stderr) and a summary; exits 3 if any request failed.',
    '',
    ...CLIENT_USAGE,
  ].join('\n'),
  async run(argv) {
    const args = parseClientArgs(
      argv,
      {
        n: { type: 'string', short: 'n' },
        concurrency: { type: 'string' },
        keyspace: { type: 'string' },
        keys: { type: 'string' },
        'value-bytes': { type: 'string' },
        reads: { type: 'string' },
      },
      0,
    )
    return runClientCommand(args, () => bench(args))
  },
}
