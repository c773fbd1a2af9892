/**
 * Small pieces every API module of the client shares: percent-encoded paths, value encoding
 * with a default Content-Type, status checks that turn an unexpected answer into a typed
 * error, and JSON bodies checked against the API's own schemas.
 */

import type { z } from 'zod'
import { errorFromReply, MurmurClientError } from './errors.js'
import type { Reply } from './transport.js'

/** A value to store: text is sent as UTF-8. */
export type Value = string | Uint8Array

export function keyspacePath(keyspace: string): string {
  return `/v1/kv/${encodeURIComponent(keyspace)}`
}

export function keyPath(keyspace: string, key: string): string {
  return `${keyspacePath(keyspace)}/${encodeURIComponent(key)}`
}

export function encodeValue(
  value: Value,
  contentType: string | undefined,
): { bytes: Uint8Array; contentType: string } {
  if (typeof value === 'string') {
    return {
      bytes: new TextEncoder().encode(value),
      contentType: contentType ?? 'text/plain; charset=utf-8',
    }
  }
  return { bytes: value, contentType: contentType ?? 'application/octet-stream' }
}

/** Throws the reply's error unless its status is one of `expected`. */
export function expectStatus(reply: Reply, expected: readonly number[]): void {
  if (!expected.includes(reply.status)) throw errorFromReply(reply.status, reply.body, reply.node)
}

/** The reply's JSON body, checked against `schema`. */
export function parseJson<T>(reply: Reply, schema: z.ZodType<T>): T {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(reply.body).toString('utf8'))
  } catch (error) {
    throw new MurmurClientError('internal', `${reply.node} answered a body that is not JSON`, {
      status: reply.status,
      node: reply.node,
      cause: error,
    })
  }
  const checked = schema.safeParse(parsed)
  if (!checked.success) {
    throw new MurmurClientError('internal', `${reply.node} answered an unexpected body shape`, {
      status: reply.status,
      node: reply.node,
      details: { issues: checked.error.issues.slice(0, 5) },
    })
  }
  return checked.data
}

/** JSON request body bytes. */
export function jsonBody(value: unknown): string {
  return JSON.stringify(value)
}
