/**
 * Goal: a Raft simulation run is a pure function of its seed, so any failure replays exactly.
 * Method: run the same seed twice, recording every role change, crash, partition and
 * membership change, and compare the event logs and results; a different seed must differ.
 */

import { describe, expect, it } from 'vitest'
import { pickSeed } from '../seed.js'
import { DEFAULT_SIM_OPTIONS, RaftSimulation } from './cluster.js'

function runLogged(seed: number): { log: string[]; events: number } {
  const simulation = new RaftSimulation({
    ...DEFAULT_SIM_OPTIONS,
    seed,
    votersCount: 5,
    recordLog: true,
  })
  const result = simulation.run()
  return { log: [...simulation.sim.log], events: result.events }
}

describe('raft simulation determinism', () => {
  it('replays one seed to an identical event log', () => {
    const seed = pickSeed('raft determinism')
    const first = runLogged(seed)
    const second = runLogged(seed)
    expect(first.log.length).toBeGreaterThan(5)
    expect(second.log).toEqual(first.log)
    expect(second.events).toBe(first.events)
    const other = runLogged((seed + 1) >>> 0)
    expect(other.log).not.toEqual(first.log)
  })
})
