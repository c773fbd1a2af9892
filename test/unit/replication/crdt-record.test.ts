/**
 * Goal: records carry counter and set sub-states through the wire and disk formats, merge
 * them as lattices beside the plain value, never reap them, and the CRDT write strategy
 * refuses another type, replays a held keyed update, refuses a reused key, applies a set's
 * removes then adds atomically and enforces the set bound; forwarded CRDT updates decode
 * strictly. Method: direct calls on small hand-built records and messages.
 */

import { describe, expect, it } from 'vitest'
import * as Orswot from '../../../src/crdt/orswot.js'
import * as ReplicatedCounter from '../../../src/crdt/replicated-counter.js'
import {
  decodeCrdtCoordinate,
  encodeCrdtCoordinate,
} from '../../../src/replication/crdt-messages.js'
import { applyCrdtUpdate, type CrdtUpdate } from '../../../src/replication/crdt-update.js'
import {
  decodeKeyRecord,
  encodeKeyRecord,
  isEmptyRecord,
  type KeyRecord,
  type KvPayload,
  mergeRecords,
  recordsEqual,
  recordTypes,
  tombstoneTimeMs,
} from '../../../src/replication/record.js'
import { emptyVersioned, update } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'
import { decode, encode } from '../../../src/wire/codec.js'

const ENVIRONMENT = {
  actor: 'n1.e.1',
  wallMs: 1000,
  policy: { windowMs: 60_000, entriesMax: 10 },
  setElementsMax: 3,
}

function counter(amount: number, id?: string): CrdtUpdate {
  return { operation: { type: 'counter', amount }, id }
}

function setUpdate(add: string[], remove: string[] = [], id?: string): CrdtUpdate {
  return { operation: { type: 'set', add, remove, context: undefined }, id }
}

function apply(record: KeyRecord, change: CrdtUpdate, actor = ENVIRONMENT.actor): KeyRecord {
  return applyCrdtUpdate(record, change, { ...ENVIRONMENT, actor }).record
}

describe('records with CRDT sub-states', () => {
  it('round-trip through msgpack and merge field by field', () => {
    const left = apply(apply({}, counter(3)), counter(4, 'k.a'))
    const right = apply({}, counter(-1), 'n2.e.1')
    const merged = mergeRecords(left, right)
    expect(ReplicatedCounter.value(merged.counter ?? ReplicatedCounter.empty())).toBe(6)
    expect(recordsEqual(mergeRecords(right, left), merged)).toBe(true)
    const wire = decode(encode(encodeKeyRecord(merged)))
    for (const code of ['invalid_request', 'corrupt_record'] as const) {
      expect(recordsEqual(decodeKeyRecord(wire, code), merged)).toBe(true)
    }
    expect(() => decodeKeyRecord({ c: [[[], []], [], []], x: 1 }, 'corrupt_record')).toThrow(
      /unknown record field/,
    )
    expect(isEmptyRecord(merged)).toBe(false)
    expect(recordTypes(merged)).toEqual(['counter'])
  })

  it('are never reaped, even beside a deleted plain value', () => {
    const tombstone = update(emptyVersioned<KvPayload>(), EMPTY_VECTOR, 'n1.e', {
      kind: 'tombstone' as const,
      deletedAtMs: 5,
    }).versioned
    expect(tombstoneTimeMs({ kv: tombstone })).toBe(5)
    expect(tombstoneTimeMs(apply({ kv: tombstone }, counter(1)))).toBeUndefined()
  })
})

describe('the CRDT write strategy', () => {
  it('refuses another type, replays a held keyed update and refuses a reused key', () => {
    const set = apply({}, setUpdate(['a']))
    expect(() => apply(set, counter(1))).toThrow(expect.objectContaining({ code: 'type_mismatch' }))
    const once = apply({}, counter(2, 'key.one'))
    const replay = applyCrdtUpdate(once, counter(2, 'key.one'), ENVIRONMENT)
    expect(replay).toMatchObject({ changed: false, replayed: true })
    expect(() => apply(once, counter(3, 'key.two'))).toThrow(
      expect.objectContaining({
        code: 'idempotency_conflict',
        details: { reason: 'idempotency_key_reused' },
      }),
    )
  })

  it('applies removes, then adds, all or nothing, within the set bound', () => {
    const base = apply({}, setUpdate(['a', 'b']))
    const both = apply(base, setUpdate(['a'], ['a', 'b']))
    expect(Orswot.value(both.set?.set ?? Orswot.empty())).toEqual(['a'])
    expect(() => apply(base, setUpdate(['c'], ['zz']))).toThrow(
      expect.objectContaining({ code: 'precondition_failed' }),
    )
    expect(() => apply(base, setUpdate(['c', 'd']))).toThrow(
      expect.objectContaining({ code: 'value_too_large' }),
    )
    const keyed = apply(base, setUpdate(['c'], [], 'add.c'))
    expect(applyCrdtUpdate(keyed, setUpdate(['c'], [], 'add.c'), ENVIRONMENT).replayed).toBe(true)
  })
})

describe('crdt.coordinate messages', () => {
  const limits = {
    keyBytesMax: 64,
    valueBytesMax: 1024,
    replicasMax: 7,
    listPageMax: 100,
    setElementBytesMax: 4,
    elementsPerUpdateMax: 2,
  }
  const base = { keyspace: 'default', key: 'k', w: 2, pw: 0, timeoutMs: 100 }

  it('round-trips counter and set updates', () => {
    for (const change of [counter(-3, 'a.b'), setUpdate(['x'], ['y'])]) {
      const body = decode(encode(encodeCrdtCoordinate({ ...base, update: change }))) as Record<
        string,
        unknown
      >
      expect(decodeCrdtCoordinate(body, limits).update).toEqual(change)
    }
  })

  it.each([
    [{ amount: 0 }],
    [{ amount: 1.5 }],
    [{ add: ['toolong'], remove: [] }],
    [{ add: ['a', 'b', 'c'], remove: [] }],
    [{ add: [], remove: [] }],
    [{ amount: 1, extra: true }],
    [{ amount: 1, id: 'x'.repeat(65) }],
  ])('refuses %j', (fields) => {
    const body = { type: 'crdt.coordinate', ...base, id: null, context: null, ...fields }
    if ('amount' in fields) Reflect.deleteProperty(body, 'context')
    expect(() => decodeCrdtCoordinate(body, limits)).toThrow(
      expect.objectContaining({ code: 'invalid_request' }),
    )
  })
})
