/**
 * Goal: the fault route's clock skew, record corruption and record inspection behave as the
 * nemesis relies on: skew moves `wallMs` and never `nowMs`; a corrupted record fails its
 * checksum (it reads as corrupt, as the replica store would count it) and changes nothing
 * else; inspection reports the anti-entropy hash; every malformed body is refused without
 * changing anything. Method: the route on an in-process app over an in-memory engine.
 */

import { describe, expect, it } from 'vitest'
import { createApp } from '../../src/api/app.js'
import { faultRoutes } from '../../src/api/fault-routes.js'
import { SkewableClock } from '../../src/env/clock.js'
import { createLogger } from '../../src/env/log.js'
import { encodeKeyRecord, type KeyRecord } from '../../src/replication/record.js'
import { partitionForKey } from '../../src/ring/index.js'
import { PeerFaults } from '../../src/runtime/faults.js'
import { KEY_RECORD_TYPE } from '../../src/runtime/kv/store.js'
import { dataKey } from '../../src/storage/layout.js'
import { MemoryDisk, MemoryEngine } from '../../src/storage/memory.js'
import { decodeStoredRecord, putRecordOp } from '../../src/storage/records.js'

const PARTITIONS = 16
const RECORD: KeyRecord = {
  kv: {
    clock: { vector: new Map([['n1.a', 1]]), cloud: [] },
    siblings: [
      { dot: { actor: 'n1.a', counter: 1 }, payload: { kind: 'tombstone', deletedAtMs: 5 } },
    ],
  },
}

async function setup() {
  const clock = new SkewableClock()
  const faults = new PeerFaults(() => undefined, clock)
  const engine = new MemoryEngine(new MemoryDisk())
  faults.attachStorage(engine, PARTITIONS)
  const address = dataKey(partitionForKey(PARTITIONS, 'ev', 'k'), 'ev', 'k')
  await engine.write([putRecordOp(address, encodeKeyRecord(RECORD))], { sync: true })
  const app = createApp({
    requestBodyBytesMax: 4096,
    log: createLogger('silent', () => {}),
    routes: [faultRoutes(faults, ['n1', 'n2'])],
  })
  const post = (body: unknown) =>
    app.request('/v1/debug/faults', {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
  return { clock, faults, engine, address, app, post }
}

describe('fault route: skew, corruption, inspection', () => {
  it('skews the wall clock only, and restores it', async () => {
    const { clock, post } = await setup()
    const monotonicMs = clock.nowMs()
    expect((await post({ clockSkewMs: 60_000 })).status).toBe(200)
    expect(clock.wallMs() - Date.now()).toBeGreaterThanOrEqual(59_000)
    expect(clock.nowMs() - monotonicMs).toBeLessThan(10_000)
    expect((await post({ clockSkewMs: 0, blockPeers: [] })).status).toBe(200)
    expect(Math.abs(clock.wallMs() - Date.now())).toBeLessThan(1000)
  })

  it('inspects and corrupts one stored record, which then fails its checksum', async () => {
    const { engine, address, app, post } = await setup()
    const inspect = async () =>
      (
        (await (await app.request('/v1/debug/faults?keyspace=ev&key=k')).json()) as {
          record: Record<string, unknown>
        }
      ).record
    const healthy = await inspect()
    expect(healthy).toMatchObject({ stored: true, corrupt: false })
    expect(healthy['hash']).toMatch(/^[0-9a-f]{16}$/)
    const answer = await post({ corruptRecord: { keyspace: 'ev', key: 'k' } })
    expect(answer.status).toBe(200)
    expect(await inspect()).toMatchObject({ stored: true, corrupt: true, hash: null })
    const stored = await engine.get(address)
    expect(stored).toBeDefined()
    expect(() => decodeStoredRecord(KEY_RECORD_TYPE, address, stored ?? new Uint8Array())).toThrow(
      /corrupt/,
    )
    expect((await post({ corruptRecord: { keyspace: 'ev', key: 'absent' } })).status).toBe(404)
  })

  it('refuses malformed bodies without changing anything', async () => {
    const { clock, faults, post } = await setup()
    for (const bad of [
      {},
      { clockSkewMs: 1.5 },
      { clockSkewMs: 10 ** 12 },
      { clockSkewMs: '5' },
      { blockPeers: ['n2'], clockSkewMs: 'x' },
      { corruptRecord: { keyspace: 'EV', key: 'k' } },
      { corruptRecord: { keyspace: 'ev', key: '' } },
      { corruptRecord: { keyspace: 'ev', key: 'k', extra: 1 } },
      { corruptRecord: ['ev', 'k'] },
      { other: true },
    ]) {
      expect((await post(bad)).status, JSON.stringify(bad)).toBe(400)
    }
    expect(faults.blocked()).toEqual([])
    expect(Math.abs(clock.wallMs() - Date.now())).toBeLessThan(1000)
  })
})
