/**
 * HTTP calls of the nemesis clients and checkers: one request with a deadline, never throwing,
 * and the outcome taxonomy every workload records: `ok` (acknowledged), `fail` (definitely did
 * not happen: a 4xx, or a 5xx whose body says `"definite":true`) and `unknown` (a timeout, a
 * lost connection or a 5xx that may still have been applied).
 */

import type { TestCluster } from '../support/cluster.js'

export type Outcome = 'ok' | 'fail' | 'unknown'

export interface Answer {
  readonly status: number
  readonly text: string
  readonly headers: Headers
}

/** Milliseconds a client waits for one answer before calling its outcome unknown. */
export const CALL_LIMIT_MS = 4000

/**
 * The answer recorded for a request that was never sent because its node was not running (it
 * stopped between choosing the node and sending): definitely not applied.
 */
const NOT_SENT: Answer = {
  status: 0,
  text: '{"error":{"code":"not_sent","definite":true}}',
  headers: new Headers(),
}

/**
 * One request to `node`; undefined when no answer came (refused, reset, timed out), NOT_SENT
 * when the node was not running.
 */
export async function call(
  cluster: TestCluster,
  node: string,
  path: string,
  init: RequestInit = {},
  limitMs = CALL_LIMIT_MS,
): Promise<Answer | undefined> {
  if (!cluster.isRunning(node)) return NOT_SENT
  try {
    const response = await fetch(`${cluster.node(node).url}${path}`, {
      ...init,
      signal: AbortSignal.timeout(limitMs),
    })
    const text = await response.text()
    return { status: response.status, text, headers: response.headers }
  } catch {
    return undefined
  }
}

/** The outcome of a write given its answer; `okStatuses` are the acknowledging statuses. */
export function writeOutcome(answer: Answer | undefined, okStatuses: readonly number[]): Outcome {
  if (answer === undefined) return 'unknown'
  if (okStatuses.includes(answer.status)) return 'ok'
  if (answer.status < 500) return 'fail'
  return answer.text.includes('"definite":true') ? 'fail' : 'unknown'
}

/** The error code of a failed answer, for the summary; `none` when it carries none. */
export function errorCode(answer: Answer | undefined): string {
  if (answer === undefined) return 'no_answer'
  const match = /"code":"([a-z_]+)"/.exec(answer.text)
  return match?.[1] ?? `status_${answer.status}`
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
