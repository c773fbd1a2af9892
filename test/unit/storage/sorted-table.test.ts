/**
 * Goal: the blocked sorted table behaves exactly like a sorted map, across block splits and
 * block removals, for point reads and for every kind of range selection.
 * Method: fast-check drives random puts and deletes into a table with tiny blocks (so that a
 * few dozen keys split and empty many blocks) and into a Map model, then compares point reads,
 * returned previous values, counts and random range selections (gt/gte/lt/lte, limit,
 * reverse) with the model filtered by rangeContains and sorted with compareBytes.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Bytes, KeyRange } from '../../../src/storage/engine.js'
import { compareBytes, rangeContains } from '../../../src/storage/engine-support.js'
import { SortedTable } from '../../../src/storage/sorted-table.js'

const hex = (bytes: Bytes): string => Buffer.from(bytes).toString('hex')
const keyBytes = fc.uint8Array({ minLength: 1, maxLength: 3, max: 7 })
const op = fc.oneof(
  fc.record({
    type: fc.constant('put' as const),
    key: keyBytes,
    value: fc.uint8Array({ maxLength: 2 }),
  }),
  fc.record({ type: fc.constant('del' as const), key: keyBytes }),
)
const range: fc.Arbitrary<KeyRange> = fc
  .record(
    {
      lowerKind: fc.constantFrom('gt', 'gte', 'none'),
      lower: keyBytes,
      upperKind: fc.constantFrom('lt', 'lte', 'none'),
      upper: keyBytes,
      limit: fc.option(fc.nat({ max: 20 }), { nil: undefined }),
      reverse: fc.boolean(),
    },
    { requiredKeys: ['lowerKind', 'lower', 'upperKind', 'upper', 'reverse'] },
  )
  .map(({ lowerKind, lower, upperKind, upper, limit, reverse }) => ({
    ...(lowerKind === 'none' ? {} : { [lowerKind]: lower }),
    ...(upperKind === 'none' ? {} : { [upperKind]: upper }),
    ...(limit === undefined ? {} : { limit }),
    reverse,
  }))

describe('SortedTable', () => {
  it('matches a sorted map model across splits, removals and range selections', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 200 }),
        fc.array(range, { maxLength: 10 }),
        fc.integer({ min: 2, max: 5 }),
        (ops, ranges, blockEntriesMax) => {
          const table = new SortedTable(blockEntriesMax)
          const model = new Map<string, [Bytes, Bytes]>()
          for (const entry of ops) {
            const previous = model.get(hex(entry.key))?.[1]
            if (entry.type === 'put') {
              expect(table.put(entry.key, entry.value)).toEqual(previous)
              model.set(hex(entry.key), [entry.key, entry.value])
            } else {
              expect(table.del(entry.key)).toEqual(previous)
              model.delete(hex(entry.key))
            }
          }
          const sorted = [...model.values()].sort(([left], [right]) => compareBytes(left, right))
          expect(table.size).toBe(sorted.length)
          expect(table.liveDataBytes).toBe(
            sorted.reduce((total, [key, value]) => total + key.length + value.length, 0),
          )
          expect(table.select({})).toEqual(sorted)
          for (const [key, value] of sorted) expect(table.get(key)).toEqual(value)
          for (const selection of ranges) {
            const inside = sorted.filter(([key]) => rangeContains(selection, key))
            const ordered = selection.reverse === true ? inside.reverse() : inside
            expect(table.select(selection)).toEqual(
              ordered.slice(0, selection.limit ?? ordered.length),
            )
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('keeps order through many inserts in descending order and deletes of every other key', () => {
    const table = new SortedTable(4)
    const count = 1000
    for (let index = count - 1; index >= 0; index--)
      table.put(Uint8Array.of(index >> 8, index & 0xff), Uint8Array.of(1))
    for (let index = 0; index < count; index += 2)
      table.del(Uint8Array.of(index >> 8, index & 0xff))
    const keys = table.select({}).map(([key]) => ((key[0] as number) << 8) | (key[1] as number))
    expect(keys).toEqual(Array.from({ length: count / 2 }, (_, index) => index * 2 + 1))
    expect(table.select({ reverse: true, limit: 2 }).map(([key]) => key[1])).toEqual([0xe7, 0xe5])
  })
})
