/**
 * The typed requests and outcomes of the plain key-value API: what the REST layer hands the
 * node's replication service after validating a request, and what it gets back to render.
 * Validation (names, sizes, levels, contexts) happens before a request is built, so the
 * service only meets well-formed requests.
 */

import type { DotContext } from '../versioning/dvv.js'
import type { Requirement } from './consistency.js'
import type { ReplicaTarget } from './plan.js'
import type { KeyRecord } from './record.js'

export interface KeyspaceRef {
  readonly name: string
  readonly replicas: number
  readonly durability: 'sync' | 'async'
}

export interface ReadRequest {
  readonly keyspace: KeyspaceRef
  readonly key: string
  readonly requirement: Requirement
  readonly timeoutMs: number
  readonly repair: 'async' | 'blocking'
}

export interface WriteRequest {
  readonly keyspace: KeyspaceRef
  readonly key: string
  readonly operation: 'put' | 'delete'
  /** The value of a put; undefined for a delete. */
  readonly value: Uint8Array | undefined
  readonly contentType: string | undefined
  readonly context: DotContext
  readonly requirement: Requirement
  readonly timeoutMs: number
  readonly returnBody: boolean
}

export interface ListRequest {
  readonly keyspace: KeyspaceRef
  readonly prefix: string
  /** List keys after this one; '' lists from the start. */
  readonly after: string
  readonly limit: number
  readonly timeoutMs: number
}

export interface ReadOutcome {
  /** The merge of every answer the reply waited for. */
  readonly record: KeyRecord
  /** Nodes that answered before the reply, in the order asked. */
  readonly replicas: readonly string[]
  /** Fallbacks among them, with the primary each stood in for. */
  readonly hinted: readonly ReplicaTarget[]
}

export interface WriteOutcome {
  /** The context token that lets the client supersede what it saw plus this write. */
  readonly context: string
  /** Siblings of the key on the coordinator after the write. */
  readonly siblings: number
  /** The coordinator's record after the write, when the request asked for it. */
  readonly record: KeyRecord | undefined
  readonly coordinator: string
  /** Nodes that acknowledged before the reply, in the order asked. */
  readonly replicas: readonly string[]
  readonly hinted: readonly ReplicaTarget[]
}

export interface ListOutcome {
  readonly keys: readonly string[]
  /** Where the next page starts; undefined when the listing is complete. */
  readonly frontier: string | undefined
}
