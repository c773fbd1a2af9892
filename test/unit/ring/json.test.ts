/**
 * Goal: a ring survives the plain-data form unchanged, and the decoder refuses anything that
 * is not a well-formed ring with MurmurError('invalid_request'). Method: round trips through
 * JSON and msgpack, then one targeted corruption per rule.
 */

import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import { type RingJson, ringFromUntrusted, ringToJson } from '../../../src/ring/json.js'
import { buildRing } from '../../../src/ring/ring.js'
import { decode, encode } from '../../../src/wire/codec.js'
import { makeNodes } from './fixtures.js'

const ring = buildRing(makeNodes(6, 3), { partitionCount: 64, replicaSlots: 3 })

function expectInvalid(value: unknown, message: RegExp): void {
  let caught: unknown
  try {
    ringFromUntrusted(value)
  } catch (error) {
    caught = error
  }
  expect(isMurmurError(caught, 'invalid_request')).toBe(true)
  expect(String((caught as Error).message)).toMatch(message)
}

function corrupted(change: (json: RingJson) => void): unknown {
  const json = structuredClone(ringToJson(ring))
  change(json)
  return json
}

describe('ringToJson / ringFromUntrusted', () => {
  it('round-trips through JSON text and msgpack', () => {
    const json = ringToJson(ring)
    expect(json.nodes[0]).toEqual(['node-00', 'z0'])
    expect(json.preferences[0]?.every((index) => Number.isInteger(index))).toBe(true)
    expect(ringFromUntrusted(JSON.parse(JSON.stringify(json)))).toEqual(ring)
    const packed = encode(json)
    expect(ringFromUntrusted(decode(packed))).toEqual(ring)
    console.log(`[ring] 6 nodes, 64 partitions, 3 slots: ${packed.length} bytes of msgpack`)
    expect(Object.isFrozen(ringFromUntrusted(json))).toBe(true)
  })

  it.each([
    ['a non-object', () => 'ring', /expected an object/],
    ['an array', () => [], /expected an object/],
    ['a fractional version', () => corrupted((json) => (json.version = 1.5)), /version/],
    ['version 0', () => corrupted((json) => (json.version = 0)), /version/],
    ['a bad partition count', () => corrupted((json) => (json.partitionCount = 63)), /partition/],
    [
      'a huge partition count',
      () => corrupted((json) => (json.partitionCount = 2 ** 20)),
      /partition/,
    ],
    ['nodes not an array', () => corrupted((json) => Object.assign(json, { nodes: {} })), /nodes/],
    [
      'a node without zone',
      () => corrupted((json) => Object.assign(json.nodes, { 0: ['x'] })),
      /\[id, zone\]/,
    ],
    [
      'a numeric node id',
      () => corrupted((json) => Object.assign(json.nodes, { 0: [1, 'z'] })),
      /strings/,
    ],
    ['unsorted nodes', () => corrupted((json) => json.nodes.reverse()), /sorted/],
    ['no nodes', () => corrupted((json) => (json.nodes = [])), /node count|preferences/],
    ['too many slots', () => corrupted((json) => (json.replicaSlots = 7)), /slots/],
    ['zero slots', () => corrupted((json) => (json.replicaSlots = 0)), /slots/],
    ['a missing list', () => corrupted((json) => json.preferences.pop()), /preferences/],
    ['a short list', () => corrupted((json) => json.preferences[5]?.pop()), /length/],
    [
      'an index out of range',
      () => corrupted((json) => Object.assign(json.preferences[2] ?? [], { 0: 6 })),
      /index/,
    ],
    [
      'a fractional index',
      () => corrupted((json) => Object.assign(json.preferences[2] ?? [], { 0: 0.5 })),
      /index/,
    ],
    [
      'a repeated node',
      () =>
        corrupted((json) =>
          Object.assign(json.preferences[4] ?? [], { 1: json.preferences[4]?.[0] }),
        ),
      /repeated/,
    ],
    ['a broken zone rule', () => corrupted((json) => (json.preferences[0] = [0, 3, 1])), /zone/],
    [
      'a list that is not an array',
      () => corrupted((json) => Object.assign(json.preferences, { 1: 'abc' })),
      /preferences\[1\]/,
    ],
  ])('rejects %s', (_name, make, message) => {
    expectInvalid(make(), message)
  })
})
