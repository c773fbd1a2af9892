/**
 * The cluster.yml schema. One file describes the whole cluster and serves every node; each
 * field has a documented default (docs/CONFIGURATION.md is the user-facing reference and must
 * stay in step with this file). Unknown fields are errors, so a typo never silently falls back
 * to a default. Cross-field rules (unique ports, replica counts within the node count, ...)
 * live in src/config/load.ts, which also turns issues into line-numbered messages.
 */

import { z } from 'zod'
import { LEVEL_NAMES, REPLICAS_MAX } from '../replication/consistency.js'

export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/
const NAME_RULE = 'must be 1-64 characters of a-z, 0-9, _ and -, starting with a letter or digit'

const name = z.string().regex(NAME_PATTERN, { error: NAME_RULE })
const port = z.number().int().min(1).max(65535)
const milliseconds = (min: number, max: number) => z.number().int().min(min).max(max)

/** A consistency level in a file: a level name or a replica count. */
export const levelSchema = z.union([z.enum(LEVEL_NAMES), z.number().int().min(1).max(REPLICAS_MAX)])

export const nodeSchema = z.strictObject({
  /** Stable node identity; never reuse the id of a removed node for different hardware. */
  id: name,
  /** Address the node binds and advertises. Default 127.0.0.1. */
  host: z.string().min(1).max(253).default('127.0.0.1'),
  /** REST port. Default 7001 + the node's position in `nodes`. */
  httpPort: port.optional(),
  /** Peer RPC port (TCP). Default 7101 + the node's position in `nodes`. */
  peerPort: port.optional(),
  /** Gossip port (UDP). Default: the same number as peerPort (UDP and TCP do not clash). */
  gossipPort: port.optional(),
  /** Failure domain; preference lists spread replicas across zones. Default "default". */
  zone: z.string().min(1).max(64).default('default'),
  /** Data directory, relative to the config file. Default data/<id>. */
  dataDir: z.string().min(1).max(4096).optional(),
  /**
   * A standby node runs, gossips and coordinates requests but owns no data until an operator
   * joins it to the ring (`murmur cluster join`). Version 1 of the ring is built from the
   * nodes that are not standby. Default false.
   */
  standby: z.boolean().default(false),
})

export const keyspaceSchema = z.strictObject({
  /** eventual: leaderless quorums with siblings; strong: a Raft group, linearizable. */
  mode: z.enum(['eventual', 'strong']).default('eventual'),
  /** Replicas per key (N), including witnesses. Default 3. */
  replicas: z.number().int().min(1).max(REPLICAS_MAX).default(3),
  /** How many of the N replicas are metadata-only witnesses. Default 0. */
  witnesses: z
    .number()
    .int()
    .min(0)
    .max(REPLICAS_MAX - 1)
    .default(0),
  /** Default read level when a request names none. Default quorum. */
  read: levelSchema.default('quorum'),
  /** Default write level when a request names none. Default quorum. */
  write: levelSchema.default('quorum'),
  /** sync: a write is fsynced before it is acknowledged; async: it is not. Default sync. */
  durability: z.enum(['sync', 'async']).default('sync'),
})

export const gossipSchema = z
  .strictObject({
    /** Timing profile, as memberlist's: local (loopback), lan, wan. Default local. */
    preset: z.enum(['local', 'lan', 'wan']).default('local'),
    probeIntervalMs: milliseconds(10, 600_000).optional(),
    probeTimeoutMs: milliseconds(1, 600_000).optional(),
    indirectChecks: z.number().int().min(0).max(16).optional(),
    suspicionMult: z.number().int().min(1).max(100).optional(),
    suspicionMaxTimeoutMult: z.number().int().min(1).max(100).optional(),
    retransmitMult: z.number().int().min(1).max(100).optional(),
    membershipChangeRetransmitMult: z.number().int().min(1).max(100).optional(),
    gossipIntervalMs: milliseconds(1, 600_000).optional(),
    gossipNodes: z.number().int().min(1).max(64).optional(),
    gossipToTheDeadMs: milliseconds(0, 86_400_000).optional(),
    pushPullIntervalMs: milliseconds(0, 86_400_000).optional(),
    pushPullTimeoutMs: milliseconds(1, 600_000).optional(),
    awarenessMaxMultiplier: z.number().int().min(1).max(64).optional(),
    packetBytesMax: z.number().int().min(512).max(65_000).optional(),
    rejoinIntervalMs: milliseconds(100, 86_400_000).optional(),
    metaBytesMax: z.number().int().min(64).max(4096).optional(),
    leaveTimeoutMs: milliseconds(0, 600_000).optional(),
  })
  .prefault({})

export const limitsSchema = z
  .strictObject({
    /** Longest key in bytes (UTF-8). Default 1024. */
    keyBytesMax: z.number().int().min(1).max(65_536).default(1024),
    /** Largest value in bytes; larger writes get 413. Default 1 MiB. */
    valueBytesMax: z
      .number()
      .int()
      .min(1)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    /** Largest HTTP request body; default valueBytesMax + 64 KiB. */
    requestBodyBytesMax: z
      .number()
      .int()
      .min(1024)
      .max(128 * 1024 * 1024)
      .optional(),
    /** Sibling count at which responses carry a warning. Default 25. */
    siblingsWarn: z.number().int().min(1).max(10_000).default(25),
    /** Sibling count beyond which writes are refused. Default 100. */
    siblingsMax: z.number().int().min(1).max(10_000).default(100),
    /** Client requests a node works on at once; beyond it answers 503 overloaded. Default 1024. */
    inflightRequestsMax: z.number().int().min(1).max(1_000_000).default(1024),
    /** Largest page of a key listing. Default 1000. */
    listPageMax: z.number().int().min(1).max(100_000).default(1000),
    /** Longest set element in bytes. Default 1024. */
    setElementBytesMax: z.number().int().min(1).max(65_536).default(1024),
    /** Most elements in one set. Default 100000. */
    setElementsMax: z.number().int().min(1).max(10_000_000).default(100_000),
    /** Largest peer frame in bytes. Default 16 MiB. */
    peerFrameBytesMax: z
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * 1024 * 1024)
      .default(16 * 1024 * 1024),
    /** Bytes queued per peer connection before requests fail as overloaded. Default 64 MiB. */
    peerQueueBytesMax: z
      .number()
      .int()
      .min(64 * 1024)
      .max(4 * 1024 * 1024 * 1024)
      .default(64 * 1024 * 1024),
  })
  .prefault({})

export const requestsSchema = z
  .strictObject({
    /** Default per-request timeout. Default 5000 ms. */
    timeoutMs: milliseconds(1, 600_000).default(5000),
    /** Largest timeout a request may ask for. Default 60000 ms. */
    timeoutMsMax: milliseconds(1, 3_600_000).default(60_000),
    /** Timeout of one peer request inside a client request. Default 2000 ms. */
    peerTimeoutMs: milliseconds(1, 600_000).default(2000),
  })
  .prefault({})

/**
 * Merkle-tree anti-entropy (docs/ARCHITECTURE.md, Anti-entropy): a hash tree per local
 * (keyspace, partition), compared with another replica's on a schedule.
 */
export const antiEntropySchema = z
  .strictObject({
    /** Keep trees and exchange them. Default true. */
    enabled: z.boolean().default(true),
    /** How often each tree is exchanged with one of its other replicas, jittered. Default 600000 ms. */
    exchangeIntervalMs: milliseconds(100, 7 * 86_400_000).default(600_000),
    /** How often every tree is rebuilt from storage (drift repair). Default 86400000 ms (24 h). */
    rebuildIntervalMs: milliseconds(1000, 30 * 86_400_000).default(86_400_000),
    /** Segments (leaves) per tree: 256, 4096 or 65536. Default 4096. */
    segments: z.union([z.literal(256), z.literal(4096), z.literal(65_536)]).default(4096),
    /** Records fetched or sent per second by repairs, per node. Default 2000. */
    keysPerSecond: z.number().int().min(1).max(1_000_000).default(2000),
    /** Bytes of exchange and repair messages per second, per node. Default 4 MiB. */
    bytesPerSecond: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(4 * 1024 * 1024),
  })
  .prefault({})

export const replicationSchema = z
  .strictObject({
    /** Age a tombstone must reach before it may be reaped. Default 3600000 ms (1 hour). */
    tombstoneGraceMs: milliseconds(0, 30 * 86_400_000).default(3_600_000),
    /** How often each node looks for reapable tombstones. Default 60000 ms. */
    reaperIntervalMs: milliseconds(10, 86_400_000).default(60_000),
    /** How often hints are replayed even without a membership change. Default 10000 ms. */
    hintReplayIntervalMs: milliseconds(10, 86_400_000).default(10_000),
    /** Hints replayed per second, per node. Default 2000. */
    hintReplayPerSecond: z.number().int().min(1).max(1_000_000).default(2000),
    /** Value bytes replayed per second, per node. Default 4 MiB. */
    hintReplayBytesPerSecond: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024 * 1024)
      .default(4 * 1024 * 1024),
    /** Hints a node holds for one target before refusing more. Default 1000000. */
    hintsPerTargetMax: z.number().int().min(1).max(100_000_000).default(1_000_000),
    /** Read repair when a request names none: async (after the reply) or blocking. Default async. */
    readRepair: z.enum(['async', 'blocking']).default('async'),
    /**
     * How long a counter or set remembers an update made with an Idempotency-Key, so a retry
     * counts once. Default 86400000 ms (24 hours).
     */
    idempotencyWindowMs: milliseconds(1000, 30 * 86_400_000).default(86_400_000),
    /**
     * Keyed updates a counter or set keeps; at each update its coordinator folds older ones
     * into compact totals (counters) or forgets them (sets). Default 1000.
     */
    idempotencyEntriesMax: z.number().int().min(1).max(100_000).default(1000),
    /** Merkle-tree anti-entropy between replicas. */
    antiEntropy: antiEntropySchema,
  })
  .prefault({})

export const storageSchema = z
  .strictObject({
    /** rocksdb (default) or memory (nothing survives a restart: tests and demos only). */
    engine: z.enum(['rocksdb', 'memory']).default('rocksdb'),
  })
  .prefault({})

export const raftSchema = z
  .strictObject({
    /** Voter node ids. Default: the first `replicas` nodes (strong keyspaces), else min(3, n). */
    members: z.array(name).min(1).max(64).optional(),
    /** Milliseconds per Raft tick. Default 100. */
    tickMs: milliseconds(1, 60_000).default(100),
    /** Ticks without a leader before a follower campaigns (randomized in [E, 2E)). Default 10. */
    electionTicks: z.number().int().min(2).max(10_000).default(10),
    /** Ticks between leader heartbeats; below electionTicks. Default 1. */
    heartbeatTicks: z.number().int().min(1).max(9_999).default(1),
    /** Serve linearizable reads from a leader lease instead of a heartbeat round. Default false. */
    leaseReads: z.boolean().default(false),
    /** Applied entries between two snapshots of the state machine. Default 10000. */
    snapshotEntries: z.number().int().min(1).max(100_000_000).default(10_000),
    /** Entries kept behind a snapshot so slow followers catch up without one. Default 5000. */
    retainEntries: z.number().int().min(0).max(100_000_000).default(5000),
    /** Appends in flight per follower. Default 256. */
    maxInflightMsgs: z.number().int().min(1).max(65_536).default(256),
    /** Entry bytes per append message. Default 1 MiB. */
    maxSizePerMsgBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024),
    /** Bytes of keys, values and locks the strong state machine holds. Default 256 MiB. */
    stateBytesMax: z
      .number()
      .int()
      .min(1024 * 1024)
      .max(16 * 1024 * 1024 * 1024)
      .default(256 * 1024 * 1024),
    /** Client request ids remembered for deduplication. Default 100000. */
    requestIdsMax: z.number().int().min(1).max(10_000_000).default(100_000),
    /** How long (state-machine time) a request id is remembered. Default 600000 ms. */
    requestIdTtlMs: milliseconds(1000, 86_400_000).default(600_000),
    /** Strong requests this node forwards to the leader at once. Default 1024. */
    forwardsMax: z.number().int().min(1).max(1_000_000).default(1024),
  })
  .prefault({})

/**
 * Partition handoff (docs/ARCHITECTURE.md, Partition handoff): how fast a node pulls the
 * partitions it gains and deletes the ones it lost. Defaults: src/runtime/topology/transfer-settings.ts.
 */
export const handoffSchema = z
  .strictObject({
    /** Records streamed per second by all transfers a node receives. Default 20000. */
    keysPerSecond: z.number().int().min(1).max(10_000_000).default(20_000),
    /** Bytes of transfer pages per second a node receives. Default 32 MiB. */
    bytesPerSecond: z
      .number()
      .int()
      .min(1024)
      .max(4 * 1024 * 1024 * 1024)
      .default(32 * 1024 * 1024),
    /** Partitions a node receives at once. Default 2. */
    concurrentTransfers: z.number().int().min(1).max(64).default(2),
    /** Records asked per transfer page. Default 512. */
    pageKeys: z.number().int().min(1).max(1024).default(512),
    /** First wait before a failed transfer is retried; doubles per failure. Default 500 ms. */
    retryDelayMs: milliseconds(1, 600_000).default(500),
    /** Longest wait between retries of a failed transfer. Default 30000 ms. */
    retryDelayMsMax: milliseconds(1, 3_600_000).default(30_000),
    /**
     * Wait after a node acts on a settled version before it deletes the partitions it no
     * longer owns. Default 30000 ms.
     */
    cleanupGraceMs: milliseconds(0, 86_400_000).default(30_000),
    /** Records deleted per second by that cleanup. Default 50000. */
    cleanupKeysPerSecond: z.number().int().min(1).max(10_000_000).default(50_000),
  })
  .prefault({})

/** Live topology changes (docs/OPERATIONS.md, Changing the topology). */
export const topologySchema = z
  .strictObject({
    /**
     * How often the Raft leader asks the receivers of a move for their transfers and finishes
     * the move once all are done, and how often every node looks for a newer version that a
     * member advertises. Default 1000 ms.
     */
    finishCheckIntervalMs: milliseconds(10, 600_000).default(1000),
    /** Timeout of one request for a topology or a transfer report from a peer. Default 2000 ms. */
    fetchTimeoutMs: milliseconds(1, 600_000).default(2000),
    /**
     * How long a node without a stored topology waits at start for the other nodes to tell it
     * theirs before it falls back to version 1 from this file. Default 3000 ms.
     */
    startWaitMs: milliseconds(0, 600_000).default(3000),
    /** Partition handoff: transfer and cleanup pacing. */
    handoff: handoffSchema,
  })
  .prefault({})

export const logSchema = z
  .strictObject({
    /** trace, debug, info (default), warn, error, silent. */
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  })
  .prefault({})

/** Secrets a keyring holds at most (src/runtime/security/keyring.ts). */
export const SECRETS_COUNT_MAX = 8
const secret = z.string().min(16).max(1024)

/** One API token; exactly one of `token` and `tokenSha256` (checked in load.ts). */
export const apiTokenSchema = z.strictObject({
  /** Names the token in logs and metrics, and in its MURMUR_TOKEN_<NAME> variable. */
  name,
  /** The token itself, at least 16 characters (prefer the MURMUR_TOKEN_<NAME> variable). */
  token: secret.optional(),
  /** Or the SHA-256 of the token, as 64 lowercase hex digits, so the file holds no token. */
  tokenSha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex digits' })
    .optional(),
  /** read: GET only; readwrite: reads and writes; admin: also /v1/debug. */
  access: z.enum(['read', 'readwrite', 'admin']),
  /** Keyspaces the token may use; '*' is every keyspace (and locks). Default ['*']. */
  keyspaces: z
    .array(z.string().regex(/^(\*|[a-z0-9_-]{1,64})$/, { error: "must be '*' or a keyspace name" }))
    .min(1)
    .max(1024)
    .default(['*']),
})

export const authSchema = z
  .strictObject({
    /** API tokens; with none, the REST API is open to anyone who can reach it. */
    tokens: z.array(apiTokenSchema).max(1024).default([]),
  })
  .prefault({})

/** TLS for the REST port; `{node}` in a path is replaced by the node's id. */
export const tlsSchema = z.strictObject({
  /** PEM certificate (chain) the node serves. */
  certFile: z.string().min(1).max(4096),
  /** PEM private key of the certificate. */
  keyFile: z.string().min(1).max(4096),
  /** PEM CA certificate clients reading this file (the CLI) trust. Default: the system CAs. */
  caFile: z.string().min(1).max(4096).optional(),
})

export const clusterFileSchema = z.strictObject({
  cluster: z
    .strictObject({
      /** Cluster name; peers refuse connections from another cluster. Default murmur. */
      name: name.default('murmur'),
      /**
       * Shared secret, or a list of them (a keyring: the first signs and encrypts, all are
       * accepted). Prefer MURMUR_CLUSTER_SECRET (comma-separated); never logged or shown.
       */
      secret: z.union([secret, z.array(secret).min(1).max(SECRETS_COUNT_MAX)]).optional(),
    })
    .prefault({}),
  /** API tokens for the REST port. */
  auth: authSchema,
  /** HTTPS for the REST port. Default: plain HTTP. */
  tls: tlsSchema.optional(),
  /** Every node of the cluster, in a fixed order (defaults derive ports from the position). */
  nodes: z.array(nodeSchema).min(1).max(1024),
  /** Node ids to contact when joining. Default: the first three nodes. */
  seeds: z.array(name).max(64).optional(),
  ring: z
    .strictObject({
      /** Number of partitions, a power of two in 8..4096, at least the node count. Default 64. */
      partitions: z.number().int().min(8).max(4096).default(64),
    })
    .prefault({}),
  gossip: gossipSchema,
  /** Keyspaces by name. Default: one eventual keyspace "default" with min(3, node count) replicas. */
  keyspaces: z.record(z.string(), keyspaceSchema).optional(),
  /** The Raft group that serves every strong keyspace. */
  raft: raftSchema,
  requests: requestsSchema,
  replication: replicationSchema,
  /** Live topology changes. */
  topology: topologySchema,
  limits: limitsSchema,
  storage: storageSchema,
  log: logSchema,
})

export type ClusterFile = z.output<typeof clusterFileSchema>
