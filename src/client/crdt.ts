/**
 * CRDT counters and sets (`/v1/counters`, `/v1/sets`). Every update carries an
 * Idempotency-Key minted once per logical update and reused on every retry, so an update
 * retried through another node after a lost answer counts once; that makes updates safe to
 * retry automatically. A set remove carries the context of a read that saw the element.
 */

import { randomUUID } from 'node:crypto'
import { counterBody, setBody } from '../api/openapi/schemas.js'
import { isKeyNotFound, type KvReadOptions, type KvWriteOptions } from './kv.js'
import type { Reply, Transport } from './transport.js'
import { expectStatus, jsonBody, parseJson } from './values.js'

export interface CrdtUpdateOptions extends Pick<KvWriteOptions, 'w' | 'pw' | 'timeoutMs'> {
  /** The key that makes retries count once; minted when absent. */
  readonly idempotencyKey?: string
}

export type CrdtReadOptions = Pick<KvReadOptions, 'r' | 'pr' | 'timeoutMs'>

export interface SetState {
  readonly elements: readonly string[]
  readonly size: number
  /** Send it with a remove of elements this read saw. */
  readonly context: string
}

function crdtPath(kind: 'counters' | 'sets', keyspace: string, key: string): string {
  return `/v1/${kind}/${encodeURIComponent(keyspace)}/${encodeURIComponent(key)}`
}

function readQuery(options: CrdtReadOptions) {
  return { r: options.r, pr: options.pr, timeout: options.timeoutMs }
}

function updateCall(path: string, body: unknown, options: CrdtUpdateOptions) {
  return {
    method: 'POST' as const,
    path,
    query: { w: options.w, pw: options.pw, timeout: options.timeoutMs },
    headers: {
      'Content-Type': 'application/json',
      'Idempotency-Key': options.idempotencyKey ?? randomUUID(),
    },
    body: jsonBody(body),
    retry: true,
  }
}

/** Undefined for a 404 about the key; throws every other failure. */
function foundOrThrow(reply: Reply): boolean {
  if (reply.status === 404 && isKeyNotFound(reply)) return false
  expectStatus(reply, [200])
  return true
}

export class CounterApi {
  constructor(private readonly transport: Transport) {}

  /** The counter's value; undefined when it was never written. */
  async get(
    keyspace: string,
    key: string,
    options: CrdtReadOptions = {},
  ): Promise<number | undefined> {
    const reply = await this.transport.send({
      method: 'GET',
      path: crdtPath('counters', keyspace, key),
      query: readQuery(options),
      retry: true,
    })
    return foundOrThrow(reply) ? parseJson(reply, counterBody).value : undefined
  }

  /** Adds `amount` (default 1) and answers the value after the update. */
  increment(
    keyspace: string,
    key: string,
    amount = 1,
    options: CrdtUpdateOptions = {},
  ): Promise<number> {
    return this.update(keyspace, key, { increment: amount }, options)
  }

  decrement(
    keyspace: string,
    key: string,
    amount = 1,
    options: CrdtUpdateOptions = {},
  ): Promise<number> {
    return this.update(keyspace, key, { decrement: amount }, options)
  }

  private async update(
    keyspace: string,
    key: string,
    body: Record<string, number>,
    options: CrdtUpdateOptions,
  ): Promise<number> {
    const reply = await this.transport.send(
      updateCall(crdtPath('counters', keyspace, key), body, options),
    )
    expectStatus(reply, [200])
    return parseJson(reply, counterBody).value
  }
}

export class SetApi {
  constructor(private readonly transport: Transport) {}

  /** The set; undefined when it was never written. */
  async get(
    keyspace: string,
    key: string,
    options: CrdtReadOptions = {},
  ): Promise<SetState | undefined> {
    const reply = await this.transport.send({
      method: 'GET',
      path: crdtPath('sets', keyspace, key),
      query: readQuery(options),
      retry: true,
    })
    return foundOrThrow(reply) ? parseJson(reply, setBody) : undefined
  }

  /** Adds and removes elements in one atomic update; removes need `context` from a read. */
  async update(
    keyspace: string,
    key: string,
    change: { add?: readonly string[]; remove?: readonly string[]; context?: string },
    options: CrdtUpdateOptions = {},
  ): Promise<SetState> {
    const body = {
      ...(change.add === undefined ? {} : { add: change.add }),
      ...(change.remove === undefined ? {} : { remove: change.remove }),
      ...(change.context === undefined ? {} : { context: change.context }),
    }
    const reply = await this.transport.send(
      updateCall(crdtPath('sets', keyspace, key), body, options),
    )
    expectStatus(reply, [200])
    return parseJson(reply, setBody)
  }

  add(keyspace: string, key: string, elements: readonly string[], options: CrdtUpdateOptions = {}) {
    return this.update(keyspace, key, { add: elements }, options)
  }

  remove(
    keyspace: string,
    key: string,
    elements: readonly string[],
    context: string,
    options: CrdtUpdateOptions = {},
  ): Promise<SetState> {
    return this.update(keyspace, key, { remove: elements, context }, options)
  }
}
