/**
 * Assertions for programmer errors. A failed assertion means murmur itself is wrong, so it
 * throws an AssertionError that the runtime treats as fatal. Expected conditions (a quorum that
 * cannot be met, a stale context, bad user input) are typed results or MurmurErrors, never
 * assertions.
 */

export class AssertionError extends Error {
  override readonly name = 'AssertionError'
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError(message)
}

/** Marks a branch that the type system proves unreachable. */
export function unreachable(value: never, message = 'unreachable'): never {
  throw new AssertionError(`${message}: ${JSON.stringify(value)}`)
}

export function assertInteger(value: number, name: string): void {
  assert(Number.isSafeInteger(value), `${name} must be a safe integer, got ${value}`)
}

export function assertNonNegativeInteger(value: number, name: string): void {
  assert(
    Number.isSafeInteger(value) && value >= 0,
    `${name} must be a non-negative integer, got ${value}`,
  )
}
