/**
 * Goal: Raft's safety properties hold, and the cluster recovers, on many seeded fault schedules
 * of 3- and 5-voter clusters (plus two spare nodes that may join). Method: each schedule runs
 * the whole cluster on the virtual clock under message loss, duplication, reordering,
 * partitions, crashes mid-write, membership changes, transfers, snapshots and compaction; the
 * checker inspects every node after every event, then the healed cluster must converge within
 * a fixed budget. The schedules are split over two files so both cores work. A failure names
 * its seed; MURMUR_SEED=<seed> MURMUR_SEED_COUNT=1 replays it.
 */

import { describe, expect, it } from 'vitest'
import { runSchedules } from './schedules.js'

const SCHEDULES_COUNT = 500

describe('raft simulation, batch a', () => {
  it('stays safe and converges on every seeded schedule', () => {
    const summary = runSchedules('raft schedules a', SCHEDULES_COUNT)
    expect(summary.runs).toBeGreaterThanOrEqual(1)
    // Every schedule elects at least one leader, and clients get commands committed.
    expect(summary.leaders).toBeGreaterThanOrEqual(summary.runs)
    expect(summary.acknowledged).toBeGreaterThan(0)
  }, 180_000)
})
