/**
 * Goal: the checker agrees with the recorded verdicts on every reference history (102 Jepsen
 * etcd register logs and 6 EDN key-value histories) and checks the whole corpus fast.
 *
 * Method: parse each file with the matching parser, check it with a fixed step budget about
 * ten times what the hardest reference history needs, and compare the verdict with
 * verdicts.txt; a violation must come with an explanation. etcd_095.log has no recorded verdict
 * (it is empty); it must only get a definite answer, which is printed. The total time is
 * printed with the slowest histories. The corpus lives in test/data/linearizability (see its
 * NOTICE.md);
 * MURMUR_LINEARIZABILITY_DATA overrides its location.
 */

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import type { RecordedHistory } from '../../../src/check/history.js'
import { type CheckResult, checkLinearizability } from '../../../src/check/linearizability.js'
import { casRegisterModel, keyValueModel, type Model } from '../../../src/check/models.js'
import { parseJepsenRegisterLog, parseKeyValueEdn } from '../../../src/check/parsers.js'

const dataDirectory =
  process.env['MURMUR_LINEARIZABILITY_DATA'] ??
  fileURLToPath(new URL('../../data/linearizability', import.meta.url))

const stepsMax = 10_000_000

const verdicts = new Map(
  readFileSync(join(dataDirectory, 'verdicts.txt'), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [name = '', verdict = ''] = line.trim().split(/\s+/)
      return [name, verdict] as const
    }),
)

function listFiles(folder: string, extension: string): string[] {
  return readdirSync(join(dataDirectory, folder))
    .filter((name) => name.endsWith(extension))
    .sort()
}

const etcdFiles = listFiles('etcd', '.log')
const keyValueFiles = listFiles('kv', '.txt')

interface Timing {
  readonly name: string
  readonly milliseconds: number
  readonly steps: number
  readonly verdict: string
}

const timings: Timing[] = []

/** Parses and checks one file, recording how long both took. */
function checkFile<S, I, O>(
  folder: string,
  name: string,
  parse: (text: string) => RecordedHistory<I, O>,
  model: Model<S, I, O>,
): CheckResult<I, O> {
  const start = performance.now()
  const { operations } = parse(readFileSync(join(dataDirectory, folder, name), 'utf8'))
  const result = checkLinearizability(model, operations, { stepsMax })
  const milliseconds = performance.now() - start
  timings.push({ name, milliseconds, steps: result.stepsCount, verdict: result.verdict })
  return result
}

function expectVerdict<I, O>(name: string, result: CheckResult<I, O>): void {
  const expected = verdicts.get(name)
  if (expected === undefined) {
    console.log(
      `${name} (no recorded verdict): ${result.operationsCount} operations, ` +
        `${result.verdict} after ${result.stepsCount} steps`,
    )
    expect(result.verdict).not.toBe('unknown')
    return
  }
  expect(result.verdict).toBe(expected)
  if (expected === 'not-linearizable') {
    expect(result.violation?.description).toContain('longest linearizable prefix')
  }
}

afterAll(() => {
  const total = timings.reduce((sum, timing) => sum + timing.milliseconds, 0)
  const slowest = [...timings]
    .sort((left, right) => right.milliseconds - left.milliseconds)
    .slice(0, 5)
  console.log(
    `reference corpus: ${timings.length} histories parsed and checked in ${total.toFixed(0)} ms`,
  )
  for (const { name, milliseconds, steps, verdict } of slowest) {
    console.log(`  ${name}: ${milliseconds.toFixed(1)} ms, ${steps} steps, ${verdict}`)
  }
})

describe('reference corpus', () => {
  it('has a file for every recorded verdict', () => {
    expect(etcdFiles).toHaveLength(103)
    expect(keyValueFiles).toHaveLength(6)
    const files = new Set([...etcdFiles, ...keyValueFiles])
    expect(verdicts.size).toBe(108)
    for (const name of verdicts.keys()) expect(files.has(name)).toBe(true)
  })

  it.each(etcdFiles)('etcd %s', (name) => {
    expectVerdict(name, checkFile('etcd', name, parseJepsenRegisterLog, casRegisterModel))
  })

  it.each(keyValueFiles)('kv %s', (name) => {
    expectVerdict(name, checkFile('kv', name, parseKeyValueEdn, keyValueModel))
  })
})
