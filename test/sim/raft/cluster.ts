/**
 * A whole Raft cluster in one deterministic process: N cores (plus spare nodes that may join)
 * on the simulation's virtual clock, with a simulated network and disk. Every setting of a run
 * (fault rates, crash and partition schedule, client load, flow-control limits) is drawn from
 * the run's seed, so a seed replays a run exactly.
 *
 * A run has two phases. Chaos: messages are lost, duplicated, delayed and reordered; nodes
 * crash (losing any Ready not yet persisted; their peers get the transport's link-lost hint
 * and may forget them as leader) and restart from their MemoryRaftStorage; partitions come and go; clients propose commands, reads, membership changes and leadership
 * transfers at random times; nodes snapshot and compact their logs. Heal: the network is made
 * reliable and every crashed node restarts; then a leader must be elected and must commit a probe
 * command, and every member must apply it and every acknowledged command within a fixed budget.
 * The SafetyChecker inspects every node after every event of both phases.
 */

import { assert } from '../../../src/env/assert.js'
import type { Random } from '../../../src/env/random.js'
import { pick } from '../../../src/env/random.js'
import { decodeMessage, encodeMessage } from '../../../src/raft/codec.js'
import type { RaftConfig } from '../../../src/raft/config.js'
import { contextKey } from '../../../src/raft/read-only.js'
import type { ConfChange, Entry, Message, NodeId, Ready, Role } from '../../../src/raft/types.js'
import { type FaultRates, NetworkFaults } from '../faults.js'
import { Simulation } from '../simulation.js'
import { commandKey, SafetyChecker, textCommandKey } from './checker.js'
import { RaftDriver } from './driver.js'

export interface RaftSimOptions {
  readonly seed: number
  readonly votersCount: number
  readonly sparesCount: number
  /** Virtual duration of the chaos phase. */
  readonly chaosMs: number
  /** Virtual time the healed cluster has to elect, commit and converge. */
  readonly livenessBudgetMs: number
  readonly tickMs: number
  readonly electionTicks: number
  readonly heartbeatTicks: number
  readonly leaseReads: boolean
  /** Record an event log line per notable event (for determinism checks and debugging). */
  readonly recordLog: boolean
}

export const DEFAULT_SIM_OPTIONS: Omit<RaftSimOptions, 'seed' | 'votersCount'> = {
  sparesCount: 2,
  chaosMs: 1_500,
  livenessBudgetMs: 3_000,
  tickMs: 10,
  electionTicks: 10,
  heartbeatTicks: 2,
  leaseReads: false,
  recordLog: false,
}

export interface RaftSimResult {
  readonly seed: number
  readonly events: number
  readonly leaders: number
  readonly maxTerm: number
  readonly committed: number
  readonly acknowledged: number
  readonly readsServed: number
  readonly crashes: number
  readonly snapshotsInstalled: number
  readonly messagesSent: number
  readonly messagesDropped: number
  readonly healedAfterMs: number
}

/** Per-run knobs drawn from the seed. */
interface Scenario {
  readonly rates: FaultRates
  readonly diskMsMax: number
  readonly clientGapMsMax: number
  readonly faultGapMsMin: number
  readonly faultGapMsMax: number
  readonly membershipChanges: boolean
  readonly compactProbability: number
  readonly maxInflightMsgs: number
  readonly maxSizePerMsgBytes: number
}

interface SimNode {
  readonly id: NodeId
  readonly driver: RaftDriver
  up: boolean
  /** Bumped on every crash, so a Ready in flight at the crash is never completed. */
  generation: number
  readyQueued: boolean
  readyInFlight: boolean
  role: Role
  term: number
}

interface Proposal {
  readonly node: NodeId
  readonly index: number
  readonly term: number
  readonly command: string
}

const CALM: FaultRates = {
  lossProbability: 0,
  duplicateProbability: 0,
  delayMsMin: 1,
  delayMsMax: 5,
}

function drawScenario(random: Random): Scenario {
  const delayMsMax = 1 + random.int(25)
  return {
    rates: {
      lossProbability: random.float() * 0.12,
      duplicateProbability: random.float() * 0.05,
      delayMsMin: random.int(2),
      delayMsMax,
    },
    diskMsMax: 1 + random.int(10),
    clientGapMsMax: 5 + random.int(40),
    faultGapMsMin: 40 + random.int(100),
    faultGapMsMax: 200 + random.int(400),
    membershipChanges: random.chance(0.5),
    compactProbability: random.chance(0.5) ? 0.02 + random.float() * 0.1 : 0,
    maxInflightMsgs: 1 + random.int(8),
    maxSizePerMsgBytes: random.chance(0.5) ? 64 + random.int(256) : 64 * 1024,
  }
}

export class RaftSimulation {
  readonly sim: Simulation
  readonly checker = new SafetyChecker()
  private readonly faults: NetworkFaults
  private readonly random: Random
  private readonly scenario: Scenario
  private readonly nodes = new Map<NodeId, SimNode>()
  private readonly originalVoters: NodeId[]
  private readonly spares: NodeId[]
  private readonly removed = new Set<NodeId>()
  private readonly proposals = new Map<string, Proposal>()
  private readonly reads = new Map<string, number>()
  private chaos = true
  private proposalSequence = 0
  private readSequence = 0
  private ackedIndexMax = 0
  private acknowledged: Proposal[] = []
  private probe: Proposal | undefined = undefined
  private crashes = 0
  private readsServed = 0
  private snapshotsInstalled = 0
  private messagesSent = 0
  private messagesDropped = 0

  constructor(private readonly options: RaftSimOptions) {
    this.sim = new Simulation(options.seed)
    this.random = this.sim.random.fork('workload')
    this.scenario = drawScenario(this.sim.random.fork('scenario'))
    this.faults = new NetworkFaults(this.sim.random.fork('network'), this.scenario.rates)
    this.originalVoters = Array.from({ length: options.votersCount }, (_, at) => `n${at + 1}`)
    this.spares = Array.from({ length: options.sparesCount }, (_, at) => `s${at + 1}`)
    const nodeRandom = this.sim.random.fork('nodes')
    for (const id of [...this.originalVoters, ...this.spares]) {
      const bootstrap = this.originalVoters.includes(id) ? this.originalVoters : []
      this.addNode(id, bootstrap, nodeRandom)
    }
  }

  private addNode(id: NodeId, voters: readonly NodeId[], random: Random): void {
    const { scenario, options } = this
    const makeConfig = (nodeId: NodeId, nodeStream: Random): RaftConfig => ({
      id: nodeId,
      voters,
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      maxInflightMsgs: scenario.maxInflightMsgs,
      maxSizePerMsgBytes: scenario.maxSizePerMsgBytes,
      leaseReads: options.leaseReads,
      random: nodeStream,
    })
    const driver = new RaftDriver(id, makeConfig, random, {
      onApply: (each, entry, digest) => this.onApply(each, entry, digest),
      onSnapshot: (each, snapshot) => {
        this.snapshotsInstalled++
        this.checker.observeSnapshot(each, snapshot)
      },
      onPersist: (each, ready) => this.checker.observePersist(each, ready),
    })
    this.nodes.set(id, {
      id,
      driver,
      up: true,
      generation: 0,
      readyQueued: false,
      readyInFlight: false,
      role: 'follower',
      term: 0,
    })
  }

  private record(line: string): void {
    if (this.options.recordLog) this.sim.record(line)
  }

  private simNode(id: NodeId): SimNode {
    const node = this.nodes.get(id)
    assert(node !== undefined, `unknown node ${id}`)
    return node
  }

  // ---------------------------------------------------------------------------------------
  // The node runtime: ticks, Ready processing with a disk delay, message delivery.

  private observe(node: SimNode): void {
    this.checker.observeNode(node.driver)
    const status = node.driver.node.status()
    if (status.role !== node.role || status.term !== node.term) {
      node.role = status.role
      node.term = status.term
      this.record(`${node.id} ${status.role} term=${status.term} commit=${status.commit}`)
    }
  }

  private startTicking(node: SimNode): void {
    const loop = (): void => {
      if (node.up) {
        node.driver.node.tick()
        this.afterInput(node)
      }
      this.sim.schedule(this.options.tickMs, loop)
    }
    this.sim.schedule(this.random.float() * this.options.tickMs, loop)
  }

  private afterInput(node: SimNode): void {
    this.observe(node)
    this.kick(node)
  }

  private kick(node: SimNode): void {
    if (!node.up || node.readyQueued || node.readyInFlight) return
    node.readyQueued = true
    this.sim.schedule(0, () => this.takeReady(node))
  }

  private takeReady(node: SimNode): void {
    node.readyQueued = false
    if (!node.up || node.readyInFlight || !node.driver.node.hasReady()) return
    const ready = node.driver.node.ready()
    node.readyInFlight = true
    const generation = node.generation
    const diskMs = this.random.float() * this.scenario.diskMsMax
    this.sim.schedule(diskMs, () => this.completeReady(node, ready, generation))
  }

  /** The disk write finished: send, apply, advance (the documented order). */
  private completeReady(node: SimNode, ready: Ready, generation: number): void {
    if (generation !== node.generation) return
    const { driver } = node
    driver.persist(ready)
    for (const message of ready.messages) this.send(message)
    driver.apply(ready)
    this.checkReads(node, ready)
    driver.node.advance()
    node.readyInFlight = false
    if (
      this.scenario.compactProbability > 0 &&
      this.random.chance(this.scenario.compactProbability)
    ) {
      driver.compact(this.random.int(20))
    }
    this.afterInput(node)
  }

  private send(message: Message): void {
    this.messagesSent++
    const bytes = encodeMessage(message)
    const decision = this.faults.decide(message.from, message.to)
    if (decision.drop) {
      this.messagesDropped++
      return
    }
    this.sim.schedule(decision.delayMs, () => this.deliver(message.to, bytes))
    if (decision.duplicate) {
      const extraMs = this.random.float() * 10
      this.sim.schedule(decision.delayMs + extraMs, () => this.deliver(message.to, bytes))
    }
  }

  private deliver(to: NodeId, bytes: Uint8Array): void {
    const node = this.nodes.get(to)
    if (node === undefined || !node.up) return
    node.driver.node.step(decodeMessage(bytes))
    this.afterInput(node)
  }

  private crash(node: SimNode): void {
    if (!node.up) return
    node.up = false
    node.generation++
    node.readyQueued = false
    node.readyInFlight = false
    this.crashes++
    this.record(`${node.id} crash`)
    // Its peers see their connections to it break, as the runtime's transport reports them.
    for (const other of this.nodes.values()) {
      if (other === node) continue
      this.sim.schedule(this.random.float() * 5, () => {
        if (other.up && other.driver.node.forgetLeader(node.id)) this.afterInput(other)
      })
    }
  }

  private restart(node: SimNode): void {
    if (node.up) return
    node.driver.restart()
    node.up = true
    node.role = 'follower'
    this.record(`${node.id} restart term=${node.driver.storage.persistedHardState.term}`)
    this.afterInput(node)
  }

  // ---------------------------------------------------------------------------------------
  // Clients: proposals, reads, membership changes and transfers.

  private upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((node) => node.up)
  }

  /** The live node that believes it leads in the highest term, if any. */
  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined
    for (const node of this.upNodes()) {
      const status = node.driver.node.status()
      if (status.role !== 'leader') continue
      if (best === undefined || status.term > best.driver.node.status().term) best = node
    }
    return best
  }

  private propose(node: SimNode, text: string): Proposal | undefined {
    const result = node.driver.node.propose(new TextEncoder().encode(text))
    this.afterInput(node)
    if (!result.ok) return undefined
    const proposal = {
      node: node.id,
      index: result.index,
      term: result.term,
      command: textCommandKey(text),
    }
    this.proposals.set(`${node.id}:${result.index}`, proposal)
    return proposal
  }

  private onApply(driver: RaftDriver, entry: Entry, digest: number): void {
    this.checker.observeApply(driver, entry, digest)
    const key = `${driver.id}:${entry.index}`
    const proposal = this.proposals.get(key)
    if (proposal === undefined) return
    this.proposals.delete(key)
    // Acknowledged: the proposer saw its own command applied at the index it was given.
    if (proposal.term !== entry.term || proposal.command !== commandKey(entry)) return
    this.acknowledged.push(proposal)
    this.ackedIndexMax = Math.max(this.ackedIndexMax, proposal.index)
  }

  private issueRead(node: SimNode): void {
    const sequence = this.readSequence++
    const context = new Uint8Array([1, sequence & 0xff, (sequence >>> 8) & 0xff, sequence >>> 16])
    const result = node.driver.node.readIndex(context)
    this.afterInput(node)
    // A linearizable read must observe every write acknowledged before it was issued.
    if (result.ok) this.reads.set(`${node.id}:${contextKey(context)}`, this.ackedIndexMax)
  }

  private checkReads(node: SimNode, ready: Ready): void {
    for (const readState of ready.readStates) {
      const key = `${node.id}:${contextKey(readState.context)}`
      const minimum = this.reads.get(key)
      if (minimum === undefined) continue
      this.reads.delete(key)
      if (readState.index < minimum) {
        throw new Error(
          `stale read at ${node.id}: read index ${readState.index} < acknowledged ${minimum}`,
        )
      }
      this.readsServed++
    }
  }

  private changeMembership(leader: SimNode): void {
    const conf = leader.driver.node.confState()
    const members = new Set([...conf.voters, ...conf.learners])
    const joinable = this.spares.filter((id) => !members.has(id) && !this.removed.has(id))
    let change: ConfChange | undefined
    if (conf.learners.length > 0) {
      change = { type: 'add_voter', nodeId: pick(this.random, conf.learners) }
    } else if (joinable.length > 0 && this.random.chance(0.5)) {
      change = { type: 'add_learner', nodeId: pick(this.random, joinable) }
    } else if (conf.voters.length > 3) {
      change = { type: 'remove_node', nodeId: pick(this.random, conf.voters) }
    }
    if (change === undefined) return
    const result = leader.driver.node.proposeConfChange(change)
    this.afterInput(leader)
    if (result.ok) {
      this.record(`${leader.id} proposes ${change.type} ${change.nodeId} at ${result.index}`)
      if (change.type === 'remove_node') this.removed.add(change.nodeId)
    }
  }

  private clientStep(): void {
    const leader = this.currentLeader()
    const draw = this.random.float()
    if (draw < 0.65) {
      const up = this.upNodes()
      const target = leader ?? (up.length > 0 ? pick(this.random, up) : undefined)
      if (target !== undefined) this.propose(target, `c${this.proposalSequence++}`)
    } else if (draw < 0.9) {
      const up = this.upNodes()
      if (up.length > 0) this.issueRead(pick(this.random, up))
    } else if (draw < 0.97) {
      if (leader !== undefined && this.scenario.membershipChanges) this.changeMembership(leader)
    } else if (leader !== undefined) {
      const voters = leader.driver.node.confState().voters.filter((id) => id !== leader.id)
      if (voters.length > 0) {
        leader.driver.node.transferLeadership(pick(this.random, voters))
        this.afterInput(leader)
      }
    }
  }

  private startClients(): void {
    const loop = (): void => {
      if (!this.chaos) return
      this.clientStep()
      this.sim.schedule(1 + this.random.float() * this.scenario.clientGapMsMax, loop)
    }
    this.sim.schedule(this.random.float() * 20, loop)
  }

  // ---------------------------------------------------------------------------------------
  // Faults.

  private faultStep(): void {
    const nodes = [...this.nodes.values()]
    const draw = this.random.float()
    if (draw < 0.4) {
      // Crashing in the middle of a disk write is where ordering bugs show.
      const writing = nodes.filter((node) => node.up && node.readyInFlight)
      const victim = pick(
        this.random,
        writing.length > 0 && this.random.chance(0.7) ? writing : nodes,
      )
      this.crash(victim)
      const downMs = 20 + this.random.float() * 400
      this.sim.schedule(downMs, () => this.restart(victim))
    } else if (draw < 0.75) {
      const ids = nodes.map((node) => node.id)
      const side = ids.filter(() => this.random.chance(0.5))
      this.faults.partition([side, ids.filter((id) => !side.includes(id))])
      this.record(`partition [${side.join(',')}]`)
      this.sim.schedule(50 + this.random.float() * 600, () => {
        if (this.chaos) this.faults.heal()
      })
    } else if (draw < 0.9) {
      const leader = this.currentLeader()
      if (leader !== undefined) {
        this.faults.isolate(leader.id, [...this.nodes.keys()])
        this.record(`isolate leader ${leader.id}`)
      }
    } else {
      this.faults.setRates(drawScenario(this.random).rates)
    }
  }

  private startFaults(): void {
    const { faultGapMsMin, faultGapMsMax } = this.scenario
    const loop = (): void => {
      if (!this.chaos) return
      this.faultStep()
      this.sim.schedule(faultGapMsMin + this.random.float() * (faultGapMsMax - faultGapMsMin), loop)
    }
    this.sim.schedule(faultGapMsMin, loop)
  }

  // ---------------------------------------------------------------------------------------
  // Healing and liveness.

  private heal(): void {
    this.chaos = false
    this.faults.heal()
    this.faults.setRates(CALM)
    this.record('heal')
    for (const node of this.nodes.values()) this.restart(node)
    const loop = (): void => {
      this.proposeProbe()
      this.sim.schedule(20, loop)
    }
    this.sim.schedule(0, loop)
  }

  /** Keeps trying to commit one fresh command after healing, through whoever leads now. */
  private proposeProbe(): void {
    const leader = this.currentLeader()
    if (leader === undefined) return
    const term = leader.driver.node.status().term
    const probe = this.probe
    if (
      probe !== undefined &&
      (probe.term === term || this.checker.appliedCommand(probe.index) === probe.command)
    ) {
      return
    }
    this.probe = this.propose(leader, `probe${this.proposalSequence++}`)
  }

  /** The members every node must converge on: the configuration of the current leader. */
  private converged(): boolean {
    const leader = this.currentLeader()
    const probe = this.probe
    if (leader === undefined || probe === undefined) return false
    if (this.checker.appliedCommand(probe.index) !== probe.command) return false
    const conf = leader.driver.node.confState()
    const target = Math.max(probe.index, this.ackedIndexMax)
    for (const id of [...conf.voters, ...conf.learners]) {
      const node = this.simNode(id)
      if (!node.up || node.driver.appliedIndex < target) return false
    }
    return true
  }

  run(): RaftSimResult {
    for (const node of this.nodes.values()) this.startTicking(node)
    this.startClients()
    this.startFaults()
    this.sim.runPure({ untilMs: this.options.chaosMs })
    const healedAtMs = this.sim.nowMs
    this.heal()
    const live = this.sim.runPureUntil(() => this.converged(), {
      untilMs: healedAtMs + this.options.livenessBudgetMs,
    })
    if (!live) this.failLiveness()
    for (const proposal of this.acknowledged) {
      if (this.checker.appliedCommand(proposal.index) !== proposal.command) {
        throw new Error(`acknowledged command at ${proposal.index} was lost`)
      }
    }
    this.record(`converged at ${this.sim.nowMs - healedAtMs} ms after healing`)
    return this.result(this.sim.nowMs - healedAtMs)
  }

  private failLiveness(): never {
    const states = [...this.nodes.values()].map((node) => {
      const status = node.driver.node.status()
      return `${node.id}:${node.up ? status.role : 'down'} t${status.term} c${status.commit} a${node.driver.appliedIndex}`
    })
    throw new Error(
      `no convergence within ${this.options.livenessBudgetMs} ms after healing ` +
        `(probe ${JSON.stringify(this.probe)}, acked up to ${this.ackedIndexMax}; ${states.join(' ')})`,
    )
  }

  private result(healedAfterMs: number): RaftSimResult {
    let maxTerm = 0
    for (const term of this.checker.leaderOfTerm.keys()) maxTerm = Math.max(maxTerm, term)
    return {
      seed: this.options.seed,
      events: this.sim.processedEvents,
      leaders: this.checker.leaderOfTerm.size,
      maxTerm,
      committed: this.checker.highestCommitted,
      acknowledged: this.acknowledged.length,
      readsServed: this.readsServed,
      crashes: this.crashes,
      snapshotsInstalled: this.snapshotsInstalled,
      messagesSent: this.messagesSent,
      messagesDropped: this.messagesDropped,
      healedAfterMs,
    }
  }
}

/** Runs one seeded schedule; any safety or liveness failure throws. */
export function runRaftSimulation(options: RaftSimOptions): RaftSimResult {
  return new RaftSimulation(options).run()
}
