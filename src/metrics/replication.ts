/**
 * Pulled metrics of the eventual keyspaces and the storage under them: coordination, siblings,
 * read repair, hinted handoff, tombstone reaping, corrupt records and RocksDB's size estimates.
 * Every value is read from the counters the key-value service keeps (KvService.liveCounters)
 * or from the storage engine's own statistics, at scrape time.
 */

import type { KvLiveCounters } from '../runtime/kv/service.js'
import type { StorageStats } from '../storage/engine.js'
import type { PulledMetric } from './pulled.js'
import { samplesOf } from './pulled.js'

export interface ReplicationSource {
  liveCounters(): KvLiveCounters
  readonly store: { hintCountsByTarget(): ReadonlyMap<string, number> }
}

export interface StorageSource {
  stats(): Promise<StorageStats>
}

type Section = Exclude<keyof KvLiveCounters, 'inflightRequests' | 'repairsInFlight'>

/** Builds counters that read one field of one section of the live counters (0 before open). */
function countersOf(source: ReplicationSource) {
  return <S extends Section>(
    name: string,
    help: string,
    section: S,
    field: keyof NonNullable<KvLiveCounters[S]>,
  ): PulledMetric => ({
    name,
    help,
    type: 'counter',
    read: () => {
      const counters = source.liveCounters()[section] as
        | Readonly<Record<typeof field, number>>
        | undefined
      return counters?.[field] ?? 0
    },
  })
}

export function replicationMetrics(source: ReplicationSource): PulledMetric[] {
  const counter = countersOf(source)
  return [
    {
      name: 'murmur_kv_inflight_requests',
      help: 'Client key-value requests this node works on now (limit: limits.inflightRequestsMax).',
      type: 'gauge',
      read: () => source.liveCounters().inflightRequests,
    },
    counter(
      'murmur_kv_writes_coordinated_total',
      'Writes this node coordinated (minted a version for).',
      'coordinator',
      'writesCoordinated',
    ),
    counter(
      'murmur_kv_writes_forwarded_total',
      'Writes this node forwarded to a primary replica to coordinate.',
      'coordinator',
      'writesForwarded',
    ),
    counter(
      'murmur_kv_forwards_deduplicated_total',
      'Second copies of a forwarded write answered with the first copy’s outcome instead of run again.',
      'coordinator',
      'forwardsDeduplicated',
    ),
    counter(
      'murmur_kv_topology_retries_total',
      'Requests planned again under a newer ring version a replica named (stale_ring), during topology changes.',
      'coordinator',
      'topologyRetries',
    ),
    {
      name: 'murmur_kv_requests_fenced_total',
      help: 'Peer requests this node refused because they were planned under an older ring version.',
      type: 'counter',
      read: () => source.liveCounters().requestsFenced,
    },
    counter(
      'murmur_kv_hints_redirected_total',
      'Hints delivered to the current holders of their partition because their target no longer holds it.',
      'hintReplay',
      'redirected',
    ),
    counter(
      'murmur_kv_writes_witness_coordinated_total',
      'Writes this node coordinated as a witness of the key (kept in witness form, value held until a full replica acked).',
      'coordinator',
      'writesWitnessCoordinated',
    ),
    counter(
      'murmur_kv_witness_custody_released_total',
      'Values a witness held for its own coordinated writes, deleted once a full replica acknowledged them.',
      'coordinator',
      'witnessCustodyReleased',
    ),
    counter(
      'murmur_kv_reads_with_siblings_total',
      'Reads whose answer held more than one sibling (concurrent writes).',
      'coordinator',
      'readsWithSiblings',
    ),
    counter(
      'murmur_kv_siblings_read_total',
      'Siblings returned by reads that had more than one, summed.',
      'coordinator',
      'siblingsRead',
    ),
    counter(
      'murmur_kv_reads_narrowed_total',
      'Reads that asked only the replicas their level needs (fewer than all).',
      'coordinator',
      'readsNarrowed',
    ),
    counter(
      'murmur_kv_reads_witness_extended_total',
      'Reads that asked another full replica because a witness reported a write the full answers lacked.',
      'coordinator',
      'readsWitnessExtended',
    ),
    counter(
      'murmur_kv_reads_witness_stale_total',
      'Reads refused (503, stale) because a witness reported a write no full replica that answered held.',
      'coordinator',
      'readsWitnessStale',
    ),
    counter(
      'murmur_kv_read_repairs_total',
      'Stale replicas sent a repaired record after a read.',
      'coordinator',
      'readRepairs',
    ),
    counter(
      'murmur_kv_read_repairs_skipped_total',
      'Read repairs not started because background repairs were at their limit.',
      'coordinator',
      'readRepairsSkipped',
    ),
    {
      name: 'murmur_kv_read_repairs_in_flight',
      help: 'Read repairs running in the background now.',
      type: 'gauge',
      read: () => source.liveCounters().repairsInFlight,
    },
    ...hintMetrics(source),
    ...reaperMetrics(source),
  ]
}

function reaperMetrics(source: ReplicationSource): PulledMetric[] {
  const counter = countersOf(source)
  return [
    counter(
      'murmur_tombstones_reaped_total',
      'Tombstones this node deleted after every replica confirmed them.',
      'reaper',
      'reaped',
    ),
    counter('murmur_reaper_rounds_total', 'Tombstone reaper rounds run.', 'reaper', 'rounds'),
    counter(
      'murmur_reaper_replicas_repaired_total',
      'Replicas the reaper repaired because they lacked a tombstone.',
      'reaper',
      'repaired',
    ),
    counter(
      'murmur_storage_corrupt_records_total',
      'Records that failed their checksum or did not parse; each is treated as missing and repaired.',
      'store',
      'corruptRecords',
    ),
  ]
}

function hintMetrics(source: ReplicationSource): PulledMetric[] {
  const counter = countersOf(source)
  return [
    counter(
      'murmur_hints_stored_total',
      'Hints this node stored for a replica that was down (sloppy quorum).',
      'store',
      'hintsStored',
    ),
    counter(
      'murmur_hints_refused_total',
      'Hints refused because the target already had replication.hintsPerTargetMax.',
      'store',
      'hintsRefused',
    ),
    counter(
      'murmur_hints_delivered_total',
      'Hints replayed to their target and acknowledged.',
      'hintReplay',
      'delivered',
    ),
    counter(
      'murmur_hints_replay_failures_total',
      'Hint deliveries that failed; the hint stays and is retried.',
      'hintReplay',
      'failed',
    ),
    {
      name: 'murmur_hints_pending',
      help: 'Hints held for each target node, waiting to be replayed.',
      type: 'gauge',
      labelNames: ['target'],
      read: () => samplesOf('target', source.store.hintCountsByTarget()),
    },
  ]
}

export function storageMetrics(storage: StorageSource): PulledMetric[] {
  const size = (name: string, help: string, field: keyof StorageStats): PulledMetric => ({
    name,
    help,
    type: 'gauge',
    read: () => readStats(storage, field),
  })
  return [
    size(
      'murmur_storage_live_data_bytes',
      "Estimated bytes of live data in table files (RocksDB's estimate-live-data-size).",
      'liveDataBytes',
    ),
    size(
      'murmur_storage_keys_estimate',
      'Estimated number of keys in the storage engine, every sublevel included.',
      'keysEstimate',
    ),
    size(
      'murmur_storage_table_files_bytes',
      'Bytes of RocksDB table files on disk (total-sst-files-size).',
      'tableFilesBytes',
    ),
    size(
      'murmur_storage_memtable_bytes',
      'Bytes in RocksDB memtables, not yet flushed to table files.',
      'memtableBytes',
    ),
  ]
}

/** One field of the engine's statistics; 0 when the engine lacks it or is closed. */
async function readStats(storage: StorageSource, field: keyof StorageStats): Promise<number> {
  try {
    return (await storage.stats())[field] ?? 0
  } catch {
    // A closed engine (the node is stopping) has no statistics to report.
    return 0
  }
}
