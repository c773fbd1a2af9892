/**
 * Goal: the `replication` section of cluster.yml has the documented defaults, accepts
 * overrides, and refuses out-of-range or unknown fields with a located message; every field
 * is documented in docs/CONFIGURATION.md. Method: parse inline YAML and read the docs file.
 */

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../src/config/load.js'
import { isMurmurError } from '../../../src/env/errors.js'

const MINIMAL = 'nodes:\n  - id: n1\n'

describe('replication config', () => {
  it('fills the documented defaults', () => {
    expect(parseConfig(MINIMAL).replication).toEqual({
      tombstoneGraceMs: 3_600_000,
      reaperIntervalMs: 60_000,
      hintReplayIntervalMs: 10_000,
      hintReplayPerSecond: 2000,
      hintReplayBytesPerSecond: 4 * 1024 * 1024,
      hintsPerTargetMax: 1_000_000,
      readRepair: 'async',
      idempotencyWindowMs: 86_400_000,
      idempotencyEntriesMax: 1000,
      antiEntropy: {
        enabled: true,
        exchangeIntervalMs: 600_000,
        rebuildIntervalMs: 86_400_000,
        segments: 4096,
        keysPerSecond: 2000,
        bytesPerSecond: 4 * 1024 * 1024,
      },
    })
  })

  it('accepts overrides', () => {
    const config = parseConfig(
      `${MINIMAL}replication: { tombstoneGraceMs: 0, readRepair: blocking }\n`,
    )
    expect(config.replication.tombstoneGraceMs).toBe(0)
    expect(config.replication.readRepair).toBe('blocking')
  })

  it.each([
    ['replication: { hintReplayPerSecond: 0 }', /hintReplayPerSecond/],
    ['replication: { readRepair: sometimes }', /readRepair/],
    ['replication: { reaperIntervalMs: 1 }', /reaperIntervalMs/],
    ['replication: { tombstoneGrace: 5 }', /unknown field tombstoneGrace/],
    ['replication: { idempotencyEntriesMax: 0 }', /idempotencyEntriesMax/],
    ['replication: { idempotencyWindowMs: 10 }', /idempotencyWindowMs/],
  ])('refuses %s', (line, message) => {
    let thrown: unknown
    try {
      parseConfig(`${MINIMAL}${line}\n`, { sourcePath: '/etc/cluster.yml' })
    } catch (error) {
      thrown = error
    }
    expect(isMurmurError(thrown, 'config_invalid')).toBe(true)
    expect((thrown as Error).message).toMatch(message)
    expect((thrown as Error).message).toMatch(/cluster\.yml:3:/)
  })

  it('documents every field', () => {
    const docs = readFileSync(join(import.meta.dirname, '../../../docs/CONFIGURATION.md'), 'utf8')
    for (const field of Object.keys(parseConfig(MINIMAL).replication)) {
      expect(docs).toContain(`\`${field}\``)
    }
  })
})
