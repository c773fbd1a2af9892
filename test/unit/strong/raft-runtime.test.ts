/**
 * Goal: the Raft runtime answers a proposal only once its entry is durable and committed, and
 * then without waiting for the write of entries proposed after it (committed entries already
 * durable are applied while a later Ready's write is in flight); a leader serving one write
 * at a time lets the next append carry the commit index instead of a separate notice, and
 * followers still apply every write within the hold time after the last one. Method: groups
 * on the simulator's virtual clock: one member over a memory engine whose synced writes the
 * test holds and releases one at a time, watching which proposals have been answered in
 * between; three members over the in-memory network with 1 ms per message, writing one key at
 * a time and reading the counters and applied indexes.
 */

import { describe, expect, it } from 'vitest'
import type { RaftSettings } from '../../../src/config/load.js'
import { raftSchema } from '../../../src/config/schema.js'
import { MurmurError } from '../../../src/env/errors.js'
import { silentLogger } from '../../../src/env/log.js'
import { SeededRandom } from '../../../src/env/random.js'
import type { PeerTransport } from '../../../src/env/transport.js'
import type { Command } from '../../../src/raft/machine/commands.js'
import { StrongStateMachine } from '../../../src/raft/machine/state-machine.js'
import { MemoryNetwork } from '../../../src/runtime/memory-network.js'
import { PeerRouter } from '../../../src/runtime/peer-router.js'
import { DurableRaftStorage } from '../../../src/runtime/strong/durable-storage.js'
import { EMPTY_APPEND_HOLD_MS, RaftRuntime } from '../../../src/runtime/strong/raft-runtime.js'
import type { StorageEngine, WriteOp } from '../../../src/storage/engine.js'
import { MemoryEngine } from '../../../src/storage/memory.js'
import { Simulation } from '../../sim/simulation.js'

/** A memory engine whose synced writes wait, while the gate is closed, until released. */
class GatedEngine extends MemoryEngine {
  closed = false
  private readonly held: (() => void)[] = []

  get heldWrites(): number {
    return this.held.length
  }

  override async write(ops: readonly WriteOp[], options: { readonly sync: boolean }) {
    if (this.closed && options.sync) await new Promise<void>((resolve) => this.held.push(resolve))
    return super.write(ops, options)
  }

  releaseOne(): void {
    this.held.shift()?.()
  }
}

const noPeers: PeerTransport = {
  localId: 'n1',
  request: () => Promise.reject(new MurmurError('unavailable', 'no peers')),
  notify: () => undefined,
  setHandler: () => undefined,
  onLinkLost: () => undefined,
  close: () => Promise.resolve(),
}

function put(key: string): Command {
  const value = new TextEncoder().encode(key)
  return { type: 'kv.put', keyspace: 'ks', key, value, contentType: 'text/plain' }
}

interface Member {
  readonly runtime: RaftRuntime
  readonly machine: StrongStateMachine
}

async function member(
  sim: Simulation,
  id: string,
  members: string[],
  engine: StorageEngine,
  peers: PeerTransport,
): Promise<Member> {
  const storage = await DurableRaftStorage.open(engine, 'strong')
  const machine = new StrongStateMachine({
    stateBytesMax: 1024 * 1024,
    requestIdsMax: 100,
    requestIdTtlMs: 60_000,
  })
  const router = new PeerRouter()
  const runtime = new RaftRuntime({
    selfId: id,
    settings: { ...raftSchema.parse({}), members } satisfies RaftSettings,
    clock: sim.clock(),
    random: new SeededRandom(members.indexOf(id) + 1),
    storage,
    machine,
    peers,
    router,
    log: silentLogger,
  })
  peers.setHandler(router.handle)
  runtime.start()
  return { runtime, machine }
}

/** Runs until one member leads and has nothing pending; returns it. */
async function elect(sim: Simulation, members: readonly Member[]): Promise<Member> {
  const leaderOf = () => members.find((each) => each.runtime.isLeader)
  const elected = await sim.runUntil(() => leaderOf()?.runtime.view().proposalsPending === 0, {
    untilMs: sim.nowMs + 10_000,
  })
  expect(elected).toBe(true)
  await sim.runFor(200)
  const leader = leaderOf()
  if (leader === undefined) throw new Error('no leader')
  return leader
}

async function leaderOnGatedEngine() {
  const sim = new Simulation(7)
  const engine = new GatedEngine()
  const only = await member(sim, 'n1', ['n1'], engine, noPeers)
  await elect(sim, [only])
  return { sim, engine, ...only }
}

/** Proposes `key` and reports whether the proposal has been answered yet. */
function propose(runtime: RaftRuntime, key: string): () => boolean {
  let answered = false
  void runtime.propose(put(key), undefined, 60_000).then(() => {
    answered = true
  })
  return () => answered
}

describe('raft runtime', () => {
  it('answers a proposal once durable, without waiting for the write of later ones', async () => {
    const { sim, engine, runtime, machine } = await leaderOnGatedEngine()
    engine.closed = true
    const first = propose(runtime, 'a')
    await sim.runFor(1)
    expect(engine.heldWrites).toBe(1)
    const second = propose(runtime, 'b')
    await sim.runFor(10)
    // The first entry is not durable yet: nothing may be answered.
    expect(first()).toBe(false)
    expect(machine.kv.get('ks', 'a')).toBeUndefined()
    engine.releaseOne()
    await sim.runFor(1)
    // Its write is done and it is committed; the second entry's write is still held.
    expect(engine.heldWrites).toBe(1)
    expect(first()).toBe(true)
    expect(second()).toBe(false)
    expect(machine.kv.get('ks', 'b')).toBeUndefined()
    engine.releaseOne()
    await sim.runFor(1)
    expect(second()).toBe(true)
    expect(machine.kv.get('ks', 'b')).toBeDefined()
    runtime.stop()
  })

  it('lets the next append carry the commit index, and followers still apply in time', async () => {
    const sim = new Simulation(11)
    const delay = { drop: false, delayMs: 1, duplicate: false }
    const network = new MemoryNetwork({ clock: sim.clock(), policy: () => delay })
    const ids = ['n1', 'n2', 'n3']
    const members: Member[] = []
    for (const id of ids) {
      members.push(await member(sim, id, ids, new MemoryEngine(), network.transport(id)))
    }
    const leader = await elect(sim, members)
    const writes = 20
    for (let index = 0; index < writes; index++) {
      const answered = propose(leader.runtime, `k${index}`)
      expect(await sim.runUntil(answered, { untilMs: sim.nowMs + 1000 })).toBe(true)
    }
    // Each commit notice but the last was replaced by the next write's append, per follower.
    const replaced = leader.runtime.view().counters.emptyAppendsReplaced
    expect(replaced).toBeGreaterThanOrEqual(2 * (writes - 1))
    await sim.runFor(EMPTY_APPEND_HOLD_MS + 2)
    for (const each of members) {
      expect(each.machine.appliedIndex).toBe(leader.machine.appliedIndex)
      expect(each.machine.kv.get('ks', `k${writes - 1}`)).toBeDefined()
    }
    for (const each of members) each.runtime.stop()
  })
})
