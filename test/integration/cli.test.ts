/**
 * Goal: the `murmur` binary behaves as documented on a fresh machine: `murmur dev` brings up
 * every node of a cluster file and leaves no process behind, and every user mistake ends in
 * one line naming the cause with exit code 2. Method: run the compiled CLI as real processes
 * on 127.0.0.1 with free ports and temporary data directories, and stop each by its PID.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import { assertBuilt, CLI_PATH, eventually, withTimeout } from '../support/cluster.js'
import { freePorts } from '../support/ports.js'

let dir: string

beforeAll(() => {
  assertBuilt()
  dir = mkdtempSync(join(tmpdir(), 'murmur-cli-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: dir,
      env: { ...process.env, ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`murmur ${args.join(' ')} did not exit within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

async function writeCluster(
  name: string,
  nodes: number,
  extra: Record<string, unknown> = {},
): Promise<{ path: string; httpPorts: number[] }> {
  const ports = await freePorts(nodes * 2)
  const httpPorts = ports.filter((_, index) => index % 2 === 0)
  const file = {
    cluster: { name: 'cli' },
    nodes: httpPorts.map((httpPort, index) => ({
      id: `n${index + 1}`,
      httpPort,
      peerPort: ports[index * 2 + 1],
      dataDir: `${name}/n${index + 1}`,
    })),
    log: { level: 'warn' },
    ...extra,
  }
  const path = join(dir, `${name}.yml`)
  writeFileSync(path, stringify(file))
  return { path, httpPorts }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)])
      .toString()
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((value) => Number.isInteger(value) && value > 0)
  } catch {
    return []
  }
}

async function healthy(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, {
      signal: AbortSignal.timeout(1000),
    })
    return response.ok
  } catch {
    return false
  }
}

function startDev(path: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [CLI_PATH, 'dev', '--config', path], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: dir,
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  return { child, output: () => output }
}

describe('murmur dev', () => {
  it('starts every node, prints their URLs, and leaves no process after SIGTERM', async () => {
    const { path, httpPorts } = await writeCluster('dev', 3)
    const dev = startDev(path)
    try {
      await eventually(
        () => dev.output().includes('Press Ctrl-C'),
        30_000,
        `murmur dev did not come up:\n${dev.output()}`,
      )
      for (const port of httpPorts) {
        expect(await healthy(port)).toBe(true)
        expect(dev.output()).toContain(`http://127.0.0.1:${port}`)
      }
      const pids = childPids(dev.child.pid as number)
      expect(pids).toHaveLength(3)
      const exited = new Promise<number | null>((resolve) =>
        dev.child.once('exit', (code) => resolve(code)),
      )
      dev.child.kill('SIGTERM')
      expect(await withTimeout(exited, 20_000, 'murmur dev did not exit')).toBe(0)
      await eventually(
        () => pids.every((pid) => !isAlive(pid)),
        5000,
        'a node process outlived murmur dev',
      )
    } finally {
      dev.child.kill('SIGKILL')
    }
  }, 60_000)

  it('leaves no orphan when the supervisor itself is killed with SIGKILL', async () => {
    const { path } = await writeCluster('orphans', 2)
    const dev = startDev(path)
    try {
      await eventually(
        () => dev.output().includes('Press Ctrl-C'),
        30_000,
        `murmur dev did not come up:\n${dev.output()}`,
      )
      const pids = childPids(dev.child.pid as number)
      expect(pids).toHaveLength(2)
      dev.child.kill('SIGKILL')
      await eventually(
        () => pids.every((pid) => !isAlive(pid)),
        15_000,
        'node processes outlived a killed supervisor',
      )
    } finally {
      dev.child.kill('SIGKILL')
    }
  }, 60_000)
})

describe('user mistakes: one line, exit code 2', () => {
  const oneLine = (run: Run) =>
    run.stderr
      .trim()
      .split('\n')
      .filter((line) => line.startsWith('murmur: '))

  it('a malformed cluster file names the file and line', async () => {
    const path = join(dir, 'bad.yml')
    writeFileSync(path, 'nodes:\n  - id: n1\n    httpPort: eighty\n')
    const run = await runCli(['start', '--config', path, '--node', 'n1'])
    expect(run.code).toBe(2)
    expect(oneLine(run)[0]).toMatch(/bad\.yml:3:\d+: nodes\.0\.httpPort: Invalid input/)
    expect(run.stderr).not.toMatch(/\n\s+at /)
  })

  it('an unknown --node lists the known ones', async () => {
    const { path } = await writeCluster('unknown-node', 1)
    const run = await runCli(['start', '--config', path, '--node', 'n9'])
    expect(run.code).toBe(2)
    expect(oneLine(run)).toEqual([expect.stringMatching(/unknown node "n9": .* defines n1$/)])
  })

  it('a port already in use is named', async () => {
    const { path, httpPorts } = await writeCluster('busy', 1)
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(httpPorts[0], '127.0.0.1', () => resolve()))
    try {
      const run = await runCli(['start', '--config', path, '--node', 'n1'])
      expect(run.code).toBe(2)
      expect(oneLine(run)).toEqual([
        `murmur: http port ${httpPorts[0]} on 127.0.0.1 is already in use`,
      ])
    } finally {
      blocker.close()
    }
  })

  it('an unwritable data directory is named', async () => {
    const blockingFile = join(dir, 'not-a-dir')
    writeFileSync(blockingFile, 'x')
    const { path } = await writeCluster('unwritable', 1)
    const withEnv = await runCli(['start', '--config', path, '--node', 'n1'], {
      MURMUR_NODE_N1_DATA_DIR: join(blockingFile, 'n1'),
    })
    expect(withEnv.code).toBe(2)
    expect(oneLine(withEnv)).toEqual([
      expect.stringMatching(/not-a-dir\/n1.*(file|cannot be created)/),
    ])
  })

  it('bad flags and unknown commands', async () => {
    const flag = await runCli(['start', '--nodes', 'n1'])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toMatch(/^murmur: Unknown option '--nodes'/)
    const command = await runCli(['frobnicate'])
    expect(command.code).toBe(2)
    expect(command.stderr).toMatch(/unknown command "frobnicate"/)
  })

  it('--help and version answer with exit code 0', async () => {
    for (const args of [
      ['--help'],
      ['start', '--help'],
      ['dev', '--help'],
      ['help', 'start'],
      ['version'],
    ]) {
      const run = await runCli(args)
      expect(run.code, args.join(' ')).toBe(0)
      expect(run.stdout.length, args.join(' ')).toBeGreaterThan(0)
    }
  })
})
