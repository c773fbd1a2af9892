/**
 * The ring's public surface: key hashing, ring building, queries and the plain-data form.
 * Other folders import from here rather than from the files behind it.
 */

export { hashString, keyHash, murmurHash3, partitionForKey } from './hash.js'
export { type RingJson, ringFromUntrusted, ringToJson } from './json.js'
export {
  fallbackOrder,
  type OwnershipStats,
  ownershipStats,
  type PartitionPlace,
  type PartitionTransfer,
  partitionsOf,
  preferenceList,
  type ReplicaRoles,
  replicaRoles,
  ringTransfers,
} from './queries.js'
export {
  type BuildRingOptions,
  buildRing,
  NODE_ID_LENGTH_MAX,
  PARTITION_COUNT_DEFAULT,
  PARTITION_COUNT_MAX,
  PARTITION_COUNT_MIN,
  REPLICA_SLOTS_MAX,
  type Ring,
  type RingNode,
  ringProblem,
  ZONE_LENGTH_MAX,
} from './ring.js'
