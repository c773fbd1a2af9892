/**
 * The tombstone reaper: removes deleted keys for good once that is safe (the rules and the
 * argument are in src/replication/reaping.ts).
 *
 * Each node reaps the partitions it is the first primary of. Every `reaperIntervalMs`, when
 * every member of the cluster is usable, it scans a bounded slice of its records (resuming
 * where the last round stopped) for tombstones past the grace period, asks every other member
 * about them in one batched `kv.reapCheck` request, and acts on each key's verdict: repair
 * members whose record the tombstone descends, or compare-and-delete (`kv.reap`) the record on
 * every member that holds exactly the tombstone. A member that does not answer keeps every
 * key of the round alive.
 *
 * While ownership moves, the nodes that must hold exactly the tombstone are the partition's
 * holders in both rings (`holders`), and a round acts only if this node still acts on the
 * topology version it checked under; its requests carry that version and are fenced like any
 * replica request, so no member answers for a ring it has left behind.
 */

import type { Clock, Timer } from '../../env/clock.js'
import type { Logger } from '../../env/log.js'
import type { PeerTransport } from '../../env/transport.js'
import { stampBody } from '../../replication/fencing.js'
import {
  decodeReapCheckAnswer,
  KV_MESSAGE_TYPES,
  REAP_BATCH_MAX,
  type ReapCheckMessage,
  type ReapMessage,
} from '../../replication/messages.js'
import type { Liveness } from '../../replication/plan.js'
import { isReapable, type ReapReport, reapVerdict } from '../../replication/reaping.js'
import { encodeKeyRecord, type KeyRecord } from '../../replication/record.js'
import type { KeyspaceRef } from '../../replication/requests.js'
import { partitionForKey, partitionsOf } from '../../ring/index.js'
import { holders, type Topology } from '../../ring/topology.js'
import type { DataKey } from '../../storage/layout.js'
import type { TopologyView } from '../topology/view.js'
import type { ReplicaStore } from './store.js'

/** Records scanned per round at most. */
const SCAN_RECORDS_MAX = 10_000
/** Records read from disk per scan step. */
const SCAN_STEP = 256

export interface ReaperOptions {
  readonly selfId: string
  /** Every member of the cluster, this node included. */
  readonly members: readonly string[]
  readonly topology: TopologyView
  /** The eventual keyspaces. */
  readonly keyspaces: readonly KeyspaceRef[]
  readonly store: ReplicaStore
  readonly peers: PeerTransport
  readonly liveness: Liveness
  readonly clock: Clock
  readonly log: Logger
  readonly graceMs: number
  readonly intervalMs: number
  readonly peerTimeoutMs: number
}

export interface ReaperCounters {
  rounds: number
  reaped: number
  repaired: number
  kept: number
}

interface Candidate {
  readonly keyspace: KeyspaceRef
  readonly address: DataKey
  readonly record: KeyRecord
}

export class TombstoneReaper {
  readonly counters: ReaperCounters = { rounds: 0, reaped: 0, repaired: 0, kept: 0 }
  /** Where the scan resumes: an index into partitions × keyspaces, and a key. */
  private cursor = { slot: 0, after: '' }
  private timer: Timer | undefined
  private running = false
  private stopped = false

  constructor(private readonly options: ReaperOptions) {}

  start(): void {
    this.arm()
  }

  stop(): void {
    this.stopped = true
    this.timer?.cancel()
  }

  private arm(): void {
    if (this.stopped) return
    this.timer = this.options.clock.setTimer(this.options.intervalMs, () => {
      void this.runOnce()
        .catch((error: unknown) => this.options.log.debug('reaper round failed', { error }))
        .finally(() => this.arm())
    })
  }

  /** One round: find candidates, check them with every member, repair or reap. */
  async runOnce(): Promise<void> {
    const { members, liveness } = this.options
    if (this.running || this.stopped) return
    if (!members.every((member) => liveness.isUsable(member))) return
    this.running = true
    try {
      this.counters.rounds++
      const topology = this.options.topology.topology()
      const candidates = await this.collect(topology)
      if (candidates.length === 0) return
      const reports = await this.gatherReports(candidates, topology.version)
      // Reports taken under a ring this node has left behind may miss a new holder.
      if (this.options.topology.topology().version !== topology.version) return
      await this.act(candidates, reports, topology)
    } finally {
      this.running = false
    }
  }

  /** Reapable tombstones from a bounded slice of this node's first-primary partitions. */
  private async collect(topology: Topology): Promise<Candidate[]> {
    const { keyspaces, store, clock, graceMs, selfId } = this.options
    const partitions = partitionsOf(topology.current, selfId, 1).map((place) => place.partition)
    const slots = partitions.length * keyspaces.length
    const candidates: Candidate[] = []
    let scanned = 0
    for (let step = 0; step <= slots && slots > 0; step++) {
      if (candidates.length >= REAP_BATCH_MAX || scanned >= SCAN_RECORDS_MAX) break
      const slot = this.cursor.slot % slots
      const partition = partitions[Math.floor(slot / keyspaces.length)] as number
      const keyspace = keyspaces[slot % keyspaces.length] as KeyspaceRef
      const records = await store.recordsAfter(
        partition,
        keyspace.name,
        this.cursor.after,
        SCAN_STEP,
      )
      scanned += records.length
      for (const { key, record } of records) {
        this.cursor.after = key
        if (!isReapable(record, clock.wallMs(), graceMs)) continue
        candidates.push({ keyspace, address: { partition, keyspace: keyspace.name, key }, record })
        if (candidates.length >= REAP_BATCH_MAX) return candidates
      }
      if (records.length < SCAN_STEP) this.cursor = { slot: (slot + 1) % slots, after: '' }
    }
    return candidates
  }

  /** Every member's report on every candidate, by key index; a silent member has none. */
  private async gatherReports(
    candidates: readonly Candidate[],
    version: number,
  ): Promise<Map<string, ReapReport>[]> {
    const { members, selfId, peers, peerTimeoutMs } = this.options
    const reports = candidates.map(() => new Map<string, ReapReport>())
    const message: ReapCheckMessage = { keys: candidates.map((candidate) => candidate.address) }
    await Promise.all(
      members.map(async (member) => {
        let answers: ReapReport[]
        try {
          if (member === selfId) {
            answers = await this.check(message)
          } else {
            const body = {
              type: KV_MESSAGE_TYPES.reapCheck,
              keys: message.keys.map((address) => [address.keyspace, address.key]),
            }
            const answer = await peers.request(member, stampBody(body, version), peerTimeoutMs)
            answers = decodeReapCheckAnswer(answer, candidates.length)
          }
        } catch (error) {
          this.options.log.debug('reap check failed', { member, error })
          return
        }
        answers.forEach((report, index) => {
          reports[index]?.set(member, report)
        })
      }),
    )
    return reports
  }

  private async act(
    candidates: readonly Candidate[],
    reports: readonly Map<string, ReapReport>[],
    topology: Topology,
  ): Promise<void> {
    const { members } = this.options
    const deletes = new Map<string, Candidate[]>()
    const repairs: Promise<unknown>[] = []
    candidates.forEach((candidate, index) => {
      const primaries = holders(topology, candidate.address.partition, candidate.keyspace.replicas)
      const verdict = reapVerdict(candidate.record, primaries, members, reports[index] ?? new Map())
      if (verdict.kind === 'keep') {
        this.counters.kept++
      } else if (verdict.kind === 'repair') {
        this.counters.repaired += verdict.nodes.length
        for (const node of verdict.nodes) {
          repairs.push(this.repair(node, candidate, topology.version))
        }
      } else {
        for (const holder of verdict.holders) {
          const entries = deletes.get(holder) ?? []
          entries.push(candidate)
          deletes.set(holder, entries)
        }
      }
    })
    await Promise.allSettled([
      ...repairs,
      ...[...deletes].map(([holder, entries]) => this.reap(holder, entries, topology.version)),
    ])
  }

  private repair(node: string, candidate: Candidate, version: number): Promise<unknown> {
    const { selfId, store, peers, peerTimeoutMs } = this.options
    const sync = candidate.keyspace.durability === 'sync'
    if (node === selfId) return store.merge(candidate.address, candidate.record, sync)
    const body = {
      type: KV_MESSAGE_TYPES.replicate,
      keyspace: candidate.address.keyspace,
      key: candidate.address.key,
      record: encodeKeyRecord(candidate.record),
    }
    return peers.request(node, stampBody(body, version), peerTimeoutMs)
  }

  private async reap(
    holder: string,
    entries: readonly Candidate[],
    version: number,
  ): Promise<void> {
    const { selfId, peers, peerTimeoutMs } = this.options
    if (holder === selfId) {
      const message: ReapMessage = {
        entries: entries.map((entry) => ({ ...entry.address, record: entry.record })),
      }
      this.counters.reaped += await this.reapLocal(message)
      return
    }
    const body = {
      type: KV_MESSAGE_TYPES.reap,
      entries: entries.map((entry) => [
        entry.address.keyspace,
        entry.address.key,
        encodeKeyRecord(entry.record),
      ]),
    }
    await peers.request(holder, stampBody(body, version), peerTimeoutMs)
  }

  /** Answers a reap check: for each key, whether any hint of it is here, and this node's record. */
  async check(message: ReapCheckMessage): Promise<ReapReport[]> {
    const { store, members } = this.options
    const { partitionCount } = this.options.topology.topology().current
    const reports: ReapReport[] = []
    for (const address of message.keys) {
      const partition = partitionForKey(partitionCount, address.keyspace, address.key)
      const dataAddress = { partition, keyspace: address.keyspace, key: address.key }
      reports.push({
        hinted: await store.hasHint(dataAddress, members),
        record: await store.read(dataAddress),
      })
    }
    return reports
  }

  /** Deletes each record that still equals the state the reaper checked; returns the count. */
  async reapLocal(message: ReapMessage): Promise<number> {
    const { store, keyspaces } = this.options
    const { partitionCount } = this.options.topology.topology().current
    let deleted = 0
    for (const entry of message.entries) {
      const keyspace = keyspaces.find((candidate) => candidate.name === entry.keyspace)
      if (keyspace === undefined) continue
      const partition = partitionForKey(partitionCount, entry.keyspace, entry.key)
      const address = { partition, keyspace: entry.keyspace, key: entry.key }
      if (await store.deleteIfEqual(address, entry.record, keyspace.durability === 'sync')) {
        deleted++
      }
    }
    return deleted
  }
}
