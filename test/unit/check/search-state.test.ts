/**
 * Goal: the search's data structures keep their invariants: the bitset's window [low, end)
 * always matches its words, and the memo prunes a node exactly when a finished node had the
 * same completed operations and state and a subset of its pending operations, across growth of
 * its tables.
 *
 * Method: fast-check drives a bitset with toggles, fills and clears (which make the full and
 * empty words the window trims) and a memo with visits and leaves, and compares both with
 * straightforward models: a rescan of the words, and a list of every entry.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { casRegisterModel } from '../../../src/check/models.js'
import { Bitset, NONE, StateCache } from '../../../src/check/search-state.js'

function isSet(bitset: Bitset, bit: number): boolean {
  return (((bitset.words[bit >>> 5] ?? 0) >>> (bit & 31)) & 1) === 1
}

/** Sets (or clears) every bit in [from, to). */
function setRange(bitset: Bitset, from: number, to: number, value: boolean): void {
  for (let bit = from; bit < to; bit++) if (isSet(bitset, bit) !== value) bitset.toggle(bit)
}

/** The first unfixed word that is not full, found the slow way. */
function scannedLow(bitset: Bitset): number {
  let word = bitset.fixedWordsCount
  while (word < bitset.words.length && bitset.words[word] === 0xffffffff) word++
  return word
}

/** One past the last nonzero unfixed word, found the slow way. */
function scannedEnd(bitset: Bitset): number {
  let word = bitset.words.length
  while (word > bitset.fixedWordsCount && bitset.words[word - 1] === 0) word--
  return word
}

/** What the memo should answer, kept as a plain list of every entry. */
interface ReferenceEntry {
  readonly fixed: readonly number[]
  readonly unfixed: string
  readonly state: number
  finished: boolean
}

function referencePrunes(
  entries: readonly ReferenceEntry[],
  bitset: Bitset,
  state: number,
): boolean {
  const fixed = [...bitset.words.subarray(0, bitset.fixedWordsCount)]
  const unfixed = bitset.words.subarray(bitset.fixedWordsCount).join(',')
  return entries.some(
    (entry) =>
      entry.finished &&
      entry.state === state &&
      entry.unfixed === unfixed &&
      entry.fixed.every((word, index) => (word & ~(fixed[index] ?? 0)) === 0),
  )
}

const actionArbitrary = fc.record({
  kind: fc.constantFrom('toggle', 'fill', 'clear', 'visit', 'visit', 'leave'),
  bit: fc.nat(),
  state: fc.integer({ min: 0, max: 2 }),
})

describe('Bitset and StateCache', () => {
  it('keep the window current and prune exactly the dominated nodes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 1, max: 150 }),
        fc.array(actionArbitrary, { minLength: 1, maxLength: 1500 }),
        (fixedWordsCount, unfixedBitsCount, actions) => {
          const bitsCount = fixedWordsCount * 32 + unfixedBitsCount
          const bitset = new Bitset(bitsCount, fixedWordsCount)
          const cache = new StateCache(casRegisterModel)
          const reference: ReferenceEntry[] = []
          const open: { entry: number; reference: ReferenceEntry }[] = []
          let wrongAnswersCount = 0
          for (const { kind, bit, state } of actions) {
            const at = bit % bitsCount
            if (kind === 'toggle') bitset.toggle(at)
            if (kind === 'fill') setRange(bitset, 0, at, true)
            if (kind === 'clear') setRange(bitset, at, bitsCount, false)
            if (bitset.low !== scannedLow(bitset) || bitset.end !== scannedEnd(bitset)) {
              wrongAnswersCount++
            }
            if (kind === 'leave') {
              const top = open.pop()
              if (top !== undefined) {
                cache.leave(top.entry)
                top.reference.finished = true
              }
            }
            if (kind !== 'visit') continue
            const expectedPruned = referencePrunes(reference, bitset, state)
            const entry = cache.visit(bitset, state)
            if ((entry === NONE) !== expectedPruned) wrongAnswersCount++
            if (entry === NONE) continue
            const added: ReferenceEntry = {
              fixed: [...bitset.words.subarray(0, fixedWordsCount)],
              unfixed: bitset.words.subarray(fixedWordsCount).join(','),
              state,
              finished: false,
            }
            reference.push(added)
            open.push({ entry, reference: added })
          }
          expect(wrongAnswersCount).toBe(0)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('finds every finished node again after its tables grow', () => {
    // The entry inserted when a table grows is the one most easily misplaced; each series ends
    // just past a growth, and sixteen series make a miss by luck vanishingly unlikely.
    let wrongAnswersCount = 0
    for (let series = 0; series < 16; series++) {
      const entriesCount = 1024 << (series % 3)
      const bitset = new Bitset(40)
      const cache = new StateCache(casRegisterModel)
      for (let round = 0; round < 2; round++) {
        for (let index = 0; index <= entriesCount; index++) {
          const pattern = Math.imul(index + series * 100_000, 0x9e3779b1)
          for (let bit = 0; bit < 32; bit++) {
            if (isSet(bitset, bit) !== (((pattern >>> bit) & 1) === 1)) bitset.toggle(bit)
          }
          const entry = cache.visit(bitset, index % 3)
          if ((entry === NONE) !== (round === 1)) wrongAnswersCount++
          if (entry !== NONE) cache.leave(entry)
        }
      }
    }
    expect(wrongAnswersCount).toBe(0)
  })

  it('never lets an unfinished node prune', () => {
    const bitset = new Bitset(64, 1)
    const cache = new StateCache(casRegisterModel)
    const first = cache.visit(bitset, 1)
    expect(first).not.toBe(NONE)
    // The same node again, and one with more pending operations, while the first is open.
    expect(cache.visit(bitset, 1)).not.toBe(NONE)
    bitset.toggle(3)
    expect(cache.visit(bitset, 1)).not.toBe(NONE)
    cache.leave(first)
    expect(cache.visit(bitset, 1)).toBe(NONE)
    // A completed operation more is a different node.
    bitset.toggle(40)
    expect(cache.visit(bitset, 1)).not.toBe(NONE)
  })
})
