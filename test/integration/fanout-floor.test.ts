/**
 * The kv benchmark's floors (bench/anchors/fanout-floor.ts): a PUT is answered 204 once two
 * copies are kept, and the durable floor really keeps them in RocksDB, so the floor it reports
 * is the cost of durable copies and not of skipped work.
 */

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RocksLevel } from '@nxtedition/rocksdb'
import { afterEach, describe, expect, it } from 'vitest'
import { type Floor, startFloor } from '../../bench/anchors/fanout-floor.js'
import { sleep } from '../support/cluster.js'
import { freePorts } from '../support/ports.js'

const started: Floor[] = []
const directories: string[] = []

afterEach(async () => {
  await Promise.all(started.splice(0).map((floor) => floor.close()))
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

/** Three floor processes' servers in this process; returns their HTTP urls. */
async function startThree(root: string | undefined): Promise<string[]> {
  const ports = await freePorts(6)
  const peerPorts = ports.slice(3)
  for (let index = 0; index < 3; index++) {
    const floor = await startFloor({
      httpPort: ports[index] as number,
      peerPort: peerPorts[index] as number,
      otherPeerPorts: peerPorts.filter((_, other) => other !== index),
      ...(root === undefined ? {} : { directory: join(root, `n${index + 1}`) }),
    })
    started.push(floor)
  }
  return ports.slice(0, 3).map((port) => `http://127.0.0.1:${port}`)
}

/** PUTs until the floor answers 204 (it refuses with 503 until both peers are connected). */
async function putWhenReady(url: string, body: string): Promise<number> {
  let status = 0
  for (let attempt = 0; attempt < 50 && status !== 204; attempt++) {
    if (attempt > 0) await sleep(100)
    const response = await fetch(url, { method: 'PUT', body })
    await response.arrayBuffer()
    status = response.status
  }
  return status
}

async function storedValue(directory: string, key: string): Promise<string | undefined> {
  const db = new RocksLevel(directory, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
  await db.open()
  try {
    return db._getManySync([Buffer.from(key)])[0]?.toString()
  } finally {
    await db.close()
  }
}

describe('fan-out floor', () => {
  it('answers a PUT once a peer echoed it, without storage', async () => {
    const [url] = await startThree(undefined)
    expect(await putWhenReady(`${url}/k`, 'v')).toBe(204)
  }, 20_000)

  it('keeps the coordinator copy and at least one more in RocksDB before it answers', async () => {
    const root = mkdtempSync(join(tmpdir(), 'murmur-floor-test-'))
    directories.push(root)
    const urls = await startThree(root)
    expect(await putWhenReady(`${urls[0]}/probe`, 'p')).toBe(204)
    const response = await fetch(`${urls[0]}/bench%2Fk1`, { method: 'PUT', body: 'hello' })
    await response.arrayBuffer()
    expect(response.status).toBe(204)
    // Closing stops the servers; the copies that were acknowledged are on disk.
    await Promise.all(started.splice(0).map((floor) => floor.close()))
    const values = await Promise.all(
      ['n1', 'n2', 'n3'].map((name) => storedValue(join(root, name), '/bench%2Fk1')),
    )
    expect(values[0]).toBe('hello')
    expect(values.filter((value) => value === 'hello').length).toBeGreaterThanOrEqual(2)
  }, 20_000)
})
