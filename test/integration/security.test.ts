/**
 * Goal: the security features hold between real processes. A 3-node cluster with a secret
 * forms and serves; a process with another secret never joins and its packets and forged peer
 * frames are dropped and counted; a rolling key rotation (add, promote, remove) keeps the
 * cluster serving; API tokens answer 401/403/200 as documented; the REST port speaks HTTPS to
 * the CLI. Method: real `murmur start` processes from dist/ (test/support/cluster.ts) on
 * loopback ports chosen at run time, plus hand-spawned processes for the intruder and the TLS
 * node (the cluster helper polls plain HTTP); a self-signed certificate from the openssl
 * binary; every wait bounded, every process stopped by PID.
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse, stringify } from 'yaml'
import { encodeAuthHello, encodeAuthProof } from '../../src/runtime/security/peer-auth.js'
import { encodeFrame } from '../../src/wire/frame.js'
import { encodeEnvelope, helloFor } from '../../src/wire/peer-envelope.js'
import {
  CLI_PATH,
  eventually,
  STOP_TIMEOUT_MS,
  TestCluster,
  withTimeout,
} from '../support/cluster.js'
import { freePorts } from '../support/ports.js'

const run = promisify(execFile)
const KEY_A = 'rotation-secret-a-0123456789'
const KEY_B = 'rotation-secret-b-0123456789'
const INTRUDER_KEY = 'intruder-secret-0123456789'
const ADMIN = 'admin-token-0123456789abcdef'
const READER = 'reader-token-0123456789abcdef'
const CARTS = 'carts-token-0123456789abcdef'
const IDS = ['n1', 'n2', 'n3'] as const

let cluster: TestCluster
const spawned: ChildProcess[] = []

function authorized(token: string, init: RequestInit = {}): RequestInit {
  return { ...init, headers: { Authorization: `Bearer ${token}` } }
}

async function members(id: string): Promise<{ id: string; state: string }[]> {
  const { status, body } = await cluster.json(id, '/v1/cluster', authorized(ADMIN))
  expect(status).toBe(200)
  return (body as { members: { id: string; state: string }[] }).members
}

async function allAlive(id: string): Promise<boolean> {
  try {
    const alive = (await members(id)).filter((member) => member.state === 'alive')
    return alive.length === IDS.length
  } catch {
    return false
  }
}

/** The value of one sample of a node's /metrics, 0 when absent. */
async function metric(id: string, name: string, reason: string): Promise<number> {
  const response = await cluster.request(id, '/metrics', authorized(ADMIN))
  const text = await response.text()
  const line = text
    .split('\n')
    .find((candidate) => candidate.startsWith(`${name}{reason="${reason}"}`))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

async function put(id: string, key: string, value: string, query = ''): Promise<number> {
  const response = await cluster.request(
    id,
    `/v1/kv/default/${key}${query}`,
    authorized(ADMIN, { method: 'PUT', body: value }),
  )
  await response.arrayBuffer()
  return response.status
}

async function get(id: string, key: string): Promise<{ status: number; text: string }> {
  const response = await cluster.request(id, `/v1/kv/default/${key}`, authorized(ADMIN))
  return { status: response.status, text: await response.text() }
}

/** Rewrites the cluster file's secret list, as an operator edits it before a restart. */
function setSecrets(secrets: readonly string[]): void {
  const file = parse(readFileSync(cluster.configPath, 'utf8')) as Record<string, unknown>
  file['cluster'] = { name: 'test', secret: [...secrets] }
  writeFileSync(cluster.configPath, stringify(file))
}

/** Starts `murmur start` by hand; resolves once it printed its serving line. */
async function spawnNode(configPath: string, id: string, env: Record<string, string> = {}) {
  const child = spawn(
    process.execPath,
    [CLI_PATH, 'start', '--config', configPath, '--node', id, '--exit-with-stdin'],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  )
  spawned.push(child)
  child.stdin?.on('error', () => {})
  let output = ''
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      child.stderr?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
      })
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes(' serving ')) resolve()
      })
      child.once('exit', (code) => reject(new Error(`${id} exited ${code}: ${output}`)))
    }),
    20_000,
    `${id} did not start`,
  )
  return child
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGKILL')
  await withTimeout(exited, STOP_TIMEOUT_MS, 'spawned node did not exit')
}

/** Opens a raw connection to a peer port, writes `frames` and waits until the node closes it. */
async function forgePeerFrames(port: number, frames: readonly Uint8Array[]): Promise<void> {
  const socket = connect({ host: '127.0.0.1', port })
  socket.on('error', () => {})
  socket.resume()
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await withTimeout(
    new Promise<void>((resolve) => socket.once('connect', () => resolve())),
    5000,
    'connect',
  )
  for (const frame of frames) socket.write(frame)
  try {
    await withTimeout(closed, 5000, 'the node did not close a forged connection')
  } finally {
    socket.destroy()
  }
}

beforeAll(async () => {
  cluster = await TestCluster.create({
    nodes: 3,
    file: {
      cluster: { name: 'test', secret: [KEY_A] },
      keyspaces: { default: { replicas: 3 }, carts: { replicas: 3 } },
      auth: {
        tokens: [
          { name: 'admin', token: ADMIN, access: 'admin' },
          { name: 'reader', token: READER, access: 'read' },
          { name: 'carts', token: CARTS, access: 'readwrite', keyspaces: ['carts'] },
        ],
      },
    },
  })
  await cluster.startAll()
}, 60_000)

afterAll(async () => {
  await Promise.all(spawned.map((child) => stop(child)))
  await cluster.destroy()
}, 30_000)

describe('a cluster with a secret', () => {
  it('forms and serves', async () => {
    for (const id of IDS) await eventually(() => allAlive(id), 15_000, `${id} sees three alive`)
    expect(await put('n1', 'formed', 'yes', '?w=all')).toBe(204)
    expect(await get('n3', 'formed')).toEqual({ status: 200, text: 'yes' })
  })

  it('keeps out a process with another secret and counts what it sends', async () => {
    const [httpPort, peerPort] = await freePorts(2)
    const file = parse(readFileSync(cluster.configPath, 'utf8')) as Record<string, unknown>
    const nodes = file['nodes'] as Record<string, unknown>[]
    const intruderPath = join(cluster.dir, 'intruder.yml')
    writeFileSync(
      intruderPath,
      stringify({
        ...file,
        cluster: { name: 'test', secret: INTRUDER_KEY },
        nodes: [...nodes, { id: 'n4', host: '127.0.0.1', httpPort, peerPort, dataDir: 'data/n4' }],
        seeds: ['n1', 'n2', 'n3'],
      }),
    )
    const intruder = await spawnNode(intruderPath, 'n4')
    await eventually(
      async () => (await metric('n1', 'murmur_gossip_packets_rejected_total', 'auth_failed')) > 0,
      10_000,
      "n1 drops the intruder's gossip",
    )
    // A peer without the secret, and one that fakes the proof, are both cut off.
    const rejectedBefore = await metric(
      'n1',
      'murmur_peer_connections_rejected_total',
      'auth_failed',
    )
    const n1 = cluster.node('n1')
    await forgePeerFrames(n1.peerPort, [
      encodeFrame(encodeEnvelope(helloFor('test', 'n4', 'n1'))),
      encodeFrame(encodeEnvelope({ kind: 'request', requestId: 1, body: { type: 'x' } })),
    ])
    const nonce = new Uint8Array(32).fill(7)
    await forgePeerFrames(n1.peerPort, [
      encodeFrame(encodeAuthHello({ nonce, cluster: 'test', from: 'n2', to: 'n1' })),
      encodeFrame(encodeAuthProof(new Uint8Array(32))),
    ])
    expect(
      await metric('n1', 'murmur_peer_connections_rejected_total', 'auth_failed'),
    ).toBeGreaterThanOrEqual(rejectedBefore + 2)
    for (const id of IDS) expect((await members(id)).map((member) => member.id)).not.toContain('n4')
    await stop(intruder)
    expect(await put('n2', 'after-intruder', 'fine', '?w=all')).toBe(204)
  }, 30_000)

  it('rotates its key with rolling restarts and never stops serving', async () => {
    let written = 0
    for (const secrets of [[KEY_A, KEY_B], [KEY_B, KEY_A], [KEY_B]]) {
      setSecrets(secrets)
      for (const id of IDS) {
        await cluster.signal(id, 'SIGTERM')
        const survivor = IDS.find((other) => other !== id) ?? 'n1'
        expect(await put(survivor, `k${written}`, 'v')).toBe(204)
        await cluster.start(id)
        await eventually(() => allAlive(id), 15_000, `${id} rejoins with ${secrets.length} keys`)
        // The restarted node coordinates a write every replica must acknowledge.
        expect(await put(id, `all${written}`, 'v', '?w=all')).toBe(204)
        written++
      }
    }
    for (let index = 0; index < written; index++)
      expect((await get('n1', `all${index}`)).status).toBe(200)
  }, 60_000)
})

describe('API tokens', () => {
  it('answers 401 without a valid token, 403 beyond its rights, and serves within them', async () => {
    const anonymous = await cluster.json('n1', '/v1/kv/default/formed')
    expect(anonymous.status).toBe(401)
    expect(anonymous.body).toMatchObject({ error: { code: 'unauthenticated' } })
    const wrong = await cluster.json('n1', '/v1/cluster', authorized('not-a-token-0123456789'))
    expect(wrong.status).toBe(401)
    expect((await cluster.request('n1', '/health')).status).toBe(200)
    const readerRead = await cluster.request('n2', '/v1/kv/default/formed', authorized(READER))
    expect([readerRead.status, await readerRead.text()]).toEqual([200, 'yes'])
    const readerWrite = await cluster.json(
      'n2',
      '/v1/kv/default/formed',
      authorized(READER, { method: 'PUT', body: 'no' }),
    )
    expect(readerWrite.status).toBe(403)
    expect(readerWrite.body).toMatchObject({ error: { code: 'forbidden' } })
    const cartsElsewhere = await cluster.json(
      'n3',
      '/v1/kv/default/x',
      authorized(CARTS, { method: 'PUT', body: 'no' }),
    )
    expect(cartsElsewhere.status).toBe(403)
    const cartsOwn = await cluster.request(
      'n3',
      '/v1/kv/carts/x',
      authorized(CARTS, { method: 'PUT', body: 'ok' }),
    )
    expect(cartsOwn.status).toBe(204)
  })

  it('lets the CLI send a token', async () => {
    const node = cluster.node('n1')
    const cli = (args: string[], env: Record<string, string> = {}) =>
      run(process.execPath, [CLI_PATH, ...args, '--node', node.url], {
        env: { ...process.env, ...env },
      }).then(
        (result) => ({ code: 0, stdout: result.stdout, stderr: result.stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      )
    expect(await cli(['get', 'carts', 'x', '--token', CARTS])).toMatchObject({
      code: 0,
      stdout: 'ok\n',
    })
    expect(await cli(['get', 'carts', 'x'], { MURMUR_TOKEN: READER })).toMatchObject({ code: 0 })
    const refused = await cli(['get', 'carts', 'x'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/API token/)
  })
})

describe('TLS on the REST port', () => {
  it('serves https to the CLI, trusting the cluster file CA or --ca', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'murmur-tls-'))
    try {
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        join(dir, 't1.key'),
        '-out',
        join(dir, 't1.crt'),
      ])
      const [httpPort, peerPort] = await freePorts(2)
      const configPath = join(dir, 'cluster.yml')
      writeFileSync(
        configPath,
        stringify({
          nodes: [{ id: 't1', host: '127.0.0.1', httpPort, peerPort }],
          storage: { engine: 'memory' },
          log: { level: 'warn' },
          tls: { certFile: '{node}.crt', keyFile: '{node}.key', caFile: 't1.crt' },
        }),
      )
      const child = await spawnNode(configPath, 't1')
      const cli = (args: string[]) => run(process.execPath, [CLI_PATH, ...args])
      await cli(['put', 'default', 'tls', 'secret-value', '--config', configPath])
      const fromFile = await cli(['get', 'default', 'tls', '--config', configPath])
      expect(fromFile.stdout).toBe('secret-value\n')
      const url = `https://127.0.0.1:${httpPort}`
      const withCa = await cli([
        'get',
        'default',
        'tls',
        '--node',
        url,
        '--ca',
        join(dir, 't1.crt'),
      ])
      expect(withCa.stdout).toBe('secret-value\n')
      // Without the CA the certificate is not trusted, and plain HTTP gets no answer.
      await expect(
        cli(['get', 'default', 'tls', '--node', url, '--retries', '0']),
      ).rejects.toThrow()
      await expect(
        fetch(`http://127.0.0.1:${httpPort}/health`, { signal: AbortSignal.timeout(2000) }),
      ).rejects.toThrow()
      await stop(child)

      // `murmur dev` finds a TLS node healthy and prints its https address.
      const dev = spawn(process.execPath, [CLI_PATH, 'dev', '--config', configPath], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      spawned.push(dev)
      let devOutput = ''
      dev.stderr?.on('data', (chunk: Buffer) => {
        devOutput += chunk.toString()
      })
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          dev.stdout?.on('data', (chunk: Buffer) => {
            devOutput += chunk.toString()
            if (devOutput.includes('Press Ctrl-C')) resolve()
          })
          dev.once('exit', (code) => reject(new Error(`murmur dev exited ${code}: ${devOutput}`)))
        }),
        20_000,
        'murmur dev did not report the node up',
      )
      expect(devOutput).toContain(`t1  https://127.0.0.1:${httpPort}`)
      const devExited = new Promise<void>((resolve) => dev.once('exit', () => resolve()))
      dev.kill('SIGTERM')
      await withTimeout(devExited, STOP_TIMEOUT_MS, 'murmur dev did not stop')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
