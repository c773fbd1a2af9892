/**
 * The fault-injection route, present only on nodes started with MURMUR_FAULTS=1
 * (src/runtime/faults.ts): `POST /v1/debug/faults {"blockPeers": ["n2", ...]}` replaces the set
 * of peers this node cuts itself off from (an empty list heals); `GET /v1/debug/faults` shows
 * it. Tests and the nemesis suite use it to partition real processes.
 */

import type { Hono } from 'hono'
import { MurmurError } from '../env/errors.js'
import type { PeerFaults } from '../runtime/faults.js'
import type { ApiEnv, RouteModule } from './app.js'
import { readJsonObject } from './body.js'

const PEERS_MAX = 1024
const BODY_BYTES_MAX = 64 * 1024

export function faultRoutes(faults: PeerFaults, nodeIds: readonly string[]): RouteModule {
  return (app: Hono<ApiEnv>) => {
    app.get('/v1/debug/faults', (c) => c.json({ blockPeers: faults.blocked() }, 200))
    app.post('/v1/debug/faults', async (c) => {
      const body = await readJsonObject(c, BODY_BYTES_MAX)
      const peers = body['blockPeers']
      const valid =
        Array.isArray(peers) &&
        peers.length <= PEERS_MAX &&
        peers.every((peer) => typeof peer === 'string' && nodeIds.includes(peer))
      if (!valid || Object.keys(body).length !== 1) {
        throw new MurmurError('invalid_request', 'blockPeers must be a list of node ids', {
          details: { nodes: nodeIds },
        })
      }
      faults.block(peers as string[])
      return c.json({ blockPeers: faults.blocked() }, 200)
    })
  }
}
