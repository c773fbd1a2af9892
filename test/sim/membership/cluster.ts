/**
 * A simulated membership cluster: pure Membership cores on the virtual clock, gossip over the
 * seeded SimPacketNetwork and push-pull carried as delayed events (lossless like TCP, but cut by
 * partitions). Each node is driven the way src/runtime/membership-driver.ts drives a core: one
 * timer at `nextDeadlineMs()`, timer drift reported as event-loop lag, effects drained after
 * every input. Nodes can crash, restart with empty state, stall (process nothing for a while,
 * then the overdue timer first and the packet backlog in arrival order, as Node's event loop
 * does) or be CPU-starved (every packet and timer handled after a random delay).
 */

import type { Timer } from '../../../src/env/clock.js'
import type { Random } from '../../../src/env/random.js'
import type { PacketAddress } from '../../../src/env/transport.js'
import type { MembershipConfig } from '../../../src/membership/config.js'
import type { MemberId, MemberMeta, MemberSnapshot } from '../../../src/membership/member.js'
import { Membership, type MembershipEvent } from '../../../src/membership/membership.js'
import { type FaultRates, NetworkFaults, NO_FAULTS } from '../faults.js'
import { SimPacketNetwork } from '../packet-network.js'
import { Simulation } from '../simulation.js'

export type ClusterEventListener = (observer: MemberId, event: MembershipEvent) => void

const PUSH_PULL_DELAY_MS = 2
/** Bound on packets a stalled node keeps for later, like a socket receive buffer. */
const BACKLOG_COUNT_MAX = 10_000

export function memberAddress(id: MemberId): PacketAddress {
  return `${id}:7946`
}

export class SimMember {
  core: Membership
  crashed = false
  private timer: Timer | undefined
  private timerAtMs = Number.POSITIVE_INFINITY
  private stalledUntilMs = 0
  private timerDueInStall = false
  private backlog: (() => void)[] = []
  private starveDelayMsMax = 0
  private readonly random: Random

  constructor(
    readonly id: MemberId,
    private readonly cluster: MembershipCluster,
    core: Membership,
  ) {
    this.core = core
    this.random = cluster.sim.random.fork(`member ${id}`)
  }

  get address(): PacketAddress {
    return memberAddress(this.id)
  }

  /** Runs `work` as this node's event loop would: now, later (starved) or after a stall. */
  handle(work: () => void, isTimer: boolean): void {
    if (this.crashed) return
    const sim = this.cluster.sim
    if (this.starveDelayMsMax > 0 && !isTimer) {
      sim.schedule(this.random.float() * this.starveDelayMsMax, () => this.runNow(work))
      return
    }
    if (sim.nowMs < this.stalledUntilMs) {
      if (isTimer) this.timerDueInStall = true
      else if (this.backlog.length < BACKLOG_COUNT_MAX) this.backlog.push(work)
      return
    }
    this.runNow(work)
  }

  private runNow(work: () => void): void {
    if (this.crashed) return
    work()
    this.flush()
  }

  /** The timer callback: report drift as lag, then tick. */
  private onTimer(): void {
    this.timer = undefined
    const nowMs = this.cluster.sim.nowMs
    const lagMs = Math.max(0, nowMs - this.timerAtMs)
    this.timerAtMs = Number.POSITIVE_INFINITY
    if (lagMs > 0) this.core.reportEventLoopLag(lagMs, nowMs)
    this.core.tick(nowMs)
  }

  /** Carries out the core's effects and re-arms the single timer. */
  flush(): void {
    const effects = this.core.drain()
    for (const packet of effects.packets)
      this.cluster.transport(this.address).send(packet.to, packet.bytes)
    for (const exchange of effects.pushPulls) {
      this.cluster.pushPull(this, exchange.toMemberId, exchange.bytes)
    }
    for (const event of effects.events) this.cluster.publish(this.id, event)
    this.arm()
  }

  private arm(): void {
    const deadlineMs = this.core.nextDeadlineMs()
    if (deadlineMs === this.timerAtMs && this.timer !== undefined) return
    this.timer?.cancel()
    this.timerAtMs = deadlineMs
    const sim = this.cluster.sim
    const delayMs = Math.max(0, deadlineMs - sim.nowMs)
    if (this.starveDelayMsMax > 0) {
      // A starved node's timers fire late by a random amount, like everything else it does.
      const lateMs = this.random.float() * this.starveDelayMsMax
      this.timer = sim.schedule(delayMs + lateMs, () => this.runNow(() => this.onTimer()))
      return
    }
    this.timer = sim.schedule(delayMs, () => this.handle(() => this.onTimer(), true))
  }

  stall(durationMs: number): void {
    const sim = this.cluster.sim
    this.stalledUntilMs = sim.nowMs + durationMs
    sim.schedule(durationMs, () => this.resume())
  }

  private resume(): void {
    if (this.crashed) return
    // Node runs overdue timers before polling the socket backlog.
    if (this.timerDueInStall) {
      this.timerDueInStall = false
      this.runNow(() => this.onTimer())
    }
    const backlog = this.backlog
    this.backlog = []
    for (const work of backlog) this.runNow(work)
    this.arm()
  }

  starve(delayMsMax: number): void {
    this.starveDelayMsMax = delayMsMax
  }

  crash(): void {
    this.crashed = true
    this.timer?.cancel()
    this.timer = undefined
  }
}

export interface ClusterOptions {
  readonly seed: number
  readonly config: MembershipConfig
  readonly rates?: FaultRates
}

export class MembershipCluster {
  readonly sim: Simulation
  readonly faults: NetworkFaults
  readonly network: SimPacketNetwork
  readonly config: MembershipConfig
  readonly nodes = new Map<MemberId, SimMember>()
  /** Push-pull messages (requests and responses) sent by each member. */
  readonly pushPullsBy = new Map<MemberId, number>()
  private readonly transports = new Map<PacketAddress, ReturnType<SimPacketNetwork['transport']>>()
  private readonly listeners: ClusterEventListener[] = []
  /** Every event as `observer type member incarnation`, in order; off unless asked. */
  recordEvents = false

  constructor(options: ClusterOptions) {
    this.sim = new Simulation(options.seed)
    this.faults = new NetworkFaults(this.sim.random.fork('faults'), options.rates ?? NO_FAULTS)
    this.network = new SimPacketNetwork(this.sim, this.faults)
    this.config = options.config
  }

  onEvent(listener: ClusterEventListener): void {
    this.listeners.push(listener)
  }

  publish(observer: MemberId, event: MembershipEvent): void {
    if (this.recordEvents) {
      const { id, incarnation } = event.member
      this.sim.record(`${observer} ${event.type} ${id} ${incarnation}`)
    }
    for (const listener of this.listeners) listener(observer, event)
  }

  transport(address: PacketAddress): ReturnType<SimPacketNetwork['transport']> {
    let transport = this.transports.get(address)
    if (transport === undefined) {
      transport = this.network.transport(address)
      this.transports.set(address, transport)
    }
    return transport
  }

  /** `count` members named m0000.. that already know each other (a converged cluster). */
  bootstrap(count: number, meta: MemberMeta = {}): SimMember[] {
    const ids = Array.from({ length: count }, (_, index) => memberName(index))
    const frozenMeta = Object.freeze({ ...meta })
    const known: MemberSnapshot[] = ids.map((id) => ({
      id,
      address: memberAddress(id),
      meta: frozenMeta,
      incarnation: 0,
      state: 'alive',
      stateChangedMs: this.sim.nowMs,
    }))
    return ids.map((id) => this.start(id, { knownMembers: known, meta: frozenMeta }))
  }

  /** Starts (or restarts, with empty state) a member; it joins through `seeds` when given. */
  start(
    id: MemberId,
    options: {
      knownMembers?: readonly MemberSnapshot[]
      seeds?: readonly MemberId[]
      meta?: MemberMeta
      incarnation?: number
    } = {},
  ): SimMember {
    this.nodes.get(id)?.crash()
    const core = new Membership({
      config: this.config,
      local: { id, address: memberAddress(id), meta: options.meta ?? {} },
      incarnation: options.incarnation ?? 0,
      random: this.sim.random.fork(`core ${id} ${this.sim.nowMs}`),
      nowMs: this.sim.nowMs,
      ...(options.knownMembers === undefined ? {} : { knownMembers: options.knownMembers }),
    })
    const node = new SimMember(id, this, core)
    this.nodes.set(id, node)
    this.network.setDown(node.address, false)
    this.transport(node.address).setHandler((from, bytes) => {
      node.handle(() => node.core.receivePacket(from, bytes, this.sim.nowMs), false)
    })
    if (options.seeds !== undefined) core.join(options.seeds.map(memberAddress), this.sim.nowMs)
    node.flush()
    return node
  }

  crash(id: MemberId): void {
    const node = this.node(id)
    node.crash()
    this.network.setDown(node.address, true)
  }

  node(id: MemberId): SimMember {
    const node = this.nodes.get(id)
    if (node === undefined) throw new Error(`no member ${id}`)
    return node
  }

  /** Carries one push-pull exchange: request, answer, response, each a delayed event. */
  pushPull(requester: SimMember, toId: MemberId, bytes: Uint8Array): void {
    const target = this.nodes.get(toId)
    this.count(requester.id)
    if (target === undefined || !this.faults.connected(requester.address, target.address)) return
    const request = bytes.slice()
    this.sim.schedule(PUSH_PULL_DELAY_MS, () => {
      target.handle(() => {
        const response = target.core.answerPushPull(request, this.sim.nowMs)
        if (response === undefined) return
        this.count(target.id)
        if (!this.faults.connected(target.address, requester.address)) return
        this.sim.schedule(PUSH_PULL_DELAY_MS, () => {
          requester.handle(() => requester.core.receivePushPull(response, this.sim.nowMs), false)
        })
      }, false)
    })
  }

  private count(id: MemberId): void {
    this.pushPullsBy.set(id, (this.pushPullsBy.get(id) ?? 0) + 1)
  }

  /** Members not crashed, in name order. */
  running(): SimMember[] {
    return [...this.nodes.values()].filter((node) => !node.crashed).sort(byId)
  }
}

export function memberName(index: number): MemberId {
  return `m${String(index).padStart(4, '0')}`
}

function byId(left: SimMember, right: SimMember): number {
  return left.id < right.id ? -1 : left.id > right.id ? 1 : 0
}

/** Percentiles of a sample, for printed distributions. */
export function summarize(values: readonly number[]): string {
  if (values.length === 0) return 'n=0'
  const sorted = [...values].sort((left, right) => left - right)
  const at = (fraction: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))] as number
  const format = (value: number): string =>
    Number.isInteger(value) ? `${value}` : value.toFixed(1)
  return `n=${sorted.length} min=${format(sorted[0] as number)} p50=${format(at(0.5))} p90=${format(at(0.9))} p99=${format(at(0.99))} max=${format(sorted[sorted.length - 1] as number)}`
}
