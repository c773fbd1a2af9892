/**
 * `murmur/client`: the typed client for murmur's REST API (docs/CLIENT.md).
 */

export {
  type ClusterView,
  type HealthView,
  MurmurClient,
  type MurmurClientOptions,
  type RaftView,
  type RingView,
} from './client.js'
export {
  CounterApi,
  type CrdtReadOptions,
  type CrdtUpdateOptions,
  SetApi,
  type SetState,
} from './crdt.js'
export { MurmurClientError } from './errors.js'
export {
  type KeyPage,
  KvApi,
  type KvPutOptions,
  type KvReadOptions,
  type KvReadResult,
  type KvWriteOptions,
  type KvWriteResult,
  type Level,
  type Sibling,
} from './kv.js'
export {
  LockApi,
  type LockGrant,
  StrongApi,
  type StrongPutOptions,
  type StrongReadOptions,
  type StrongReadResult,
  type StrongWriteOptions,
  type StrongWriteResult,
} from './strong.js'
export type { FetchFunction } from './transport.js'
export type { Value } from './values.js'
