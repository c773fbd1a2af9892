/**
 * The fault-injection route, present only on nodes started with MURMUR_FAULTS=1
 * (src/runtime/faults.ts). `POST /v1/debug/faults` takes any of:
 *
 * - `"blockPeers": ["n2", ...]`: replaces the set of peers this node cuts itself off from (an
 *   empty list heals);
 * - `"clockSkewMs": n`: offsets this node's wall clock by n milliseconds (0 restores it);
 * - `"corruptRecord": {"keyspace": "...", "key": "..."}`: flips a bit in this node's stored
 *   record of that key (404 when it stores none).
 *
 * `GET /v1/debug/faults` shows the blocked peers and the skew; with `?keyspace=&key=` it also
 * reports what this node stores for that key (`record`: stored, corrupt, anti-entropy hash,
 * clock and siblings), read from its own storage without any coordinator. Tests and the nemesis suite use it to
 * partition real processes, skew their clocks, corrupt records and compare replicas.
 */

import type { Context, Hono } from 'hono'
import { MurmurError } from '../env/errors.js'
import { CLOCK_SKEW_MS_MAX, type PeerFaults } from '../runtime/faults.js'
import { USER_KEY_BYTES_MAX } from '../storage/layout.js'
import { utf8Length } from '../wire/utf8.js'
import type { ApiEnv, RouteModule } from './app.js'
import { readJsonObject } from './body.js'

const PEERS_MAX = 1024
const BODY_BYTES_MAX = 64 * 1024
const KEYSPACE_PATTERN = /^[a-z0-9_-]{1,64}$/
const FIELDS = ['blockPeers', 'clockSkewMs', 'corruptRecord'] as const

interface RecordAddress {
  readonly keyspace: string
  readonly key: string
}

export function faultRoutes(faults: PeerFaults, nodeIds: readonly string[]): RouteModule {
  // The skew appears only on nodes that can skew their clock (every process with faults on).
  const state = () => ({
    blockPeers: faults.blocked(),
    ...(faults.skewsClock() ? { clockSkewMs: faults.clockSkewMs() } : {}),
  })
  return (app: Hono<ApiEnv>) => {
    app.get('/v1/debug/faults', async (c) => {
      const address = queryAddress(c)
      if (address === undefined) return c.json(state(), 200)
      const record = await faults.inspectRecord(address.keyspace, address.key)
      return c.json({ ...state(), record }, 200)
    })
    app.post('/v1/debug/faults', async (c) => {
      const body = await readJsonObject(c, BODY_BYTES_MAX)
      const fields = Object.keys(body)
      if (fields.length === 0 || !fields.every((field) => FIELDS.some((known) => known === field)))
        throw invalid(`the body names one or more of ${FIELDS.join(', ')}`, nodeIds)
      // Validate every field before applying any, so a bad request changes nothing.
      const peers = 'blockPeers' in body ? parsePeers(body['blockPeers'], nodeIds) : undefined
      const skewMs = 'clockSkewMs' in body ? parseSkew(body['clockSkewMs'], nodeIds) : undefined
      const corrupt =
        'corruptRecord' in body ? parseAddress(body['corruptRecord'], nodeIds) : undefined
      if (peers !== undefined) faults.block(peers)
      if (skewMs !== undefined) faults.setClockSkewMs(skewMs)
      if (corrupt === undefined) return c.json(state(), 200)
      const record = await faults.corruptRecord(corrupt.keyspace, corrupt.key)
      return c.json({ ...state(), record }, 200)
    })
  }
}

function invalid(message: string, nodeIds: readonly string[]): MurmurError {
  return new MurmurError('invalid_request', message, {
    details: { nodes: nodeIds, clockSkewMsMax: CLOCK_SKEW_MS_MAX },
    definite: true,
  })
}

function parsePeers(value: unknown, nodeIds: readonly string[]): string[] {
  const valid =
    Array.isArray(value) &&
    value.length <= PEERS_MAX &&
    value.every((peer) => typeof peer === 'string' && nodeIds.includes(peer))
  if (!valid) throw invalid('blockPeers must be a list of node ids', nodeIds)
  return value as string[]
}

function parseSkew(value: unknown, nodeIds: readonly string[]): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    Math.abs(value) > CLOCK_SKEW_MS_MAX
  ) {
    throw invalid(`clockSkewMs must be an integer within ±${CLOCK_SKEW_MS_MAX}`, nodeIds)
  }
  return value
}

function parseAddress(value: unknown, nodeIds: readonly string[]): RecordAddress {
  const fields =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {}
  const { keyspace, key } = fields
  const valid =
    Object.keys(fields).length === 2 &&
    typeof keyspace === 'string' &&
    KEYSPACE_PATTERN.test(keyspace) &&
    typeof key === 'string' &&
    key.length > 0 &&
    utf8Length(key) <= USER_KEY_BYTES_MAX
  if (!valid) throw invalid('a record is named by {"keyspace", "key"}', nodeIds)
  return { keyspace, key }
}

/** The record named by `?keyspace=&key=`, or undefined when the query names none. */
function queryAddress(c: Context<ApiEnv>): RecordAddress | undefined {
  const keyspace = c.req.queries('keyspace')
  const key = c.req.queries('key')
  if (keyspace === undefined && key === undefined) return undefined
  if (keyspace?.length !== 1 || key?.length !== 1)
    throw new MurmurError('invalid_request', 'name a record with one keyspace and one key', {
      definite: true,
    })
  return parseAddress({ keyspace: keyspace[0], key: key[0] }, [])
}
