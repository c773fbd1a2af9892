/**
 * The replicated-write floor: the least work any leaderless store built on Node.js does per
 * quorum write on this machine, run as one of three processes. Each process answers HTTP on
 * its port (node:http, no framework); a PUT's body is sent in a length-prefixed frame to the
 * two other processes over TCP, and the request is answered 204 once one of them echoed the
 * frame's id (two of three copies, counting this one). Frames of one event-loop turn leave in
 * one write per peer, as murmur's peer transport batches them. There is no storage, no fsync,
 * no versioning, no routing and no validation, so its throughput bounds from above what a
 * Node.js Dynamo-style store can reach here with the same load shape.
 *
 * With a data directory it is the durable floor: every copy also reads the key and writes it
 * to RocksDB through the same binding murmur uses, the writes of one event-loop turn in one
 * unsynced batch whose WAL is then fdatasynced from the thread pool (murmur's WalSyncer, one
 * sync in flight, later writes sharing the next), and a copy counts only once durable. The
 * coordinator writes its own copy in parallel with the fan-out. Still no versioning, routing,
 * validation, hints, anti-entropy or metrics.
 *
 * Usage: node fanout-floor.js <http port> <peer port> <peer port> <peer port> [data directory].
 * `startFloor` runs one in the calling process (the anchor's test does).
 */

import { createServer as createHttpServer } from 'node:http'
import { connect, createServer, type Socket } from 'node:net'
import { pathToFileURL } from 'node:url'
import { RocksLevel } from '@nxtedition/rocksdb'
import { WalSyncer } from '../../src/storage/wal-sync.js'

export interface FloorOptions {
  readonly httpPort: number
  /** The port the other processes send copies to. */
  readonly peerPort: number
  /** The other two processes' peer ports. */
  readonly otherPeerPorts: readonly number[]
  /** Where the durable floor keeps its copies; without it, copies are not kept. */
  readonly directory?: string
}

export interface Floor {
  close(): Promise<void>
}

/** Appends frames to a socket, writing them in one call per event-loop turn. */
class FrameWriter {
  private pending: Buffer[] = []

  constructor(private readonly socket: Socket) {}

  send(frame: Buffer): void {
    if (this.pending.length === 0) setImmediate(() => this.flush())
    this.pending.push(frame)
  }

  private flush(): void {
    const frames = this.pending
    this.pending = []
    if (this.socket.destroyed) return
    this.socket.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames))
  }
}

/** Durable copies: one read and one put per write, one unsynced batch and one WAL sync per turn. */
class DurableCopies {
  private pending: { key: Buffer; value: Buffer; done: () => void }[] = []
  private readonly wal: WalSyncer
  /** Batches written and synced, or being so. */
  private readonly flushing = new Set<Promise<void>>()
  private closed = false

  constructor(
    private readonly db: RocksLevel,
    directory: string,
  ) {
    this.wal = new WalSyncer(directory, () =>
      Number(db.getProperty('rocksdb.current-super-version-number')),
    )
  }

  write(key: Buffer, value: Buffer, done: () => void): void {
    // Read-before-write, as any store that merges versions must.
    this.db._getManySync([key])
    if (this.pending.length === 0) {
      setImmediate(() => {
        const flushed = this.flush().catch((error: unknown) => {
          // A floor that cannot keep copies measures nothing: say so and stop answering.
          console.error(`fan-out floor: writing copies failed: ${String(error)}`)
          process.exitCode = 1
        })
        this.flushing.add(flushed)
        void flushed.then(() => this.flushing.delete(flushed))
      })
    }
    this.pending.push({ key, value, done })
  }

  /** Closes the database once the batches already started are durable. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all(this.flushing)
    await this.wal.close()
    await this.db.close()
  }

  private async flush(): Promise<void> {
    const writes = this.pending
    this.pending = []
    // Writes that arrive as the floor closes are not kept, and not answered.
    if (this.closed) return
    const batch = this.db.batch()
    for (const { key, value } of writes) batch.put(key, value)
    await batch.write({ sync: false })
    await this.wal.sync()
    for (const { done } of writes) done()
  }
}

/** Calls `onFrame` with each complete `u32 length | payload` frame read from `socket`. */
function readFrames(socket: Socket, onFrame: (payload: Buffer) => void): void {
  let buffered: Buffer = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
    let offset = 0
    while (buffered.length - offset >= 4) {
      const length = buffered.readUInt32BE(offset)
      if (buffered.length - offset - 4 < length) break
      onFrame(buffered.subarray(offset + 4, offset + 4 + length))
      offset += 4 + length
    }
    buffered = buffered.subarray(offset)
  })
}

function frame(payload: Buffer): Buffer {
  const header = Buffer.alloc(4)
  header.writeUInt32BE(payload.length)
  return Buffer.concat([header, payload])
}

/** Runs one floor process's servers in this process. */
export async function startFloor(options: FloorOptions): Promise<Floor> {
  let copies: DurableCopies | undefined
  if (options.directory !== undefined) {
    const db = new RocksLevel(options.directory, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      walCompression: false,
    } as ConstructorParameters<typeof RocksLevel>[1])
    await db.open()
    copies = new DurableCopies(db, options.directory)
  }
  /** Runs `done` once `value` is durable under `key`, at once without a data directory. */
  const keep = (key: Buffer, value: Buffer, done: () => void): void => {
    if (copies === undefined) done()
    else copies.write(key, value, done)
  }
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  }
  let closed = false

  // The replica side: echo every frame's 4-byte id once its copy is kept.
  // A frame's payload: id (u32) | key length (u16) | key | value.
  const peerServer = createServer((socket) => {
    track(socket)
    socket.setNoDelay(true)
    const writer = new FrameWriter(socket)
    readFrames(socket, (payload) => {
      const keyEnd = 6 + payload.readUInt16BE(4)
      const echo = frame(Buffer.from(payload.subarray(0, 4)))
      keep(Buffer.from(payload.subarray(6, keyEnd)), Buffer.from(payload.subarray(keyEnd)), () =>
        writer.send(echo),
      )
    })
  })

  // The coordinator side.
  const waiting = new Map<number, () => void>()
  let nextId = 1
  const peers: FrameWriter[] = []
  const connectPeer = (port: number): void => {
    if (closed) return
    const socket = connect({ host: '127.0.0.1', port })
    track(socket)
    socket.setNoDelay(true)
    socket.on('error', () => setTimeout(() => connectPeer(port), 100))
    socket.on('connect', () => {
      peers.push(new FrameWriter(socket))
      readFrames(socket, (payload) => {
        const done = waiting.get(payload.readUInt32BE(0))
        if (done === undefined) return
        waiting.delete(payload.readUInt32BE(0))
        done()
      })
    })
  }
  const connecting = setTimeout(() => {
    for (const port of options.otherPeerPorts) connectPeer(port)
  }, 200)

  const httpServer = createHttpServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      if (peers.length < options.otherPeerPorts.length) {
        // Not connected to both others yet: refuse rather than wait.
        response.statusCode = 503
        response.end()
        return
      }
      const id = nextId++ >>> 0
      const key = Buffer.from(request.url ?? '')
      const value = Buffer.concat(chunks)
      const header = Buffer.alloc(6)
      header.writeUInt32BE(id)
      header.writeUInt16BE(key.length, 4)
      const payload = frame(Buffer.concat([header, key, value]))
      // Two of three copies: this one and the first echo.
      let copiesLeft = 2
      const copied = (): void => {
        if (--copiesLeft > 0) return
        response.statusCode = 204
        response.end()
      }
      waiting.set(id, copied)
      for (const peer of peers) peer.send(payload)
      keep(key, value, copied)
    })
  })
  const listen = (server: ReturnType<typeof createServer>, port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
  await listen(peerServer, options.peerPort)
  await listen(httpServer, options.httpPort)
  return {
    async close(): Promise<void> {
      closed = true
      clearTimeout(connecting)
      httpServer.closeAllConnections()
      for (const socket of sockets) socket.destroy()
      await Promise.all([
        new Promise((resolve) => httpServer.close(resolve)),
        new Promise((resolve) => peerServer.close(resolve)),
      ])
      await copies?.close()
    },
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  const ports = args.slice(0, 4).map(Number)
  if (
    args.length < 4 ||
    args.length > 5 ||
    ports.some((port) => !Number.isInteger(port) || port < 1)
  ) {
    console.error(
      'usage: fanout-floor.js <http port> <peer port> <peer port> <peer port> [data directory]',
    )
    process.exit(2)
  }
  const [httpPort, peerPort, ...otherPeerPorts] = ports as [number, number, number, number]
  const directory = args[4]
  await startFloor({
    httpPort,
    peerPort,
    otherPeerPorts,
    ...(directory === undefined ? {} : { directory }),
  })
  console.log(`fan-out floor on ${httpPort}`)
}
