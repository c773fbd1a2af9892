/**
 * Pulled metrics of Merkle-tree anti-entropy: exchanges, keys compared and repaired, bytes
 * moved, tree rebuilds and the keys the trees track. Every value is read at scrape time from
 * the counters the anti-entropy service keeps; all read 0 while it is off or not yet open.
 */

import type { AntiEntropyCounters } from '../runtime/antientropy/anti-entropy.js'
import type { PulledMetric } from './pulled.js'

export interface AntiEntropySource {
  antiEntropyCounters(): Readonly<AntiEntropyCounters> | undefined
  /** Tree rebuilds finished and keys tracked, undefined while off. */
  antiEntropyTrees(): { readonly rebuilds: number; readonly keys: number } | undefined
}

export function antiEntropyMetrics(source: AntiEntropySource): PulledMetric[] {
  const counter = (name: string, help: string, field: keyof AntiEntropyCounters): PulledMetric => ({
    name,
    help,
    type: 'counter',
    read: () => source.antiEntropyCounters()?.[field] ?? 0,
  })
  return [
    counter(
      'murmur_aae_exchanges_total',
      'Anti-entropy exchanges this node ran to the end.',
      'exchanges',
    ),
    counter(
      'murmur_aae_exchanges_failed_total',
      'Anti-entropy exchanges that failed (peer unreachable, timeout, stop).',
      'exchangesFailed',
    ),
    counter(
      'murmur_aae_keys_compared_total',
      'Keys of differing segments whose record hashes an exchange compared.',
      'keysCompared',
    ),
    counter(
      'murmur_aae_keys_repaired_total',
      'Keys an exchange repaired: this node merged a newer state, or sent its own to the peer.',
      'keysRepaired',
    ),
    counter(
      'murmur_aae_keys_skipped_total',
      'Differing keys left alone because a full replica never takes or gets digest-only records.',
      'keysSkipped',
    ),
    counter(
      'murmur_aae_bytes_sent_total',
      'Bytes of anti-entropy requests and pushed records this node sent.',
      'bytesSent',
    ),
    counter(
      'murmur_aae_bytes_received_total',
      'Bytes of anti-entropy answers this node received.',
      'bytesReceived',
    ),
    {
      name: 'murmur_aae_rebuilds_total',
      help: 'Full rebuilds of every anti-entropy tree from storage (at start and on schedule).',
      type: 'counter',
      read: () => source.antiEntropyTrees()?.rebuilds ?? 0,
    },
    {
      name: 'murmur_aae_tree_keys',
      help: 'Keys the anti-entropy trees of this node track.',
      type: 'gauge',
      read: () => source.antiEntropyTrees()?.keys ?? 0,
    },
  ]
}
