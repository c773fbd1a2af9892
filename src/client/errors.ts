/**
 * The client's one error type: a MurmurError carrying the API's error code, the HTTP status
 * (0 when no node answered), the node that answered, the error body's details, and for
 * writes whether the write certainly did not happen (`definite`). Callers branch on `code`.
 */

import { errorBody } from '../api/openapi/schemas.js'
import { type ErrorCode, MurmurError } from '../env/errors.js'

export class MurmurClientError extends MurmurError {
  /** The HTTP status, or 0 when no node gave an answer (connection failed or timed out). */
  readonly status: number
  /** The base URL of the node that answered (or was tried last). */
  readonly node: string

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      status: number
      node: string
      details?: Record<string, unknown>
      definite?: boolean
      cause?: unknown
    },
  ) {
    super(code, message, {
      details: options.details ?? {},
      ...(options.definite === undefined ? {} : { definite: options.definite }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    })
    this.status = options.status
    this.node = options.node
  }
}

/** The code a bare status stands for when the body names none (e.g. a proxy's 502). */
function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'not_found'
  if (status === 409) return 'stale_token'
  if (status === 412) return 'precondition_failed'
  if (status === 413) return 'value_too_large'
  if (status === 504) return 'timeout'
  if (status >= 500) return 'unavailable'
  return 'invalid_request'
}

/** The error an answer with a failure status stands for, from its JSON error body. */
export function errorFromReply(status: number, body: Uint8Array, node: string): MurmurClientError {
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'))
  } catch {
    parsed = undefined
  }
  // A body that is not murmur's error shape (a proxy's page, an unknown code) keeps the status.
  const checked = errorBody.safeParse(parsed)
  if (!checked.success) {
    return new MurmurClientError(codeForStatus(status), `HTTP ${status} from ${node}`, {
      status,
      node,
    })
  }
  const { code, message, definite, ...details } = checked.data.error
  return new MurmurClientError(code, message, {
    status,
    node,
    details,
    ...(definite === undefined ? {} : { definite }),
  })
}
