/**
 * Goal: the client commands' shared rules hold without a cluster: which nodes a command talks
 * to (--node, then MURMUR_URL, then cluster.yml), option validation as one-line usage errors,
 * and the documented exit codes for every error code. Method: call the helpers directly with
 * parsed arguments, a temporary cluster file, and constructed errors.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { UsageError } from '../../../src/cli/args.js'
import {
  clientExitCode,
  EXIT,
  integerValue,
  levelValue,
  parseClientArgs,
  resolveNodes,
} from '../../../src/cli/client-support.js'
import { MurmurClientError } from '../../../src/client/errors.js'
import { ERROR_CODES, type ErrorCode, MurmurError } from '../../../src/env/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'murmur-cli-unit-'))

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

function clientError(code: ErrorCode): MurmurClientError {
  return new MurmurClientError(code, code, { status: 0, node: 'http://x' })
}

describe('node resolution', () => {
  it('prefers --node, then MURMUR_URL, then every node of the cluster file', () => {
    const path = join(dir, 'cluster.yml')
    writeFileSync(
      path,
      'nodes:\n  - { id: a, host: 127.0.0.1, httpPort: 8001, peerPort: 8101 }\n  - { id: b, host: 127.0.0.1, httpPort: 8002, peerPort: 8102 }\n',
    )
    const withNode = parseClientArgs(['--node', 'http://h:1,http://h:2', '--config', path], {}, 0)
    expect(resolveNodes(withNode, { MURMUR_URL: 'http://env:9' })).toEqual([
      'http://h:1',
      'http://h:2',
    ])
    const withConfig = parseClientArgs(['--config', path], {}, 0)
    expect(resolveNodes(withConfig, { MURMUR_URL: 'http://env:9' })).toEqual(['http://env:9'])
    expect(resolveNodes(withConfig, {})).toEqual(['http://127.0.0.1:8001', 'http://127.0.0.1:8002'])
    const missing = parseClientArgs(['--config', join(dir, 'absent.yml')], {}, 0)
    expect(() => resolveNodes(missing, {})).toThrow(UsageError)
  })
})

describe('option validation', () => {
  it('levels and integers are checked with one-line messages', () => {
    const args = parseClientArgs(
      ['--r', 'quorum', '--w', '2', '--pr', 'lots', '--timeout', '0'],
      {
        r: { type: 'string' },
        w: { type: 'string' },
        pr: { type: 'string' },
        timeout: { type: 'string' },
      },
      0,
    )
    expect(levelValue(args, 'r')).toBe('quorum')
    expect(levelValue(args, 'w')).toBe(2)
    expect(levelValue(args, 'missing')).toBeUndefined()
    expect(() => levelValue(args, 'pr')).toThrow(/--pr must be one, two, three, quorum, all/)
    expect(() => integerValue(args, 'timeout', 1, 10)).toThrow(
      '--timeout must be an integer in 1..10',
    )
    expect(() => parseClientArgs(['--bogus'], {}, 0)).toThrow(UsageError)
    expect(() => parseClientArgs(['a', 'b'], {}, 1)).toThrow('unexpected argument "b"')
  })
})

describe('exit codes', () => {
  it('map every error code to 1, 2 or 3 as documented', () => {
    expect(clientExitCode(clientError('not_found'))).toBe(EXIT.failed)
    expect(clientExitCode(clientError('precondition_failed'))).toBe(EXIT.failed)
    expect(clientExitCode(clientError('stale_token'))).toBe(EXIT.failed)
    expect(clientExitCode(clientError('invalid_request'))).toBe(EXIT.usage)
    expect(clientExitCode(clientError('unknown_keyspace'))).toBe(EXIT.usage)
    expect(clientExitCode(clientError('quorum_unavailable'))).toBe(EXIT.unavailable)
    expect(clientExitCode(clientError('no_quorum'))).toBe(EXIT.unavailable)
    expect(clientExitCode(clientError('timeout'))).toBe(EXIT.unavailable)
    expect(clientExitCode(clientError('internal'))).toBe(EXIT.failed)
    expect(clientExitCode(new UsageError('x'))).toBe(EXIT.usage)
    expect(clientExitCode(new MurmurError('unavailable', 'not from the client'))).toBe(EXIT.failed)
    for (const code of ERROR_CODES) expect([1, 2, 3]).toContain(clientExitCode(clientError(code)))
  })
})
