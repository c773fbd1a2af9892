/**
 * Goal: the promises of no-lost-writes.test.ts also hold where fallbacks exist: no
 * acknowledged write is lost, nothing superseded comes back, no read misses a write it must
 * see, hints drain, tombstones are reaped, and after healing no witness holds a value.
 * Method: 40 seeds of the replication workload with `witnesses: 1` on five nodes, where
 * fallbacks stand in for down replicas (a fallback for a witness keeps metadata only) and two
 * nodes may be impaired at once. Every run prints its seed; a failure names the seed.
 */

import { describe, expect, it } from 'vitest'
import { runSeeds } from '../replication/run-seeds.js'
import { WITNESS_SCENARIO } from './witness-state.js'

describe('witness replicas with fallbacks under faults', () => {
  it('loses no acknowledged write and serves no stale read on five nodes, 40 seeds', async () => {
    const totals = await runSeeds('witness, five nodes', 40, { ...WITNESS_SCENARIO, nodes: 5 })
    expect(totals.acknowledged).toBeGreaterThan(totals.seeds * 10)
    expect(totals.crashes).toBeGreaterThan(0)
    expect(totals.siblingsSeen).toBeGreaterThan(0)
  }, 300_000)
})
