/**
 * Goal: the CRDT dispatch merges only states of one type, reports a type mismatch as a typed
 * result, reports whether a merge changed the stored state, and keeps the record format
 * (type tags, `[tag, state]`, exact byte size) stable.
 *
 * Method: examples over each type and each pairing of types, plus a fast-check round trip of
 * random reachable states through the tagged record form.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CRDT_TYPE_TAGS,
  type Crdt,
  counterOf,
  crdtByteSize,
  crdtEquals,
  decodeCrdt,
  emptyCrdt,
  encodeCrdt,
  isCrdtType,
  mergeCrdt,
  Orswot,
  PnCounter,
  setOf,
} from '../../../src/crdt/index.js'
import { decode as decodeMsgpack, encode as encodeMsgpack } from '../../../src/wire/codec.js'
import { ACTORS, orswotType, pnCounterType, quiesce, worldArbitrary } from './worlds.js'

const [alice, bob] = ACTORS
const counterState = PnCounter.increment(PnCounter.empty(), alice, 5)
const counter: Crdt = { type: 'counter', state: counterState }
const set: Crdt = { type: 'set', state: Orswot.add(Orswot.empty(), alice, 'x') }

describe('CRDT dispatch', () => {
  it('keeps the record type tags fixed', () => {
    expect(CRDT_TYPE_TAGS).toEqual({ counter: 1, set: 2 })
    expect(isCrdtType('counter')).toBe(true)
    expect(isCrdtType('map')).toBe(false)
  })

  it('merges states of one type and says whether the stored state changed', () => {
    const newer: Crdt = { type: 'counter', state: PnCounter.increment(counterState, bob, 2) }
    const grown = mergeCrdt(counter, newer)
    expect(grown.ok && grown.changed).toBe(true)
    expect(grown.ok && grown.crdt.type === 'counter' && PnCounter.value(grown.crdt.state)).toBe(7)
    const same = mergeCrdt(newer, counter)
    expect(same).toEqual({ ok: true, crdt: newer, changed: false })
    const setGrown = mergeCrdt(set, { type: 'set', state: Orswot.add(Orswot.empty(), bob, 'y') })
    expect(setGrown.ok && setGrown.changed).toBe(true)
    expect(mergeCrdt(set, set)).toEqual({ ok: true, crdt: set, changed: false })
  })

  it('reports a type mismatch instead of merging', () => {
    expect(mergeCrdt(counter, set)).toEqual({
      ok: false,
      code: 'type_mismatch',
      storedType: 'counter',
      requestedType: 'set',
    })
    expect(counterOf(set)).toEqual({
      ok: false,
      code: 'type_mismatch',
      storedType: 'set',
      requestedType: 'counter',
    })
    expect(setOf(counter).ok).toBe(false)
    expect(crdtEquals(counter, set)).toBe(false)
  })

  it('hands out the stored state or an empty one for a new key', () => {
    expect(counterOf(undefined)).toEqual({ ok: true, state: PnCounter.empty() })
    expect(setOf(undefined)).toEqual({ ok: true, state: Orswot.empty() })
    expect(counterOf(counter)).toEqual({ ok: true, state: counter.state })
    expect(setOf(set)).toEqual({ ok: true, state: set.state })
    expect(crdtEquals(emptyCrdt('set'), { type: 'set', state: Orswot.empty() })).toBe(true)
    expect(emptyCrdt('counter').type).toBe('counter')
  })

  it('round-trips tagged records with an exact byte size', () => {
    const reachable = fc.oneof(
      worldArbitrary(pnCounterType).map(
        (world): Crdt => ({
          type: 'counter',
          state: quiesce(PnCounter, world.replicas)[0] ?? PnCounter.empty(),
        }),
      ),
      worldArbitrary(orswotType).map(
        (world): Crdt => ({
          type: 'set',
          state: quiesce(Orswot, world.replicas)[0] ?? Orswot.empty(),
        }),
      ),
    )
    fc.assert(
      fc.property(reachable, (crdt) => {
        const bytes = encodeMsgpack(encodeCrdt(crdt))
        expect(crdtByteSize(crdt)).toBe(bytes.length)
        const decoded = decodeCrdt(decodeMsgpack(bytes), 'corrupt_record')
        expect(decoded.type).toBe(crdt.type)
        expect(crdtEquals(decoded, crdt)).toBe(true)
        expect(encodeCrdt(decoded)[0]).toBe(CRDT_TYPE_TAGS[crdt.type])
      }),
      { numRuns: 100 },
    )
  })
})
