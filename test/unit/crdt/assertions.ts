/** Assertion helpers shared by the CRDT tests. */

import { expect } from 'vitest'
import { type ErrorCode, isMurmurError } from '../../../src/env/errors.js'

/** Runs `action` and expects it to throw a MurmurError with `code`, nothing else. */
export function expectMurmurError(action: () => unknown, code: ErrorCode): void {
  let thrown: unknown
  try {
    action()
  } catch (error) {
    thrown = error
  }
  expect(thrown, `expected a MurmurError '${code}'`).toBeDefined()
  expect(isMurmurError(thrown, code), String(thrown)).toBe(true)
}
