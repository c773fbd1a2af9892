/**
 * The Raft core's public surface: RawNode and its configuration, the storage interface with its
 * in-memory implementation, the message and Ready types, and the codec. Runtimes import from
 * here; the modules behind it are internal.
 */

export {
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  encodeEntry,
  encodeHardState,
  encodeMessage,
  encodeSnapshot,
  FieldReader,
  parseConfChange,
  parseConfState,
  parseEntry,
  parseHardState,
  parseMessage,
  parseSnapshot,
} from './codec.js'
export { applyConfChange, confChangeProblem, MEMBERS_MAX } from './conf-change.js'
export {
  NODE_ID_BYTES_MAX,
  RAFT_DEFAULTS,
  type RaftConfig,
  READ_CONTEXT_BYTES_MAX,
  type ResolvedRaftConfig,
  resolveRaftConfig,
} from './config.js'
export { entryBytes } from './entries.js'
export type { ProgressState } from './progress.js'
export { type ProgressStatus, type RaftStatus, RawNode } from './raw-node.js'
export {
  EMPTY_SNAPSHOT,
  type InitialState,
  MemoryRaftStorage,
  type RaftStorage,
  type SnapshotUpdateResult,
  type StorageError,
  type StorageResult,
} from './storage.js'
export * from './types.js'
