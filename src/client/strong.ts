/**
 * Strong keyspaces and locks (Raft-backed). Every write carries a request id, minted once per
 * logical write and reused on every retry, so a write retried through another node after a
 * lost answer applies once; that makes writes and lock calls safe to retry automatically.
 * Versions are the server's ETags as numbers; `ifMatch`/`ifNoneMatch` make writes
 * compare-and-set or create-only, and `fencingToken` fences a write with a lock's token.
 */

import { randomUUID } from 'node:crypto'
import { keyPage, lockGrant } from '../api/openapi/schemas.js'
import { isKeyNotFound, type KeyPage } from './kv.js'
import type { Transport } from './transport.js'
import {
  encodeValue,
  expectStatus,
  jsonBody,
  keyPath,
  keyspacePath,
  parseJson,
  type Value,
} from './values.js'

export interface StrongReadOptions {
  /** `linearizable` (default) confirms with the leader; `serializable` reads the local copy. */
  readonly consistency?: 'linearizable' | 'serializable'
  readonly timeoutMs?: number
}

export interface StrongReadResult {
  readonly found: boolean
  readonly value: Uint8Array | null
  readonly contentType: string | null
  /** The version (ETag) of the value; null when not found. */
  readonly version: number | null
}

export interface StrongWriteOptions {
  /** Compare-and-set: apply only if the key is at this version; `*`: only if it exists. */
  readonly ifMatch?: number | '*'
  /** Create-only: apply only if the key is absent. */
  readonly ifNoneMatch?: '*'
  /** Fences the write with a lock: a grant, or `<lock>:<token>`. */
  readonly fencingToken?: LockGrant | string
  /** The id that makes a retry apply once; minted when absent. */
  readonly requestId?: string
  readonly timeoutMs?: number
}

export interface StrongPutOptions extends StrongWriteOptions {
  readonly contentType?: string
}

export interface StrongWriteResult {
  /** The new version; null after a delete. */
  readonly version: number | null
  readonly requestId: string
}

export interface LockGrant {
  readonly lock: string
  readonly token: number
  readonly expiresAtMs: number
  /** `<lock>:<token>`, ready for X-Murmur-Fencing-Token. */
  readonly fencingToken: string
}

/** `"42"` → 42; anything else → null. */
export function versionOf(etag: string | null): number | null {
  const match = etag === null ? null : /^"([0-9]{1,16})"$/.exec(etag)
  return match === null ? null : Number(match[1])
}

function fencingHeader(token: LockGrant | string | undefined): string | undefined {
  return token === undefined || typeof token === 'string' ? token : token.fencingToken
}

export class StrongApi {
  constructor(private readonly transport: Transport) {}

  async get(
    keyspace: string,
    key: string,
    options: StrongReadOptions = {},
  ): Promise<StrongReadResult> {
    const reply = await this.transport.send({
      method: 'GET',
      path: keyPath(keyspace, key),
      query: { consistency: options.consistency, timeout: options.timeoutMs },
      retry: true,
    })
    if (reply.status === 404 && isKeyNotFound(reply))
      return { found: false, value: null, contentType: null, version: null }
    expectStatus(reply, [200])
    return {
      found: true,
      value: reply.body,
      contentType: reply.headers.get('content-type'),
      version: versionOf(reply.headers.get('etag')),
    }
  }

  async put(
    keyspace: string,
    key: string,
    value: Value,
    options: StrongPutOptions = {},
  ): Promise<StrongWriteResult> {
    const encoded = encodeValue(value, options.contentType)
    return this.write('PUT', keyspace, key, options, encoded.bytes, encoded.contentType)
  }

  async delete(
    keyspace: string,
    key: string,
    options: StrongWriteOptions = {},
  ): Promise<StrongWriteResult> {
    return this.write('DELETE', keyspace, key, options, undefined, undefined)
  }

  async list(
    keyspace: string,
    options: {
      prefix?: string
      limit?: number
      cursor?: string
      consistency?: 'linearizable' | 'serializable'
      timeoutMs?: number
    } = {},
  ): Promise<KeyPage> {
    const reply = await this.transport.send({
      method: 'GET',
      path: keyspacePath(keyspace),
      query: {
        prefix: options.prefix,
        limit: options.limit,
        cursor: options.cursor,
        consistency: options.consistency,
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
    options: StrongWriteOptions,
    body: Uint8Array | undefined,
    contentType: string | undefined,
  ): Promise<StrongWriteResult> {
    const requestId = options.requestId ?? randomUUID()
    const reply = await this.transport.send({
      method,
      path: keyPath(keyspace, key),
      query: { timeout: options.timeoutMs },
      headers: {
        'Content-Type': contentType,
        'If-Match':
          options.ifMatch === undefined
            ? undefined
            : options.ifMatch === '*'
              ? '*'
              : `"${options.ifMatch}"`,
        'If-None-Match': options.ifNoneMatch,
        'X-Murmur-Fencing-Token': fencingHeader(options.fencingToken),
        'X-Murmur-Request-Id': requestId,
      },
      ...(body === undefined ? {} : { body }),
      retry: true,
    })
    expectStatus(reply, [204])
    return { version: versionOf(reply.headers.get('etag')), requestId }
  }
}

export class LockApi {
  constructor(private readonly transport: Transport) {}

  /** Acquires the lock for `ttlMs`; throws `precondition_failed` while another holds it. */
  acquire(name: string, ttlMs: number, options: { timeoutMs?: number } = {}): Promise<LockGrant> {
    return this.grant('POST', name, { ttlMs }, options.timeoutMs)
  }

  /** Extends the lease to `ttlMs` from now; throws `stale_token` when the token is not current. */
  renew(
    name: string,
    token: number,
    ttlMs: number,
    options: { timeoutMs?: number } = {},
  ): Promise<LockGrant> {
    return this.grant('PUT', name, { token, ttlMs }, options.timeoutMs)
  }

  async release(name: string, token: number, options: { timeoutMs?: number } = {}): Promise<void> {
    const reply = await this.transport.send({
      method: 'DELETE',
      path: `/v1/locks/${encodeURIComponent(name)}`,
      query: { timeout: options.timeoutMs },
      headers: { 'Content-Type': 'application/json', 'X-Murmur-Request-Id': randomUUID() },
      body: jsonBody({ token }),
      retry: true,
    })
    expectStatus(reply, [204])
  }

  private async grant(
    method: 'POST' | 'PUT',
    name: string,
    body: Record<string, number>,
    timeoutMs: number | undefined,
  ): Promise<LockGrant> {
    const reply = await this.transport.send({
      method,
      path: `/v1/locks/${encodeURIComponent(name)}`,
      query: { timeout: timeoutMs },
      headers: { 'Content-Type': 'application/json', 'X-Murmur-Request-Id': randomUUID() },
      body: jsonBody(body),
      retry: true,
    })
    expectStatus(reply, [200])
    const grant = parseJson(reply, lockGrant)
    return {
      lock: grant.lock,
      token: grant.token,
      expiresAtMs: grant.expiresAtMs,
      fencingToken: `${grant.lock}:${grant.token}`,
    }
  }
}
