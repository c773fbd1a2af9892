/**
 * A synchronous in-memory cluster for unit tests, in the spirit of etcd's raft test network:
 * every node is a RaftDriver, `flush()` runs Ready batches and delivers the messages they
 * release (through the codec, as the wire would) until nothing moves. Tests cut links, isolate
 * nodes, drop message types or hold messages back to build the exact scenario they need.
 */

import { SeededRandom } from '../../../src/env/random.js'
import { decodeMessage, encodeMessage } from '../../../src/raft/codec.js'
import type { RaftConfig } from '../../../src/raft/config.js'
import type { RawNode } from '../../../src/raft/raw-node.js'
import { MemoryRaftStorage } from '../../../src/raft/storage.js'
import type { Message, MessageType, NodeId } from '../../../src/raft/types.js'
import { RaftDriver } from '../../sim/raft/driver.js'

export type ConfigOverrides = Partial<Omit<RaftConfig, 'id' | 'random'>>

const FLUSH_ROUNDS_MAX = 10_000

export function baseConfig(voters: readonly NodeId[], overrides: ConfigOverrides = {}) {
  return {
    voters,
    electionTicks: 10,
    heartbeatTicks: 1,
    maxInflightMsgs: 256,
    maxSizePerMsgBytes: 1024 * 1024,
    ...overrides,
  }
}

export class TestNetwork {
  readonly drivers = new Map<NodeId, RaftDriver>()
  /** Messages released but not yet delivered, in send order. */
  pending: Message[] = []
  /** Every delivered message, for assertions about traffic. */
  readonly delivered: Message[] = []
  private readonly down = new Set<NodeId>()
  private readonly cutLinks = new Set<string>()
  private readonly droppedTypes = new Set<MessageType>()
  private readonly random: SeededRandom

  constructor(
    ids: readonly NodeId[],
    overrides: ConfigOverrides = {},
    perNode: (id: NodeId) => ConfigOverrides = () => ({}),
    seed = 1,
  ) {
    this.random = new SeededRandom(seed)
    for (const id of ids) this.add(id, { ...overrides, ...perNode(id) }, ids)
    // Founders persist and apply their bootstrap entries before anything else happens.
    this.flush()
  }

  /**
   * Adds a node; `voters` is its bootstrap configuration (empty for a joining node), and a
   * prepared `storage` lets a test start it with a given log.
   */
  add(
    id: NodeId,
    overrides: ConfigOverrides,
    voters: readonly NodeId[],
    storage = new MemoryRaftStorage(),
  ): RaftDriver {
    const driver = new RaftDriver(
      id,
      (nodeId, random) => ({ id: nodeId, random, ...baseConfig(voters, overrides) }),
      this.random.fork(id),
      {},
      storage,
    )
    this.drivers.set(id, driver)
    return driver
  }

  driver(id: NodeId): RaftDriver {
    const driver = this.drivers.get(id)
    if (driver === undefined) throw new Error(`no node ${id}`)
    return driver
  }

  node(id: NodeId): RawNode {
    return this.driver(id).node
  }

  isolate(id: NodeId): void {
    this.down.add(id)
  }

  cut(from: NodeId, to: NodeId): void {
    this.cutLinks.add(`${from}>${to}`)
  }

  dropType(type: MessageType): void {
    this.droppedTypes.add(type)
  }

  heal(): void {
    this.down.clear()
    this.cutLinks.clear()
    this.droppedTypes.clear()
  }

  private reachable(message: Message): boolean {
    return (
      !this.down.has(message.from) &&
      !this.down.has(message.to) &&
      !this.cutLinks.has(`${message.from}>${message.to}`) &&
      !this.droppedTypes.has(message.type) &&
      this.drivers.has(message.to)
    )
  }

  /** Runs every node's Ready once, queueing the messages it releases. */
  processReadies(): boolean {
    let progressed = false
    for (const driver of this.drivers.values()) {
      const messages = driver.processReady()
      if (messages === undefined) continue
      progressed = true
      for (const message of messages) this.pending.push(message)
    }
    return progressed
  }

  /** Delivers one message through the codec, if its link is up. */
  deliver(message: Message): void {
    if (!this.reachable(message)) return
    this.delivered.push(message)
    this.driver(message.to).node.step(decodeMessage(encodeMessage(message)))
  }

  /** Runs Readies and delivers messages until the cluster is quiet. */
  flush(): void {
    for (let round = 0; round < FLUSH_ROUNDS_MAX; round++) {
      const progressed = this.processReadies()
      if (this.pending.length === 0 && !progressed) return
      const batch = this.pending
      this.pending = []
      for (const message of batch) this.deliver(message)
    }
    throw new Error(`network did not settle within ${FLUSH_ROUNDS_MAX} rounds`)
  }

  /** Runs Readies only, keeping released messages in `pending` for the test to inspect. */
  hold(): Message[] {
    for (let round = 0; round < 100 && this.processReadies(); round++) {}
    const held = this.pending
    this.pending = []
    return held
  }

  tick(id: NodeId, count = 1): void {
    for (let tick = 0; tick < count; tick++) this.node(id).tick()
  }

  /** Ticks every node `count` times, flushing after each round of ticks. */
  tickAll(count: number): void {
    for (let tick = 0; tick < count; tick++) {
      for (const [id, driver] of this.drivers) if (!this.down.has(id)) driver.node.tick()
      this.flush()
    }
  }

  campaign(id: NodeId): void {
    this.node(id).campaign()
    this.flush()
  }

  /** The leaders among reachable nodes, as [id, term] pairs. */
  leaders(): [NodeId, number][] {
    const leaders: [NodeId, number][] = []
    for (const [id, driver] of this.drivers) {
      const status = driver.node.status()
      if (status.role === 'leader') leaders.push([id, status.term])
    }
    return leaders
  }

  /** Proposes `text` at `id` and flushes; returns the proposal's result. */
  propose(id: NodeId, text: string) {
    const result = this.node(id).propose(new TextEncoder().encode(text))
    this.flush()
    return result
  }

  /** The non-empty commands a node applied, decoded as text. */
  appliedTexts(id: NodeId): string[] {
    const decoder = new TextDecoder()
    return this.driver(id)
      .appliedEntries.filter((entry) => entry.kind === 'normal' && entry.data.length > 0)
      .map((entry) => (entry.kind === 'normal' ? decoder.decode(entry.data) : ''))
  }
}

/**
 * A storage already holding a log whose entries have `terms` (index 1 first), with `voters` as
 * the configuration at index 0 and the hard state's term at the last entry's term.
 */
export function storageWithLog(
  voters: readonly NodeId[],
  terms: readonly number[],
  hardStateTerm = terms[terms.length - 1] ?? 0,
): MemoryRaftStorage {
  const storage = new MemoryRaftStorage({ confState: { voters: [...voters].sort(), learners: [] } })
  const encoder = new TextEncoder()
  storage.append(
    terms.map((term, position) => ({
      kind: 'normal' as const,
      term,
      index: position + 1,
      data: encoder.encode(`t${term}i${position + 1}`),
    })),
  )
  storage.setHardState({ term: hardStateTerm, vote: '', commit: 0 })
  return storage
}

/** The terms of every entry in a node's durable log, from index 1. */
export function storedTerms(storage: MemoryRaftStorage): number[] {
  const terms: number[] = []
  for (let index = storage.firstIndex(); index <= storage.lastIndex(); index++) {
    const term = storage.term(index)
    if (!term.ok) throw new Error(`index ${index} unreadable`)
    terms.push(term.value)
  }
  return terms
}
