/**
 * Goal: no acknowledged write rests on digests alone while nodes disagree about roles, as
 * during a rolling change of a keyspace's `witnesses`. A full replica answers whether it kept
 * the value; a coordinator counts a replica that kept metadata only as a witness, whatever
 * role it planned for it, so a coordinating witness keeps its custody of the value until a
 * node that really keeps values acknowledged.
 * Method: three simulated nodes; for one key, the second full replica (F2) runs with
 * `witnesses: 2` (it takes itself for a witness) while the others run with `witnesses: 1`. The
 * key's witness W coordinates a write at w=2 while the first full replica F1 is cut off: W and
 * F2 acknowledge, but neither keeps the value, so the write must fail (503) and W must keep
 * the value in custody; once the network heals, the value reaches F1 and reads back.
 */

import { expect, it } from 'vitest'
import { SimCluster } from '../cluster.js'
import { call, hintsHeld, keyPath, replicationConfig } from '../replication/harness.js'
import { pickSeed } from '../seed.js'
import { fullReplicasOf, witnessesOf } from './witness-state.js'

const GOSSIP = '{ preset: local, gossipIntervalMs: 200, probeIntervalMs: 400 }'
const KEY = 'rolling'

it('keeps a witness-coordinated value until a replica that keeps values acknowledged', async () => {
  const seed = pickSeed('witness role change')
  const oneWitness = replicationConfig(3, '', 1, GOSSIP)
  const probe = await SimCluster.create({ seed, configText: oneWitness })
  const [f1, f2] = fullReplicasOf(probe, KEY)
  const [witness] = witnessesOf(probe, KEY)
  if (f1 === undefined || f2 === undefined || witness === undefined) throw new Error('roles')
  const sim = await SimCluster.create({
    seed,
    configText: oneWitness,
    configTextOf: { [f2]: replicationConfig(3, '', 2, GOSSIP) },
  })
  expect(await sim.converge(10_000)).toBe(true)
  expect(witnessesOf(sim, KEY)).toEqual([witness])
  expect(witnessesOf(sim, KEY, 2)).toEqual([f2, witness])

  sim.faults.isolate(f1, [witness, f2])
  const write = await call(sim, witness, 'PUT', keyPath(KEY, 'w=2&timeout=1000'), 'kept')
  expect(write.status, write.body).toBe(503)
  expect((JSON.parse(write.body) as { error: { fullAcknowledged?: number } }).error).toMatchObject({
    code: 'quorum_unavailable',
  })
  expect(hintsHeld(sim)).toBe(1)

  sim.faults.heal()
  expect(
    await sim.sim.runUntil(() => hintsHeld(sim) === 0, { untilMs: sim.sim.nowMs + 30_000 }),
  ).toBe(true)
  const read = await call(sim, f1, 'GET', keyPath(KEY, 'r=all'))
  expect([read.status, read.body]).toEqual([200, 'kept'])
}, 60_000)
