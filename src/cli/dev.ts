/**
 * `murmur dev --config cluster.yml`: runs every node of the file as a child process on this
 * machine, prefixes their output with the node id, prints each node's URL once it answers
 * /health, and on Ctrl-C or SIGTERM stops them all. Children run with --exit-with-stdin, so
 * they stop by themselves even if this supervisor is killed with SIGKILL: no orphans.
 */

import { type ChildProcess, spawn } from 'node:child_process'
import { request as httpsRequest } from 'node:https'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { type Config, loadConfigFile, type NodeConfig } from '../config/load.js'
import { MurmurError } from '../env/errors.js'
import { parseCommandArgs, stringOption } from './args.js'
import type { Command } from './main.js'

const HEALTH_WAIT_MS = 30_000
const HEALTH_POLL_MS = 100
const STOP_GRACE_MS = 10_000

interface Child {
  readonly node: NodeConfig
  readonly process: ChildProcess
  readonly exited: Promise<number | null>
  exitCode: number | null | undefined
}

export const devCommand: Command = {
  summary: 'run every node of the cluster file locally (child processes)',
  usage: [
    'murmur dev --config <cluster.yml>',
    '',
    'Starts one `murmur start` child per node of the file, prints their URLs once they are',
    'healthy, and stops them all on Ctrl-C or SIGTERM.',
    '',
    'Options:',
    '  --config <file>   cluster file (default: cluster.yml)',
  ].join('\n'),
  async run(argv) {
    const args = parseCommandArgs(argv, { config: { type: 'string', short: 'c' } })
    const configPath = stringOption(args, 'config', 'cluster.yml')
    const config = loadConfigFile(configPath)
    const children = config.nodes.map((node) => spawnNode(config, node))
    const healthy = config.tls === undefined ? answersHttp : answersHttps
    let stopping = false
    const stopAll = async (reason: string): Promise<void> => {
      if (stopping) return
      stopping = true
      console.log(`murmur dev: stopping ${children.length} nodes (${reason})`)
      await stopChildren(children)
    }
    const signalled = new Promise<number>((resolve) => {
      const onSignal = (signal: string) => {
        stopAll(signal).then(() => resolve(0))
      }
      process.on('SIGINT', () => onSignal('SIGINT'))
      process.on('SIGTERM', () => onSignal('SIGTERM'))
    })
    try {
      await Promise.all(children.map((child) => waitHealthy(child, healthy)))
    } catch (error) {
      await stopAll('a node failed to start')
      throw error
    }
    console.log(`murmur dev: ${children.length} nodes of cluster "${config.cluster.name}" are up`)
    const scheme = config.tls === undefined ? 'http' : 'https'
    for (const child of children)
      console.log(`  ${child.node.id}  ${scheme}://${child.node.host}:${child.node.httpPort}`)
    console.log('Press Ctrl-C to stop them.')
    const allExited = Promise.all(children.map((child) => child.exited)).then(() => {
      if (!stopping) console.error('murmur dev: every node has exited')
      return stopping ? 0 : 1
    })
    return Promise.race([signalled, allExited])
  },
}

function spawnNode(config: Config, node: NodeConfig): Child {
  const mainPath = fileURLToPath(new URL('./main.js', import.meta.url))
  const child = spawn(
    process.execPath,
    [
      '--enable-source-maps',
      mainPath,
      'start',
      '--config',
      config.sourcePath,
      '--node',
      node.id,
      '--exit-with-stdin',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], env: process.env },
  )
  prefixLines(child.stdout, node.id, (line) => console.log(line))
  prefixLines(child.stderr, node.id, (line) => console.error(line))
  // A supervisor that dies closes this pipe, and the child stops on its own.
  child.stdin?.on('error', () => {})
  const record: Child = {
    node,
    process: child,
    exitCode: undefined,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        record.exitCode = code
        console.log(`[${node.id}] exited (${signal ?? `code ${code}`})`)
        resolve(code)
      })
    }),
  }
  return record
}

function prefixLines(
  stream: NodeJS.ReadableStream | null,
  id: string,
  write: (line: string) => void,
): void {
  if (stream === null) return
  createInterface({ input: stream }).on('line', (line) => write(`[${id}] ${line}`))
}

/** True when the node's /health answers 200 over plain HTTP. */
async function answersHttp(node: NodeConfig): Promise<boolean> {
  const url = `http://${node.host}:${node.httpPort}/health`
  const response = await fetch(url, { signal: AbortSignal.timeout(1000) })
  return response.ok
}

/**
 * The same over HTTPS. The probe only asks whether the child this command started is up, so
 * it does not verify the certificate (a development certificate is often self-signed); clients
 * verify it (`--ca`, docs/SECURITY.md).
 */
function answersHttps(node: NodeConfig): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      { host: node.host, port: node.httpPort, path: '/health', rejectUnauthorized: false },
      (response) => {
        response.resume()
        resolve(response.statusCode === 200)
      },
    )
    request.setTimeout(1000, () => request.destroy(new Error('timeout')))
    request.on('error', reject)
    request.end()
  })
}

async function waitHealthy(
  child: Child,
  healthy: (node: NodeConfig) => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + HEALTH_WAIT_MS
  while (Date.now() < deadline) {
    if (child.exitCode !== undefined) {
      throw new MurmurError(
        'unavailable',
        `node ${child.node.id} exited during start-up (code ${child.exitCode}); see its output above`,
      )
    }
    try {
      if (await healthy(child.node)) return
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS))
  }
  throw new MurmurError(
    'timeout',
    `node ${child.node.id} did not answer /health on ${child.node.host}:${child.node.httpPort} within ${HEALTH_WAIT_MS} ms`,
  )
}

async function stopChildren(children: readonly Child[]): Promise<void> {
  for (const child of children) {
    if (child.exitCode !== undefined) continue
    child.process.stdin?.end()
    child.process.kill('SIGTERM')
  }
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== undefined) return
      const timer = setTimeout(() => {
        if (child.exitCode === undefined) {
          console.error(`[${child.node.id}] did not stop within ${STOP_GRACE_MS} ms; killing it`)
          child.process.kill('SIGKILL')
        }
      }, STOP_GRACE_MS)
      await child.exited
      clearTimeout(timer)
    }),
  )
}
