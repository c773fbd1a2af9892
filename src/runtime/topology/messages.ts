/**
 * The peer messages of the topology control plane, and their validation (peer bodies are
 * untrusted):
 *
 * - `topology.get` (request): answers the topology the receiver acts on, in record form.
 *   A fresh or wiped node asks every node at start; a node told of a newer version (fencing,
 *   gossip) asks the node that named it.
 * - `topology.transfers` (request): answers the receiver's transfer report, the transfers it
 *   receives, at most TRANSFERS_COUNT_MAX of them. The Raft leader asks the receivers of the
 *   current move whether every transfer is done before it finishes the move.
 */

import { FieldReader } from '../../raft/codec.js'
import { NODE_ID_LENGTH_MAX, PARTITION_COUNT_MAX, REPLICA_SLOTS_MAX } from '../../ring/ring.js'
import type { Topology } from '../../ring/topology.js'
import { topologyFromUntrusted, topologyToRecord } from '../../ring/topology-plan.js'
import type { TransferStatus } from './view.js'

export const TOPOLOGY_GET_TYPE = 'topology.get'
export const TOPOLOGY_TRANSFERS_TYPE = 'topology.transfers'

/** Transfers one report may list: every partition gained by every node of the largest list. */
export const TRANSFERS_COUNT_MAX = PARTITION_COUNT_MAX * REPLICA_SLOTS_MAX
const ERROR_TEXT_LENGTH_MAX = 1024
const TIME_TEXT_LENGTH_MAX = 64
const STATES = ['waiting', 'streaming', 'reconciling', 'done', 'failed'] as const

const GET_ANSWER_KEYS: ReadonlySet<string> = new Set(['record'])
const TRANSFERS_ANSWER_KEYS: ReadonlySet<string> = new Set(['transfers'])
const STATUS_KEYS: ReadonlySet<string> = new Set([
  'version',
  'partition',
  'receiver',
  'source',
  'state',
  'keysMoved',
  'bytesMoved',
  'startedAt',
  'finishedAt',
  'error',
])

export function topologyAnswer(topology: Topology): unknown {
  return { record: topologyToRecord(topology) }
}

/** The topology a peer answered `topology.get` with; throws MurmurError('invalid_request'). */
export function parseTopologyAnswer(body: unknown): Topology {
  const reader = new FieldReader(body, TOPOLOGY_GET_TYPE, GET_ANSWER_KEYS)
  return topologyFromUntrusted(reader.raw('record'))
}

export function transfersAnswer(transfers: readonly TransferStatus[]): unknown {
  // Absent optional fields travel as null, since msgpack has no undefined.
  return {
    transfers: transfers.slice(0, TRANSFERS_COUNT_MAX).map((status) => ({
      ...status,
      startedAt: status.startedAt ?? null,
      finishedAt: status.finishedAt ?? null,
      error: status.error ?? null,
    })),
  }
}

function optionalText(reader: FieldReader, key: string, lengthMax: number): string | undefined {
  const value = reader.raw(key)
  return value === null || value === undefined ? undefined : reader.text(key, lengthMax)
}

function parseStatus(value: unknown): TransferStatus {
  const reader = new FieldReader(value, 'transfer', STATUS_KEYS)
  const state = reader.oneOf('state', STATES)
  return {
    version: reader.integer('version', 1),
    partition: reader.integer('partition'),
    receiver: reader.text('receiver', NODE_ID_LENGTH_MAX, 1),
    source: reader.text('source', NODE_ID_LENGTH_MAX, 1),
    state,
    keysMoved: reader.integer('keysMoved'),
    bytesMoved: reader.integer('bytesMoved'),
    startedAt: optionalText(reader, 'startedAt', TIME_TEXT_LENGTH_MAX),
    finishedAt: optionalText(reader, 'finishedAt', TIME_TEXT_LENGTH_MAX),
    error: optionalText(reader, 'error', ERROR_TEXT_LENGTH_MAX),
  }
}

/** The transfers a peer reported; throws MurmurError('invalid_request'). */
export function parseTransfersAnswer(body: unknown): TransferStatus[] {
  const reader = new FieldReader(body, TOPOLOGY_TRANSFERS_TYPE, TRANSFERS_ANSWER_KEYS)
  return reader.list('transfers', TRANSFERS_COUNT_MAX).map(parseStatus)
}
