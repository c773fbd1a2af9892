/**
 * Serves the API's own description on every node: `GET /openapi.json` (the OpenAPI 3.1
 * document generated from the route registry) and `GET /docs` (the same document as a
 * readable, self-contained HTML page). Both are built once per process, on first request.
 */

import type { Hono } from 'hono'
import type { ApiEnv, RouteModule } from '../app.js'
import { renderDocsPage } from './docs-page.js'
import { buildOpenApiDocument } from './document.js'

/** Built on first use and shared by every node of the process (the simulator runs several). */
let rendered: { readonly json: string; readonly page: string } | undefined

function renderedDocument(): { readonly json: string; readonly page: string } {
  if (rendered === undefined) {
    const document = buildOpenApiDocument()
    rendered = { json: JSON.stringify(document), page: renderDocsPage(document) }
  }
  return rendered
}

export function openApiRoutes(): RouteModule {
  return (app: Hono<ApiEnv>) => {
    app.get('/openapi.json', (c) =>
      c.body(renderedDocument().json, 200, { 'Content-Type': 'application/json' }),
    )
    app.get('/docs', (c) => c.html(renderedDocument().page, 200))
  }
}
