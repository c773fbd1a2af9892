/**
 * Goal: listing pages are complete and ordered however the scan is split (no key skipped or
 * repeated across pages), cursors refuse tampering and reuse elsewhere, key order matches the
 * storage byte order, the reaper reaps only when every member agrees, the token bucket
 * throttles to its rate, and names are validated alike for users and peers.
 * Method: fast-check over random key sets split into random partial scans, paged to the end
 * and compared with the sorted set; tables for cursors, reap verdicts and throttling.
 */

import { Buffer } from 'node:buffer'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import {
  decodeListCursor,
  encodeListCursor,
  type ListPart,
  mergeListParts,
} from '../../../src/replication/listing.js'
import { compareKeys, keyProblem } from '../../../src/replication/names.js'
import { isReapable, type ReapReport, reapVerdict } from '../../../src/replication/reaping.js'
import { EMPTY_RECORD, type KeyRecord, type KvPayload } from '../../../src/replication/record.js'
import { TokenBucket } from '../../../src/replication/throttle.js'
import { emptyVersioned, update, type Versioned } from '../../../src/versioning/dvv.js'
import { EMPTY_VECTOR } from '../../../src/versioning/version-vector.js'
import { utf8Length } from '../../../src/wire/utf8.js'

/** The live keys of one simulated partition after `after`, cut like a bounded scan. */
function scan(keys: readonly string[], after: string, limit: number, scanMax: number): ListPart {
  const sorted = keys.filter((key) => after === '' || compareKeys(key, after) > 0).sort(compareKeys)
  const page = sorted.slice(0, Math.min(limit, scanMax))
  const stopped = page.length < sorted.length
  return { keys: page, frontier: stopped ? page[page.length - 1] : undefined }
}

describe('listing', () => {
  const keyArbitrary = fc.string({ unit: 'binary', minLength: 1, maxLength: 6 })

  it('pages through every key exactly once, in order, however partitions are cut', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(keyArbitrary, { maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 9 }),
        (keys, partitions, limit, scanMax) => {
          const parts = Array.from({ length: partitions }, (_, p) =>
            keys.filter((_, index) => index % partitions === p),
          )
          const listed: string[] = []
          let after = ''
          for (let page = 0; page <= keys.length + 1; page++) {
            const merged = mergeListParts(
              parts.map((part) => scan(part, after, limit, scanMax)),
              limit,
            )
            expect(merged.keys.length).toBeLessThanOrEqual(limit)
            listed.push(...merged.keys)
            if (merged.frontier === undefined) break
            after = merged.frontier
          }
          expect(listed).toEqual([...keys].sort(compareKeys))
        },
      ),
    )
  })

  it('orders keys as UTF-8 bytes do', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
        const bytes = Buffer.compare(Buffer.from(a), Buffer.from(b))
        expect(Math.sign(compareKeys(a, b))).toBe(bytes)
        expect(utf8Length(a)).toBe(Buffer.byteLength(a))
      }),
    )
  })

  it('checks keys as users and peers see them', () => {
    expect(keyProblem('', 10)).toMatch(/empty/)
    expect(keyProblem('\ud800', 10)).toMatch(/UTF-8/)
    expect(keyProblem('é'.repeat(6), 10)).toMatch(/at most 10/)
    expect(keyProblem('ok/with/slashes', 1024)).toBeUndefined()
  })

  it('round-trips cursors and refuses tampered or foreign ones', () => {
    const cursor = encodeListCursor('default', 'a', 'a/b')
    expect(decodeListCursor(cursor, 'default', 'a', 1024)).toBe('a/b')
    const refuse = (token: string, keyspace = 'default', prefix = 'a') => {
      let thrown: unknown
      try {
        decodeListCursor(token, keyspace, prefix, 1024)
      } catch (error) {
        thrown = error
      }
      expect(isMurmurError(thrown, 'invalid_request')).toBe(true)
    }
    refuse(cursor, 'other')
    refuse(cursor, 'default', 'b')
    refuse(`${cursor.slice(0, -2)}AA`)
    refuse('not a cursor!')
    refuse('x'.repeat(5000))
    refuse(encodeListCursor('default', 'a', ''))
  })
})

describe('reaping rules', () => {
  const tombstone: KvPayload = { kind: 'tombstone', deletedAtMs: 1000 }
  const value: KvPayload = { kind: 'value', value: new Uint8Array(1), contentType: 'x/y' }
  const written = update(emptyVersioned<KvPayload>(), EMPTY_VECTOR, 'n1.a', value).versioned
  const deleted: Versioned<KvPayload> = update(written, written.clock, 'n1.a', tombstone).versioned
  const stale: KeyRecord = { kv: written }
  const dead: KeyRecord = { kv: deleted }
  const later: KeyRecord = { kv: update(deleted, deleted.clock, 'n2.b', value).versioned }
  const members = ['n1', 'n2', 'n3', 'n4']
  const primaries = ['n1', 'n2', 'n3']
  const reports = (entries: [string, ReapReport][]) => new Map(entries)
  const holding = (record: KeyRecord | undefined, hinted = false): ReapReport => ({
    hinted,
    record,
  })

  it('waits for the grace period', () => {
    expect(isReapable(dead, 1999, 1000)).toBe(false)
    expect(isReapable(dead, 2000, 1000)).toBe(true)
    expect(isReapable(stale, 9999, 0)).toBe(false)
    expect(isReapable(EMPTY_RECORD, 9999, 0)).toBe(false)
  })

  it('reaps when every primary holds exactly the tombstone and nobody holds a hint', () => {
    const all = reports([
      ['n1', holding(dead)],
      ['n2', holding(dead)],
      ['n3', holding(dead)],
      ['n4', holding(undefined)],
    ])
    expect(reapVerdict(dead, primaries, members, all)).toEqual({
      kind: 'reap',
      holders: ['n1', 'n2', 'n3'],
    })
    const stray = new Map(all).set('n4', holding(dead))
    expect(reapVerdict(dead, primaries, members, stray)).toEqual({
      kind: 'reap',
      holders: ['n1', 'n2', 'n3', 'n4'],
    })
  })

  it('keeps the key when a member is silent, holds a hint, or holds something newer', () => {
    const base: [string, ReapReport][] = [
      ['n1', holding(dead)],
      ['n2', holding(dead)],
      ['n3', holding(dead)],
      ['n4', holding(undefined)],
    ]
    expect(reapVerdict(dead, primaries, members, reports(base.slice(0, 3)))).toEqual({
      kind: 'keep',
    })
    const hinted = reports([...base.slice(0, 3), ['n4', holding(undefined, true)]])
    expect(reapVerdict(dead, primaries, members, hinted)).toEqual({ kind: 'keep' })
    const newer = reports([['n1', holding(dead)], ['n2', holding(later)], ...base.slice(2)])
    expect(reapVerdict(dead, primaries, members, newer)).toEqual({ kind: 'keep' })
  })

  it('repairs primaries that lag behind the tombstone before reaping', () => {
    const lagging = reports([
      ['n1', holding(dead)],
      ['n2', holding(stale)],
      ['n3', holding(undefined)],
      ['n4', holding(stale)],
    ])
    expect(reapVerdict(dead, primaries, members, lagging)).toEqual({
      kind: 'repair',
      nodes: ['n2', 'n3', 'n4'],
    })
  })
})

describe('TokenBucket', () => {
  it('allows a burst, then paces to the rate, and never refuses an oversized item forever', () => {
    const bucket = new TokenBucket(10, 5, 0)
    for (let index = 0; index < 5; index++) {
      expect(bucket.delayMs(1, 0)).toBe(0)
      bucket.consume(1, 0)
    }
    expect(bucket.delayMs(1, 0)).toBe(100)
    expect(bucket.delayMs(1, 100)).toBe(0)
    bucket.consume(1, 100)
    expect(bucket.delayMs(50, 100)).toBe(500)
    expect(bucket.delayMs(50, 600)).toBe(0)
  })
})
