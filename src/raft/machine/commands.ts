/**
 * The commands of the strong state machine and their results: what a Raft log entry of the
 * strong group holds, and what applying it answers. A proposal is a command plus the leader's
 * clock when it proposed it (`stampMs`, the only time the state machine ever sees) and the
 * client's request id, if any. Proposals are msgpack maps; `parseProposal` trusts nothing, since
 * commands reach a leader from peers and entries reach followers from the network, and every
 * problem is a MurmurError('invalid_request'). Results are plain msgpack-encodable objects, so a
 * leader can answer a forwarded command with exactly what the state machine returned.
 *
 * Command types are named `<module>.<operation>`; each module of the state machine registers
 * the types it serves, so new kinds of replicated state (cluster metadata, ring versions) add
 * types without touching the others.
 */

import { MurmurError } from '../../env/errors.js'
import {
  changeFromUntrusted,
  STAGED_CHANGES_MAX,
  type TopologyChange,
  type TopologyRecord,
  topologyFromUntrusted,
  topologyToRecord,
} from '../../ring/topology-plan.js'
import { decode, encode } from '../../wire/codec.js'
import { ENTRY_DATA_BYTES_MAX, FieldReader } from '../codec.js'

/** Keyspace names, as the REST API and cluster.yml accept them. */
export const KEYSPACE_LENGTH_MAX = 64
/** User keys in UTF-16 code units; the REST layer enforces the configured UTF-8 limit. */
export const KEY_LENGTH_MAX = 4096
export const CONTENT_TYPE_LENGTH_MAX = 256
/** Lock names: letters, digits and `_ . -`, so `name:token` headers split unambiguously. */
export const LOCK_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/
export const LOCK_TTL_MS_MAX = 86_400_000
export const REQUEST_ID_LENGTH_MAX = 128

/** The condition a write may carry: `If-Match: "v"`, `If-Match: *` or `If-None-Match: *`. */
export type Condition =
  | { readonly kind: 'version'; readonly version: number }
  | { readonly kind: 'exists' }
  | { readonly kind: 'absent' }

/** A fencing token: the write is refused unless `token` is the newest token of `lock`. */
export interface Fence {
  readonly lock: string
  readonly token: number
}

export interface PutCommand {
  readonly type: 'kv.put'
  readonly keyspace: string
  readonly key: string
  readonly value: Uint8Array
  readonly contentType: string
  readonly condition?: Condition
  readonly fence?: Fence
}

export interface DeleteCommand {
  readonly type: 'kv.delete'
  readonly keyspace: string
  readonly key: string
  readonly condition?: Condition
  readonly fence?: Fence
}

export interface AcquireCommand {
  readonly type: 'lock.acquire'
  readonly name: string
  readonly ttlMs: number
}

export interface RenewCommand {
  readonly type: 'lock.renew'
  readonly name: string
  readonly token: number
  readonly ttlMs: number
}

export interface ReleaseCommand {
  readonly type: 'lock.release'
  readonly name: string
  readonly token: number
}

/**
 * Replaces the cluster's topology record iff the stored version (1 when none is stored) is
 * `expectedVersion`. With `stagedRevision`, also requires the staged list to be the one of that
 * revision and clears it: a commit consumes exactly the changes it planned.
 */
export interface TopologyCasCommand {
  readonly type: 'topology.cas'
  readonly expectedVersion: number
  /** Version `expectedVersion + 1`. */
  readonly record: TopologyRecord
  readonly stagedRevision?: number
}

/** Replaces the staged changes iff they are still at `expectedRevision` (0: never staged). */
export interface TopologyStageCommand {
  readonly type: 'topology.stage'
  readonly expectedRevision: number
  readonly changes: readonly TopologyChange[]
}

/** Answers the topology state at this point of the log: a linearizable read. */
export interface TopologyReadCommand {
  readonly type: 'topology.read'
}

export type KvCommand = PutCommand | DeleteCommand
export type LockCommand = AcquireCommand | RenewCommand | ReleaseCommand
export type TopologyCommand = TopologyCasCommand | TopologyStageCommand | TopologyReadCommand
export type Command = KvCommand | LockCommand | TopologyCommand
export type CommandType = Command['type']

/** One log entry's payload. */
export interface Proposal {
  readonly command: Command
  /** The proposing leader's wall clock, in Unix milliseconds. */
  readonly stampMs: number
  readonly requestId?: string
}

/** Why a command was refused; every refusal is deterministic, so every replica agrees. */
export type Refusal =
  /** The write's condition does not hold; `currentVersion` is null when the key is absent. */
  | {
      readonly ok: false
      readonly code: 'precondition_failed'
      readonly currentVersion: number | null
    }
  /** The fencing token (or the token of a renew or release) is not the lock's current one. */
  | {
      readonly ok: false
      readonly code: 'stale_token'
      readonly reason: 'superseded' | 'expired' | 'released' | 'unknown_lock' | 'never_issued'
    }
  /** Another holder's lease has not expired yet. */
  | { readonly ok: false; readonly code: 'lock_held'; readonly expiresAtMs: number }
  /** The write would take the state machine past `stateBytesMax`. */
  | { readonly ok: false; readonly code: 'state_full' }
  /** The entry could not be decoded (never produced by a correct leader). */
  | { readonly ok: false; readonly code: 'invalid_command' }

/** A successful write: the key's new version, or none after a delete. */
export interface WriteSuccess {
  readonly ok: true
  readonly version: number | null
}

/** A successful acquire or renew (`token`, `expiresAtMs`) or release (`expiresAtMs` null). */
export interface LockSuccess {
  readonly ok: true
  readonly token: number
  readonly expiresAtMs: number | null
}

/** The topology state of the state machine, as `topology.read` answers it. */
export interface TopologyState {
  /** The stored record; null until the first commit (version 1 comes from cluster.yml). */
  readonly record: TopologyRecord | null
  readonly staged: readonly TopologyChange[]
  /** The log index of the entry that last replaced the staged list; 0 before any. */
  readonly stagedRevision: number
}

export interface TopologyReadSuccess {
  readonly ok: true
  readonly topology: TopologyState
}

export type CommandResult = WriteSuccess | LockSuccess | TopologyReadSuccess | Refusal

const CONDITION_KEYS: ReadonlySet<string> = new Set(['kind', 'version'])
const FENCE_KEYS: ReadonlySet<string> = new Set(['lock', 'token'])
const PROPOSAL_KEYS: ReadonlySet<string> = new Set(['command', 'stampMs', 'requestId'])
const COMMAND_KEYS: Readonly<Record<CommandType, ReadonlySet<string>>> = {
  'kv.put': new Set(['type', 'keyspace', 'key', 'value', 'contentType', 'condition', 'fence']),
  'kv.delete': new Set(['type', 'keyspace', 'key', 'condition', 'fence']),
  'lock.acquire': new Set(['type', 'name', 'ttlMs']),
  'lock.renew': new Set(['type', 'name', 'token', 'ttlMs']),
  'lock.release': new Set(['type', 'name', 'token']),
  'topology.cas': new Set(['type', 'expectedVersion', 'record', 'stagedRevision']),
  'topology.stage': new Set(['type', 'expectedRevision', 'changes']),
  'topology.read': new Set(['type']),
}

function invalid(path: string, problem: string): MurmurError {
  return new MurmurError('invalid_request', `strong ${path}: ${problem}`, { definite: true })
}

function parseCondition(value: unknown, path: string): Condition {
  const reader = new FieldReader(value, path, CONDITION_KEYS)
  const kind = reader.oneOf('kind', ['version', 'exists', 'absent'] as const)
  if (kind !== 'version') {
    if (reader.has('version')) throw invalid(`${path}.version`, 'only for kind version')
    return { kind }
  }
  return { kind, version: reader.integer('version', 1) }
}

function parseFence(value: unknown, path: string): Fence {
  const reader = new FieldReader(value, path, FENCE_KEYS)
  return { lock: lockName(reader, 'lock', path), token: reader.integer('token', 1) }
}

function lockName(reader: FieldReader, key: string, path: string): string {
  const name = reader.text(key, 128, 1)
  if (!LOCK_NAME_PATTERN.test(name)) throw invalid(`${path}.${key}`, 'is not a lock name')
  return name
}

function ttl(reader: FieldReader): number {
  const ttlMs = reader.integer('ttlMs', 1)
  if (ttlMs > LOCK_TTL_MS_MAX) throw invalid('command.ttlMs', `must be at most ${LOCK_TTL_MS_MAX}`)
  return ttlMs
}

/** The optional condition and fence of a write, without undefined fields. */
function writeGuards(reader: FieldReader): { condition?: Condition; fence?: Fence } {
  const guards: { condition?: Condition; fence?: Fence } = {}
  if (reader.has('condition'))
    guards.condition = parseCondition(reader.raw('condition'), 'command.condition')
  if (reader.has('fence')) guards.fence = parseFence(reader.raw('fence'), 'command.fence')
  return guards
}

/**
 * A record in its canonical form after full validation (rings included), so every replica
 * stores and answers exactly the same data whatever encoding quirks the sender had.
 */
export function parseTopologyRecord(value: unknown, path: string): TopologyRecord {
  try {
    return topologyToRecord(topologyFromUntrusted(value))
  } catch (error) {
    throw invalid(path, error instanceof Error ? error.message : 'is not a topology record')
  }
}

function parseChanges(reader: FieldReader, key: string): TopologyChange[] {
  return reader.list(key, STAGED_CHANGES_MAX).map((change, index) => {
    try {
      return changeFromUntrusted(change)
    } catch (error) {
      throw invalid(`${key}[${index}]`, error instanceof Error ? error.message : 'is invalid')
    }
  })
}

function parseTopologyCas(reader: FieldReader): TopologyCasCommand {
  const expectedVersion = reader.integer('expectedVersion', 1)
  const record = parseTopologyRecord(reader.raw('record'), 'command.record')
  if (record.version !== expectedVersion + 1) {
    throw invalid('command.record.version', 'must be expectedVersion + 1')
  }
  const command = { type: 'topology.cas', expectedVersion, record } as const
  if (!reader.has('stagedRevision')) return command
  return { ...command, stagedRevision: reader.integer('stagedRevision') }
}

/** Validates an untrusted, already-decoded command. */
export function parseCommand(value: unknown): Command {
  const type = typeof value === 'object' && value !== null ? Reflect.get(value, 'type') : undefined
  const keys = typeof type === 'string' ? COMMAND_KEYS[type as CommandType] : undefined
  if (keys === undefined) throw invalid('command.type', 'is not a known command type')
  const reader = new FieldReader(value, 'command', keys)
  switch (type as CommandType) {
    case 'kv.put':
      return {
        type: 'kv.put',
        keyspace: reader.text('keyspace', KEYSPACE_LENGTH_MAX, 1),
        key: reader.text('key', KEY_LENGTH_MAX, 1),
        value: reader.bytes('value', ENTRY_DATA_BYTES_MAX),
        contentType: reader.text('contentType', CONTENT_TYPE_LENGTH_MAX, 1),
        ...writeGuards(reader),
      }
    case 'kv.delete':
      return {
        type: 'kv.delete',
        keyspace: reader.text('keyspace', KEYSPACE_LENGTH_MAX, 1),
        key: reader.text('key', KEY_LENGTH_MAX, 1),
        ...writeGuards(reader),
      }
    case 'lock.acquire':
      return { type: 'lock.acquire', name: lockName(reader, 'name', 'command'), ttlMs: ttl(reader) }
    case 'lock.renew':
      return {
        type: 'lock.renew',
        name: lockName(reader, 'name', 'command'),
        token: reader.integer('token', 1),
        ttlMs: ttl(reader),
      }
    case 'lock.release':
      return {
        type: 'lock.release',
        name: lockName(reader, 'name', 'command'),
        token: reader.integer('token', 1),
      }
    case 'topology.cas':
      return parseTopologyCas(reader)
    case 'topology.stage':
      return {
        type: 'topology.stage',
        expectedRevision: reader.integer('expectedRevision'),
        changes: parseChanges(reader, 'changes'),
      }
    case 'topology.read':
      return { type: 'topology.read' }
  }
}

/** Validates an untrusted, already-decoded proposal. */
export function parseProposal(value: unknown): Proposal {
  const reader = new FieldReader(value, 'proposal', PROPOSAL_KEYS)
  const command = parseCommand(reader.raw('command'))
  const stampMs = reader.integer('stampMs')
  if (!reader.has('requestId')) return { command, stampMs }
  return { command, stampMs, requestId: reader.text('requestId', REQUEST_ID_LENGTH_MAX, 1) }
}

export function encodeProposal(proposal: Proposal): Uint8Array {
  return encode(proposal)
}

export function decodeProposal(bytes: Uint8Array): Proposal {
  return parseProposal(decode(bytes))
}

const REFUSAL_CODES = [
  'precondition_failed',
  'stale_token',
  'lock_held',
  'state_full',
  'invalid_command',
] as const
const STALE_REASONS = ['superseded', 'expired', 'released', 'unknown_lock', 'never_issued'] as const
const RESULT_KEYS: ReadonlySet<string> = new Set([
  'ok',
  'version',
  'token',
  'expiresAtMs',
  'code',
  'currentVersion',
  'reason',
  'topology',
])
const TOPOLOGY_STATE_KEYS: ReadonlySet<string> = new Set(['record', 'staged', 'stagedRevision'])

/** Validates a topology state received from a peer or a snapshot. */
export function parseTopologyState(value: unknown): TopologyState {
  const reader = new FieldReader(value, 'topology', TOPOLOGY_STATE_KEYS)
  const raw = reader.raw('record')
  return {
    record: raw === null || raw === undefined ? null : parseTopologyRecord(raw, 'topology.record'),
    staged: parseChanges(reader, 'staged'),
    stagedRevision: reader.integer('stagedRevision'),
  }
}

function nullableInteger(reader: FieldReader, key: string): number | null {
  return reader.raw(key) === null ? null : reader.integer(key)
}

/** Validates a result a leader sent back for a forwarded command. */
export function parseResult(value: unknown): CommandResult {
  const reader = new FieldReader(value, 'result', RESULT_KEYS)
  if (reader.boolean('ok')) {
    if (reader.has('topology'))
      return { ok: true, topology: parseTopologyState(reader.raw('topology')) }
    if (reader.has('token')) {
      return {
        ok: true,
        token: reader.integer('token', 1),
        expiresAtMs: nullableInteger(reader, 'expiresAtMs'),
      }
    }
    return { ok: true, version: nullableInteger(reader, 'version') }
  }
  const code = reader.oneOf('code', REFUSAL_CODES)
  switch (code) {
    case 'precondition_failed':
      return { ok: false, code, currentVersion: nullableInteger(reader, 'currentVersion') }
    case 'stale_token':
      return { ok: false, code, reason: reader.oneOf('reason', STALE_REASONS) }
    case 'lock_held':
      return { ok: false, code, expiresAtMs: reader.integer('expiresAtMs') }
    default:
      return { ok: false, code }
  }
}
