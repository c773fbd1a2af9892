/**
 * Goal: a write acknowledged with `sync: true` survives kill -9 of the process that made it,
 * whether it went straight to the RocksDB engine (its fdatasync on the thread pool or inline) or
 * through group commit, and a directory held by a live process is refused with a clear error.
 * Method: a child Node process (an inline ESM script importing the compiled engine from dist/)
 * writes checksummed records and prints each key only after its write resolved. The parent
 * reads those acknowledgements, tries to open the same directory while the child holds it,
 * kills the child with SIGKILL in the middle of the stream, reopens the directory and checks
 * that every acknowledged record is present and intact. Every wait is bounded in time, the
 * child bounds its own lifetime, and the temporary directory is removed afterwards.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isMurmurError, type MurmurError } from '../../src/env/errors.js'
import { dataKey, sublevelRange } from '../../src/storage/layout.js'
import { ANY_RECORD, getRecords, scanRecords } from '../../src/storage/records.js'
import { RocksDbEngine } from '../../src/storage/rocksdb.js'

const repositoryRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const distStorage = join(repositoryRoot, 'dist', 'storage')
/** Acknowledgements to wait for before the kill: enough to land in the middle of the stream. */
const ACKS_BEFORE_KILL = 200
const WAIT_MS_MAX = 10_000
const KEYSPACE = 'durability'
/** Synced writes straight to the engine, on the loop's thread (`inline`), or through group commit. */
const MODES = ['direct', 'inline', 'grouped'] as const
type Mode = (typeof MODES)[number]

function keyOf(index: number): Uint8Array {
  return dataKey(index % 64, KEYSPACE, `key-${index}`)
}

/** The child: writes records forever (bounded to 20 s), printing `ack <i>` after each write. */
function childScript(directory: string, mode: Mode): string {
  const url = (file: string): string => JSON.stringify(pathToFileURL(join(distStorage, file)).href)
  return `
    import { RocksDbEngine } from ${url('rocksdb.js')}
    import { GroupCommitter } from ${url('group-commit.js')}
    import { dataKey } from ${url('layout.js')}
    import { putRecordOp } from ${url('records.js')}
    import { SystemClock } from ${JSON.stringify(pathToFileURL(join(repositoryRoot, 'dist', 'env', 'clock.js')).href)}
    const engine = await RocksDbEngine.open(${JSON.stringify(directory)})
    process.stdout.write('open\\n')
    const committer = new GroupCommitter(engine, new SystemClock())
    const deadlineMs = Date.now() + 20000
    const op = (index) => putRecordOp(dataKey(index % 64, ${JSON.stringify(KEYSPACE)}, 'key-' + index), { index })
    let next = 0
    while (Date.now() < deadlineMs) {
      if (${JSON.stringify(mode)} !== 'grouped') {
        const index = next++
        await engine.write([op(index)], { sync: true, inline: ${JSON.stringify(mode === 'inline')} })
        process.stdout.write('ack ' + index + '\\n')
      } else {
        const writes = []
        for (let slot = 0; slot < 16; slot++) {
          const index = next++
          writes.push(committer.write([op(index)], { sync: true }).then(() => process.stdout.write('ack ' + index + '\\n')))
        }
        await Promise.all(writes)
      }
    }
    await engine.close()
  `
}

interface ChildRun {
  readonly child: ChildProcess
  /** Complete stdout lines so far. */
  readonly lines: string[]
  /** Resolves as soon as `predicate` holds for the lines; rejects after WAIT_MS_MAX. */
  readonly waitFor: (
    predicate: (lines: readonly string[]) => boolean,
    what: string,
  ) => Promise<void>
  /** Resolves once stdout closed and the process exited. */
  readonly finished: Promise<void>
}

interface LineWaiter {
  readonly predicate: (lines: readonly string[]) => boolean
  readonly resolve: () => void
}

function startChild(directory: string, mode: Mode): ChildRun {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', childScript(directory, mode)],
    {
      cwd: repositoryRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const lines: string[] = []
  let waiters: LineWaiter[] = []
  let partial = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
    const ready = waiters.filter((waiter) => waiter.predicate(lines))
    waiters = waiters.filter((waiter) => !ready.includes(waiter))
    for (const waiter of ready) waiter.resolve()
  })
  const waitFor = (predicate: (lines: readonly string[]) => boolean, what: string) =>
    new Promise<void>((resolveWait, rejectWait) => {
      if (predicate(lines)) return resolveWait()
      const timer = setTimeout(() => {
        waiters = waiters.filter((waiter) => waiter.predicate !== predicate)
        rejectWait(new Error(`timed out after ${WAIT_MS_MAX} ms waiting for ${what}: ${stderr}`))
      }, WAIT_MS_MAX)
      waiters.push({
        predicate,
        resolve: () => {
          clearTimeout(timer)
          resolveWait()
        },
      })
    })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk
  })
  const stdoutClosed = new Promise<void>((resolveClosed) =>
    child.stdout?.on('close', resolveClosed),
  )
  const exited = new Promise<void>((resolveExit) => child.on('exit', () => resolveExit()))
  const finished = Promise.all([stdoutClosed, exited]).then(() => {
    if (stderr !== '' && child.signalCode !== 'SIGKILL') throw new Error(`child failed: ${stderr}`)
  })
  return { child, lines, waitFor, finished }
}

function acknowledged(lines: readonly string[]): number[] {
  return lines.filter((line) => line.startsWith('ack ')).map((line) => Number(line.slice(4)))
}

describe('storage durability under kill -9', () => {
  let root: string
  let run: ChildRun | undefined

  beforeEach(() => {
    if (!existsSync(join(distStorage, 'rocksdb.js'))) {
      throw new Error('dist/storage/rocksdb.js is missing: run `npm run build` before this test')
    }
    root = mkdtempSync(join(tmpdir(), 'murmur-durability-'))
  })

  afterEach(async () => {
    if (run !== undefined && run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGKILL')
      await run.finished.catch(() => undefined)
    }
    run = undefined
    rmSync(root, { recursive: true, force: true })
  })

  for (const mode of MODES) {
    it(`keeps every acknowledged ${mode} write`, { timeout: 30_000 }, async () => {
      const directory = join(root, 'db')
      const current = startChild(directory, mode)
      run = current
      await current.waitFor((lines) => lines.includes('open'), 'the child to open its engine')

      if (mode === 'direct') {
        const refusal = await RocksDbEngine.open(directory).then(
          (engine) => engine.close().then(() => undefined),
          (error: unknown) => error,
        )
        expect(isMurmurError(refusal, 'config_invalid')).toBe(true)
        expect((refusal as MurmurError).message).toMatch(/already in use/)
      }

      await current.waitFor(
        (lines) => acknowledged(lines).length >= ACKS_BEFORE_KILL,
        `${ACKS_BEFORE_KILL} acknowledged writes`,
      )
      current.child.kill('SIGKILL')
      await current.finished
      expect(current.child.signalCode).toBe('SIGKILL')
      const acks = acknowledged(current.lines)
      expect(acks.length).toBeGreaterThanOrEqual(ACKS_BEFORE_KILL)

      const engine = await RocksDbEngine.open(directory)
      try {
        const corrupt: Uint8Array[] = []
        const records = await getRecords(engine, ANY_RECORD, acks.map(keyOf), (key) => {
          corrupt.push(key)
        })
        expect(corrupt).toEqual([])
        expect(records).toEqual(acks.map((index) => ({ index })))
        let stored = 0
        for await (const _ of scanRecords(engine, ANY_RECORD, sublevelRange('data'), (key) => {
          corrupt.push(key)
        })) {
          stored++
        }
        expect(corrupt).toEqual([])
        expect(stored).toBeGreaterThanOrEqual(acks.length)
      } finally {
        await engine.close()
      }
    })
  }
})
