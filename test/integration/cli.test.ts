/**
 * Goal: the `murmur` binary behaves as documented on a fresh machine: `murmur dev` brings up
 * every node of a cluster file and leaves no process behind, every user mistake ends in one
 * line naming the cause with exit code 2, and the client commands (get, put, del, lock,
 * status, bench) print what they promise, with `--json`, and exit 0 / 1 (not found, failed
 * condition) / 2 (usage) / 3 (unavailable). Method: run the compiled CLI as real processes on
 * 127.0.0.1 with free ports and temporary data directories, and stop each by its PID.
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stringify } from 'yaml'
import {
  assertBuilt,
  CLI_PATH,
  type CliRun,
  eventually,
  runCli as runCliIn,
  TestCluster,
  withTimeout,
} from '../support/cluster.js'
import { freePorts } from '../support/ports.js'

let dir: string

beforeAll(() => {
  assertBuilt()
  dir = mkdtempSync(join(tmpdir(), 'murmur-cli-'))
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 15_000,
): Promise<CliRun> {
  return runCliIn(args, { env, cwd: dir, timeoutMs })
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
  const oneLine = (run: CliRun) =>
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

describe('client commands against a running cluster', () => {
  let cluster: TestCluster
  let node: string

  beforeAll(async () => {
    cluster = await TestCluster.create({
      nodes: 3,
      file: {
        keyspaces: { default: { replicas: 3 }, strong: { mode: 'strong', replicas: 3 } },
        raft: { tickMs: 100, electionTicks: 10 },
      },
    })
    await cluster.startAll()
    for (const member of cluster.nodes) await cluster.waitFor(member.id, '/ready', 20_000)
    await eventually(
      async () =>
        ((await cluster.json('n1', '/v1/raft')).body as { leader?: unknown }).leader != null,
      15_000,
      'no raft leader',
    )
    node = cluster.nodes.map((member) => member.url).join(',')
  }, 60_000)

  afterAll(async () => {
    await cluster?.destroy()
  }, 30_000)

  const cli = (...args: string[]) => runCli([...args, '--node', node])
  /** The command's JSON output; a run that printed none fails with its exit code and stderr. */
  const json = (run: CliRun): Record<string, unknown> => {
    if (run.stdout.trim() === '') {
      throw new Error(`no output (exit ${run.code}): ${run.stderr.trim().slice(0, 300)}`)
    }
    return JSON.parse(run.stdout) as Record<string, unknown>
  }

  it('put and get a value, human and --json; a missing key exits 1', async () => {
    expect((await cli('put', 'default', 'greeting', 'hello')).code).toBe(0)
    const human = await cli('get', 'default', 'greeting')
    expect(human).toMatchObject({ code: 0, stdout: 'hello\n' })
    const machine = await cli('get', 'default', 'greeting', '--json')
    expect(machine.code).toBe(0)
    expect(json(machine)).toMatchObject({ found: true, siblings: [{ value: 'hello' }] })
    const missing = await cli('get', 'default', 'nothing', '--json')
    expect(missing.code).toBe(1)
    expect(json(missing)).toMatchObject({ found: false })
    expect(missing.stderr).toBe('murmur: not found\n')
  })

  it('siblings, a write with their context, and a delete', async () => {
    await cli('put', 'default', 'cart', 'apple')
    await runCli(['put', 'default', 'cart', 'pear', '--node', cluster.nodes[1]!.url])
    const siblings = json(await cli('get', 'default', 'cart', '--json', '--r', 'all'))
    expect(siblings['siblings']).toHaveLength(2)
    const context = siblings['context'] as string
    const resolved = await cli('put', 'default', 'cart', 'both', '--context', context, '--w', 'all')
    expect(resolved.code, resolved.stderr).toBe(0)
    expect((await cli('get', 'default', 'cart', '--r', 'all')).stdout).toBe('both\n')
    const latest = json(await cli('get', 'default', 'cart', '--json'))
    expect(
      (await cli('del', 'default', 'cart', '--context', latest['context'] as string)).code,
    ).toBe(0)
    expect((await cli('get', 'default', 'cart', '--r', 'all')).code).toBe(1)
  })

  it('strong writes: versions, a failed compare-and-set exits 1 with the error as JSON', async () => {
    const first = json(await cli('put', 'strong', 'config', 'v1', '--json'))
    const version = first['version'] as number
    expect(version).toBeGreaterThan(0)
    const read = json(await cli('get', 'strong', 'config', '--json'))
    expect(read).toMatchObject({ found: true, value: 'v1', version })
    expect((await cli('put', 'strong', 'config', 'v2', '--if-match', String(version))).code).toBe(0)
    const lost = await cli('put', 'strong', 'config', 'v3', '--if-match', String(version), '--json')
    expect(lost.code).toBe(1)
    expect(json(lost)).toMatchObject({ error: { code: 'precondition_failed', status: 412 } })
    expect(lost.stderr.trim().split('\n')).toHaveLength(1)
  })

  it('counters and sets: update, read, and a missing counter exits 1', async () => {
    expect((await cli('counter', 'get', 'default', 'hits')).code).toBe(1)
    expect((await cli('counter', 'inc', 'default', 'hits', '5')).stdout).toBe('5\n')
    expect(json(await cli('counter', 'dec', 'default', 'hits', '--json'))).toEqual({ value: 4 })
    const added = json(await cli('set', 'add', 'default', 'colors', 'red', 'blue', '--json'))
    expect(added['size']).toBe(2)
    const read = json(await cli('set', 'get', 'default', 'colors', '--json'))
    const removed = await cli(
      'set',
      'remove',
      'default',
      'colors',
      'red',
      '--context',
      read['context'] as string,
      '--json',
    )
    expect(json(removed)['elements']).toEqual(['blue'])
    expect((await cli('counter', 'inc', 'default', 'hits', 'many')).code).toBe(2)
  })

  it('locks: acquire, a held lock exits 1, release', async () => {
    const grant = json(await cli('lock', 'acquire', 'jobs', '--ttl', '10000', '--json'))
    expect(grant['fencingToken']).toBe(`jobs:${grant['token']}`)
    expect((await cli('lock', 'acquire', 'jobs', '--ttl', '10000')).code).toBe(1)
    const fenced = await cli(
      'put',
      'strong',
      'job',
      'x',
      '--fencing-token',
      grant['fencingToken'] as string,
    )
    expect(fenced.code).toBe(0)
    const released = await cli('lock', 'release', 'jobs', '--token', String(grant['token']))
    expect(released).toMatchObject({ code: 0, stdout: 'released\n' })
  })

  it('status lists the members; bench runs a small load and summarizes it', async () => {
    const status = await cli('status', '--json')
    expect(status.code).toBe(0)
    const members = json(status)['members'] as { id: string; state: string }[]
    expect(members.map((member) => member.state)).toEqual(['alive', 'alive', 'alive'])
    expect((await cli('status')).stdout).toMatch(/n1\s+alive/)
    const bench = await cli('bench', '--n', '200', '--concurrency', '8', '--json')
    expect(bench.code).toBe(0)
    expect(json(bench)).toMatchObject({ succeeded: 200, failed: 0 })
    expect((json(bench)['latencyMs'] as { p50: number }).p50).toBeGreaterThan(0)
  }, 30_000)

  it('exit 2 for usage mistakes, 3 when no node can be reached', async () => {
    const usage = await cli('get', 'default')
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/^murmur: missing <key>/)
    expect((await cli('get', 'default', 'k', '--r', 'lots')).code).toBe(2)
    expect((await cli('get', 'nope', 'k')).code).toBe(2)
    expect((await cli('lock', 'renew', 'jobs', '--ttl', '5')).code).toBe(2)
    const [closed] = await freePorts(1)
    const down = await runCli([
      'get',
      'default',
      'k',
      '--node',
      `http://127.0.0.1:${closed}`,
      '--retries',
      '0',
    ])
    expect(down.code).toBe(3)
    expect(down.stderr).toMatch(/^murmur: cannot reach/)
    const noNode = await runCli(['status'], { MURMUR_URL: '' })
    expect(noNode.code).toBe(2)
    const fromEnv = await runCli(['status', '--json'], { MURMUR_URL: cluster.nodes[2]!.url })
    expect(json(fromEnv)['node']).toBe('n3')
  })
})
