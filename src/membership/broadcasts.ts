/**
 * The transmit-limited broadcast queue (memberlist's TransmitLimitedQueue). Holds at most one
 * pending update per member: a newer update about a member replaces the older one. `take`
 * hands out updates least-transmitted first and, among equals, newest first, until the byte
 * budget of one packet is spent. Each update carries its own retransmit multiplier and is sent
 * at most max(1, retransmitMult · retransmitScale) times, then dropped; the caller supplies
 * the scale (ceil(log10(n + 1)) for n members) on every take, since n changes. Buckets by
 * transmit count keep `take` proportional to what it hands out.
 */

import { assert } from '../env/assert.js'
import type { MemberId } from './member.js'

interface Broadcast {
  readonly key: MemberId
  readonly part: Uint8Array
  /** Insertion order: higher is newer. */
  readonly order: number
  /** Sent at most max(1, retransmitMult · retransmitScale) times. */
  readonly retransmitMult: number
  transmits: number
  live: boolean
}

/** Candidates examined in a row without fitting before `take` gives up on the packet. */
const MISFITS_IN_A_ROW_MAX = 16
const STALE_ENTRIES_SLACK = 64

export class BroadcastQueue {
  private readonly byKey = new Map<MemberId, Broadcast>()
  /** buckets[t] holds the broadcasts sent t times, oldest first. */
  private readonly buckets: Broadcast[][] = []
  private nextOrder = 0
  /** Replaced or moved entries still sitting in the buckets; compacted in amortized O(1). */
  private staleEntries = 0

  constructor(private readonly countMax: number) {
    assert(Number.isSafeInteger(countMax) && countMax > 0, 'broadcast queue bound must be positive')
  }

  get size(): number {
    return this.byKey.size
  }

  /**
   * Queues an update about `key`, replacing any pending update about the same member, to be
   * sent retransmitMult times the scale given to `take`.
   */
  enqueue(key: MemberId, part: Uint8Array, retransmitMult: number): void {
    assert(
      Number.isSafeInteger(retransmitMult) && retransmitMult >= 1,
      'retransmit multiplier must be a positive integer',
    )
    this.remove(key)
    assert(this.byKey.size < this.countMax, 'broadcast queue is full')
    const broadcast: Broadcast = {
      key,
      part,
      order: this.nextOrder++,
      retransmitMult,
      transmits: 0,
      live: true,
    }
    this.byKey.set(key, broadcast)
    this.bucket(0).push(broadcast)
  }

  remove(key: MemberId): void {
    const existing = this.byKey.get(key)
    if (existing === undefined) return
    existing.live = false
    this.staleEntries++
    this.byKey.delete(key)
  }

  /** How often the pending update about `key` was sent; undefined when none is pending. */
  transmitsOf(key: MemberId): number | undefined {
    return this.byKey.get(key)?.transmits
  }

  /**
   * Parts that fit in `bytesBudget` (each costing `costBytes(part.length)`), at most
   * `partsCountMax` of them. Each counts as one more transmission: the caller sends every
   * part it takes.
   */
  take(
    bytesBudget: number,
    retransmitScale: number,
    partsCountMax: number,
    costBytes: (partBytes: number) => number,
  ): Uint8Array[] {
    assert(
      Number.isSafeInteger(retransmitScale) && retransmitScale >= 0,
      'retransmit scale must be a non-negative integer',
    )
    const taken: Broadcast[] = []
    let remaining = bytesBudget
    let misfits = 0
    for (let transmits = 0; transmits < this.buckets.length; transmits++) {
      const bucket = this.buckets[transmits] ?? []
      for (let index = bucket.length - 1; index >= 0; index--) {
        if (taken.length >= partsCountMax || misfits >= MISFITS_IN_A_ROW_MAX) break
        const broadcast = bucket[index]
        // An entry is current only in the bucket of its transmit count.
        if (broadcast === undefined || !broadcast.live || broadcast.transmits !== transmits) {
          continue
        }
        const cost = costBytes(broadcast.part.length)
        if (cost > remaining) {
          misfits++
          continue
        }
        misfits = 0
        remaining -= cost
        taken.push(broadcast)
      }
    }
    this.advance(taken, retransmitScale)
    this.compact()
    return taken.map((broadcast) => broadcast.part)
  }

  /** Moves each taken broadcast to the next bucket; its old slot becomes stale. */
  private advance(taken: readonly Broadcast[], retransmitScale: number): void {
    for (const broadcast of taken) {
      this.staleEntries++
      broadcast.transmits++
      if (broadcast.transmits >= Math.max(1, broadcast.retransmitMult * retransmitScale)) {
        broadcast.live = false
        this.byKey.delete(broadcast.key)
        continue
      }
      insertByOrder(this.bucket(broadcast.transmits), broadcast)
    }
  }

  /** Drops replaced and sent entries from the buckets once they outnumber the live ones. */
  private compact(): void {
    if (this.staleEntries <= STALE_ENTRIES_SLACK + this.byKey.size) return
    this.staleEntries = 0
    for (let transmits = 0; transmits < this.buckets.length; transmits++) {
      const bucket = this.buckets[transmits]
      if (bucket === undefined) continue
      this.buckets[transmits] = bucket.filter(
        (broadcast) => broadcast.live && broadcast.transmits === transmits,
      )
    }
    while (this.buckets.length > 0 && this.buckets[this.buckets.length - 1]?.length === 0) {
      this.buckets.pop()
    }
  }

  private bucket(transmits: number): Broadcast[] {
    while (this.buckets.length <= transmits) this.buckets.push([])
    return this.buckets[transmits] as Broadcast[]
  }
}

/** Inserts keeping the bucket sorted by insertion order, oldest first. */
function insertByOrder(bucket: Broadcast[], broadcast: Broadcast): void {
  let low = 0
  let high = bucket.length
  while (low < high) {
    const middle = (low + high) >> 1
    if ((bucket[middle]?.order ?? 0) < broadcast.order) low = middle + 1
    else high = middle
  }
  bucket.splice(low, 0, broadcast)
}
