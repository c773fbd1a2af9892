/**
 * The ring as plain data for gossip and REST, and a validating decoder for rings received from
 * peers or clients. Lists name nodes by their index in the sorted node array, which keeps a
 * 64-partition, 3-slot ring of short ids to about half a kilobyte of msgpack.
 *
 * `ringFromUntrusted` trusts nothing: it checks types, limits and every structural invariant
 * (ringProblem) before returning, and throws MurmurError('invalid_request') otherwise.
 */

import { MurmurError } from '../env/errors.js'
import {
  freezeRing,
  isPartitionCount,
  PARTITION_COUNT_MAX,
  type Ring,
  type RingNode,
  ringProblem,
} from './ring.js'

export interface RingJson {
  version: number
  partitionCount: number
  replicaSlots: number
  /** [id, zone] pairs, sorted by id. */
  nodes: [string, string][]
  /** preferences[partition] lists indices into `nodes`. */
  preferences: number[][]
}

export function ringToJson(ring: Ring): RingJson {
  const indexOf = new Map(ring.nodes.map((node, index) => [node.id, index]))
  return {
    version: ring.version,
    partitionCount: ring.partitionCount,
    replicaSlots: ring.replicaSlots,
    nodes: ring.nodes.map((node) => [node.id, node.zone]),
    preferences: ring.preferences.map((list) => list.map((id) => indexOf.get(id) ?? -1)),
  }
}

function invalid(message: string): MurmurError {
  return new MurmurError('invalid_request', `invalid ring: ${message}`)
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function integerField(record: Record<string, unknown>, name: string): number {
  const { [name]: value } = record
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalid(`${name} must be an integer`)
  }
  return value
}

function decodeNodes(value: unknown): RingNode[] {
  if (!Array.isArray(value) || value.length > PARTITION_COUNT_MAX) {
    throw invalid(`nodes must be an array of at most ${PARTITION_COUNT_MAX} entries`)
  }
  return value.map((entry: unknown) => {
    if (!Array.isArray(entry) || entry.length !== 2) throw invalid('a node must be [id, zone]')
    const [id, zone] = entry as unknown[]
    if (typeof id !== 'string' || typeof zone !== 'string') {
      throw invalid('node id and zone must be strings')
    }
    return { id, zone }
  })
}

function decodePreferences(
  value: unknown,
  partitionCount: number,
  nodes: readonly RingNode[],
): string[][] {
  if (!Array.isArray(value) || value.length !== partitionCount) {
    throw invalid(`preferences must be an array of ${partitionCount} lists`)
  }
  return value.map((list: unknown, partition) => {
    if (!Array.isArray(list) || list.length > nodes.length) {
      throw invalid(`preferences[${partition}] must be an array of at most ${nodes.length}`)
    }
    return list.map((index: unknown) => {
      const node = typeof index === 'number' && Number.isInteger(index) ? nodes[index] : undefined
      if (node === undefined) throw invalid(`preferences[${partition}] has a bad node index`)
      return node.id
    })
  })
}

/** Decodes and validates a ring; throws MurmurError('invalid_request') on any defect. */
export function ringFromUntrusted(value: unknown): Ring {
  if (!isRecord(value)) throw invalid('expected an object')
  const version = integerField(value, 'version')
  const partitionCount = integerField(value, 'partitionCount')
  const replicaSlots = integerField(value, 'replicaSlots')
  // The partition count bounds every array below, so it is checked before they are read.
  if (!isPartitionCount(partitionCount)) throw invalid(`bad partition count ${partitionCount}`)
  const nodes = decodeNodes(value['nodes'])
  const preferences = decodePreferences(value['preferences'], partitionCount, nodes)
  const ring: Ring = { version, partitionCount, replicaSlots, nodes, preferences }
  const problem = ringProblem(ring)
  if (problem !== undefined) throw invalid(problem)
  return freezeRing(ring)
}
