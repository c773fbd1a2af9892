/**
 * The REST application. Every node serves the whole API (docs/API.md). Routes validate their
 * input and hand typed requests to the node's services; errors are rendered in one place
 * (src/api/errors.ts). Bad input of any kind ends in a JSON 4xx, never in a crash.
 */

import { Hono, type MiddlewareHandler } from 'hono'
import { MurmurError } from '../env/errors.js'
import type { Logger } from '../env/log.js'
import { declaredLength, payloadTooLarge } from './body.js'
import { renderError } from './errors.js'

export type ApiEnv = { Variables: Record<string, never> }

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
  app.onError((thrown, c) => {
    const error =
      thrown instanceof URIError
        ? new MurmurError('invalid_request', 'malformed percent-encoding in the path')
        : thrown
    const rendered = renderError(error)
    if (rendered.internal)
      options.log.error('request failed', { method: c.req.method, path: c.req.path, error: thrown })
    const headers: Record<string, string> = {}
    if (rendered.status === 503) headers['Retry-After'] = '1'
    return c.json(rendered.body, rendered.status as 400, headers)
  })
  return app
}
