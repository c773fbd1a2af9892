/**
 * The one error type that crosses layers. Every expected failure carries a `code` from a closed
 * union; the HTTP layer alone maps codes to statuses (src/api/errors.ts) and the CLI maps them
 * to exit codes. `definite` tells a client whether a failed write certainly did not happen
 * (true) or may still have been applied (false), as Jepsen's Maelstrom taxonomy does.
 */

export const ERROR_CODES = [
  'invalid_request',
  'invalid_context',
  'invalid_consistency',
  'not_found',
  'unknown_keyspace',
  'method_not_allowed',
  'type_mismatch',
  'stale_token',
  'idempotency_conflict',
  'precondition_failed',
  'value_too_large',
  'too_many_siblings',
  'payload_too_large',
  'quorum_unavailable',
  'no_quorum',
  'not_leader',
  'overloaded',
  'timeout',
  'unavailable',
  'unauthenticated',
  'forbidden',
  'corrupt_record',
  'stale_ring',
  'config_invalid',
  'internal',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export type ErrorDetails = Readonly<Record<string, unknown>>

export class MurmurError extends Error {
  override readonly name = 'MurmurError'
  readonly code: ErrorCode
  readonly details: ErrorDetails
  /** For writes: true when the operation certainly did not take effect. */
  readonly definite: boolean | undefined

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: ErrorDetails; definite?: boolean; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.details = options.details ?? {}
    this.definite = options.definite
  }
}

export function isMurmurError(error: unknown, code?: ErrorCode): error is MurmurError {
  return error instanceof MurmurError && (code === undefined || error.code === code)
}

/** The message of any thrown value, for logs and one-line CLI errors. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
