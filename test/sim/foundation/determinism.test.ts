/**
 * Goal: the simulator is deterministic, which is what makes every other simulation test
 * replayable: two runs with one seed produce identical event logs, and a different seed
 * produces a different one. Method: run a small cluster of real MurmurNodes on the virtual
 * clock with seeded loss, delay and duplication, drive peer pings and REST requests at seeded
 * random times, crash and restart a node, then compare the complete event logs.
 */

import { describe, expect, it } from 'vitest'
import { SimCluster } from '../cluster.js'
import { pickSeed } from '../seed.js'

const CONFIG = `
nodes: [{ id: n1, zone: a }, { id: n2, zone: b }, { id: n3, zone: c }]
keyspaces: { default: { replicas: 3 } }
`

async function scenario(seed: number): Promise<string[]> {
  const cluster = await SimCluster.create({
    seed,
    configText: CONFIG,
    faults: { lossProbability: 0.1, duplicateProbability: 0.05, delayMsMin: 1, delayMsMax: 30 },
  })
  const { sim } = cluster
  const ids = cluster.nodeIds
  for (let round = 0; round < 40; round++) {
    const from = ids[sim.random.int(ids.length)] as string
    const to = ids[sim.random.int(ids.length)] as string
    sim.schedule(sim.random.int(1000), () => {
      if (!cluster.isRunning(from)) return
      cluster
        .node(from)
        .env.peers.request(to, { type: 'node.ping' }, 200)
        .then(
          (answer) => sim.record(`ping ${from}->${to} ok ${JSON.stringify(answer)}`),
          (error: unknown) =>
            sim.record(`ping ${from}->${to} failed ${(error as { code?: string }).code}`),
        )
    })
  }
  await sim.runFor(500)
  await cluster.crash('n2')
  await sim.runFor(300)
  await cluster.start('n2')
  await sim.runFor(800)
  for (const id of ids) await cluster.request(id, 'GET', '/health')
  await cluster.request('n1', 'GET', '/v1/cluster/ring')
  return sim.log
}

describe('simulator determinism', () => {
  it('replays the same seed to an identical event log', async () => {
    const seed = pickSeed('determinism')
    const first = await scenario(seed)
    const second = await scenario(seed)
    expect(first.length).toBeGreaterThan(50)
    expect(first.some((line) => line.includes('dropped'))).toBe(true)
    expect(first.some((line) => line.includes('ping') && line.includes('ok'))).toBe(true)
    expect(second).toEqual(first)
    const other = await scenario((seed + 1) >>> 0)
    expect(other).not.toEqual(first)
  })
})
