/**
 * The admin routes of live topology changes (docs/API.md, Topology). They need an admin token
 * when tokens are configured, and every one runs through the Raft group's log
 * (src/runtime/topology/admin.ts), forwarded by a node outside the group:
 *
 *   GET    /v1/admin/topology          the version, rings, staged changes, plan and transfers
 *   POST   /v1/admin/topology/stage    stage one change: {"action":"join","node":"n4"} |
 *                                      {"action":"leave","node":"n2"} |
 *                                      {"action":"replace","node":"n2","with":"n6"}
 *   DELETE /v1/admin/topology/stage    clear the staged changes
 *   POST   /v1/admin/topology/commit   {"version": v}: commit the plan from version v
 *
 * A change that cannot apply (an unknown node, a join of a member, a leave below the largest
 * replica count, ...) is 400 `invalid_request` with its `reason`. A commit while a move is
 * under way, or from a version that moved on, or of a staged list that changed meanwhile, is
 * 409 `precondition_failed` with the current `version`: unlike a conditional key write (412),
 * it conflicts with the cluster's state, and the operator reviews the plan again.
 */

import type { Context, Hono } from 'hono'
import type { z } from 'zod'
import { isMurmurError } from '../env/errors.js'
import type { TopologyChange } from '../ring/topology-plan.js'
import type { ApiEnv, RouteModule } from './app.js'
import { readJsonObject } from './body.js'
import { errorBody } from './errors.js'
import { topologyCommitBody, topologyStageBody } from './openapi/schemas.js'
import { invalid, parameters, splitUrl, timeoutOf } from './request-parts.js'

/** What the routes call: src/runtime/topology/admin.ts. */
export interface TopologyAdminBackend {
  view(timeoutMs: number): Promise<unknown>
  stage(change: TopologyChange, timeoutMs: number): Promise<unknown>
  clear(timeoutMs: number): Promise<unknown>
  commit(expectedVersion: number, timeoutMs: number): Promise<{ version: number }>
}

export interface TopologyRouteOptions {
  readonly backend: TopologyAdminBackend
  readonly timeoutMs: number
  readonly timeoutMsMax: number
}

/** Admin bodies are a few fields; anything larger is refused before parsing. */
const ADMIN_BODY_BYTES_MAX = 4096
const ADMIN_PATH = '/v1/admin/topology'

export function topologyRoutes(options: TopologyRouteOptions): RouteModule {
  const timeout = (c: Context<ApiEnv>): number =>
    timeoutOf(parameters(splitUrl(c.req.url).query, ['timeout']), options)
  return (app: Hono<ApiEnv>) => {
    app.get(ADMIN_PATH, async (c) => answer(c, () => options.backend.view(timeout(c))))
    app.post(`${ADMIN_PATH}/stage`, async (c) => {
      const timeoutMs = timeout(c)
      const change = await validBody(c, topologyStageBody)
      return answer(c, () => options.backend.stage(change, timeoutMs))
    })
    app.delete(`${ADMIN_PATH}/stage`, async (c) =>
      answer(c, () => options.backend.clear(timeout(c))),
    )
    app.post(`${ADMIN_PATH}/commit`, async (c) => {
      const timeoutMs = timeout(c)
      const body = await validBody(c, topologyCommitBody)
      return answer(c, () => options.backend.commit(body.version, timeoutMs))
    })
  }
}

async function validBody<T>(c: Context<ApiEnv>, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse(await readJsonObject(c, ADMIN_BODY_BYTES_MAX))
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]
  const where = issue === undefined || issue.path.length === 0 ? 'body' : issue.path.join('.')
  throw invalid(`${where}: ${issue?.message ?? 'invalid'}`)
}

/** Runs an action; a failed precondition is a 409 conflict here, everything else as usual. */
async function answer(c: Context<ApiEnv>, action: () => Promise<unknown>): Promise<Response> {
  try {
    return c.json((await action()) as object, 200)
  } catch (error) {
    if (isMurmurError(error, 'precondition_failed')) return c.json(errorBody(error), 409)
    throw error
  }
}
