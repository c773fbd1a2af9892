/**
 * Pulled metrics of partition handoff: records and bytes this node received through
 * transfers, transfers done and failed attempts, transfers in progress, pages served to
 * receivers, and cleanup of partitions no longer owned. Every value is read at scrape time
 * from the counters the transfer engine and cleanup keep; all read 0 before the node opened.
 */

import type { Handoff } from '../runtime/topology/transfer-wiring.js'
import type { PulledMetric } from './pulled.js'

export interface HandoffSource {
  readonly handoff: Handoff | undefined
}

export function handoffMetrics(source: HandoffSource): PulledMetric[] {
  const transfer = (
    name: string,
    help: string,
    field: keyof ReturnType<Handoff['counters']>['handoff'],
  ): PulledMetric => ({
    name,
    help,
    type: 'counter',
    read: () => source.handoff?.counters().handoff[field] ?? 0,
  })
  const cleanup = (
    name: string,
    help: string,
    field: keyof Handoff['cleanup']['counters'],
  ): PulledMetric => ({
    name,
    help,
    type: 'counter',
    read: () => source.handoff?.cleanup.counters[field] ?? 0,
  })
  return [
    transfer(
      'murmur_handoff_keys_moved_total',
      'Records this node merged from partition transfers it receives.',
      'keysMoved',
    ),
    transfer(
      'murmur_handoff_bytes_moved_total',
      'Bytes of transfer pages this node received.',
      'bytesMoved',
    ),
    transfer(
      'murmur_handoff_keys_skipped_total',
      'Transferred records a full receiver left alone because they hold digests only.',
      'keysSkipped',
    ),
    transfer(
      'murmur_handoff_transfers_done_total',
      'Partition transfers this node received to the end (streamed and reconciled).',
      'transfersDone',
    ),
    transfer(
      'murmur_handoff_transfers_failed_total',
      'Transfer attempts that failed (source down, timeout, stop); each is retried.',
      'transfersFailed',
    ),
    transfer(
      'murmur_handoff_pages_served_total',
      'Transfer pages this node served to receivers as a source.',
      'pagesServed',
    ),
    transfer(
      'murmur_handoff_keys_served_total',
      'Records this node sent to receivers as a source.',
      'keysServed',
    ),
    {
      name: 'murmur_handoff_transfers_in_progress',
      help: 'Partition transfers this node is streaming or reconciling now.',
      type: 'gauge',
      read: () => source.handoff?.counters().inProgress ?? 0,
    },
    cleanup(
      'murmur_handoff_cleanup_keys_deleted_total',
      'Records deleted from partitions this node no longer owns.',
      'keysDeleted',
    ),
    cleanup(
      'murmur_handoff_cleanup_partitions_total',
      'Keyspace partitions whose data cleanup removed.',
      'partitionsCleaned',
    ),
  ]
}
