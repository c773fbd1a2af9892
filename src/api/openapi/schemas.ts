/**
 * The shapes of murmur's REST requests and responses as zod schemas, defined once: the route
 * registry (spec.ts) turns them into the OpenAPI document, and the typed client
 * (src/client) checks the JSON bodies it receives against the same schemas. Response schemas
 * are loose (unknown fields pass) so that a newer server never breaks an older client.
 */

import { z } from 'zod'
import { ERROR_CODES } from '../../env/errors.js'
import { LOCK_NAME_PATTERN, LOCK_TTL_MS_MAX } from '../../raft/machine/commands.js'
import { LEVEL_NAMES } from '../../replication/consistency.js'
import { KEYSPACE_PATTERN } from '../../replication/names.js'

// ---------------------------------------------------------------------------------------
// Names and parameters.

export const keyspaceName = z
  .string()
  .regex(KEYSPACE_PATTERN)
  .describe('A keyspace declared in cluster.yml: [a-z0-9_-]{1,64}.')

export const keyName = z
  .string()
  .min(1)
  .describe(
    'Any UTF-8 string of 1..limits.keyBytesMax bytes (default 1024), percent-encoded; slashes may appear raw.',
  )

export const lockName = z
  .string()
  .regex(LOCK_NAME_PATTERN)
  .describe('1-128 characters of A-Z a-z 0-9 _ . -')

export const consistencyLevel = z
  .string()
  .regex(new RegExp(`^(${LEVEL_NAMES.join('|')}|[1-9][0-9]?)$`))
  .describe('one | two | three | quorum | all | a number 1..N')

const primaryLevel = z
  .string()
  .regex(new RegExp(`^(${LEVEL_NAMES.join('|')}|[0-9]{1,2})$`))
  .describe('How many of the replicas must be primaries (not fallbacks): a level or 0..N.')

const timeoutParameter = z
  .string()
  .regex(/^[0-9]{1,9}$/)
  .describe('Milliseconds for this request, 1..requests.timeoutMsMax; default requests.timeoutMs.')

export const timeoutQuery = z.object({ timeout: timeoutParameter.optional() })

export const kvReadQuery = z.object({
  r: consistencyLevel.optional().describe('Replicas that must answer; default the keyspace read.'),
  pr: primaryLevel.optional(),
  consistency: z
    .string()
    .optional()
    .describe(
      'Shorthand for r (a level) on eventual keyspaces; linearizable (default) or serializable on strong keyspaces.',
    ),
  timeout: timeoutParameter.optional(),
  repair: z
    .enum(['async', 'blocking'])
    .optional()
    .describe('async: repair stale replicas after the reply; blocking: before it.'),
})

export const kvWriteQuery = z.object({
  w: consistencyLevel
    .optional()
    .describe('Replicas that must acknowledge; default the keyspace write.'),
  pw: primaryLevel.optional(),
  consistency: consistencyLevel.optional().describe('Shorthand for w.'),
  timeout: timeoutParameter.optional(),
  returnbody: z
    .enum(['true', 'false'])
    .optional()
    .describe('PUT only: answer like a GET with the state after the write.'),
})

export const listQuery = z.object({
  prefix: z.string().optional().describe('Only keys that start with this prefix.'),
  limit: z
    .string()
    .regex(/^[0-9]{1,6}$/)
    .optional()
    .describe('Keys per page: 1..limits.listPageMax, default 100.'),
  cursor: z.string().optional().describe('The cursor of the previous page.'),
  consistency: z
    .enum(['linearizable', 'serializable'])
    .optional()
    .describe('Strong keyspaces only.'),
  timeout: timeoutParameter.optional(),
})

export const lockQuery = z.object({
  timeout: timeoutParameter.optional(),
  token: z
    .string()
    .regex(/^[1-9][0-9]{0,15}$/)
    .optional()
    .describe('Release: the token.'),
})

export const kvPath = z.object({ keyspace: keyspaceName, key: keyName })
export const keyspacePath = z.object({ keyspace: keyspaceName })
export const lockPath = z.object({ name: lockName })

// ---------------------------------------------------------------------------------------
// Headers. Header objects map header names to their schemas; all are optional.

export const contextHeader = z
  .string()
  .regex(/^[A-Za-z0-9_-]*$/)
  .describe('The opaque causal context (base64url) of the versions a read returned.')

export const kvWriteHeaders = z.object({
  'X-Murmur-Context': contextHeader.optional(),
  'Content-Type': z.string().optional().describe('Stored with the value (PUT).'),
})

export const strongWriteHeaders = z.object({
  'If-Match': z.string().optional().describe('"<version>" (compare-and-set) or * (must exist).'),
  'If-None-Match': z.literal('*').optional().describe('* makes a PUT create-only.'),
  'X-Murmur-Request-Id': z
    .string()
    .regex(/^[\x21-\x7d][\x21-\x7e]{0,127}$/)
    .optional()
    .describe('A retried write with the same id applies once.'),
  'X-Murmur-Fencing-Token': z
    .string()
    .optional()
    .describe('<lock>:<token>: the write applies only while the token is current.'),
  'Content-Type': z.string().optional(),
})

export const idempotencyHeaders = z.object({
  'Idempotency-Key': z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe(
      'Makes an update count once however often it is retried, through any node, within the idempotency window.',
    ),
})

export const requestIdHeaders = z.object({
  'X-Murmur-Request-Id': z.string().optional().describe('A retried request applies once.'),
})

// ---------------------------------------------------------------------------------------
// Bodies.

export const errorBody = z.object({
  error: z.looseObject({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    definite: z
      .boolean()
      .optional()
      .describe('Writes: true when the write certainly did not happen.'),
  }),
})

export const sibling = z.object({
  value: z.string().nullable().describe('base64; null for a delete.'),
  contentType: z.string().nullable(),
  deleted: z.boolean(),
})

export const siblingsBody = z.object({ context: z.string(), siblings: z.array(sibling) })

export const keyPage = z.object({
  keys: z.array(z.string()),
  cursor: z.string().nullable().describe('null on the last page.'),
})

export const lockAcquireBody = z.strictObject({
  ttlMs: z.number().int().min(1).max(LOCK_TTL_MS_MAX),
})

export const lockRenewBody = z.strictObject({
  token: z.number().int().min(1),
  ttlMs: z.number().int().min(1).max(LOCK_TTL_MS_MAX),
})

export const lockReleaseBody = z.strictObject({ token: z.number().int().min(1).optional() })

export const lockGrant = z.looseObject({
  lock: z.string(),
  token: z.number().int().describe('The fencing token: larger for every new holder.'),
  expiresAtMs: z.number().describe('Unix milliseconds by the Raft leader clock.'),
})

export const counterUpdateBody = z.union([
  z.strictObject({ increment: z.number().int().min(0) }),
  z.strictObject({ decrement: z.number().int().min(0) }),
])

export const counterBody = z.looseObject({ value: z.number().int() })

export const setUpdateBody = z.strictObject({
  add: z.array(z.string()).optional(),
  remove: z.array(z.string()).optional(),
  context: z.string().optional().describe('The context of a read that saw the removed elements.'),
})

export const setBody = z.looseObject({
  elements: z.array(z.string()),
  size: z.number().int(),
  context: z.string(),
})

export const health = z.looseObject({
  status: z.literal('ok'),
  node: z.string(),
  version: z.string(),
})

export const readiness = z.looseObject({ ready: z.literal(true), node: z.string() })

export const member = z.looseObject({
  id: z.string(),
  state: z.enum(['alive', 'suspect', 'dead', 'left', 'unknown']),
  incarnation: z.number().int(),
  zone: z.string(),
  httpAddress: z.string(),
  peerAddress: z.string(),
  gossipAddress: z.string(),
  lastChangeAt: z.string().nullable(),
})

const nodeId = z.string().min(1).max(128).describe('A node id listed in cluster.yml.')

export const topologyStageBody = z
  .discriminatedUnion('action', [
    z.strictObject({ action: z.literal('join'), node: nodeId }),
    z.strictObject({ action: z.literal('leave'), node: nodeId }),
    z.strictObject({ action: z.literal('replace'), node: nodeId, with: nodeId }),
  ])
  .describe('One change to stage: join a node, remove one, or replace one with another.')

export const topologyCommitBody = z.strictObject({
  version: z
    .number()
    .int()
    .min(1)
    .describe('The version the plan was reviewed against: the commit applies only from it.'),
})

export const topologyCommitted = z.looseObject({
  version: z.number().int().describe('The new version: the move from the old ring to the plan.'),
})

const ownership = z
  .record(z.string(), z.looseObject({ primaries: z.number().int(), replicas: z.number().int() }))
  .describe('Per node: lists it heads (primaries) and lists it is among the first n of.')

export const transferStatus = z.looseObject({
  version: z.number().int(),
  partition: z.number().int(),
  receiver: z.string(),
  source: z.string(),
  state: z.enum(['waiting', 'streaming', 'reconciling', 'done', 'failed']),
  keysMoved: z.number().int(),
  bytesMoved: z.number().int(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
})

const transferProgress = z.looseObject({
  total: z.number().int(),
  done: z.number().int(),
  failed: z.number().int(),
  keysMoved: z.number().int(),
  bytesMoved: z.number().int(),
})

const ringSummary = z.looseObject({
  nodes: z.array(z.looseObject({ id: z.string(), zone: z.string() })),
  ownership,
})

export const adminTopology = z.looseObject({
  version: z.number().int(),
  moving: z.boolean(),
  current: ringSummary,
  next: ringSummary.optional().describe('The ring being moved to, while moving.'),
  staged: z.array(
    z.looseObject({ action: z.string(), node: z.string(), with: z.string().optional() }),
  ),
  plan: z
    .looseObject({ ok: z.boolean() })
    .describe('The ring and transfers the staged changes give, or why they cannot be planned.'),
  transfers: z.array(transferStatus),
  progress: transferProgress,
})

export type AdminTopologyView = z.output<typeof adminTopology>

/** The `topology` section of `/v1/cluster`: this node's view. */
export const clusterTopology = z.looseObject({
  version: z.number().int(),
  moving: z.boolean(),
  transfers: z.array(transferStatus),
  progress: transferProgress,
  ownership,
  nextOwnership: ownership.optional(),
})

export const clusterView = z.looseObject({
  cluster: z.string(),
  node: z.string(),
  version: z.string(),
  members: z.array(member),
  topology: clusterTopology.optional(),
})

export const ringView = z.looseObject({
  version: z.number(),
  partitions: z.number().int(),
  nodes: z.array(z.unknown()),
  keyspaces: z.array(z.looseObject({ name: z.string(), mode: z.enum(['eventual', 'strong']) })),
})

export const raftView = z.looseObject({
  member: z.boolean(),
  leader: z.string().nullable().optional(),
  role: z.string().optional(),
  term: z.number().optional(),
})

const recordAddress = z.strictObject({ keyspace: z.string(), key: z.string() })

export const faultsBody = z.strictObject({
  blockPeers: z.array(z.string()).max(1024).optional().describe('Node ids to cut off; [] heals.'),
  clockSkewMs: z
    .number()
    .int()
    .optional()
    .describe("Offset of this node's wall clock in ms, within a day either way; 0 restores it."),
  corruptRecord: recordAddress
    .optional()
    .describe("Flips one bit in this node's stored record of the key (404 when none is stored)."),
})

export const faultsQuery = z.strictObject({
  keyspace: z.string().optional().describe('With key: describe the stored record of this key.'),
  key: z.string().optional(),
})

export const faultsState = z.looseObject({
  blockPeers: z.array(z.string()),
  clockSkewMs: z.number().int().optional(),
  record: z
    .looseObject({})
    .optional()
    .describe("This node's stored record of the key asked about: stored, corrupt, hash, clock."),
})

export const stats = z.looseObject({})

export const openApiDocument = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
})
