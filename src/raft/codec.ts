/**
 * Wire and storage formats of the Raft core. Messages, entries, hard states and snapshots are
 * msgpack maps with exactly the fields of their TypeScript types. Decoding trusts nothing: every
 * field is checked for presence, type, range and size, unknown fields are refused, and appends
 * must be contiguous; any violation is a MurmurError('invalid_request'), never an assertion, so
 * a bad peer cannot crash a node.
 */

import { MurmurError } from '../env/errors.js'
import { decode, encode } from '../wire/codec.js'
import { MEMBERS_MAX } from './conf-change.js'
import { NODE_ID_BYTES_MAX, READ_CONTEXT_BYTES_MAX } from './config.js'
import { isWellFormedAppend } from './entries.js'
import type {
  ConfChange,
  ConfChangeType,
  ConfState,
  Entry,
  HardState,
  Message,
  MessageType,
  Snapshot,
} from './types.js'
import { MESSAGE_TYPES } from './types.js'

/** Entries in one append; senders stay far below it through maxSizePerMsgBytes. */
export const MESSAGE_ENTRIES_MAX = 100_000
export const ENTRY_DATA_BYTES_MAX = 16 * 1024 * 1024
export const SNAPSHOT_DATA_BYTES_MAX = 512 * 1024 * 1024

const CONF_CHANGE_TYPES: readonly ConfChangeType[] = ['add_voter', 'add_learner', 'remove_node']

function invalid(path: string, problem: string): MurmurError {
  return new MurmurError('invalid_request', `raft ${path}: ${problem}`, { details: { path } })
}

/**
 * Reads the fields of one untrusted map, naming the offending path in every error. Exported for
 * other decoders of untrusted Raft payloads (the strong state machine's commands).
 */
export class FieldReader {
  private readonly record: Record<string, unknown>

  constructor(
    value: unknown,
    private readonly path: string,
    allowedKeys: ReadonlySet<string>,
  ) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalid(path, 'must be a map')
    }
    if (value instanceof Uint8Array) throw invalid(path, 'must be a map')
    this.record = value as Record<string, unknown>
    for (const key in this.record) {
      if (!allowedKeys.has(key)) throw invalid(`${path}.${key.slice(0, 64)}`, 'unknown field')
    }
  }

  raw(key: string): unknown {
    return this.record[key]
  }

  integer(key: string, minimum = 0): number {
    const value = this.record[key]
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
      throw invalid(`${this.path}.${key}`, `must be an integer >= ${minimum}`)
    }
    return value
  }

  boolean(key: string): boolean {
    const value = this.record[key]
    if (typeof value !== 'boolean') throw invalid(`${this.path}.${key}`, 'must be a boolean')
    return value
  }

  nodeId(key: string, allowEmpty: boolean): string {
    const value = this.record[key]
    if (typeof value !== 'string' || value.length > NODE_ID_BYTES_MAX) {
      throw invalid(`${this.path}.${key}`, `must be a string of at most ${NODE_ID_BYTES_MAX}`)
    }
    if (!allowEmpty && value.length === 0) throw invalid(`${this.path}.${key}`, 'must not be empty')
    return value
  }

  bytes(key: string, bytesMax: number, bytesMin = 0): Uint8Array {
    const value = this.record[key]
    if (!(value instanceof Uint8Array)) throw invalid(`${this.path}.${key}`, 'must be binary')
    if (value.length > bytesMax || value.length < bytesMin) {
      throw invalid(`${this.path}.${key}`, `must hold ${bytesMin} to ${bytesMax} bytes`)
    }
    return value
  }

  /** Whether `key` is present (holds anything but undefined). */
  has(key: string): boolean {
    return this.record[key] !== undefined
  }

  /** A string of `lengthMin` to `lengthMax` UTF-16 code units. */
  text(key: string, lengthMax: number, lengthMin = 0): string {
    const value = this.record[key]
    if (typeof value !== 'string' || value.length > lengthMax || value.length < lengthMin) {
      throw invalid(`${this.path}.${key}`, `must be a string of ${lengthMin} to ${lengthMax}`)
    }
    return value
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const value = this.record[key]
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      throw invalid(`${this.path}.${key}`, `must be one of ${allowed.join(', ')}`)
    }
    return value as T
  }

  list(key: string, lengthMax: number): unknown[] {
    const value = this.record[key]
    if (!Array.isArray(value)) throw invalid(`${this.path}.${key}`, 'must be a list')
    if (value.length > lengthMax) {
      throw invalid(`${this.path}.${key}`, `must hold at most ${lengthMax} items`)
    }
    return value
  }
}

const CONF_CHANGE_KEYS: ReadonlySet<string> = new Set(['type', 'nodeId'])
const ENTRY_KEYS: ReadonlySet<string> = new Set(['kind', 'term', 'index', 'data', 'change'])
const CONF_STATE_KEYS: ReadonlySet<string> = new Set(['voters', 'learners'])
const SNAPSHOT_KEYS: ReadonlySet<string> = new Set(['metadata', 'data'])
const SNAPSHOT_METADATA_KEYS: ReadonlySet<string> = new Set(['index', 'term', 'confState'])
const HARD_STATE_KEYS: ReadonlySet<string> = new Set(['term', 'vote', 'commit'])

export function parseConfChange(value: unknown, path = 'conf change'): ConfChange {
  const reader = new FieldReader(value, path, CONF_CHANGE_KEYS)
  return { type: reader.oneOf('type', CONF_CHANGE_TYPES), nodeId: reader.nodeId('nodeId', false) }
}

export function parseEntry(value: unknown, path = 'entry'): Entry {
  const reader = new FieldReader(value, path, ENTRY_KEYS)
  const kind = reader.oneOf('kind', ['normal', 'conf_change'] as const)
  const term = reader.integer('term', 1)
  const index = reader.integer('index', 1)
  if (kind === 'normal') {
    if (reader.raw('change') !== undefined) throw invalid(`${path}.change`, 'unknown field')
    return { kind, term, index, data: reader.bytes('data', ENTRY_DATA_BYTES_MAX) }
  }
  if (reader.raw('data') !== undefined) throw invalid(`${path}.data`, 'unknown field')
  return { kind, term, index, change: parseConfChange(reader.raw('change'), `${path}.change`) }
}

function parseIdList(reader: FieldReader, key: string, path: string): string[] {
  const ids = reader.list(key, MEMBERS_MAX).map((id, position) => {
    if (typeof id !== 'string' || id.length === 0 || id.length > NODE_ID_BYTES_MAX) {
      throw invalid(`${path}.${key}[${position}]`, 'must be a node id')
    }
    return id
  })
  for (let position = 1; position < ids.length; position++) {
    if ((ids[position - 1] as string) >= (ids[position] as string)) {
      throw invalid(`${path}.${key}`, 'must be sorted without duplicates')
    }
  }
  return ids
}

export function parseConfState(value: unknown, path = 'conf state'): ConfState {
  const reader = new FieldReader(value, path, CONF_STATE_KEYS)
  const voters = parseIdList(reader, 'voters', path)
  const learners = parseIdList(reader, 'learners', path)
  if (learners.some((id) => voters.includes(id))) {
    throw invalid(path, 'a node cannot be both voter and learner')
  }
  if (voters.length + learners.length > MEMBERS_MAX) throw invalid(path, 'too many members')
  return { voters, learners }
}

export function parseSnapshot(value: unknown, path = 'snapshot'): Snapshot {
  const reader = new FieldReader(value, path, SNAPSHOT_KEYS)
  const meta = new FieldReader(reader.raw('metadata'), `${path}.metadata`, SNAPSHOT_METADATA_KEYS)
  return {
    metadata: {
      index: meta.integer('index'),
      term: meta.integer('term'),
      confState: parseConfState(meta.raw('confState'), `${path}.metadata.confState`),
    },
    data: reader.bytes('data', SNAPSHOT_DATA_BYTES_MAX),
  }
}

export function parseHardState(value: unknown, path = 'hard state'): HardState {
  const reader = new FieldReader(value, path, HARD_STATE_KEYS)
  return {
    term: reader.integer('term'),
    vote: reader.nodeId('vote', true),
    commit: reader.integer('commit'),
  }
}

const HEADER_KEYS = ['type', 'from', 'to', 'term'] as const

/** Validates one field of a message and returns its clean value. */
type FieldCheck = (reader: FieldReader, key: string) => unknown

const integerField: FieldCheck = (reader, key) => reader.integer(key)
const booleanField: FieldCheck = (reader, key) => reader.boolean(key)
const contextField: FieldCheck = (reader, key) => reader.bytes(key, READ_CONTEXT_BYTES_MAX)
const readContextField: FieldCheck = (reader, key) => reader.bytes(key, READ_CONTEXT_BYTES_MAX, 1)
const entriesField: FieldCheck = (reader, key) =>
  reader
    .list(key, MESSAGE_ENTRIES_MAX)
    .map((entry, position) => parseEntry(entry, `message.${key}[${position}]`))
const snapshotField: FieldCheck = (reader, key) => parseSnapshot(reader.raw(key), `message.${key}`)

const VOTE_FIELDS = { index: integerField, logTerm: integerField, transfer: booleanField }
const VOTE_RESPONSE_FIELDS = { reject: booleanField }

/** The fields each message type carries besides the header, with their checks. */
const MESSAGE_FIELDS: Readonly<Record<MessageType, Readonly<Record<string, FieldCheck>>>> = {
  append: {
    index: integerField,
    logTerm: integerField,
    entries: entriesField,
    commit: integerField,
  },
  append_response: {
    index: integerField,
    reject: booleanField,
    rejectHint: integerField,
    logTerm: integerField,
  },
  heartbeat: { commit: integerField, round: integerField, context: contextField },
  heartbeat_response: { round: integerField, context: contextField },
  vote: VOTE_FIELDS,
  pre_vote: VOTE_FIELDS,
  vote_response: VOTE_RESPONSE_FIELDS,
  pre_vote_response: VOTE_RESPONSE_FIELDS,
  snapshot: { snapshot: snapshotField },
  timeout_now: {},
  read_index: { context: readContextField },
  read_index_response: { index: integerField, context: readContextField },
}

const MESSAGE_KEYS = new Map<string, ReadonlySet<string>>(
  MESSAGE_TYPES.map((type) => [
    type,
    new Set([...HEADER_KEYS, ...Object.keys(MESSAGE_FIELDS[type])]),
  ]),
)

/** Validates an already-decoded msgpack value as a Raft message. */
export function parseMessage(value: unknown): Message {
  const type = typeof value === 'object' && value !== null ? Reflect.get(value, 'type') : undefined
  const keys = typeof type === 'string' ? MESSAGE_KEYS.get(type) : undefined
  if (keys === undefined) {
    throw invalid('message.type', `must be one of ${MESSAGE_TYPES.join(', ')}`)
  }
  const reader = new FieldReader(value, 'message', keys)
  // A fresh object holding only checked values: nothing of the input is passed on unchecked.
  const message: Record<string, unknown> = {
    type,
    from: reader.nodeId('from', false),
    to: reader.nodeId('to', false),
    term: reader.integer('term'),
  }
  if (message['from'] === message['to']) throw invalid('message', 'from and to must differ')
  const fields = MESSAGE_FIELDS[type as MessageType]
  for (const key in fields) message[key] = (fields[key] as FieldCheck)(reader, key)
  const parsed = message as unknown as Message
  if (parsed.type === 'append' && !isWellFormedAppend(parsed)) {
    throw invalid('message.entries', 'must directly follow index in non-decreasing terms')
  }
  return parsed
}

export function encodeMessage(message: Message): Uint8Array {
  return encode(message)
}

/** Decodes and validates bytes from a peer; throws MurmurError('invalid_request'). */
export function decodeMessage(bytes: Uint8Array): Message {
  return parseMessage(decode(bytes))
}

export function encodeEntry(entry: Entry): Uint8Array {
  return encode(entry)
}

export function decodeEntry(bytes: Uint8Array): Entry {
  return parseEntry(decode(bytes))
}

export function encodeHardState(hardState: HardState): Uint8Array {
  return encode(hardState)
}

export function decodeHardState(bytes: Uint8Array): HardState {
  return parseHardState(decode(bytes))
}

export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  return encode(snapshot)
}

export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  return parseSnapshot(decode(bytes))
}
