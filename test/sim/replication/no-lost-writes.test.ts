/**
 * Goal: with quorum replication, no acknowledged write is ever lost and nothing a write
 * superseded comes back: after healing, every acknowledged value is present as the value or a
 * sibling unless a later write that carried its context superseded it; hints drain; tombstones
 * are reaped and deleted keys stay deleted.
 * Method: 100 seeds of the replication workload (test/sim/replication/scenario.ts) on five
 * real nodes with N=3: clients read, read-modify-write, write blind and delete at mixed
 * levels while messages are lost, duplicated and delayed, nodes are isolated, lose power and
 * restart, or pause. Every run prints its seed; a failure names the seed that replays it.
 */

import { describe, expect, it } from 'vitest'
import { runSeeds } from './run-seeds.js'
import { DEFAULT_SCENARIO } from './scenario.js'

describe('quorum replication under faults', () => {
  it('loses no acknowledged write across 100 seeds of crashes, partitions and pauses', async () => {
    const totals = await runSeeds('replication, five nodes', 100, DEFAULT_SCENARIO)
    expect(totals.acknowledged).toBeGreaterThan(totals.seeds * 10)
    expect(totals.crashes).toBeGreaterThan(0)
    expect(totals.hintsPeak).toBeGreaterThan(0)
    expect(totals.siblingsSeen).toBeGreaterThan(0)
    expect(totals.reaped).toBeGreaterThan(0)
  }, 300_000)
})
