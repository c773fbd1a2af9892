/**
 * The node-wide floor under every dot this node mints. Dots of one actor are otherwise
 * numbered per key; a floor that only grows, across all keys and restarts, means a dot is
 * never minted twice, even for a key that was deleted and reaped while an old client context
 * still names the actor's earlier counters (such a context must not cover new writes).
 *
 * Durability by lease, as Riak's vnode counters do: the meta record holds an upper bound that
 * no issued counter reaches. Opening the node reserves a fresh block above the stored bound,
 * and a new block is reserved (synced) when half of the current one is used, so minting waits
 * for the disk only when a block runs out before its successor is durable.
 */

import { assert } from '../../env/assert.js'
import { MurmurError } from '../../env/errors.js'
import type { StorageEngine } from '../../storage/engine.js'
import { metaKey } from '../../storage/layout.js'
import { getRecord, putRecordOp, type RecordType } from '../../storage/records.js'

const LEASE_KEY = metaKey('kv.dot-lease')
export const LEASE_BLOCK = 1_000_000

const LEASE_RECORD: RecordType<number> = {
  name: 'dot lease',
  parse(value) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new Error('a dot lease is a non-negative integer')
    }
    return value
  },
}

export class DotCounter {
  /** The highest counter issued (observed) so far. */
  private issued: number
  /** The durable bound: every issued counter stays below it. */
  private lease: number
  private extension: Promise<void> | undefined

  private constructor(
    private readonly engine: StorageEngine,
    start: number,
  ) {
    this.issued = start
    this.lease = start
  }

  /** Loads the stored bound and reserves the first block above it, durably. */
  static async open(engine: StorageEngine): Promise<DotCounter> {
    const stored = (await getRecord(engine, LEASE_RECORD, LEASE_KEY)) ?? 0
    const counter = new DotCounter(engine, stored)
    await counter.extend()
    return counter
  }

  /** Every counter issued so far is at most this. */
  get highest(): number {
    return this.issued
  }

  /**
   * A floor for the next dot: the dot's counter must be above it. Starts reserving the next
   * block in the background once half of the current one is used.
   */
  floor(): number {
    if (this.lease - this.issued <= LEASE_BLOCK / 2) void this.extend().catch(() => undefined)
    return this.issued
  }

  /**
   * Records a counter that was minted; the floor rises to it. Returns a promise when the
   * counter is not yet below the durable lease: the write must not be acknowledged before it
   * resolves.
   */
  observe(counter: number): Promise<void> | undefined {
    assert(Number.isSafeInteger(counter) && counter > 0, `bad dot counter ${counter}`)
    if (counter > this.issued) this.issued = counter
    if (counter < this.lease) return undefined
    return this.extend().then(() => this.observe(counter))
  }

  /** Reserves the next block durably; concurrent callers share one reservation. */
  private extend(): Promise<void> {
    if (this.extension !== undefined) return this.extension
    const target = Math.min(Number.MAX_SAFE_INTEGER, this.issued + LEASE_BLOCK * 2)
    if (target <= this.issued + 1) {
      return Promise.reject(new MurmurError('internal', 'dot counters are exhausted'))
    }
    // Straight to the engine: leases are rare, and the first is written before the node's
    // group committer runs.
    this.extension = this.engine
      .write([putRecordOp(LEASE_KEY, target)], { sync: true })
      .then(() => {
        this.lease = Math.max(this.lease, target)
      })
      .finally(() => {
        this.extension = undefined
      })
    return this.extension
  }
}
