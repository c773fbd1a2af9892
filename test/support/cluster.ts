/**
 * Real murmur processes on loopback for integration tests and benchmarks: writes a cluster
 * file with free ports and a temporary data directory, starts `murmur start` children from the
 * compiled dist/ (npm test builds it first), and stops every child by its PID. Every wait is
 * bounded in time.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { stringify } from 'yaml'
import { freePorts } from './ports.js'

/** The repository root: the nearest directory above this file that holds package.json. */
export const REPO_ROOT = findRoot(import.meta.dirname)
export const CLI_PATH = join(REPO_ROOT, 'dist/cli/main.js')

function findRoot(start: string): string {
  let dir = start
  for (let depth = 0; depth < 10; depth++) {
    if (existsSync(join(dir, 'package.json'))) return dir
    dir = resolve(dir, '..')
  }
  throw new Error(`no package.json above ${start}`)
}

export function assertBuilt(): void {
  if (!existsSync(CLI_PATH))
    throw new Error(`${CLI_PATH} is missing: run \`npm run build\` first (npm test does)`)
}

export interface ClusterNode {
  readonly id: string
  readonly httpPort: number
  readonly peerPort: number
  readonly url: string
  process: ChildProcess | undefined
  /** Everything the process wrote, stdout and stderr interleaved, across restarts. */
  readonly output: string[]
}

export interface ClusterOptions {
  readonly nodes: number
  /** Extra top-level sections of cluster.yml (keyspaces, gossip, limits, ...). */
  readonly file?: Readonly<Record<string, unknown>>
  readonly env?: Readonly<Record<string, string>>
  /** Extra Node.js flags for every node process (e.g. --cpu-prof for profiling). */
  readonly nodeArgs?: readonly string[]
}

export const STOP_TIMEOUT_MS = 10_000

export class TestCluster {
  readonly dir: string
  readonly configPath: string
  readonly nodes: ClusterNode[]
  private readonly env: Readonly<Record<string, string>>
  private readonly nodeArgs: readonly string[]

  private constructor(
    dir: string,
    nodes: ClusterNode[],
    env: Readonly<Record<string, string>>,
    nodeArgs: readonly string[],
  ) {
    this.dir = dir
    this.configPath = join(dir, 'cluster.yml')
    this.nodes = nodes
    this.env = env
    this.nodeArgs = nodeArgs
  }

  static async create(options: ClusterOptions): Promise<TestCluster> {
    assertBuilt()
    const dir = mkdtempSync(join(tmpdir(), 'murmur-it-'))
    const ports = await freePorts(options.nodes * 2)
    const nodes: ClusterNode[] = []
    for (let index = 0; index < options.nodes; index++) {
      const httpPort = ports[index * 2] as number
      const peerPort = ports[index * 2 + 1] as number
      nodes.push({
        id: `n${index + 1}`,
        httpPort,
        peerPort,
        url: `http://127.0.0.1:${httpPort}`,
        process: undefined,
        output: [],
      })
    }
    const cluster = new TestCluster(dir, nodes, options.env ?? {}, options.nodeArgs ?? [])
    const file = {
      cluster: { name: 'test' },
      nodes: nodes.map((node, index) => ({
        id: node.id,
        host: '127.0.0.1',
        httpPort: node.httpPort,
        peerPort: node.peerPort,
        zone: `z${(index % 3) + 1}`,
        dataDir: `data/${node.id}`,
      })),
      log: { level: 'warn' },
      ...options.file,
    }
    writeFileSync(cluster.configPath, stringify(file))
    return cluster
  }

  node(id: string): ClusterNode {
    const node = this.nodes.find((candidate) => candidate.id === id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return node
  }

  /** Starts one node's process and waits until it answers /health. */
  async start(id: string, waitMs = 20_000): Promise<void> {
    const node = this.node(id)
    if (
      node.process !== undefined &&
      node.process.exitCode === null &&
      node.process.signalCode === null
    ) {
      throw new Error(`${id} is already running`)
    }
    const child = spawn(
      process.execPath,
      [
        '--enable-source-maps',
        ...this.nodeArgs,
        CLI_PATH,
        'start',
        '--config',
        this.configPath,
        '--node',
        id,
        '--exit-with-stdin',
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...this.env },
      },
    )
    child.stdin?.on('error', () => {})
    const collect = (chunk: Buffer) => {
      node.output.push(chunk.toString())
      if (node.output.length > 5000) node.output.splice(0, node.output.length - 5000)
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    node.process = child
    await this.waitFor(id, '/health', waitMs)
  }

  async startAll(waitMs = 20_000): Promise<void> {
    await Promise.all(this.nodes.map((node) => this.start(node.id, waitMs)))
  }

  /** Polls `path` on node `id` until it answers 2xx; fails with the node's output otherwise. */
  async waitFor(id: string, path: string, waitMs: number): Promise<void> {
    const node = this.node(id)
    const deadline = Date.now() + waitMs
    while (Date.now() < deadline) {
      const child = node.process
      if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
        throw new Error(
          `${id} exited (${child.exitCode ?? child.signalCode}) while waiting for ${path}:\n${node.output.join('').slice(-3000)}`,
        )
      }
      try {
        const response = await fetch(`${node.url}${path}`, { signal: AbortSignal.timeout(1000) })
        await response.arrayBuffer()
        if (response.ok) return
      } catch {
        // Not answering yet.
      }
      await sleep(50)
    }
    throw new Error(
      `${id} did not answer ${path} within ${waitMs} ms:\n${node.output.join('').slice(-3000)}`,
    )
  }

  isRunning(id: string): boolean {
    const child = this.node(id).process
    return child !== undefined && child.exitCode === null && child.signalCode === null
  }

  /** Sends `signal` to the node's process by PID; SIGKILL and SIGTERM wait for the exit. */
  async signal(id: string, signal: NodeJS.Signals): Promise<void> {
    const child = this.node(id).process
    if (child === undefined || child.pid === undefined) throw new Error(`${id} has no process`)
    if (!this.isRunning(id)) return
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    child.kill(signal)
    if (signal === 'SIGKILL' || signal === 'SIGTERM')
      await withTimeout(exited, STOP_TIMEOUT_MS, `${id} did not exit after ${signal}`)
  }

  async kill(id: string): Promise<void> {
    await this.signal(id, 'SIGKILL')
  }

  async restart(id: string, waitMs = 20_000): Promise<void> {
    await this.kill(id)
    await this.start(id, waitMs)
  }

  /** Stops every process (SIGTERM, then SIGKILL after a grace period) and removes the data. */
  async destroy(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (node) => {
        const child = node.process
        if (child === undefined || !this.isRunning(node.id)) return
        // A paused process cannot handle SIGTERM; wake it first.
        child.kill('SIGCONT')
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
        await exited
        clearTimeout(timer)
      }),
    )
    rmSync(this.dir, { recursive: true, force: true })
  }

  async request(id: string, path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`${this.node(id).url}${path}`, { signal: AbortSignal.timeout(10_000), ...init })
  }

  async json(
    id: string,
    path: string,
    init: RequestInit = {},
  ): Promise<{ status: number; body: unknown }> {
    const response = await this.request(id, path, init)
    const text = await response.text()
    return { status: response.status, body: text === '' ? undefined : JSON.parse(text) }
  }
}

/** What a finished CLI run printed, and its exit code. */
export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the built CLI to completion (killed after `timeoutMs`), capturing its output. */
export function runCli(
  args: readonly string[],
  options: {
    readonly env?: Record<string, string>
    readonly cwd?: string
    readonly timeoutMs?: number
  } = {},
): Promise<CliRun> {
  const timeoutMs = options.timeoutMs ?? 15_000
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      env: { ...process.env, ...options.env },
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

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  message: string,
  intervalMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(intervalMs)
  }
  throw new Error(`${message} (not within ${timeoutMs} ms)`)
}
