/**
 * The peer messages of strong mode, and their validation (peer bodies are untrusted):
 *
 * - `raft.message` (notify): the Raft messages of one Ready for one peer, in order. Each is
 *   checked by the Raft codec (`parseMessage`); a batch holds at most MESSAGES_PER_BATCH_MAX.
 * - `raft.snapshot` (request): one chunk of a snapshot streamed to a follower. The first chunk
 *   carries the header (term, metadata, total size); chunks arrive in order, each at most
 *   SNAPSHOT_STREAM_CHUNK_BYTES, and the receiver assembles at most one snapshot per sender.
 * - `strong.forward` (request): a command or a read handed to another member, because this
 *   node is not the leader or not a member. `hops` bounds forwarding chains.
 */

import { MurmurError } from '../../env/errors.js'
import {
  FieldReader,
  type Message,
  parseConfState,
  parseMessage,
  type SnapshotMetadata,
} from '../../raft/index.js'
import { type Command, parseCommand, REQUEST_ID_LENGTH_MAX } from '../../raft/machine/commands.js'

export const RAFT_MESSAGE_TYPE = 'raft.message'
export const RAFT_SNAPSHOT_TYPE = 'raft.snapshot'
export const STRONG_FORWARD_TYPE = 'strong.forward'

export const MESSAGES_PER_BATCH_MAX = 65_536
export const SNAPSHOT_STREAM_CHUNK_BYTES = 1024 * 1024
/** A forwarded request may pass through at most this many nodes before it is served. */
export const FORWARD_HOPS_MAX = 2

export interface SnapshotChunk {
  readonly term: number
  readonly metadata: SnapshotMetadata
  /** Total bytes of the snapshot's data. */
  readonly totalBytes: number
  /** Where `data` starts within the snapshot's data. */
  readonly offset: number
  readonly data: Uint8Array
}

export type ForwardedRequest =
  | {
      readonly op: 'command'
      readonly command: Command
      readonly requestId: string | undefined
      readonly timeoutMs: number
      readonly hops: number
    }
  | {
      readonly op: 'read'
      readonly keyspace: string
      readonly key: string
      readonly linearizable: boolean
      readonly timeoutMs: number
      readonly hops: number
    }
  | {
      readonly op: 'list'
      readonly keyspace: string
      readonly prefix: string
      readonly after: string
      readonly limit: number
      readonly linearizable: boolean
      readonly timeoutMs: number
      readonly hops: number
    }

/** What a forwarded read answers: the value and version, or found: false. */
export interface ReadAnswer {
  readonly found: boolean
  readonly value?: Uint8Array
  readonly contentType?: string
  readonly version?: number
}

const BATCH_KEYS: ReadonlySet<string> = new Set(['type', 'messages'])
const CHUNK_KEYS: ReadonlySet<string> = new Set([
  'type',
  'term',
  'metadata',
  'totalBytes',
  'offset',
  'data',
])
const METADATA_KEYS: ReadonlySet<string> = new Set(['index', 'term', 'confState'])
const FORWARD_KEYS: ReadonlySet<string> = new Set([
  'type',
  'op',
  'command',
  'requestId',
  'keyspace',
  'key',
  'prefix',
  'after',
  'limit',
  'linearizable',
  'timeoutMs',
  'hops',
])
const READ_ANSWER_KEYS: ReadonlySet<string> = new Set(['found', 'value', 'contentType', 'version'])

export function raftBatchBody(messages: readonly Message[]): unknown {
  return { type: RAFT_MESSAGE_TYPE, messages }
}

/** The messages of a `raft.message` body; throws MurmurError('invalid_request'). */
export function parseRaftBatch(body: unknown): Message[] {
  const reader = new FieldReader(body, RAFT_MESSAGE_TYPE, BATCH_KEYS)
  return reader.list('messages', MESSAGES_PER_BATCH_MAX).map(parseMessage)
}

export function snapshotChunkBody(chunk: SnapshotChunk): unknown {
  return { type: RAFT_SNAPSHOT_TYPE, ...chunk }
}

export function parseSnapshotChunk(body: unknown, totalBytesMax: number): SnapshotChunk {
  const reader = new FieldReader(body, RAFT_SNAPSHOT_TYPE, CHUNK_KEYS)
  const meta = new FieldReader(reader.raw('metadata'), 'metadata', METADATA_KEYS)
  const chunk: SnapshotChunk = {
    term: reader.integer('term'),
    metadata: {
      index: meta.integer('index'),
      term: meta.integer('term'),
      confState: parseConfState(meta.raw('confState')),
    },
    totalBytes: reader.integer('totalBytes'),
    offset: reader.integer('offset'),
    data: reader.bytes('data', SNAPSHOT_STREAM_CHUNK_BYTES),
  }
  if (chunk.totalBytes > totalBytesMax || chunk.offset + chunk.data.length > chunk.totalBytes) {
    throw new MurmurError('invalid_request', `${RAFT_SNAPSHOT_TYPE}: chunk outside the snapshot`)
  }
  return chunk
}

export function forwardBody(request: ForwardedRequest): unknown {
  return { type: STRONG_FORWARD_TYPE, ...request }
}

export function parseForward(body: unknown, keyLengthMax: number): ForwardedRequest {
  const reader = new FieldReader(body, STRONG_FORWARD_TYPE, FORWARD_KEYS)
  const op = reader.oneOf('op', ['command', 'read', 'list'] as const)
  const timeoutMs = reader.integer('timeoutMs', 1)
  const hops = reader.integer('hops')
  if (op === 'command') {
    const requestId = reader.has('requestId')
      ? reader.text('requestId', REQUEST_ID_LENGTH_MAX, 1)
      : undefined
    return { op, command: parseCommand(reader.raw('command')), requestId, timeoutMs, hops }
  }
  const keyspace = reader.text('keyspace', 64, 1)
  const linearizable = reader.boolean('linearizable')
  if (op === 'read') {
    return { op, keyspace, key: reader.text('key', keyLengthMax, 1), linearizable, timeoutMs, hops }
  }
  return {
    op,
    keyspace,
    prefix: reader.text('prefix', keyLengthMax),
    after: reader.text('after', keyLengthMax),
    limit: reader.integer('limit', 1),
    linearizable,
    timeoutMs,
    hops,
  }
}

export function parseReadAnswer(body: unknown): ReadAnswer {
  const reader = new FieldReader(body, 'read answer', READ_ANSWER_KEYS)
  if (!reader.boolean('found')) return { found: false }
  return {
    found: true,
    value: reader.bytes('value', Number.MAX_SAFE_INTEGER),
    contentType: reader.text('contentType', 256, 1),
    version: reader.integer('version', 1),
  }
}
