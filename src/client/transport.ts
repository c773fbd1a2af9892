/**
 * How the client reaches the cluster: one HTTP request at a time through global fetch, to the
 * nodes in turn (each call starts at the next node, so load spreads), with a timeout per
 * attempt. A call marked retryable is tried again on the next node, after an exponential
 * backoff with jitter, when a node cannot be reached, times out, or answers 503 or 504; at
 * most `retries` more attempts. Only idempotent calls may be marked retryable (the API
 * modules decide); anything else gets exactly one attempt.
 *
 * With a `token` every request carries `Authorization: Bearer <token>`. HTTPS nodes are
 * verified against the system CAs, or only against `ca` when one is given; global fetch cannot
 * take a CA of its own, so then requests go through node:https (`fetchTrusting`).
 */

import { request as httpsRequest } from 'node:https'
import { MurmurClientError } from './errors.js'

export type QueryValue = string | number | boolean | undefined

export interface Call {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE'
  /** The path, already percent-encoded. */
  readonly path: string
  readonly query?: Readonly<Record<string, QueryValue>>
  readonly headers?: Readonly<Record<string, string | undefined>>
  readonly body?: Uint8Array | string
  /** Whether the call is idempotent and may be sent again. */
  readonly retry: boolean
  /** Overrides the attempt timeout (e.g. for a long server-side timeout). */
  readonly attemptTimeoutMs?: number
}

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly body: Uint8Array
  /** The base URL of the node that answered. */
  readonly node: string
}

export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>

export interface TransportOptions {
  /** Base URLs of the nodes, e.g. http://127.0.0.1:7001. At least one. */
  readonly nodes: readonly string[]
  /** Per attempt, in milliseconds. Default 5000. */
  readonly timeoutMs?: number
  /** Extra attempts for retryable calls. Default 2. */
  readonly retries?: number
  /** First backoff delay; it doubles per attempt up to `backoffMsMax`. Default 50. */
  readonly backoffMs?: number
  /** Default 1000. */
  readonly backoffMsMax?: number
  /** The fetch to use; default the global one (tests pass a stub). */
  readonly fetch?: FetchFunction
  /** API token sent as `Authorization: Bearer <token>`. Default none. */
  readonly token?: string
  /** PEM certificate(s) of the CA that signed the nodes' HTTPS certificates. Default: system CAs. */
  readonly ca?: string | Uint8Array
}

const RETRIES_MAX = 10
const NODES_MAX = 1024
const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([503, 504])

export class Transport {
  readonly nodes: readonly string[]
  readonly timeoutMs: number
  readonly retries: number
  private readonly backoffMs: number
  private readonly backoffMsMax: number
  private readonly fetch: FetchFunction
  private readonly authorization: string | undefined
  private next = 0

  constructor(options: TransportOptions) {
    if (options.nodes.length === 0 || options.nodes.length > NODES_MAX)
      throw new RangeError(`nodes must list 1..${NODES_MAX} base URLs`)
    this.nodes = options.nodes.map((node) => normalizeBaseUrl(node))
    this.timeoutMs = positive(options.timeoutMs ?? 5000, 'timeoutMs')
    this.retries = options.retries ?? 2
    if (!Number.isInteger(this.retries) || this.retries < 0 || this.retries > RETRIES_MAX)
      throw new RangeError(`retries must be an integer in 0..${RETRIES_MAX}`)
    this.backoffMs = positive(options.backoffMs ?? 50, 'backoffMs')
    this.backoffMsMax = positive(options.backoffMsMax ?? 1000, 'backoffMsMax')
    this.fetch =
      options.fetch ??
      (options.ca === undefined ? (url, init) => fetch(url, init) : fetchTrusting(options.ca))
    if (options.token !== undefined && !/^[\x21-\x7e]{1,2048}$/.test(options.token))
      throw new RangeError('token must be 1..2048 printable ASCII characters without spaces')
    this.authorization = options.token === undefined ? undefined : `Bearer ${options.token}`
  }

  /**
   * Sends the call; answers the first reply that is final (any status but a retryable failure
   * of a retryable call). Throws `unavailable` (or `timeout`) when no node answered at all.
   */
  async send(call: Call): Promise<Reply> {
    const start = this.next
    this.next = (this.next + 1) % this.nodes.length
    const attempts = call.retry ? this.retries + 1 : 1
    let failure: MurmurClientError | undefined
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await sleep(this.backoffFor(attempt))
      const node = this.nodes[(start + attempt) % this.nodes.length] as string
      const outcome = await this.attempt(node, call)
      if (outcome instanceof MurmurClientError) {
        failure = outcome
        continue
      }
      if (!call.retry || !RETRYABLE_STATUSES.has(outcome.status) || attempt === attempts - 1)
        return outcome
    }
    throw (
      failure ??
      new MurmurClientError('unavailable', 'no attempt was made', { status: 0, node: '' })
    )
  }

  private async attempt(node: string, call: Call): Promise<Reply | MurmurClientError> {
    const url = `${node}${call.path}${queryString(call.query)}`
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(call.headers ?? {}))
      if (value !== undefined) headers[name] = value
    if (this.authorization !== undefined) headers['Authorization'] = this.authorization
    const timeoutMs = call.attemptTimeoutMs ?? this.timeoutMs
    const init: RequestInit = {
      method: call.method,
      headers,
      signal: AbortSignal.timeout(timeoutMs),
    }
    if (call.body !== undefined) init.body = call.body
    try {
      const response = await this.fetch(url, init)
      const body = new Uint8Array(await response.arrayBuffer())
      return { status: response.status, headers: response.headers, body, node }
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError'
      // A refused connection never carried the request; a timeout may have.
      return new MurmurClientError(
        timedOut ? 'timeout' : 'unavailable',
        timedOut
          ? `${node} did not answer within ${timeoutMs} ms`
          : `cannot reach ${node}: ${causeMessage(error)}`,
        { status: 0, node, definite: !timedOut && isRefused(error), cause: error },
      )
    }
  }

  private backoffFor(attempt: number): number {
    const ceiling = Math.min(this.backoffMsMax, this.backoffMs * 2 ** (attempt - 1))
    // Jitter spreads retries of many clients that failed at the same moment.
    return ceiling / 2 + Math.random() * (ceiling / 2)
  }
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be positive`)
  return value
}

/** `http://host:port` without a trailing slash; a bare `host:port` gets `http://`. */
export function normalizeBaseUrl(node: string): string {
  const withScheme = /^https?:\/\//.test(node) ? node : `http://${node}`
  const url = new URL(withScheme)
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`
}

export function queryString(query: Readonly<Record<string, QueryValue>> | undefined): string {
  const parts: string[] = []
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue
    parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`)
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`
}

function causeMessage(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string }) : undefined
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))
}

function isRefused(error: unknown): boolean {
  const cause = error instanceof Error ? (error.cause as { code?: string } | undefined) : undefined
  return cause?.code === 'ECONNREFUSED'
}

/** Statuses whose responses have no body; a Response cannot be built with one. */
const BODYLESS_STATUSES: ReadonlySet<number> = new Set([101, 204, 205, 304])

/**
 * A fetch over node:https that trusts only `ca` (PEM), for nodes with a private CA. It supports
 * what this transport uses: method, string headers, a string or byte body, and an abort
 * signal. Failures look like global fetch's: a TypeError whose cause is the socket error, or
 * the signal's reason when it aborted.
 */
export function fetchTrusting(ca: string | Uint8Array): FetchFunction {
  const caText = typeof ca === 'string' ? ca : Buffer.from(ca).toString('utf8')
  return (url, init) => {
    if (!url.startsWith('https:')) return fetch(url, init)
    const signal = init.signal ?? undefined
    return new Promise<Response>((resolve, reject) => {
      const request = httpsRequest(
        url,
        {
          method: init.method ?? 'GET',
          headers: (init.headers ?? {}) as Record<string, string>,
          ca: caText,
          ...(signal === undefined ? {} : { signal }),
        },
        (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('error', (error) => reject(new TypeError('fetch failed', { cause: error })))
          response.on('end', () => {
            const status = response.statusCode ?? 500
            const headers = new Headers()
            for (const [name, value] of Object.entries(response.headers)) {
              if (typeof value === 'string') headers.set(name, value)
              else for (const item of value ?? []) headers.append(name, item)
            }
            const body = BODYLESS_STATUSES.has(status) ? null : Buffer.concat(chunks)
            resolve(new Response(body, { status, headers }))
          })
        },
      )
      request.on('error', (error) =>
        reject(
          signal?.aborted === true
            ? signal.reason
            : new TypeError('fetch failed', { cause: error }),
        ),
      )
      const body = init.body
      if (typeof body === 'string' || body instanceof Uint8Array) request.end(body)
      else request.end()
    })
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
