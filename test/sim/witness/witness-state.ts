/**
 * What the witness simulations share: the replication scenario with a witness, and what they
 * inspect on the nodes themselves (the witnesses of a key, whether any witness keeps a value
 * in its own records once hints have drained, and how many writes witnesses coordinated).
 */

import { holdsValues } from '../../../src/replication/witness.js'
import { partitionForKey, replicaRoles } from '../../../src/ring/index.js'
import type { SimCluster } from '../cluster.js'
import { DEFAULT_SCENARIO, type ScenarioOptions } from '../replication/scenario.js'

/** The witnesses of a key of the default keyspace (three replicas, `witnesses` of them). */
export function witnessesOf(cluster: SimCluster, key: string, witnesses = 1): readonly string[] {
  const ring = cluster.node(cluster.nodeIds.find((id) => cluster.isRunning(id)) ?? 'n1').ring
  const partition = partitionForKey(ring.partitionCount, 'default', key)
  return replicaRoles(ring, partition, 3, witnesses).witnesses
}

/** The full replicas of a key of the default keyspace. */
export function fullReplicasOf(cluster: SimCluster, key: string, witnesses = 1): readonly string[] {
  const ring = cluster.node(cluster.nodeIds.find((id) => cluster.isRunning(id)) ?? 'n1').ring
  const partition = partitionForKey(ring.partitionCount, 'default', key)
  return replicaRoles(ring, partition, 3, witnesses).full
}

/**
 * Violations of "a witness holds no value": for every key, a witness whose own record holds a
 * value, and every hint still held anywhere (after the drain none may be left, so no promoted
 * witness keeps a temporary value either).
 */
export async function witnessValuesLeft(
  cluster: SimCluster,
  keys: readonly string[],
): Promise<string[]> {
  const violations: string[] = []
  for (const key of keys) {
    for (const id of witnessesOf(cluster, key)) {
      const node = cluster.node(id)
      const partition = partitionForKey(node.ring.partitionCount, 'default', key)
      const record = await node.kv.store.read({ partition, keyspace: 'default', key })
      if (record !== undefined && holdsValues(record)) {
        violations.push(`${key}: witness ${id} holds a value`)
      }
    }
  }
  for (const id of cluster.nodeIds) {
    for (const [target, count] of cluster.node(id).kv.store.hintCountsByTarget()) {
      violations.push(`${id} still holds ${count} hints for ${target}`)
    }
  }
  return violations
}

/** What witnesses did over the runs of a scenario, summed when each run has drained. */
export interface WitnessActivity {
  /** Writes a witness of the key coordinated itself (counters restart with a crashed node). */
  writesWitnessCoordinated: number
  /** Values a coordinating witness kept in custody and released once a full copy held them. */
  custodyReleased: number
}

/**
 * The replication workload on a keyspace of three replicas, one a witness, with every check,
 * and the witness activity its runs add up to.
 */
export function witnessScenario(): { options: ScenarioOptions; activity: WitnessActivity } {
  const activity: WitnessActivity = { writesWitnessCoordinated: 0, custodyReleased: 0 }
  const afterDrain = async (cluster: SimCluster, keys: readonly string[]) => {
    for (const id of cluster.nodeIds) {
      if (!cluster.isRunning(id)) continue
      const counters = cluster.node(id).kv.coordinator().counters
      activity.writesWitnessCoordinated += counters.writesWitnessCoordinated
      activity.custodyReleased += counters.witnessCustodyReleased
    }
    return witnessValuesLeft(cluster, keys)
  }
  const options: ScenarioOptions = {
    ...DEFAULT_SCENARIO,
    witnesses: 1,
    checkReads: true,
    afterDrain,
  }
  return { options, activity }
}
