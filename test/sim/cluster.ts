/**
 * A whole murmur cluster inside one process: real MurmurNode code on the simulation's virtual
 * clock, seeded randomness, the in-memory peer network with seeded faults, and MemoryDisk
 * storage that loses unsynced writes on a crash. Clients talk to nodes through the same hono
 * app a real process serves, without sockets.
 */

import { type Config, parseConfig } from '../../src/config/load.js'
import { createLogger, type Logger, type LogRecord } from '../../src/env/log.js'
import { MemoryNetwork, type MemoryNetworkEvent } from '../../src/runtime/memory-network.js'
import { MurmurNode } from '../../src/runtime/node.js'
import type { TopologyView } from '../../src/runtime/topology/view.js'
import { MemoryDisk, MemoryEngine } from '../../src/storage/memory.js'
import { type FaultRates, NetworkFaults, NO_FAULTS } from './faults.js'
import { SimPacketNetwork } from './packet-network.js'
import { Simulation } from './simulation.js'

/** Virtual time a node may take to start (it may ask its peers for the topology first). */
const START_LIMIT_MS = 60_000

export interface SimClusterOptions {
  readonly seed: number
  /** cluster.yml text; node hosts and ports are irrelevant in simulation. */
  readonly configText: string
  readonly faults?: FaultRates
  /**
   * cluster.yml text for particular nodes (by id), as during a rolling change of the file:
   * those nodes start with it instead of `configText`. Node ids and order must not differ.
   */
  readonly configTextOf?: Readonly<Record<string, string>>
  /** Records node log lines at or above this level into the event log. Default warn. */
  readonly logLevel?: 'debug' | 'info' | 'warn'
  /**
   * The topology each node's data plane acts on, when the run changes it (by node id); a node
   * without one acts on cluster.yml's ring. A restarted node gets the same view back.
   */
  readonly topologyOf?: (id: string) => TopologyView | undefined
}

export interface SimResponse {
  readonly status: number
  readonly headers: Headers
  readonly body: string
}

function describeNetworkEvent(event: MemoryNetworkEvent): string {
  if (event.type === 'notify_failed')
    return `net notify_failed ${event.from}->${event.to} ${event.error.code}`
  const reason = event.type === 'dropped' ? ` ${event.reason}` : ''
  return `net ${event.type} ${event.from}->${event.to} ${event.kind}${reason}`
}

export class SimCluster {
  readonly sim: Simulation
  readonly config: Config
  private readonly configOf = new Map<string, Config>()
  readonly faults: NetworkFaults
  readonly network: MemoryNetwork
  readonly packets: SimPacketNetwork
  readonly disks = new Map<string, MemoryDisk>()
  private readonly running = new Map<string, MurmurNode>()
  private readonly logLevel: 'debug' | 'info' | 'warn'
  private readonly topologyOf: (id: string) => TopologyView | undefined

  private constructor(options: SimClusterOptions) {
    this.sim = new Simulation(options.seed)
    this.config = parseConfig(options.configText)
    for (const [id, text] of Object.entries(options.configTextOf ?? {})) {
      const config = parseConfig(text)
      const ids = (nodes: Config['nodes']) => nodes.map((node) => node.id).join(',')
      if (ids(config.nodes) !== ids(this.config.nodes)) throw new Error(`${id}: other nodes`)
      this.configOf.set(id, config)
    }
    this.faults = new NetworkFaults(this.sim.random.fork('faults'), options.faults ?? NO_FAULTS)
    this.logLevel = options.logLevel ?? 'warn'
    this.topologyOf = options.topologyOf ?? (() => undefined)
    this.network = new MemoryNetwork({
      clock: this.sim.clock(),
      policy: (from, to) => this.faults.decide(from, to),
      onEvent: (event) => this.sim.record(describeNetworkEvent(event)),
    })
    this.packets = new SimPacketNetwork(this.sim, this.faults)
    for (const node of this.config.nodes) {
      this.disks.set(node.id, new MemoryDisk())
      // Partitions name node ids; gossip addresses stand for the same endpoints.
      this.faults.alias(this.gossipAddress(node.id), node.id)
    }
  }

  static async create(options: SimClusterOptions): Promise<SimCluster> {
    const cluster = new SimCluster(options)
    for (const node of cluster.config.nodes) await cluster.start(node.id)
    return cluster
  }

  get nodeIds(): string[] {
    return this.config.nodes.map((node) => node.id)
  }

  node(id: string): MurmurNode {
    const node = this.running.get(id)
    if (node === undefined) throw new Error(`node ${id} is not running`)
    return node
  }

  isRunning(id: string): boolean {
    return this.running.has(id)
  }

  /** Boots a node on its (possibly crashed) disk. */
  async start(id: string): Promise<MurmurNode> {
    if (this.running.has(id)) throw new Error(`node ${id} is already running`)
    const disk = this.disks.get(id)
    if (disk === undefined) throw new Error(`no node ${id}`)
    this.network.setDown(id, false)
    this.packets.setDown(this.gossipAddress(id), false)
    const topology = this.topologyOf(id)
    const opening = MurmurNode.open(this.configOf.get(id) ?? this.config, id, {
      clock: this.sim.clock(),
      random: this.sim.random.fork(`node-${id}`),
      storage: new MemoryEngine(disk),
      storageLocation: `<memory ${id}>`,
      peers: this.network.transport(id),
      packets: this.packets.transport(this.gossipAddress(id)),
      log: this.logger(id),
      ...(topology === undefined ? {} : { topology }),
    })
    const node = await this.whileRunning(opening, START_LIMIT_MS)
    this.running.set(id, node)
    this.sim.record(`start ${id} actor=${node.actor}`)
    return node
  }

  /**
   * Runs the simulation until `promise` settles (a node's start may wait on its peers, on the
   * virtual clock), within `limitMs` of virtual time.
   */
  private async whileRunning<T>(promise: Promise<T>, limitMs: number): Promise<T> {
    let done = false
    const tracked = promise.finally(() => {
      done = true
    })
    // A rejection is observed by the await below; keep the runtime from reporting it twice.
    tracked.catch(() => undefined)
    await this.sim.runUntil(() => done, { untilMs: this.sim.nowMs + limitMs })
    if (!done) throw new Error(`not settled within ${limitMs} ms of virtual time`)
    return tracked
  }

  /** A power loss: the process stops at once and unsynced writes are gone. */
  async crash(id: string): Promise<void> {
    const node = this.node(id)
    this.running.delete(id)
    this.network.setDown(id, true)
    this.packets.setDown(this.gossipAddress(id), true)
    node.membership.stop()
    node.topology.stop()
    node.kv.stop()
    node.strong.stop()
    await node.env.peers.close()
    await node.env.packets.close()
    const lost = this.disks.get(id)?.crash() ?? 0
    this.sim.record(`crash ${id} lost_unsynced_ops=${lost}`)
  }

  /** Sends an HTTP request to a node's REST app; fails like a refused connection when it is down. */
  async request(
    id: string,
    method: string,
    path: string,
    body?: string | Uint8Array,
    headers: Record<string, string> = {},
  ): Promise<SimResponse> {
    const node = this.node(id)
    const init: RequestInit = { method, headers }
    if (body !== undefined) init.body = body
    const response = await node.app.request(path, init)
    const text = await response.text()
    this.sim.record(`http ${id} ${method} ${path} -> ${response.status}`)
    return { status: response.status, headers: response.headers, body: text }
  }

  /**
   * Cuts a running node off the network without stopping it, as a long pause (SIGSTOP, a GC
   * stall) looks to its peers: nothing it sends arrives, nothing sent to it is delivered.
   */
  pause(id: string): void {
    this.network.setDown(id, true)
    this.packets.setDown(this.gossipAddress(id), true)
    this.sim.record(`pause ${id}`)
  }

  resume(id: string): void {
    this.network.setDown(id, false)
    this.packets.setDown(this.gossipAddress(id), false)
    this.sim.record(`resume ${id}`)
  }

  gossipAddress(id: string): string {
    const node = this.config.nodes.find((candidate) => candidate.id === id)
    if (node === undefined) throw new Error(`no node ${id}`)
    return `${node.host}:${node.gossipPort}`
  }

  /** Runs until every running node sees every other running node alive, within `limitMs`. */
  async converge(limitMs: number): Promise<boolean> {
    const running = this.nodeIds.filter((id) => this.isRunning(id))
    return this.sim.runUntil(
      () =>
        running.every((id) =>
          running.every(
            (other) =>
              this.node(id)
                .membership.members()
                .find((member) => member.id === other)?.state === 'alive',
          ),
        ),
      { untilMs: this.sim.nowMs + limitMs },
    )
  }

  private logger(id: string): Logger {
    return createLogger(this.logLevel, (record: LogRecord) => {
      this.sim.record(
        `log ${id} ${record.level} ${record.message} ${JSON.stringify(record.fields)}`,
      )
    })
  }
}
