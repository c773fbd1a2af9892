/**
 * Plain values of eventual keyspaces (`/v1/kv`): reads that return the value or every
 * sibling with the causal context, writes and deletes that carry the context they supersede,
 * per-request consistency, and listing. Reads are retried through other nodes; writes only
 * when the caller opts in (`retry: true`), because a retried write without a context that
 * covers the first attempt may leave a sibling.
 */

import { keyPage, siblingsBody } from '../api/openapi/schemas.js'
import { errorFromReply } from './errors.js'
import type { Reply, Transport } from './transport.js'
import {
  encodeValue,
  expectStatus,
  keyPath,
  keyspacePath,
  parseJson,
  type Value,
} from './values.js'

export type Level = 'one' | 'two' | 'three' | 'quorum' | 'all' | number

export interface KvReadOptions {
  readonly r?: Level
  readonly pr?: Level
  /** Milliseconds the server may take (the `timeout` parameter). */
  readonly timeoutMs?: number
  readonly repair?: 'async' | 'blocking'
}

export interface KvWriteOptions {
  readonly w?: Level
  readonly pw?: Level
  readonly timeoutMs?: number
  /** The context of the read this write supersedes. */
  readonly context?: string
  /** Retry on connection errors, 503 and 504 (may leave a sibling if the first attempt landed). */
  readonly retry?: boolean
}

export interface KvPutOptions extends KvWriteOptions {
  /** Default `text/plain; charset=utf-8` for strings, `application/octet-stream` for bytes. */
  readonly contentType?: string
}

export interface Sibling {
  /** Null for a delete sibling. */
  readonly value: Uint8Array | null
  readonly contentType: string | null
  readonly deleted: boolean
}

export interface KvReadResult {
  /** False when the key is absent or deleted. */
  readonly found: boolean
  /** Every version the read saw: one when there is no conflict, none when not found. */
  readonly siblings: readonly Sibling[]
  /** The causal context to send with the next write ('' when the key never existed). */
  readonly context: string
  /** The nodes that answered. */
  readonly replicas: readonly string[]
}

export interface KvWriteResult {
  /** The context of the new version: send it with the next write to keep superseding. */
  readonly context: string
  readonly replicas: readonly string[]
  readonly coordinator: string
}

export interface KeyPage {
  readonly keys: readonly string[]
  /** Null on the last page. */
  readonly cursor: string | null
}

function commaList(value: string | null): string[] {
  return value === null || value === '' ? [] : value.split(',')
}

function readResult(reply: Reply): KvReadResult {
  const context = reply.headers.get('x-murmur-context') ?? ''
  const replicas = commaList(reply.headers.get('x-murmur-replicas'))
  if (reply.status === 404) return { found: false, siblings: [], context, replicas }
  if (reply.status === 300) {
    const body = parseJson(reply, siblingsBody)
    const siblings = body.siblings.map((sibling) => ({
      value: sibling.value === null ? null : new Uint8Array(Buffer.from(sibling.value, 'base64')),
      contentType: sibling.contentType,
      deleted: sibling.deleted,
    }))
    return { found: true, siblings, context: body.context, replicas }
  }
  expectStatus(reply, [200])
  const contentType = reply.headers.get('content-type') ?? 'application/octet-stream'
  return {
    found: true,
    siblings: [{ value: reply.body, contentType, deleted: false }],
    context,
    replicas,
  }
}

export class KvApi {
  constructor(private readonly transport: Transport) {}

  async get(keyspace: string, key: string, options: KvReadOptions = {}): Promise<KvReadResult> {
    const reply = await this.transport.send({
      method: 'GET',
      path: keyPath(keyspace, key),
      query: { r: options.r, pr: options.pr, timeout: options.timeoutMs, repair: options.repair },
      retry: true,
    })
    if (reply.status === 404 && !isKeyNotFound(reply)) expectStatus(reply, [200])
    return readResult(reply)
  }

  async put(
    keyspace: string,
    key: string,
    value: Value,
    options: KvPutOptions = {},
  ): Promise<KvWriteResult> {
    const encoded = encodeValue(value, options.contentType)
    return this.write('PUT', keyspace, key, options, encoded.bytes, encoded.contentType)
  }

  async delete(
    keyspace: string,
    key: string,
    options: KvWriteOptions = {},
  ): Promise<KvWriteResult> {
    return this.write('DELETE', keyspace, key, options, undefined, undefined)
  }

  /** One page of live keys in byte order; pass the cursor back for the next page. */
  async list(
    keyspace: string,
    options: { prefix?: string; limit?: number; cursor?: string; timeoutMs?: number } = {},
  ): Promise<KeyPage> {
    const reply = await this.transport.send({
      method: 'GET',
      path: keyspacePath(keyspace),
      query: {
        prefix: options.prefix,
        limit: options.limit,
        cursor: options.cursor,
        timeout: options.timeoutMs,
      },
      retry: true,
    })
    expectStatus(reply, [200])
    return parseJson(reply, keyPage)
  }

  private async write(
    method: 'PUT' | 'DELETE',
    keyspace: string,
    key: string,
    options: KvWriteOptions,
    body: Uint8Array | undefined,
    contentType: string | undefined,
  ): Promise<KvWriteResult> {
    const reply = await this.transport.send({
      method,
      path: keyPath(keyspace, key),
      query: { w: options.w, pw: options.pw, timeout: options.timeoutMs },
      headers: {
        'X-Murmur-Context': options.context === '' ? undefined : options.context,
        'Content-Type': contentType,
      },
      ...(body === undefined ? {} : { body }),
      retry: options.retry === true,
    })
    expectStatus(reply, [204])
    return {
      context: reply.headers.get('x-murmur-context') ?? '',
      replicas: commaList(reply.headers.get('x-murmur-replicas')),
      coordinator: reply.headers.get('x-murmur-coordinator') ?? '',
    }
  }
}

/** A 404 about the key itself, as opposed to an unknown keyspace or route. */
export function isKeyNotFound(reply: Reply): boolean {
  const error = errorFromReply(reply.status, reply.body, reply.node)
  return error.code === 'not_found' && !error.message.startsWith('no route')
}
