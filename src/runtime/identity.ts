/**
 * A node's durable identity, kept in its data directory's meta sublevel: which node the
 * directory belongs to, a random epoch minted when the directory was created, and a boot
 * counter. The actor that coordinates versions and CRDT updates is `<node id>.<epoch>`, so a
 * node whose disk was wiped comes back as a new actor and can never reuse an old dot. Starting
 * a node on another node's directory is refused.
 */

import { MurmurError } from '../env/errors.js'
import type { Random } from '../env/random.js'
import type { StorageEngine } from '../storage/engine.js'
import { metaKey } from '../storage/layout.js'
import { getRecord, putRecordOp, type RecordType } from '../storage/records.js'

export interface NodeIdentity {
  readonly nodeId: string
  /** Random hex minted when the data directory was initialised. */
  readonly epoch: string
  /** How many times a node process has started on this directory, this start included. */
  readonly boots: number
  readonly createdAtMs: number
}

const IDENTITY_KEY = metaKey('identity')

const IDENTITY_RECORD: RecordType<NodeIdentity> = {
  name: 'node identity',
  parse(value) {
    if (typeof value !== 'object' || value === null) throw new Error('identity must be an object')
    const record = value as Record<string, unknown>
    const { nodeId, epoch, boots, createdAtMs } = record
    if (
      typeof nodeId !== 'string' ||
      typeof epoch !== 'string' ||
      typeof boots !== 'number' ||
      typeof createdAtMs !== 'number'
    ) {
      throw new Error('identity has missing or mistyped fields')
    }
    return { nodeId, epoch, boots, createdAtMs }
  },
}

/** The actor id versions and CRDT updates are coordinated under. */
export function actorOf(identity: NodeIdentity): string {
  return `${identity.nodeId}.${identity.epoch}`
}

/** Loads the directory's identity (creating it on first use) and records this boot, durably. */
export async function bootIdentity(
  storage: StorageEngine,
  nodeId: string,
  random: Random,
  wallMs: number,
  directory: string,
): Promise<NodeIdentity> {
  const stored = await getRecord(storage, IDENTITY_RECORD, IDENTITY_KEY)
  if (stored !== undefined && stored.nodeId !== nodeId) {
    throw new MurmurError(
      'config_invalid',
      `data directory ${directory} belongs to node "${stored.nodeId}", not "${nodeId}"; give each node its own dataDir`,
    )
  }
  const epoch =
    stored?.epoch ??
    random.u32().toString(16).padStart(8, '0') + random.u32().toString(16).padStart(8, '0')
  const identity: NodeIdentity = {
    nodeId,
    epoch,
    boots: (stored?.boots ?? 0) + 1,
    createdAtMs: stored?.createdAtMs ?? wallMs,
  }
  await storage.write([putRecordOp(IDENTITY_KEY, identity)], { sync: true })
  return identity
}
