/**
 * The REST application. Every node serves the whole API (docs/API.md). Routes validate their
 * input and hand typed requests to the node's services; errors are rendered in one place
 * (src/api/errors.ts). Bad input of any kind ends in a JSON 4xx, never in a crash.
 *
 * `guardedApp` puts a check in front of a whole app (API tokens, src/runtime/security/
 * access.ts): a refused request is answered with the check's error, rendered like any other,
 * and never reaches a route.
 */

import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { MurmurError } from '../env/errors.js'
import type { Logger } from '../env/log.js'
import { declaredLength, payloadTooLarge } from './body.js'
import { renderError } from './errors.js'

export type ApiEnv = { Variables: Record<string, never> }

/** Decides whether a request may proceed: undefined, or the error to answer with. */
export type RequestCheck = (
  method: string,
  path: string,
  authorization: string | undefined,
) => MurmurError | undefined

/** Adds a group of routes to the app; each feature area (kv, cluster, ...) provides one. */
export type RouteModule = (app: Hono<ApiEnv>) => void

export interface AppOptions {
  readonly requestBodyBytesMax: number
  readonly log: Logger
  readonly routes: readonly RouteModule[]
  /** Runs first on every request, before the body limit (request metrics). */
  readonly observe?: MiddlewareHandler<ApiEnv>
}

export function createApp(options: AppOptions): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>()
  if (options.observe !== undefined) app.use('*', options.observe)
  // A declared body over the limit is refused before any route runs; routes read bodies through
  // src/api/body.ts, which also stops a chunked body at the limit.
  app.use('*', async (c, next) => {
    const declared = declaredLength(c)
    if (declared !== undefined && declared > options.requestBodyBytesMax)
      throw payloadTooLarge(options.requestBodyBytesMax)
    await next()
  })
  for (const register of options.routes) register(app)
  app.notFound((c) => {
    const error = new MurmurError(
      'not_found',
      `no route for ${c.req.method} ${new URL(c.req.url).pathname}`,
    )
    const rendered = renderError(error)
    return c.json(rendered.body, 404)
  })
  app.onError((thrown, c) => renderThrown(thrown, c, options.log))
  return app
}

/** An app that runs `check` on every request and hands the requests it allows to `inner`. */
export function guardedApp(inner: Hono<ApiEnv>, check: RequestCheck, log: Logger): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>()
  app.use('*', async (c, next) => {
    const refused = check(c.req.method, c.req.path, c.req.header('authorization'))
    if (refused !== undefined) throw refused
    await next()
  })
  app.all('*', (c) => inner.fetch(c.req.raw, c.env))
  app.onError((thrown, c) => renderThrown(thrown, c, log))
  return app
}

function renderThrown(thrown: Error, c: Context<ApiEnv>, log: Logger): Response {
  const error =
    thrown instanceof URIError
      ? new MurmurError('invalid_request', 'malformed percent-encoding in the path')
      : thrown
  const rendered = renderError(error)
  if (rendered.internal)
    log.error('request failed', { method: c.req.method, path: c.req.path, error: thrown })
  const headers: Record<string, string> = {}
  if (rendered.status === 503) headers['Retry-After'] = '1'
  if (rendered.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="murmur"'
  return c.json(rendered.body, rendered.status as 400, headers)
}
