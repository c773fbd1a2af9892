/**
 * Goal: the witness rules hold. A witness keeps the causal state of a key with digests instead
 * of values (tombstones and CRDT states as they are); records in both forms merge as a join
 * that keeps values; a write needs a full acknowledgement; a read is served only when a full
 * copy answered and no write a witness reports lacks its value, asking held-back full replicas
 * before giving up; plans promote a witness only when no fallback can stand in; every primary,
 * witnesses included, coordinates its writes, a coordinating witness keeps the value in custody
 * for a full primary, and its write is acknowledged only once a full copy holds it.
 * Method: worked examples for each rule, then fast-check properties: the merge laws over
 * records in random forms, and a model of three replicas (two full, one witness) receiving
 * random writes, against which random quorum reads must return every write an answering
 * replica holds, or refuse.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as ReplicatedCounter from '../../../src/crdt/replicated-counter.js'
import {
  chooseCoordinator,
  isWitnessTarget,
  type PartitionOrder,
  planFromOrder,
  type ReplicaPlan,
  witnessCustody,
} from '../../../src/replication/plan.js'
import { ReadTally, WriteTally } from '../../../src/replication/quorum.js'
import {
  DIGEST_BYTES,
  decodeKeyRecord,
  EMPTY_RECORD,
  encodeKeyRecord,
  type KeyRecord,
  type KvPayload,
  kvState,
  mergeRecords,
  recordsEqual,
} from '../../../src/replication/record.js'
import {
  digestOf,
  holdsDigests,
  holdsValues,
  isComplete,
  witnessForm,
} from '../../../src/replication/witness.js'
import { targetsNeeded } from '../../../src/runtime/kv/coordinator.js'
import { contextCovers } from '../../../src/versioning/dot-context.js'
import { update } from '../../../src/versioning/dvv.js'
import type { Dot } from '../../../src/versioning/version-vector.js'
import { decode, encode } from '../../../src/wire/codec.js'

const value = (text: string): KvPayload => ({
  kind: 'value',
  value: new TextEncoder().encode(text),
  contentType: 'text/plain',
})
const tombstone: KvPayload = { kind: 'tombstone', deletedAtMs: 1_800_000_000_000 }

/** A full replica's write of `payload` by `actor`, seeing what `seen` holds. */
function write(local: KeyRecord, seen: KeyRecord, actor: string, payload: KvPayload) {
  const { versioned, dot } = update(kvState(local), kvState(seen).clock, actor, payload)
  return { record: { ...local, kv: versioned }, dot }
}

function throughWire(record: KeyRecord): KeyRecord {
  return decodeKeyRecord(decode(encode(encodeKeyRecord(record))), 'corrupt_record')
}

describe('the witness form', () => {
  const first = write(EMPTY_RECORD, EMPTY_RECORD, 'n1.a', value('hello')).record
  const record = write(first, EMPTY_RECORD, 'n2.b', tombstone).record

  it('keeps clock, dots and tombstones, replacing each value by its digest', () => {
    const witness = witnessForm(record)
    expect(kvState(witness).clock).toEqual(kvState(record).clock)
    const [digest, deleted] = kvState(witness).siblings.map((sibling) => sibling.payload)
    expect(digest).toEqual(digestOf({ kind: 'value', ...valueParts('hello') }))
    expect(digest?.kind === 'digest' && digest.digest.length).toBe(DIGEST_BYTES)
    expect(digest?.kind === 'digest' && digest.valueBytes).toBe(5)
    expect(deleted).toEqual(tombstone)
    expect(holdsValues(witness)).toBe(false)
    expect(holdsDigests(witness)).toBe(true)
    expect(witnessForm(witness)).toBe(witness)
    expect(recordsEqual(throughWire(witness), witness)).toBe(true)
  })

  it('tells one value from another and keeps CRDT states whole', () => {
    const other = digestOf({ kind: 'value', ...valueParts('hellO') })
    expect(other).not.toEqual(digestOf({ kind: 'value', ...valueParts('hello') }))
    const counter = ReplicatedCounter.update(ReplicatedCounter.empty(), 'n1.a.1', 5)
    const mixed: KeyRecord = { ...record, counter }
    expect(witnessForm(mixed).counter).toBe(counter)
  })

  it('compares forms: a witness record is not equal to the full record it mirrors', () => {
    expect(recordsEqual(witnessForm(record), record)).toBe(false)
    expect(recordsEqual(witnessForm(record), witnessForm(record))).toBe(true)
    // A full replica that merges a witness record keeps its values.
    expect(recordsEqual(mergeRecords(record, witnessForm(record)), record)).toBe(true)
    expect(recordsEqual(mergeRecords(witnessForm(record), record), record)).toBe(true)
  })

  it('refuses a digest of the wrong size', () => {
    const wire = encodeKeyRecord(witnessForm(first)) as { kv: [unknown, [unknown, unknown][]] }
    const sibling = wire.kv[1][0] as [unknown, unknown[]]
    sibling[1] = [2, new Uint8Array(3), 5]
    expect(() => decodeKeyRecord(wire, 'invalid_request')).toThrow(/digest/)
  })
})

function valueParts(text: string) {
  return { value: new TextEncoder().encode(text), contentType: 'text/plain' }
}

/** Random records that share dots: each dot's payload is fixed by the dot, as in a cluster. */
const recordsArbitrary = fc
  .array(fc.tuple(fc.constantFrom('n1.a', 'n2.b'), fc.boolean(), fc.nat(3)), { maxLength: 8 })
  .map((steps) => {
    const states: KeyRecord[] = [EMPTY_RECORD, EMPTY_RECORD, EMPTY_RECORD]
    steps.forEach(([actor, overwrite, target], index) => {
      const at = actor === 'n1.a' ? 0 : 1
      const seen = overwrite ? (states[at] as KeyRecord) : EMPTY_RECORD
      const payload = index % 4 === 3 ? tombstone : value(`${actor}:${index}`)
      const minted = write(states[at] as KeyRecord, seen, actor, payload).record
      states[at] = minted
      const other = target % 3
      states[other] = mergeRecords(states[other] as KeyRecord, minted)
    })
    return states
  })

describe('merging full and witness records', () => {
  it('is a commutative, associative, idempotent join whatever the forms', () => {
    fc.assert(
      fc.property(
        recordsArbitrary,
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        (states, forms) => {
          const [a, b, c] = states.map((state, index) =>
            forms[index] === true ? witnessForm(state) : state,
          ) as [KeyRecord, KeyRecord, KeyRecord]
          expect(recordsEqual(mergeRecords(a, b), mergeRecords(b, a))).toBe(true)
          expect(
            recordsEqual(mergeRecords(mergeRecords(a, b), c), mergeRecords(a, mergeRecords(b, c))),
          ).toBe(true)
          expect(recordsEqual(mergeRecords(a, a), a)).toBe(true)
        },
      ),
    )
  })

  it('commutes with the witness form: a witness that merges ends where a full replica does', () => {
    fc.assert(
      fc.property(recordsArbitrary, ([a, b]) => {
        const full = mergeRecords(a as KeyRecord, b as KeyRecord)
        const witness = mergeRecords(witnessForm(a as KeyRecord), witnessForm(b as KeyRecord))
        expect(recordsEqual(witnessForm(full), witness)).toBe(true)
      }),
    )
  })
})

const WITNESS_PLAN: ReplicaPlan = {
  partition: 0,
  primaries: ['a', 'b', 'w'],
  witnesses: ['w'],
  targets: [
    { node: 'a', hintFor: undefined },
    { node: 'b', hintFor: undefined },
    { node: 'w', hintFor: undefined },
  ],
  spares: [],
}

describe('write and read rules', () => {
  it('needs a full acknowledgement for a write', () => {
    const tally = new WriteTally(WITNESS_PLAN, { total: 1, primaries: 0 })
    tally.acknowledge('w')
    expect(tally.quorum.outcome).toBe('pending')
    tally.fail('a', true)
    tally.fail('b', true)
    expect(tally.quorum.outcome).toBe('unreachable')
    expect(tally.failure().fullAcknowledged).toBe(0)
    const met = new WriteTally(WITNESS_PLAN, { total: 2, primaries: 0 })
    met.acknowledge('w')
    met.acknowledge('b')
    expect(met.quorum.outcome).toBe('met')
  })

  it('does not count a planned full replica that kept metadata only as the full copy', () => {
    // During a rolling change of roles, b may take itself for a witness of the key.
    const tally = new WriteTally(WITNESS_PLAN, { total: 2, primaries: 0 })
    tally.acknowledge('w')
    tally.acknowledge('b', false)
    expect(tally.quorum.outcome).toBe('pending')
    expect(tally.failure().fullAcknowledged).toBe(0)
    tally.acknowledge('a')
    expect(tally.quorum.outcome).toBe('met')
    expect(tally.failure().fullAcknowledged).toBe(1)
  })

  it('asks a held-back full replica when a witness reports a write the answers miss', () => {
    const old = write(EMPTY_RECORD, EMPTY_RECORD, 'n1.a', value('old')).record
    const fresh = write(old, old, 'n1.a', value('new')).record
    const tally = new ReadTally(
      { ...WITNESS_PLAN, targets: [...WITNESS_PLAN.targets].reverse() },
      { total: 2, primaries: 0 },
      2,
    )
    tally.answer('w', witnessForm(fresh))
    tally.answer('b', old)
    expect(tally.quorum.outcome).toBe('met')
    expect(tally.outcome).toBe('stale')
    expect(tally.more()).toEqual([{ node: 'a', hintFor: undefined }])
    expect(tally.outcome).toBe('pending')
    expect(tally.more()).toEqual([])
    tally.answer('a', fresh)
    expect(tally.outcome).toBe('met')
    expect(recordsEqual(tally.merged(), fresh)).toBe(true)
    expect(tally.staleTargets()).toEqual([
      { target: { node: 'b', hintFor: undefined }, record: tally.merged() },
    ])
  })

  it('refuses a read when no full replica holds what the witness reports', () => {
    const old = write(EMPTY_RECORD, EMPTY_RECORD, 'n1.a', value('old')).record
    const fresh = write(old, old, 'n1.a', value('new')).record
    const tally = new ReadTally(WITNESS_PLAN, { total: 2, primaries: 0 })
    tally.answer('w', witnessForm(fresh))
    tally.answer('b', old)
    tally.answer('a', EMPTY_RECORD)
    expect(tally.more()).toEqual([])
    expect(tally.outcome).toBe('stale')
    expect(tally.complete).toBe(false)
  })

  it('serves a tombstone only the witness holds: it is a whole payload', () => {
    const live = write(EMPTY_RECORD, EMPTY_RECORD, 'n1.a', value('x')).record
    const deleted = write(live, live, 'n1.a', tombstone).record
    const tally = new ReadTally(WITNESS_PLAN, { total: 2, primaries: 0 })
    tally.answer('a', live)
    tally.answer('w', deleted)
    expect(tally.outcome).toBe('met')
    expect(isComplete(tally.merged(), 1)).toBe(true)
    expect(isComplete(tally.merged(), 0)).toBe(false)
  })

  it('takes a value a former full replica still holds as a witness, but needs a full answer', () => {
    const fresh = write(EMPTY_RECORD, EMPTY_RECORD, 'n1.a', value('kept')).record
    const tally = new ReadTally(WITNESS_PLAN, { total: 2, primaries: 0 })
    tally.answer('w', fresh)
    expect(tally.outcome).toBe('pending')
    tally.answer('b', EMPTY_RECORD)
    expect(tally.outcome).toBe('met')
    expect(recordsEqual(tally.merged(), fresh)).toBe(true)
    expect(tally.staleTargets().map((stale) => stale.target.node)).toEqual(['b'])
  })

  it('fills a full replica that holds only digests (a former witness) by read repair', () => {
    const fresh = write(EMPTY_RECORD, EMPTY_RECORD, 'n1.a', value('v')).record
    const tally = new ReadTally({ ...WITNESS_PLAN, witnesses: [] }, { total: 2, primaries: 0 })
    tally.answer('a', witnessForm(fresh))
    expect(tally.more()).toEqual([])
    tally.answer('b', fresh)
    expect(tally.outcome).toBe('met')
    expect(tally.staleTargets()).toEqual([
      { target: { node: 'a', hintFor: undefined }, record: tally.merged() },
    ])
  })

  it('repairs a witness with the witness form of the merge, never with values', () => {
    const fresh = write(EMPTY_RECORD, EMPTY_RECORD, 'n1.a', value('v')).record
    const tally = new ReadTally(WITNESS_PLAN, { total: 3, primaries: 0 })
    tally.answer('a', fresh)
    tally.answer('b', fresh)
    tally.answer('w', EMPTY_RECORD)
    const [stale] = tally.staleTargets()
    expect(stale?.target.node).toBe('w')
    expect(stale !== undefined && holdsValues(stale.record)).toBe(false)
  })

  it('asks at least one full replica first', () => {
    const targets = [...WITNESS_PLAN.targets].reverse()
    expect(targetsNeeded(targets, { total: 1, primaries: 0 }, ['w'])).toBe(2)
    expect(targetsNeeded(targets, { total: 1, primaries: 0 })).toBe(1)
    expect(targetsNeeded(WITNESS_PLAN.targets, { total: 1, primaries: 0 }, ['w'])).toBe(1)
  })
})

/**
 * The model: replicas a and b are full, w is a witness. Writes are minted by a or b, each
 * reaching a random subset of replicas (the coordinator always); then a read at level r
 * answers from a random order of replicas. Whatever the order, the read either refuses or
 * returns every write any answering replica holds (as the value, or superseded).
 */
const modelArbitrary = fc.record({
  writes: fc.array(
    fc.record({
      coordinator: fc.constantFrom('a', 'b'),
      overwrite: fc.boolean(),
      reaches: fc.subarray(['a', 'b', 'w']),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  level: fc.integer({ min: 1, max: 3 }),
  order: fc.shuffledSubarray(['a', 'b', 'w'], { minLength: 3, maxLength: 3 }),
})

describe('reads against a model of three replicas', () => {
  it('never serve a state that misses a write an answering replica holds', () => {
    fc.assert(
      fc.property(modelArbitrary, ({ writes, level, order }) => {
        const states = new Map<string, KeyRecord>([
          ['a', EMPTY_RECORD],
          ['b', EMPTY_RECORD],
          ['w', EMPTY_RECORD],
        ])
        const held = new Map<string, Dot[]>([
          ['a', []],
          ['b', []],
          ['w', []],
        ])
        writes.forEach((step, index) => {
          const local = states.get(step.coordinator) as KeyRecord
          const minted = write(
            local,
            step.overwrite ? local : EMPTY_RECORD,
            step.coordinator,
            value(`${index}`),
          )
          for (const node of new Set([step.coordinator, ...step.reaches])) {
            const kept = node === 'w' ? witnessForm(minted.record) : minted.record
            states.set(node, mergeRecords(states.get(node) as KeyRecord, kept))
            held.get(node)?.push(minted.dot)
          }
        })
        const targets = order.map((node) => ({ node, hintFor: undefined }))
        const plan = { ...WITNESS_PLAN, targets }
        const tally = new ReadTally(
          plan,
          { total: level, primaries: 0 },
          targetsNeeded(targets, { total: level, primaries: 0 }, ['w']),
        )
        const queue = tally.quorum.targets().map((target) => target.node)
        for (let step = 0; step < 6 && queue.length > 0; step++) {
          const node = queue.shift() as string
          tally.answer(node, states.get(node) as KeyRecord)
          queue.push(...tally.more().map((target) => target.node))
        }
        const outcome = tally.outcome
        expect(outcome === 'met' || outcome === 'stale').toBe(true)
        if (outcome === 'stale') {
          expect(holdsDigests(tally.merged())).toBe(true)
          return
        }
        const merged = kvState(tally.merged())
        expect(holdsDigests(tally.merged())).toBe(false)
        for (const target of tally.quorum.succeeded()) {
          for (const dot of held.get(target.node) ?? []) {
            expect(contextCovers(merged.clock, dot)).toBe(true)
          }
        }
      }),
    )
  })
})

describe('plans with witnesses', () => {
  const order: PartitionOrder = {
    partition: 0,
    primaries: ['a', 'b', 'w'],
    witnesses: ['w'],
    fallbacks: ['f'],
  }
  const down = (...nodes: string[]) => ({ isUsable: (node: string) => !nodes.includes(node) })

  it('lets a fallback stand in for a down full primary, and promotes the witness without one', () => {
    expect(planFromOrder(order, down('a')).targets).toEqual([
      { node: 'f', hintFor: 'a' },
      { node: 'b', hintFor: undefined },
      { node: 'w', hintFor: undefined },
    ])
    const promoted = planFromOrder(order, down('a', 'f'))
    expect(promoted.targets).toEqual([
      { node: 'b', hintFor: undefined },
      { node: 'w', hintFor: 'a' },
    ])
    expect(isWitnessTarget({ node: 'w', hintFor: 'a' }, promoted.witnesses)).toBe(false)
    expect(isWitnessTarget({ node: 'f', hintFor: 'w' }, promoted.witnesses)).toBe(true)
    expect(planFromOrder(order, down('w', 'f')).targets).toHaveLength(2)
  })

  it('lets every primary coordinate, and forwards from other nodes to usable full primaries', () => {
    const plan = planFromOrder(order, down())
    expect(chooseCoordinator(plan, 'w', down())).toEqual({ kind: 'local' })
    expect(chooseCoordinator(plan, 'a', down())).toEqual({ kind: 'local' })
    expect(chooseCoordinator(plan, 'f', down())).toEqual({
      kind: 'forward',
      candidates: ['a', 'b'],
    })
    expect(chooseCoordinator(plan, 'f', down('a'))).toEqual({ kind: 'forward', candidates: ['b'] })
    expect(chooseCoordinator(plan, 'f', down('a', 'b'))).toEqual({ kind: 'local' })
  })

  it('makes a coordinating witness keep the value in custody for a full primary', () => {
    // All up: custody for the first full primary, released once a full copy holds the value.
    expect(witnessCustody(planFromOrder(order, down()), 'w', down())).toEqual({
      hintFor: 'a',
      promoted: false,
    })
    // A fallback stands in for b: custody names b, and the witness stays a witness target.
    const covered = planFromOrder(order, down('b'))
    expect(covered.targets).toContainEqual({ node: 'w', hintFor: undefined })
    expect(witnessCustody(covered, 'w', down('b'))).toEqual({ hintFor: 'b', promoted: false })
    // No fallback left for b: the witness is promoted and its hint stays until handed off.
    const promoted = planFromOrder(order, down('b', 'f'))
    expect(promoted.targets).toContainEqual({ node: 'w', hintFor: 'b' })
    expect(witnessCustody(promoted, 'w', down('b', 'f'))).toEqual({ hintFor: 'b', promoted: true })
    expect(planFromOrder(order, down('a', 'b')).targets).toEqual([
      { node: 'f', hintFor: 'a' },
      { node: 'w', hintFor: 'b' },
    ])
    // Full primaries and other nodes keep no custody.
    expect(witnessCustody(planFromOrder(order, down()), 'a', down())).toBeUndefined()
    expect(witnessCustody(planFromOrder(order, down('a')), 'f', down('a'))).toBeUndefined()
  })

  it('acknowledges a witness-coordinated write only once a full copy holds it', () => {
    // The witness coordinates: its own acknowledgement counts toward w and pw, never as full.
    const tally = new WriteTally(planFromOrder(order, down()), { total: 2, primaries: 2 })
    tally.acknowledge('w')
    tally.fail('a', false)
    expect(tally.quorum.outcome).toBe('pending')
    tally.acknowledge('f')
    expect(tally.quorum.outcome).toBe('pending')
    tally.acknowledge('b')
    expect(tally.quorum.outcome).toBe('met')
    expect(tally.quorum.counts()).toMatchObject({ primariesSucceeded: 2, fullSucceeded: 2 })
    const alone = new WriteTally(planFromOrder(order, down('a', 'b', 'f')), {
      total: 1,
      primaries: 0,
    })
    alone.acknowledge('w')
    // A promoted witness keeps the value, so it is a full copy on its own.
    expect(alone.quorum.outcome).toBe('met')
  })

  it('keeps plans of keyspaces without witnesses as they were', () => {
    const plain: PartitionOrder = { ...order, witnesses: [] }
    const plan = planFromOrder(plain, down('a', 'f'))
    expect(plan.targets).toEqual([
      { node: 'b', hintFor: undefined },
      { node: 'w', hintFor: undefined },
    ])
    expect(witnessCustody(plan, 'w', down('a', 'f'))).toBeUndefined()
    expect(chooseCoordinator(plan, 'f', down())).toEqual({
      kind: 'forward',
      candidates: ['a', 'b', 'w'],
    })
  })
})
