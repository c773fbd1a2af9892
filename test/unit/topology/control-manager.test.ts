/**
 * Goal: a node finds, stores and follows the topology as the design says. At start it uses
 * its stored topology, else the newest one other nodes tell it, else version 1 from cluster.yml
 * (standby nodes left out). The manager persists a version before its listeners hear of it,
 * only moves forward, fetches an adopted version once however many ask (single-flight),
 * rejects with `stale_ring` or `unavailable` when it cannot, adopts what the Raft group
 * applies, and advertises its version in gossip and follows newer advertised ones. Method: the
 * store and manager over an in-memory storage engine, a scripted fake peer transport, a fake
 * Raft group and gossip, and the real clock with short delays (every wait is a promise).
 */

import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../src/config/load.js'
import { SystemClock } from '../../../src/env/clock.js'
import { MurmurError } from '../../../src/env/errors.js'
import { createLogger } from '../../../src/env/log.js'
import type { PeerTransport } from '../../../src/env/transport.js'
import type { MemberSnapshot } from '../../../src/membership/member.js'
import type { TopologyState } from '../../../src/raft/machine/commands.js'
import type { Topology } from '../../../src/ring/topology.js'
import {
  commitRecord,
  finishRecord,
  planChange,
  topologyToRecord,
} from '../../../src/ring/topology-plan.js'
import { PeerRouter } from '../../../src/runtime/peer-router.js'
import type { MetadataGroup } from '../../../src/runtime/topology/group.js'
import { RING_VERSION_META, TopologyManager } from '../../../src/runtime/topology/manager.js'
import { topologyAnswer } from '../../../src/runtime/topology/messages.js'
import { initialTopologyFor, planOptionsFor } from '../../../src/runtime/topology/settings.js'
import { loadTopology, startTopology } from '../../../src/runtime/topology/store.js'
import { MemoryEngine } from '../../../src/storage/memory.js'

const CONFIG = parseConfig(`
nodes:
  - { id: n1 }
  - { id: n2 }
  - { id: n3 }
  - { id: n4, standby: true }
keyspaces:
  default: { replicas: 3 }
ring: { partitions: 16 }
topology: { startWaitMs: 500, fetchTimeoutMs: 200 }
`)
const LOG = createLogger('silent', () => {})
const V1 = initialTopologyFor(CONFIG)
const planned = planChange(V1, [{ action: 'join', node: 'n4' }], planOptionsFor(CONFIG))
if (!planned.ok) throw new Error('plan failed')
const V2 = commitRecord(V1, planned.plan.next)
const V3 = finishRecord(V2)

/** A peer transport whose answers come from `answer(to)`; counts requests. */
function peersAnswering(answer: (to: string) => Topology | MurmurError): PeerTransport & {
  requests: string[]
} {
  const requests: string[] = []
  return {
    localId: 'n1',
    requests,
    request: async (to) => {
      requests.push(to)
      const result = answer(to)
      if (result instanceof MurmurError) throw result
      return topologyAnswer(result)
    },
    notify: () => {},
    setHandler: () => {},
    onLinkLost: () => {},
    close: async () => {},
  }
}

const unreachable = (to: string) =>
  new MurmurError('unavailable', `peer ${to} is unreachable`, { definite: true })

function fakeGroup(state?: TopologyState) {
  let listener: ((state: TopologyState) => void) | undefined
  const group: MetadataGroup = {
    isMember: state !== undefined,
    isLeader: () => false,
    command: async () => ({ ok: false, code: 'invalid_command' }),
    topologyState: () => state,
    setTopologyListener: (next) => {
      listener = next
    },
  }
  return { group, apply: (next: TopologyState) => listener?.(next) }
}

function managerWith(peers: PeerTransport, storage = new MemoryEngine(), state?: TopologyState) {
  const { group, apply } = fakeGroup(state)
  const manager = new TopologyManager({
    config: CONFIG,
    selfId: 'n1',
    clock: new SystemClock(),
    storage,
    peers,
    router: new PeerRouter(),
    log: LOG,
    group,
    initial: V1,
  })
  return { manager, storage, apply }
}

const start = (peers: PeerTransport, storage: MemoryEngine) =>
  startTopology({
    config: CONFIG,
    selfId: 'n1',
    clock: new SystemClock(),
    storage,
    peers,
    log: LOG,
  })

describe('the topology at start', () => {
  it('is version 1 from cluster.yml without the standby node when nobody answers', async () => {
    const storage = new MemoryEngine()
    const topology = await start(peersAnswering(unreachable), storage)
    expect(topology.version).toBe(1)
    expect(topology.current.nodes.map((node) => node.id)).toEqual(['n1', 'n2', 'n3'])
    expect((await loadTopology(storage))?.version).toBe(1)
  })

  it('is the newest one other nodes tell, stored', async () => {
    const storage = new MemoryEngine()
    const peers = peersAnswering((to) => (to === 'n3' ? V3 : to === 'n2' ? V2 : unreachable(to)))
    const topology = await start(peers, storage)
    expect(topology.version).toBe(3)
    expect(peers.requests.sort()).toEqual(['n2', 'n3', 'n4'])
    expect((await loadTopology(storage))?.version).toBe(3)
  })

  it('is the stored one, without asking anybody', async () => {
    const storage = new MemoryEngine()
    await start(
      peersAnswering(() => V2),
      storage,
    )
    const peers = peersAnswering(() => V3)
    expect((await start(peers, storage)).version).toBe(2)
    expect(peers.requests).toEqual([])
  })
})

describe('the topology manager', () => {
  it('persists a version before its listeners hear of it, once, moving forward only', async () => {
    const peers = peersAnswering(() => V3)
    const { manager, storage } = managerWith(peers)
    const heard: [number, number | undefined][] = []
    manager.onChange((topology, previous) => {
      heard.push([topology.version, previous.version])
      loadTopology(storage).then((stored) => expect(stored?.version).toBe(topology.version))
    })
    await Promise.all([manager.adopt(3, 'n2'), manager.adopt(3, 'n2'), manager.adopt(2, 'n3')])
    expect(peers.requests).toEqual(['n2'])
    expect(manager.topology().version).toBe(3)
    expect((await loadTopology(storage))?.version).toBe(3)
    await manager.install(V2, 'late')
    expect(manager.topology().version).toBe(3)
    expect(heard).toEqual([[3, 1]])
  })

  it('rejects with stale_ring when the peer acts on an older version', async () => {
    const { manager } = managerWith(peersAnswering(() => V2))
    await expect(manager.adopt(3, 'n2')).rejects.toMatchObject({
      code: 'stale_ring',
      details: { version: 1 },
    })
  })

  it('rejects with unavailable when the peer cannot be reached', async () => {
    const peers = peersAnswering(unreachable)
    const { manager } = managerWith(peers)
    await expect(manager.adopt(2, 'n2')).rejects.toMatchObject({ code: 'unavailable' })
    expect(peers.requests.length).toBeGreaterThan(1)
    expect(peers.requests.length).toBeLessThanOrEqual(3)
  })

  it('adopts what the Raft group applies, and from its applied state first', async () => {
    const record = topologyToRecord(V2)
    const peers = peersAnswering(unreachable)
    const { manager, apply } = managerWith(peers, new MemoryEngine(), {
      record,
      staged: [],
      stagedRevision: 0,
    })
    await manager.adopt(2, 'n2')
    expect(manager.topology().version).toBe(2)
    expect(peers.requests).toEqual([])
    const changed = new Promise<number>((resolve) =>
      manager.onChange((topology) => resolve(topology.version)),
    )
    apply({ record: topologyToRecord(V3), staged: [], stagedRevision: 0 })
    expect(await changed).toBe(3)
  })

  it('advertises its version in gossip and follows newer advertised ones', async () => {
    const { manager } = managerWith(peersAnswering(() => V2))
    const advertised: string[] = []
    let onEvent: ((event: { member: MemberSnapshot }) => void) | undefined
    manager.start({
      updateMeta: (changes) => advertised.push(changes[RING_VERSION_META] ?? ''),
      onEvent: (listener) => {
        onEvent = listener
        return () => {}
      },
      members: () => [],
    })
    const changed = new Promise<number>((resolve) =>
      manager.onChange((topology) => resolve(topology.version)),
    )
    onEvent?.({
      member: {
        id: 'n2',
        state: 'alive',
        incarnation: 1,
        address: 'x',
        meta: { [RING_VERSION_META]: '2' },
        stateChangedMs: 0,
      } as MemberSnapshot,
    })
    expect(await changed).toBe(2)
    manager.stop()
    expect(advertised).toEqual(['1', '2'])
  })
})
