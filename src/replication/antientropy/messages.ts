/**
 * The peer messages of anti-entropy and their strict decoders. A body from the network is
 * untrusted: every field is type-checked and size-bounded, unknown fields are refused, and
 * anything malformed is MurmurError('invalid_request').
 *
 *   aae.hashes   node hashes of one level of the receiver's tree of (keyspace, partition)
 *   aae.keys     the receiver's keys (with record hashes) in some segments, in key order after
 *                a key, up to a limit; the answer's frontier says where the scan stopped
 *   aae.records  the receiver's own records of some keys (null where it holds none)
 *
 * Every request names the tree depth it expects; a receiver whose trees have another shape
 * refuses, so two nodes with different settings never compare unrelated hashes. Every request
 * also carries the sender's topology version (src/replication/fencing.ts), which the receiver
 * takes off before these decoders see the body.
 */

import { MurmurError } from '../../env/errors.js'
import { type MessageLimits, REAP_BATCH_MAX } from '../messages.js'
import { KEYSPACE_PATTERN, keyProblem } from '../names.js'
import { decodeKeyRecord, type KeyRecord } from '../record.js'
import type { KeyEntry } from './exchange.js'
import { keyHashFromBytes, NODE_HASH_BYTES, TREE_DEPTH_MAX, TREE_FANOUT } from './tree.js'

export const AAE_MESSAGE_TYPES = {
  hashes: 'aae.hashes',
  keys: 'aae.keys',
  records: 'aae.records',
} as const

/** Node hashes asked in one message: a whole level of a depth-3 tree. */
export const NODES_PER_MESSAGE_MAX = 4096
/** Segments named in one key request. */
export const SEGMENTS_PER_MESSAGE_MAX = 4096
/** Key entries in one key answer. */
export const KEYS_PER_MESSAGE_MAX = 4096
/** Records asked in one records request. */
export const RECORDS_PER_MESSAGE_MAX = REAP_BATCH_MAX

export interface TreeAddress {
  readonly keyspace: string
  readonly partition: number
  readonly depth: number
}

export interface HashesMessage extends TreeAddress {
  readonly level: number
  readonly indices: readonly number[]
}

export interface KeysMessage extends TreeAddress {
  readonly segments: readonly number[]
  /** Keys strictly after this one; '' starts at the first key. */
  readonly after: string
  readonly limit: number
}

export interface KeysAnswer {
  readonly entries: KeyEntry[]
  /** The last key the scan looked at when it stopped early; undefined when it saw them all. */
  readonly frontier: string | undefined
}

export interface RecordsMessage {
  readonly keyspace: string
  readonly partition: number
  readonly keys: readonly string[]
}

type Body = Readonly<Record<string, unknown>>

export function invalid(message: string): MurmurError {
  return new MurmurError('invalid_request', message, { definite: true })
}

/** Refuses any field but `type` and the allowed ones. */
export function onlyFields(body: Body, allowed: readonly string[]): void {
  for (const name of Object.keys(body)) {
    if (name !== 'type' && !allowed.includes(name)) {
      throw invalid(`unexpected field ${name.slice(0, 32)} in ${String(body['type'])}`)
    }
  }
}

export function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${name} must be an integer in ${min}..${max}`)
  }
  return value
}

export function keyOf(value: unknown, limits: MessageLimits, emptyAllowed = false): string {
  if (typeof value !== 'string') throw invalid('a key must be a string')
  if (emptyAllowed && value === '') return value
  const problem = keyProblem(value, limits.keyBytesMax)
  if (problem !== undefined) throw invalid(problem)
  return value
}

export function array(value: unknown, name: string, lengthMax: number): readonly unknown[] {
  if (!Array.isArray(value) || value.length > lengthMax) {
    throw invalid(`${name} must be an array of at most ${lengthMax} entries`)
  }
  return value
}

/** Strictly ascending integers in [0, max), as node and segment lists are sent. */
function ascending(value: unknown, name: string, lengthMax: number, max: number): number[] {
  const numbers = array(value, name, lengthMax).map((item) => integer(item, name, 0, max - 1))
  for (let index = 1; index < numbers.length; index++) {
    if ((numbers[index] as number) <= (numbers[index - 1] as number)) {
      throw invalid(`${name} must be strictly ascending`)
    }
  }
  return numbers
}

function treeAddress(body: Body, partitionCount: number): TreeAddress {
  const keyspace = body['keyspace']
  if (typeof keyspace !== 'string' || !KEYSPACE_PATTERN.test(keyspace)) {
    throw invalid('keyspace must be 1-64 characters of a-z, 0-9, _ and -')
  }
  return {
    keyspace,
    partition: integer(body['partition'], 'partition', 0, partitionCount - 1),
    depth: integer(body['depth'], 'depth', 1, TREE_DEPTH_MAX),
  }
}

export function decodeHashes(body: Body, partitionCount: number): HashesMessage {
  onlyFields(body, ['keyspace', 'partition', 'depth', 'level', 'indices'])
  const address = treeAddress(body, partitionCount)
  const level = integer(body['level'], 'level', 0, address.depth)
  const width = TREE_FANOUT ** level
  return {
    ...address,
    level,
    indices: ascending(body['indices'], 'indices', NODES_PER_MESSAGE_MAX, width),
  }
}

export function decodeKeys(body: Body, partitionCount: number, limits: MessageLimits): KeysMessage {
  onlyFields(body, ['keyspace', 'partition', 'depth', 'segments', 'after', 'limit'])
  const address = treeAddress(body, partitionCount)
  const segments = TREE_FANOUT ** address.depth
  return {
    ...address,
    segments: ascending(body['segments'], 'segments', SEGMENTS_PER_MESSAGE_MAX, segments),
    after: keyOf(body['after'], limits, true),
    limit: integer(body['limit'], 'limit', 1, KEYS_PER_MESSAGE_MAX),
  }
}

export function decodeRecords(
  body: Body,
  partitionCount: number,
  limits: MessageLimits,
): RecordsMessage {
  onlyFields(body, ['keyspace', 'partition', 'depth', 'keys'])
  const address = treeAddress(body, partitionCount)
  const keys = array(body['keys'], 'keys', RECORDS_PER_MESSAGE_MAX).map((key) => keyOf(key, limits))
  return { keyspace: address.keyspace, partition: address.partition, keys }
}

export function answerBody(answer: unknown): Body {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
    throw invalid('a peer answer must be a map')
  }
  return answer as Body
}

/** The answer to aae.hashes: 8 bytes per node asked. */
export function decodeHashesAnswer(answer: unknown, nodesAsked: number): Uint8Array {
  const hashes = answerBody(answer)['hashes']
  if (!(hashes instanceof Uint8Array) || hashes.length !== nodesAsked * NODE_HASH_BYTES) {
    throw invalid('aae.hashes answers 8 bytes per node asked')
  }
  return hashes
}

/** The answer to aae.keys: entries in ascending key order, and the frontier. */
export function decodeKeysAnswer(answer: unknown, limits: MessageLimits): KeysAnswer {
  const body = answerBody(answer)
  const entries = array(body['entries'], 'entries', KEYS_PER_MESSAGE_MAX).map((entry) => {
    if (!Array.isArray(entry) || entry.length !== 2 || !(entry[1] instanceof Uint8Array)) {
      throw invalid('a key entry is [key, hash bytes]')
    }
    if (entry[1].length !== NODE_HASH_BYTES) throw invalid('a key hash has 8 bytes')
    return { key: keyOf(entry[0], limits), hash: keyHashFromBytes(entry[1]) }
  })
  const frontier = body['frontier']
  return {
    entries,
    frontier: frontier === null || frontier === undefined ? undefined : keyOf(frontier, limits),
  }
}

/** The answer to aae.records: one record (or undefined) per key asked, in order. */
export function decodeRecordsAnswer(answer: unknown, keysAsked: number): (KeyRecord | undefined)[] {
  const records = array(answerBody(answer)['records'], 'records', RECORDS_PER_MESSAGE_MAX)
  if (records.length !== keysAsked) throw invalid('aae.records answers every key asked')
  return records.map((record) =>
    record === null ? undefined : decodeKeyRecord(record, 'invalid_request'),
  )
}
