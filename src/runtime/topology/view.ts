/**
 * The seam between the topology's control plane (the committed, versioned ring: metadata log,
 * adoption, admin actions) and the data plane that acts on it (coordinators, replicas,
 * anti-entropy, partition transfers).
 *
 * Contract:
 * - `topology()` is the version this node acts on now; it only ever moves forward.
 * - A replica that receives a request stamped with a newer version adopts it (`adopt`) before
 *   it answers, and one stamped with an older version answers `stale_ring` with its own
 *   version, so no request is served under a ring its receiver has left behind.
 * - Listeners run after a new version is in place, in adoption order, once per version.
 */

import { MurmurError } from '../../env/errors.js'
import type { Topology } from '../../ring/topology.js'

export interface TopologyView {
  topology(): Topology
  /**
   * Brings this node to at least `version`, fetching the topology from `from` (a node that named
   * it) when needed. Resolves once this node acts on that version or a later one; rejects when
   * it cannot be fetched.
   */
  adopt(version: number, from: string): Promise<void>
  onChange(listener: (topology: Topology, previous: Topology) => void): () => void
}

/** One partition moving to one node in the topology being moved to (its receiving side). */
export interface TransferStatus {
  readonly version: number
  readonly partition: number
  readonly receiver: string
  /** The node it streams from. */
  readonly source: string
  readonly state: 'waiting' | 'streaming' | 'reconciling' | 'done' | 'failed'
  readonly keysMoved: number
  readonly bytesMoved: number
  readonly startedAt: string | undefined
  readonly finishedAt: string | undefined
  readonly error: string | undefined
}

/** What the data plane reports about the moves this node receives. */
export interface TransferReport {
  transfers(): readonly TransferStatus[]
}

/** A view that never changes: for a node or simulation that runs one ring. */
export function fixedTopologyView(topology: Topology): TopologyView {
  return {
    topology: () => topology,
    adopt: async (version) => {
      if (version > topology.version) {
        throw new MurmurError('stale_ring', `topology version ${version} is unknown here`, {
          details: { version: topology.version },
        })
      }
    },
    onChange: () => () => {},
  }
}
