/**
 * The one place that maps error codes to HTTP statuses and renders error bodies, exactly as
 * the REST contract says: `{"error": {"code", "message", ...details}}`. Anything that is not a
 * MurmurError is a bug: it is answered as 500 `internal` with a generic message (the details
 * go to the log), and the node keeps serving.
 */

import { type ErrorCode, MurmurError } from '../env/errors.js'

export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  invalid_context: 400,
  invalid_consistency: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  unknown_keyspace: 404,
  method_not_allowed: 405,
  type_mismatch: 409,
  stale_token: 409,
  idempotency_conflict: 409,
  too_many_siblings: 409,
  precondition_failed: 412,
  value_too_large: 413,
  payload_too_large: 413,
  internal: 500,
  corrupt_record: 500,
  config_invalid: 500,
  quorum_unavailable: 503,
  no_quorum: 503,
  not_leader: 503,
  overloaded: 503,
  stale_ring: 503,
  unavailable: 503,
  timeout: 504,
}

export interface ErrorBody {
  readonly error: {
    readonly code: ErrorCode
    readonly message: string
    readonly [detail: string]: unknown
  }
}

export function errorBody(error: MurmurError): ErrorBody {
  const body: Record<string, unknown> = {
    ...error.details,
    code: error.code,
    message: error.message,
  }
  if (error.definite !== undefined) body['definite'] = error.definite
  return { error: body as ErrorBody['error'] }
}

/** Status and body for any thrown value. */
export function renderError(error: unknown): {
  status: number
  body: ErrorBody
  internal: boolean
} {
  if (error instanceof MurmurError) {
    return {
      status: STATUS_BY_CODE[error.code],
      body: errorBody(error),
      internal: error.code === 'internal',
    }
  }
  const internal = new MurmurError('internal', 'internal error')
  return { status: 500, body: errorBody(internal), internal: true }
}
