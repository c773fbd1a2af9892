/**
 * The route registry: every REST route murmur serves, with its parameters, headers, bodies,
 * responses and error codes, described once with the zod schemas of schemas.ts. The OpenAPI
 * document (document.ts) is generated from this list, and a unit test compares it with the
 * routes the node's app really registers, so the two cannot drift apart.
 *
 * Eventual and strong keyspaces share the `/v1/kv` paths, so one operation describes both; its
 * description says which parameters apply to which mode.
 */

import type { z } from 'zod'
import type { ErrorCode } from '../../env/errors.js'
import * as s from './schemas.js'

export type HttpMethod = 'get' | 'put' | 'post' | 'delete'

export interface BodySpec {
  /** Media type; `*\/*` for raw values. */
  readonly contentType: string
  /** Absent for raw bytes. */
  readonly schema?: z.ZodType
  readonly description?: string
}

export interface ResponseSpec {
  readonly description: string
  readonly body?: BodySpec
  /** Response header name → description. */
  readonly headers?: Readonly<Record<string, string>>
}

export interface RouteSpec {
  readonly operationId: string
  readonly method: HttpMethod
  /** OpenAPI path template, e.g. `/v1/kv/{keyspace}/{key}`. */
  readonly path: string
  readonly tag: string
  readonly summary: string
  readonly description?: string
  readonly pathParameters?: z.ZodObject
  readonly query?: z.ZodObject
  readonly headers?: z.ZodObject
  readonly requestBody?: BodySpec
  readonly responses: Readonly<Record<number, ResponseSpec>>
  /** Error codes this route may answer; statuses come from src/api/errors.ts. */
  readonly errors: readonly ErrorCode[]
  /** Present only under a condition (e.g. an environment variable). */
  readonly condition?: string
}

export const TAGS: readonly { readonly name: string; readonly description: string }[] = [
  {
    name: 'kv',
    description:
      'Plain values with siblings and causal contexts (eventual keyspaces) or versions and compare-and-set (strong keyspaces).',
  },
  {
    name: 'crdt',
    description:
      'PN-counters and add-wins sets on eventual keyspaces, merged on every replica; updates are retry-safe with an Idempotency-Key.',
  },
  { name: 'locks', description: 'Leases with fencing tokens, served by the Raft group.' },
  { name: 'cluster', description: 'Health, readiness, membership, ring and Raft views.' },
  {
    name: 'admin',
    description:
      'Live topology changes: stage joins, leaves and replacements, commit them as one versioned ring through the Raft group.',
  },
  { name: 'metrics', description: 'Prometheus metrics, JSON statistics and the dashboard.' },
  { name: 'docs', description: 'This document and its page.' },
  { name: 'debug', description: 'Fault injection for tests.' },
]

const RAW = '*/*'
const JSON_TYPE = 'application/json'
const json = (schema: z.ZodType, description?: string): BodySpec =>
  description === undefined
    ? { contentType: JSON_TYPE, schema }
    : { contentType: JSON_TYPE, schema, description }

const KV_RESPONSE_HEADERS = {
  'X-Murmur-Context': 'Eventual: the causal context of what this answer covers.',
  'X-Murmur-Replicas': 'Eventual: the nodes that answered or acknowledged.',
  'X-Murmur-Hinted': 'Eventual: fallbacks that stood in, as fallback>primary pairs.',
  'X-Murmur-Warning': 'Eventual: present when the key holds many siblings.',
  ETag: 'Strong: the version of the value (the quoted Raft log index of its last write).',
} as const

const WRITE_ERRORS: readonly ErrorCode[] = [
  'invalid_request',
  'invalid_context',
  'invalid_consistency',
  'unknown_keyspace',
  'method_not_allowed',
  'stale_token',
  'too_many_siblings',
  'precondition_failed',
  'value_too_large',
  'payload_too_large',
  'quorum_unavailable',
  'no_quorum',
  'overloaded',
  'unavailable',
  'timeout',
]

const READ_ERRORS: readonly ErrorCode[] = [
  'invalid_request',
  'invalid_consistency',
  'not_found',
  'unknown_keyspace',
  'quorum_unavailable',
  'no_quorum',
  'overloaded',
  'unavailable',
  'timeout',
]

const LOCK_ERRORS: readonly ErrorCode[] = [
  'invalid_request',
  'precondition_failed',
  'stale_token',
  'no_quorum',
  'overloaded',
  'unavailable',
  'timeout',
]

const kvRoutes: readonly RouteSpec[] = [
  {
    operationId: 'kvGet',
    method: 'get',
    path: '/v1/kv/{keyspace}/{key}',
    tag: 'kv',
    summary: 'Read a value',
    description:
      'Eventual keyspaces: 200 with the value, 300 with every sibling and their context, 404 when absent or deleted (with the tombstone context); r, pr, consistency (a level) and repair apply. Strong keyspaces: 200 with the value and its ETag; consistency is linearizable (default) or serializable.',
    pathParameters: s.kvPath,
    query: s.kvReadQuery,
    responses: {
      200: {
        description: 'The value, with its stored Content-Type.',
        body: { contentType: RAW },
        headers: KV_RESPONSE_HEADERS,
      },
      300: {
        description:
          'Siblings (eventual keyspaces): values in base64 and the context that covers them all.',
        body: json(s.siblingsBody),
        headers: KV_RESPONSE_HEADERS,
      },
    },
    errors: READ_ERRORS,
  },
  {
    operationId: 'kvPut',
    method: 'put',
    path: '/v1/kv/{keyspace}/{key}',
    tag: 'kv',
    summary: 'Write a value',
    description:
      'Eventual keyspaces: send the context you read (X-Murmur-Context) to supersede what you saw; w, pw, consistency and returnbody apply. Strong keyspaces: If-Match / If-None-Match make the write conditional, X-Murmur-Request-Id makes a retry apply once, X-Murmur-Fencing-Token fences it with a lock; only timeout applies.',
    pathParameters: s.kvPath,
    query: s.kvWriteQuery,
    headers: s.kvWriteHeaders.extend(s.strongWriteHeaders.shape),
    requestBody: {
      contentType: RAW,
      description: 'The value: any bytes up to limits.valueBytesMax.',
    },
    responses: {
      204: {
        description: 'Written.',
        headers: {
          ...KV_RESPONSE_HEADERS,
          'X-Murmur-Coordinator': 'Eventual: the node that minted the version.',
        },
      },
      200: {
        description: 'returnbody=true: the single value after the write.',
        body: { contentType: RAW },
      },
      300: {
        description: 'returnbody=true: siblings after the write.',
        body: json(s.siblingsBody),
      },
    },
    errors: WRITE_ERRORS,
  },
  {
    operationId: 'kvDelete',
    method: 'delete',
    path: '/v1/kv/{keyspace}/{key}',
    tag: 'kv',
    summary: 'Delete a value',
    description:
      'Eventual keyspaces write a tombstone; send the context you read. Strong keyspaces take the same condition, request-id and fencing headers as PUT.',
    pathParameters: s.kvPath,
    query: s.kvWriteQuery.omit({ returnbody: true }),
    headers: s.kvWriteHeaders
      .omit({ 'Content-Type': true })
      .extend(s.strongWriteHeaders.omit({ 'Content-Type': true }).shape),
    responses: { 204: { description: 'Deleted.', headers: KV_RESPONSE_HEADERS } },
    errors: WRITE_ERRORS,
  },
  {
    operationId: 'kvList',
    method: 'get',
    path: '/v1/kv/{keyspace}',
    tag: 'kv',
    summary: 'List keys, a page at a time',
    description:
      'Expensive: a scan of every partition. Eventual listings read one replica per partition; strong listings are linearizable unless consistency=serializable.',
    pathParameters: s.keyspacePath,
    query: s.listQuery,
    responses: { 200: { description: 'A page of keys in byte order.', body: json(s.keyPage) } },
    errors: [
      'invalid_request',
      'invalid_consistency',
      'unknown_keyspace',
      'no_quorum',
      'overloaded',
      'unavailable',
      'timeout',
    ],
  },
]

const CRDT_READ_ERRORS: readonly ErrorCode[] = [...READ_ERRORS, 'type_mismatch']
const CRDT_UPDATE_ERRORS: readonly ErrorCode[] = [
  'invalid_request',
  'invalid_context',
  'invalid_consistency',
  'unknown_keyspace',
  'method_not_allowed',
  'type_mismatch',
  'idempotency_conflict',
  'precondition_failed',
  'value_too_large',
  'payload_too_large',
  'quorum_unavailable',
  'overloaded',
  'unavailable',
  'timeout',
]
const CRDT_UPDATE_HEADERS = {
  'Idempotent-Replayed': 'true when this answer replays an earlier update with the same key.',
  'X-Murmur-Replicas': 'The nodes that acknowledged.',
} as const

const crdtRoutes: readonly RouteSpec[] = [
  {
    operationId: 'counterGet',
    method: 'get',
    path: '/v1/counters/{keyspace}/{key}',
    tag: 'crdt',
    summary: 'Read a counter',
    description: '404 when never written; 409 type_mismatch when the key holds another type.',
    pathParameters: s.kvPath,
    query: s.kvReadQuery,
    responses: { 200: { description: 'The value.', body: json(s.counterBody) } },
    errors: CRDT_READ_ERRORS,
  },
  {
    operationId: 'counterUpdate',
    method: 'post',
    path: '/v1/counters/{keyspace}/{key}',
    tag: 'crdt',
    summary: 'Increment or decrement a counter',
    description:
      'The same Idempotency-Key with another body is 409 idempotency_conflict (reason idempotency_key_reused).',
    pathParameters: s.kvPath,
    query: s.kvWriteQuery.omit({ returnbody: true }),
    headers: s.idempotencyHeaders,
    requestBody: json(s.counterUpdateBody),
    responses: {
      200: {
        description: 'The value after the update.',
        body: json(s.counterBody),
        headers: CRDT_UPDATE_HEADERS,
      },
    },
    errors: CRDT_UPDATE_ERRORS,
  },
  {
    operationId: 'setGet',
    method: 'get',
    path: '/v1/sets/{keyspace}/{key}',
    tag: 'crdt',
    summary: 'Read a set, with the context a remove needs',
    pathParameters: s.kvPath,
    query: s.kvReadQuery,
    responses: { 200: { description: 'The elements in order.', body: json(s.setBody) } },
    errors: CRDT_READ_ERRORS,
  },
  {
    operationId: 'setUpdate',
    method: 'post',
    path: '/v1/sets/{keyspace}/{key}',
    tag: 'crdt',
    summary: 'Add and remove elements atomically',
    description:
      'A remove needs the context of a read that saw the element (an add it did not see wins).',
    pathParameters: s.kvPath,
    query: s.kvWriteQuery.omit({ returnbody: true }),
    headers: s.idempotencyHeaders,
    requestBody: json(s.setUpdateBody),
    responses: {
      200: {
        description: 'The set after the update.',
        body: json(s.setBody),
        headers: CRDT_UPDATE_HEADERS,
      },
    },
    errors: CRDT_UPDATE_ERRORS,
  },
]

const metricsRoutes: readonly RouteSpec[] = [
  {
    operationId: 'metrics',
    method: 'get',
    path: '/metrics',
    tag: 'metrics',
    summary: 'Prometheus metrics of this node',
    responses: {
      200: { description: 'Prometheus text format.', body: { contentType: 'text/plain' } },
    },
    errors: [],
  },
  {
    operationId: 'stats',
    method: 'get',
    path: '/v1/stats',
    tag: 'metrics',
    summary: 'The same samples as JSON',
    responses: { 200: { description: 'Statistics of this node.', body: json(s.stats) } },
    errors: [],
  },
  {
    operationId: 'statsCluster',
    method: 'get',
    path: '/v1/stats/cluster',
    tag: 'metrics',
    summary: "Every member's dashboard summary, gathered over the peer transport",
    responses: { 200: { description: 'One entry per member.', body: json(s.stats) } },
    errors: [],
  },
  {
    operationId: 'dashboard',
    method: 'get',
    path: '/ui',
    tag: 'metrics',
    summary: 'The live dashboard page',
    responses: { 200: { description: 'Self-contained HTML.', body: { contentType: 'text/html' } } },
    errors: [],
  },
]

const lockRoutes: readonly RouteSpec[] = [
  {
    operationId: 'lockAcquire',
    method: 'post',
    path: '/v1/locks/{name}',
    tag: 'locks',
    summary: 'Acquire a lock',
    description:
      "412 precondition_failed while another holder's lease runs (expiresAtMs says until when).",
    pathParameters: s.lockPath,
    query: s.timeoutQuery,
    headers: s.requestIdHeaders,
    requestBody: json(s.lockAcquireBody),
    responses: {
      200: { description: 'The lease and its fencing token.', body: json(s.lockGrant) },
    },
    errors: LOCK_ERRORS,
  },
  {
    operationId: 'lockRenew',
    method: 'put',
    path: '/v1/locks/{name}',
    tag: 'locks',
    summary: 'Renew a lock',
    pathParameters: s.lockPath,
    query: s.timeoutQuery,
    headers: s.requestIdHeaders,
    requestBody: json(s.lockRenewBody),
    responses: {
      200: { description: 'The lease now ends ttlMs after the renewal.', body: json(s.lockGrant) },
    },
    errors: LOCK_ERRORS,
  },
  {
    operationId: 'lockRelease',
    method: 'delete',
    path: '/v1/locks/{name}',
    tag: 'locks',
    summary: 'Release a lock',
    description: 'The token goes in the body or in ?token=. Releasing again is 204 too.',
    pathParameters: s.lockPath,
    query: s.lockQuery,
    headers: s.requestIdHeaders,
    requestBody: json(s.lockReleaseBody),
    responses: { 204: { description: 'Released.' } },
    errors: LOCK_ERRORS,
  },
]

const clusterRoutes: readonly RouteSpec[] = [
  {
    operationId: 'health',
    method: 'get',
    path: '/health',
    tag: 'cluster',
    summary: 'The process is up',
    responses: { 200: { description: 'Up.', body: json(s.health) } },
    errors: [],
  },
  {
    operationId: 'ready',
    method: 'get',
    path: '/ready',
    tag: 'cluster',
    summary: 'The node has joined and knows the ring',
    responses: { 200: { description: 'Ready.', body: json(s.readiness) } },
    errors: ['unavailable'],
  },
  {
    operationId: 'cluster',
    method: 'get',
    path: '/v1/cluster',
    tag: 'cluster',
    summary: "This node's view of the members, with its ring and replication counters",
    responses: { 200: { description: 'The view.', body: json(s.clusterView) } },
    errors: [],
  },
  {
    operationId: 'clusterRing',
    method: 'get',
    path: '/v1/cluster/ring',
    tag: 'cluster',
    summary: 'Partitions and their preference lists, per keyspace',
    responses: { 200: { description: 'The ring.', body: json(s.ringView) } },
    errors: [],
  },
  {
    operationId: 'raft',
    method: 'get',
    path: '/v1/raft',
    tag: 'cluster',
    summary: "This node's view of the Raft group of the strong keyspaces",
    responses: {
      200: {
        description: 'Role, term, leader, commit and applied index, progress and counters.',
        body: json(s.raftView),
      },
    },
    errors: [],
  },
]

const TOPOLOGY_CONFLICT: ResponseSpec = {
  description:
    '`precondition_failed`: a move is under way, the version moved on, or the staged changes changed meanwhile (body: the error, with the current `version`).',
  body: json(s.errorBody),
}

const adminRoutes: readonly RouteSpec[] = [
  {
    operationId: 'topologyGet',
    method: 'get',
    path: '/v1/admin/topology',
    tag: 'admin',
    summary: 'The topology: version, rings, staged changes, their plan, transfers',
    description: 'A linearizable read through the Raft group. Needs an admin token.',
    query: s.timeoutQuery,
    responses: { 200: { description: 'The state.', body: json(s.adminTopology) } },
    errors: ['invalid_request', 'no_quorum', 'unavailable', 'forbidden', 'unauthenticated'],
  },
  {
    operationId: 'topologyStage',
    method: 'post',
    path: '/v1/admin/topology/stage',
    tag: 'admin',
    summary: 'Stage one change (join, leave, replace)',
    description:
      'Validated against cluster.yml and the ring it applies to (the ring being moved to, while a move is under way); a refusal names its `reason` (unknown_node, already_in_ring, not_in_ring, replacement_in_ring, node_named_twice, too_few_nodes, too_many_nodes, too_many_changes).',
    query: s.timeoutQuery,
    requestBody: json(s.topologyStageBody),
    responses: {
      200: { description: 'The state with the change staged.', body: json(s.adminTopology) },
      409: TOPOLOGY_CONFLICT,
    },
    errors: ['invalid_request', 'no_quorum', 'unavailable', 'forbidden', 'unauthenticated'],
  },
  {
    operationId: 'topologyClear',
    method: 'delete',
    path: '/v1/admin/topology/stage',
    tag: 'admin',
    summary: 'Clear the staged changes',
    query: s.timeoutQuery,
    responses: {
      200: { description: 'The state without staged changes.', body: json(s.adminTopology) },
      409: TOPOLOGY_CONFLICT,
    },
    errors: ['invalid_request', 'no_quorum', 'unavailable', 'forbidden', 'unauthenticated'],
  },
  {
    operationId: 'topologyCommit',
    method: 'post',
    path: '/v1/admin/topology/commit',
    tag: 'admin',
    summary: 'Commit the plan of the staged changes as the next version (starts the move)',
    description:
      'Compare-and-set through the Raft group: applies only from `version`, only while no move is under way, and only with the staged changes the plan was made from.',
    query: s.timeoutQuery,
    requestBody: json(s.topologyCommitBody),
    responses: {
      200: { description: 'Committed.', body: json(s.topologyCommitted) },
      409: TOPOLOGY_CONFLICT,
    },
    errors: ['invalid_request', 'no_quorum', 'unavailable', 'forbidden', 'unauthenticated'],
  },
]

const docsRoutes: readonly RouteSpec[] = [
  {
    operationId: 'openapi',
    method: 'get',
    path: '/openapi.json',
    tag: 'docs',
    summary: 'This OpenAPI 3.1 document',
    responses: { 200: { description: 'The document.', body: json(s.openApiDocument) } },
    errors: [],
  },
  {
    operationId: 'docs',
    method: 'get',
    path: '/docs',
    tag: 'docs',
    summary: 'A readable page rendered from the document',
    responses: { 200: { description: 'Self-contained HTML.', body: { contentType: 'text/html' } } },
    errors: [],
  },
]

const FAULTS_CONDITION = 'Only on nodes started with MURMUR_FAULTS=1; otherwise 404.'

const debugRoutes: readonly RouteSpec[] = [
  {
    operationId: 'faultsGet',
    method: 'get',
    path: '/v1/debug/faults',
    tag: 'debug',
    summary: 'The faults this node injects (and, with ?keyspace=&key=, its stored record of a key)',
    query: s.faultsQuery,
    responses: { 200: { description: 'The faults in force.', body: json(s.faultsState) } },
    errors: [],
    condition: FAULTS_CONDITION,
  },
  {
    operationId: 'faultsSet',
    method: 'post',
    path: '/v1/debug/faults',
    tag: 'debug',
    summary: 'Block peers, skew the wall clock or corrupt a stored record',
    requestBody: json(s.faultsBody),
    responses: { 200: { description: 'The faults in force now.', body: json(s.faultsState) } },
    errors: ['invalid_request', 'not_found'],
    condition: FAULTS_CONDITION,
  },
]

/** Every route, in the order the document lists them. */
export const ROUTES: readonly RouteSpec[] = [
  ...kvRoutes,
  ...crdtRoutes,
  ...lockRoutes,
  ...clusterRoutes,
  ...adminRoutes,
  ...metricsRoutes,
  ...docsRoutes,
  ...debugRoutes,
]
