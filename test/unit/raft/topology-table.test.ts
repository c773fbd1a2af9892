/**
 * Goal: the strong state machine stores the cluster's topology metadata as the design says:
 * `topology.cas` applies iff the stored version (1 when none) is the expected one, so each
 * version is written once; a commit conditioned on the staged revision consumes the staged
 * list; staging is conditioned on its revision; `topology.read` answers the state; snapshots
 * carry all of it and tell the listener. Method: encoded proposals applied at consecutive
 * indexes to fresh machines, results and state inspected; a snapshot restored into a second
 * machine is compared by its encoding; untrusted commands are rejected by the parser.
 */

import { describe, expect, it } from 'vitest'
import {
  type Command,
  type CommandResult,
  decodeProposal,
  encodeProposal,
  parseResult,
  type TopologyState,
} from '../../../src/raft/machine/commands.js'
import { StrongStateMachine } from '../../../src/raft/machine/state-machine.js'
import type { Topology } from '../../../src/ring/topology.js'
import {
  commitRecord,
  finishRecord,
  initialTopology,
  planChange,
  topologyToRecord,
} from '../../../src/ring/topology-plan.js'
import { encode } from '../../../src/wire/codec.js'

const LIMITS = { stateBytesMax: 1024 * 1024, requestIdsMax: 16, requestIdTtlMs: 10_000 }
const CANDIDATES = ['n1', 'n2', 'n3', 'n4'].map((id) => ({ id, zone: '' }))
const V1 = initialTopology(CANDIDATES.slice(0, 3), { partitionCount: 16, replicaSlots: 3 })

function planned(): Topology {
  const result = planChange(V1, [{ action: 'join', node: 'n4' }], {
    candidates: CANDIDATES,
    replicasMax: 3,
    replicaSlots: 3,
  })
  if (!result.ok) throw new Error('plan failed')
  return commitRecord(V1, result.plan.next)
}

function machine() {
  const state = new StrongStateMachine(LIMITS)
  const seen: TopologyState[] = []
  state.topology.setListener((topology) => seen.push(topology))
  return {
    state,
    seen,
    run(command: Command, requestId?: string): CommandResult {
      const proposal =
        requestId === undefined ? { command, stampMs: 1000 } : { command, stampMs: 1000, requestId }
      return state.apply(state.appliedIndex + 1, encodeProposal(proposal))
    },
  }
}

const cas = (expectedVersion: number, topology: Topology, stagedRevision?: number): Command => ({
  type: 'topology.cas',
  expectedVersion,
  record: topologyToRecord(topology),
  ...(stagedRevision === undefined ? {} : { stagedRevision }),
})

describe('topology.cas', () => {
  it('applies iff the stored version is the expected one', () => {
    const m = machine()
    const moving = planned()
    expect(m.run(cas(2, finishRecord(moving)))).toEqual({
      ok: false,
      code: 'precondition_failed',
      currentVersion: 1,
    })
    expect(m.run(cas(1, moving))).toEqual({ ok: true, version: 2 })
    // A second commit from version 1 (a concurrent one) is refused: version 2 exists once.
    expect(m.run(cas(1, moving))).toEqual({
      ok: false,
      code: 'precondition_failed',
      currentVersion: 2,
    })
    expect(m.run(cas(2, finishRecord(moving)))).toEqual({ ok: true, version: 3 })
    expect(m.state.topology.version).toBe(3)
    expect(m.seen.map((state) => state.record?.version)).toEqual([2, 3])
  })

  it('consumes the staged list it planned, and only that one', () => {
    const m = machine()
    const staged = m.run({
      type: 'topology.stage',
      expectedRevision: 0,
      changes: [{ action: 'join', node: 'n4' }],
    })
    expect(staged).toEqual({ ok: true, version: 1 })
    // Someone staged again meanwhile: a commit planned on revision 1 sees revision 2.
    m.run({
      type: 'topology.stage',
      expectedRevision: 1,
      changes: [{ action: 'join', node: 'n4' }],
    })
    expect(m.run(cas(1, planned(), 1))).toMatchObject({ ok: false, code: 'precondition_failed' })
    expect(m.run(cas(1, planned(), 2))).toEqual({ ok: true, version: 2 })
    expect(m.state.topology.state().staged).toEqual([])
  })

  it('refuses a record whose version is not expectedVersion + 1', () => {
    const bad = { command: cas(1, finishRecord(planned())), stampMs: 1 }
    expect(() => decodeProposal(encode(bad))).toThrow(/expectedVersion \+ 1/)
  })

  it('refuses a malformed record as an invalid command', () => {
    const m = machine()
    const record = { ...topologyToRecord(planned()), current: { version: 1 } }
    const data = encode({
      command: { type: 'topology.cas', expectedVersion: 1, record },
      stampMs: 1,
    })
    expect(m.state.apply(1, data)).toEqual({ ok: false, code: 'invalid_command' })
  })
})

describe('topology.stage and topology.read', () => {
  it('stages conditioned on the revision and reads the state', () => {
    const m = machine()
    const change = { action: 'replace', node: 'n1', with: 'n4' } as const
    expect(m.run({ type: 'topology.stage', expectedRevision: 5, changes: [change] })).toEqual({
      ok: false,
      code: 'precondition_failed',
      currentVersion: 0,
    })
    m.run({ type: 'topology.stage', expectedRevision: 0, changes: [change] })
    const read = m.run({ type: 'topology.read' }, 'reader-1')
    expect(read).toEqual({
      ok: true,
      topology: { record: null, staged: [change], stagedRevision: 2 },
    })
    // The result survives the trip a forwarded answer takes.
    expect(parseResult(JSON.parse(JSON.stringify(read)))).toEqual(read)
    // Reads are not remembered for deduplication.
    expect(m.state.requestIdsHeld).toBe(0)
  })
})

describe('snapshots', () => {
  it('carry the record and staged list, and tell the listener', () => {
    const m = machine()
    m.run(cas(1, planned()))
    m.run({
      type: 'topology.stage',
      expectedRevision: 0,
      changes: [{ action: 'leave', node: 'n1' }],
    })
    const data = m.state.snapshot()
    const copy = machine()
    copy.state.restore(data, m.state.appliedIndex)
    expect(copy.state.snapshot()).toEqual(data)
    expect(copy.state.topology.state()).toEqual(m.state.topology.state())
    expect(copy.seen.at(-1)?.record?.version).toBe(2)
    expect(copy.state.bytes).toBe(m.state.bytes)
  })

  it('restore a snapshot without a topology section as the empty state', () => {
    const copy = machine()
    copy.state.restore(new Uint8Array(), 0)
    expect(copy.state.topology.state()).toEqual({ record: null, staged: [], stagedRevision: 0 })
    expect(copy.state.topology.version).toBe(1)
  })
})
