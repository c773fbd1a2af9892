/**
 * Runs one node in this process with real IO: RocksDB, TCP peer transport, UDP gossip, the
 * system clock and an HTTP server for the REST API. Start-up failures that are the user's
 * mistake (a port in use, an unwritable or foreign data directory) surface as one-line
 * MurmurErrors with code config_invalid, after everything already opened has been closed.
 *
 * Security is wired here: with `cluster.secret` both transports get the keyring (sealed
 * gossip, authenticated peer connections) and the membership core's packet budget shrinks by
 * the seal's overhead; with API tokens the REST app is guarded by the access policy; with
 * `tls` the REST port speaks HTTPS.
 */

import { randomInt } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createAdaptorServer } from '@hono/node-server'
import { pino } from 'pino'
import { guardedApp } from '../api/app.js'
import { type Config, findNode, type TlsConfig, tlsFilesFor } from '../config/load.js'
import { SkewableClock, SystemClock } from '../env/clock.js'
import { errorMessage, MurmurError } from '../env/errors.js'
import { jsonReplacer, type Logger, type LogLevel } from '../env/log.js'
import { SeededRandom } from '../env/random.js'
import { gossipDropsMetric } from '../metrics/membership.js'
import { registerPulled } from '../metrics/pulled.js'
import { registerSecurityMetrics } from '../metrics/security.js'
import type { StorageEngine } from '../storage/engine.js'
import { MemoryEngine } from '../storage/memory.js'
import { RocksDbEngine } from '../storage/rocksdb.js'
import { FAULTS_VARIABLE, PeerFaults } from './faults.js'
import { MurmurNode } from './node.js'
import { AccessPolicy } from './security/access.js'
import { Keyring } from './security/keyring.js'
import { TcpTransport } from './tcp-transport.js'
import { gossipPayloadBytesMax, UdpTransport } from './udp-transport.js'

export interface RunningNode {
  readonly id: string
  readonly httpAddress: string
  /** http or https. */
  readonly httpScheme: 'http' | 'https'
  readonly peerAddress: string
  readonly gossipAddress: string
  readonly dataDir: string
  readonly node: MurmurNode
  stop(): Promise<void>
}

/** Resources opened so far, closed in reverse order if start-up fails or the node stops. */
class Closers {
  private readonly closers: Array<() => Promise<void>> = []

  add(close: () => Promise<void>): void {
    this.closers.push(close)
  }

  async closeAll(): Promise<void> {
    for (const close of this.closers.reverse()) {
      try {
        await close()
      } catch {
        // Closing is best effort; the process is going away.
      }
    }
    this.closers.length = 0
  }
}

export async function startNodeProcess(config: Config, nodeId: string): Promise<RunningNode> {
  const self = findNode(config, nodeId)
  const faultsEnabled = process.env[FAULTS_VARIABLE] === '1'
  // Only a node with fault injection gets a wall clock that the debug route can skew.
  const clock = faultsEnabled ? new SkewableClock() : new SystemClock()
  const random = new SeededRandom(randomInt(0, 2 ** 32))
  const log = createProcessLogger(config.log.level, nodeId)
  const closers = new Closers()
  const faults = clock instanceof SkewableClock ? peerFaults(config, clock) : undefined
  const secrets = config.cluster.secret
  const keyring = secrets === undefined ? undefined : Keyring.fromSecrets(secrets.reveal())
  const tls = readTls(tlsFilesFor(config, nodeId))
  try {
    const storage: StorageEngine =
      config.storage.engine === 'memory'
        ? new MemoryEngine()
        : await RocksDbEngine.open(self.dataDir)
    closers.add(() => storage.close())
    faults?.attachStorage(storage, config.ring.partitions)
    const peers = new TcpTransport({
      localId: self.id,
      clusterName: config.cluster.name,
      listenHost: self.host,
      listenPort: self.peerPort,
      resolve: (id) => {
        const peer = config.nodes.find((node) => node.id === id)
        return peer === undefined ? undefined : { host: peer.host, port: peer.peerPort }
      },
      clock,
      random: random.fork('tcp'),
      frameBytesMax: config.limits.peerFrameBytesMax,
      queueBytesMax: config.limits.peerQueueBytesMax,
      onEvent: (event) => log.debug('peer transport', { ...event }),
      ...(faults === undefined ? {} : { faults }),
      ...(keyring === undefined ? {} : { keyring }),
    })
    await peers.start()
    closers.add(() => peers.close())
    const packets = await UdpTransport.bind({
      host: self.host,
      port: self.gossipPort,
      packetBytesMax: config.gossip.packetBytesMax,
      ...(faults === undefined ? {} : { faults }),
      ...(keyring === undefined ? {} : { keyring }),
    })
    closers.add(() => packets.close())
    const storageLocation = config.storage.engine === 'memory' ? '<memory>' : self.dataDir
    const node = await MurmurNode.open(withGossipBudget(config, keyring !== undefined), self.id, {
      clock,
      random,
      storage,
      storageLocation,
      peers,
      packets,
      log,
      ...(faults === undefined ? {} : { faults }),
    })
    closers.add(() => node.stop())
    node.membership.onEvent((event) => {
      if (event.type === 'joined' || event.type === 'alive' || event.type === 'updated')
        peers.peerReachable(event.member.id)
    })
    node.metrics.includeProcessMetrics()
    registerPulled(
      node.metrics.registry,
      gossipDropsMetric(() => packets.counters),
    )
    registerSecurityMetrics(node.metrics.registry, {
      gossip: { core: node.membership.core, transportRejections: () => packets.rejectedPackets() },
      peerRejections: () => peers.rejectionCounts(),
    })
    const access = new AccessPolicy(config.auth.tokens)
    const app = access.enabled
      ? guardedApp(node.app, (...request) => access.check(...request), log)
      : node.app
    const server = await listenHttp(app.fetch, self.host, self.httpPort, tls)
    closers.add(() => closeHttp(server))
    return {
      id: self.id,
      httpAddress: `${self.host}:${self.httpPort}`,
      httpScheme: tls === undefined ? 'http' : 'https',
      peerAddress: `${self.host}:${peers.port}`,
      gossipAddress: packets.localAddress,
      dataDir: storageLocation,
      node,
      stop: () => closers.closeAll(),
    }
  } catch (error) {
    await closers.closeAll()
    throw error
  }
}

/**
 * The node's logger: pino writing one JSON object per line to stderr, with the node id, an ISO
 * time and the level name on every line. Writes are synchronous, so a crash loses no line that
 * was logged before it; at the default level there are few (none per request).
 */
export function createProcessLogger(
  level: LogLevel,
  nodeId: string,
  destination: pino.DestinationStream = pino.destination({ dest: 2, sync: true }),
): Logger {
  const root = pino(
    {
      level,
      base: { node: nodeId },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        // Every line names its node already; a field repeating it would duplicate the key.
        log: (fields) =>
          logFields(fields['node'] === nodeId ? { ...fields, node: undefined } : fields),
      },
    },
    destination,
  )
  return pinoLogger(root)
}

/** Errors keep their stack and code; bytes and bigints print as the in-memory sink prints them. */
function logFields(fields: Record<string, unknown>): Record<string, unknown> {
  const formatted: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue
    formatted[name] =
      value instanceof Error ? pino.stdSerializers.err(value) : jsonReplacer(name, value)
  }
  return formatted
}

function pinoLogger(logger: pino.Logger): Logger {
  const emit =
    (level: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: Readonly<Record<string, unknown>>): void => {
      if (fields === undefined) logger[level](message)
      else logger[level](fields, message)
    }
  return {
    trace: emit('trace'),
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => pinoLogger(logger.child(logFields({ ...fields }))),
    isLevelEnabled: (candidate) => candidate === 'silent' || logger.isLevelEnabled(candidate),
  }
}

/** Fault injection, keyed by node id and by the gossip address each node binds. */
function peerFaults(config: Config, clock: SkewableClock): PeerFaults {
  return new PeerFaults((nodeId) => {
    const node = config.nodes.find((candidate) => candidate.id === nodeId)
    return node === undefined ? undefined : `${node.host}:${node.gossipPort}`
  }, clock)
}

/**
 * The config the node's services see: with a secret, gossip datagrams carry a seal, so the
 * membership core packs its packets into that many fewer bytes.
 */
function withGossipBudget(config: Config, sealed: boolean): Config {
  if (!sealed) return config
  const packetBytesMax = gossipPayloadBytesMax(config.gossip.packetBytesMax, sealed)
  return { ...config, gossip: { ...config.gossip, packetBytesMax } }
}

interface TlsMaterial {
  readonly cert: Buffer
  readonly key: Buffer
}

/** Reads the node's certificate and key; an unreadable file is a one-line config error. */
function readTls(files: TlsConfig | undefined): TlsMaterial | undefined {
  if (files === undefined) return undefined
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path)
    } catch (error) {
      throw new MurmurError(
        'config_invalid',
        `cannot read tls ${what} ${path}: ${errorMessage(error)}`,
      )
    }
  }
  return { cert: read(files.certFile, 'certFile'), key: read(files.keyFile, 'keyFile') }
}

type FetchHandler = Parameters<typeof createAdaptorServer>[0]['fetch']

function createHttpServer(fetch: FetchHandler, tls: TlsMaterial | undefined): Server {
  if (tls === undefined) return createAdaptorServer({ fetch }) as Server
  try {
    return createAdaptorServer({
      fetch,
      createServer: createHttpsServer,
      serverOptions: { cert: tls.cert, key: tls.key },
    }) as Server
  } catch (error) {
    throw new MurmurError(
      'config_invalid',
      `tls certificate or key rejected: ${errorMessage(error)}`,
    )
  }
}

function listenHttp(
  fetch: FetchHandler,
  host: string,
  port: number,
  tls: TlsMaterial | undefined,
): Promise<Server> {
  const server = createHttpServer(fetch, tls)
  server.keepAliveTimeout = 65_000
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(new MurmurError('config_invalid', `http port ${port} on ${host} is already in use`))
      else if (error.code === 'EADDRNOTAVAIL')
        reject(
          new MurmurError(
            'config_invalid',
            `cannot listen on ${host}:${port}: the address is not available on this machine`,
          ),
        )
      else
        reject(
          new MurmurError(
            'config_invalid',
            `cannot listen on ${host}:${port}: ${errorMessage(error)}`,
          ),
        )
    })
    server.listen(port, host, () => resolve(server))
  })
}

function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
    // Requests still running get a short grace period before their connections are cut.
    setTimeout(() => server.closeAllConnections(), 2000).unref()
  })
}
