/**
 * Fault injection for real processes, enabled only when a node runs with `MURMUR_FAULTS=1`
 * (without the variable no PeerFaults exists and the debug route is absent). One object per
 * node holds every fault the nemesis suite (test/nemesis) and the strong-mode tests inject:
 *
 * - A partition "via the transport": `block(["n2"])` makes the node drop all traffic with
 *   those peers, in both directions. Peer requests to them fail at once as unreachable
 *   (definite: never sent), notifications to them are dropped, requests, notifications and
 *   answers from them are ignored (their senders time out), and gossip datagrams to and from
 *   their gossip addresses are dropped. Blocking a peer on both sides of a link, or on one
 *   side only, gives symmetric or asymmetric partitions. The TCP and UDP transports consult
 *   this object, so it is the only place that decides what is blocked.
 * - Clock skew: an offset on the node's wall clock (`SkewableClock`), never on its monotonic
 *   clock or timers.
 * - A flipped bit in one stored data record, written straight to the storage engine as a
 *   failing disk would, so that the record's checksum catches it on the next read.
 * - Inspection of one stored data record (its anti-entropy hash, or whether it is corrupt),
 *   which lets a checker compare replicas without going through a coordinator.
 */

import type { SkewableClock } from '../env/clock.js'
import { MurmurError } from '../env/errors.js'
import type { NodeId, PacketAddress } from '../env/transport.js'
import { recordHash } from '../replication/antientropy/tree.js'
import { type KeyRecord, kvState, recordTypes } from '../replication/record.js'
import { partitionForKey } from '../ring/index.js'
import type { Bytes, StorageEngine } from '../storage/engine.js'
import { dataKey } from '../storage/layout.js'
import { decodeStoredRecord } from '../storage/records.js'
import { KEY_RECORD_TYPE } from './kv/store.js'

/** The question the transports ask for every message. */
export interface FaultFilter {
  blocksPeer(nodeId: NodeId): boolean
  blocksAddress(address: PacketAddress): boolean
}

/** The environment variable that enables fault injection. */
export const FAULTS_VARIABLE = 'MURMUR_FAULTS'

/** The largest clock skew the route accepts either way: one day. */
export const CLOCK_SKEW_MS_MAX = 86_400_000

/** What this node's storage holds for one key, as the debug route reports it. */
export interface RecordInspection {
  readonly keyspace: string
  readonly key: string
  readonly partition: number
  /** Whether a data record is stored at all (a corrupt one included). */
  readonly stored: boolean
  /** Whether the stored bytes fail their checksum or do not decode. */
  readonly corrupt: boolean
  /** The record's anti-entropy hash (src/replication/antientropy/tree.ts) in hex, or null. */
  readonly hash: string | null
  /** The plain value's causal state, for a person reading a divergence: null when none. */
  readonly summary: RecordSummary | null
}

/** A record's clock (`actor=counter`) and siblings (`actor@counter:kind`), and its CRDT parts. */
export interface RecordSummary {
  readonly clock: readonly string[]
  readonly siblings: readonly string[]
  readonly types: readonly string[]
}

function summarize(record: KeyRecord): RecordSummary {
  const kv = kvState(record)
  const clock = [...kv.clock.vector.entries()]
    .sort()
    .map(([actor, counter]) => `${actor}=${counter}`)
    .concat(kv.clock.cloud.map((dot) => `+${dot.actor}@${dot.counter}`))
  const siblings = kv.siblings.map(
    ({ dot, payload }) => `${dot.actor}@${dot.counter}:${payload.kind}`,
  )
  return { clock, siblings: siblings.sort(), types: recordTypes(record) }
}

interface RecordLocation {
  readonly engine: StorageEngine
  readonly partition: number
  readonly address: Bytes
}

interface AttachedStorage {
  readonly engine: StorageEngine
  readonly partitionCount: number
}

export class PeerFaults implements FaultFilter {
  private blockedPeers = new Set<NodeId>()
  private blockedAddresses = new Set<PacketAddress>()
  private storage: AttachedStorage | undefined

  /**
   * `gossipAddressOf` maps a node id to the address its gossip datagrams come from; `clock`,
   * when it is the node's skewable clock, makes clock skew available.
   */
  constructor(
    private readonly gossipAddressOf: (nodeId: NodeId) => PacketAddress | undefined,
    private readonly clock?: SkewableClock,
  ) {}

  /** Replaces the set of blocked peers (an empty list heals every link). */
  block(nodeIds: readonly NodeId[]): void {
    this.blockedPeers = new Set(nodeIds)
    this.blockedAddresses = new Set()
    for (const nodeId of nodeIds) {
      const address = this.gossipAddressOf(nodeId)
      if (address !== undefined) this.blockedAddresses.add(address)
    }
  }

  blocked(): NodeId[] {
    return [...this.blockedPeers].sort()
  }

  blocksPeer(nodeId: NodeId): boolean {
    return this.blockedPeers.size > 0 && this.blockedPeers.has(nodeId)
  }

  blocksAddress(address: PacketAddress): boolean {
    return this.blockedAddresses.size > 0 && this.blockedAddresses.has(address)
  }

  /** Whether this node's wall clock can be skewed. */
  skewsClock(): boolean {
    return this.clock !== undefined
  }

  /** The wall clock's current skew in milliseconds (0 when the node has no skewable clock). */
  clockSkewMs(): number {
    return this.clock?.wallSkewMs() ?? 0
  }

  /** Offsets the node's wall clock; refused when the node was built without a skewable clock. */
  setClockSkewMs(skewMs: number): void {
    if (this.clock === undefined) {
      throw new MurmurError('unavailable', 'this node has no skewable clock', { definite: true })
    }
    this.clock.setWallSkewMs(skewMs)
  }

  /** Gives the record faults the node's storage; call once the engine is open. */
  attachStorage(engine: StorageEngine, partitionCount: number): void {
    this.storage = { engine, partitionCount }
  }

  /** What this node stores for `key` of `keyspace`, read straight from the engine. */
  async inspectRecord(keyspace: string, key: string): Promise<RecordInspection> {
    const { engine, partition, address } = this.locate(keyspace, key)
    const stored = await engine.get(address)
    let record: KeyRecord | undefined
    let corrupt = false
    if (stored !== undefined) {
      try {
        record = decodeStoredRecord(KEY_RECORD_TYPE, address, stored)
      } catch (error) {
        if (!(error instanceof MurmurError) || error.code !== 'corrupt_record') throw error
        corrupt = true
      }
    }
    const digest = recordHash(key, record)
    const hash = digest === undefined ? null : hex32(digest.high) + hex32(digest.low)
    const summary = record === undefined ? null : summarize(record)
    return { keyspace, key, partition, stored: stored !== undefined, corrupt, hash, summary }
  }

  /**
   * Flips one bit in the middle of the stored record of `key`, durably, as a failing disk
   * would; the record's checksum fails on its next read. Not found when nothing is stored.
   */
  async corruptRecord(keyspace: string, key: string): Promise<RecordInspection> {
    const { engine, address } = this.locate(keyspace, key)
    const stored = await engine.get(address)
    if (stored === undefined) {
      throw new MurmurError('not_found', 'this node stores no record of that key', {
        details: { keyspace, key },
        definite: true,
      })
    }
    const flipped = Uint8Array.from(stored)
    const position = Math.floor(flipped.length / 2)
    flipped[position] = (flipped[position] ?? 0) ^ 0x10
    await engine.write([{ type: 'put', key: address, value: flipped }], { sync: true })
    return this.inspectRecord(keyspace, key)
  }

  private locate(keyspace: string, key: string): RecordLocation {
    const storage = this.storage
    if (storage === undefined) {
      throw new MurmurError('unavailable', 'record faults need the node storage', {
        definite: true,
      })
    }
    const partition = partitionForKey(storage.partitionCount, keyspace, key)
    return { engine: storage.engine, partition, address: dataKey(partition, keyspace, key) }
  }
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0')
}
