/**
 * The sending side of topology fencing for anti-entropy and handoff requests, on top of the
 * pure rules of src/replication/fencing.ts (the receiving side is KvService's `fenced`).
 *
 * Contract: `fencedRequest` stamps a request with the version this node acts on; on
 * `stale_ring` naming a newer version it adopts that version from the peer that named it and
 * sends again, at most FENCED_ATTEMPTS_MAX times in all, so a version change alone never fails
 * the work; any other error, or a refusal that names no newer version, is the caller's.
 */

import type { PeerTransport } from '../../env/transport.js'
import { staleRingVersion, stampBody } from '../../replication/fencing.js'
import type { TopologyView } from '../topology/view.js'

/** Sends of one request at most: the first and one per newer version adopted. */
export const FENCED_ATTEMPTS_MAX = 3

export async function fencedRequest(
  peers: PeerTransport,
  view: TopologyView,
  peer: string,
  body: Readonly<Record<string, unknown>>,
  timeoutMs: number,
): Promise<unknown> {
  for (let attempt = 1; ; attempt++) {
    const version = view.topology().version
    try {
      return await peers.request(peer, stampBody(body, version), timeoutMs)
    } catch (error) {
      const newer = staleRingVersion(error)
      if (newer === undefined || newer <= version || attempt >= FENCED_ATTEMPTS_MAX) throw error
      await view.adopt(newer, peer)
    }
  }
}
