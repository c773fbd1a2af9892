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
 * Usage: node fanout-floor.js <http port> <peer port> <other peer port> <other peer port>.
 */

import { createServer as createHttpServer } from 'node:http'
import { connect, createServer, type Socket } from 'node:net'

const ports = process.argv.slice(2).map(Number)
if (ports.length !== 4 || ports.some((port) => !Number.isInteger(port) || port < 1)) {
  console.error('usage: fanout-floor.js <http port> <peer port> <peer port> <peer port>')
  process.exit(2)
}
const [httpPort, peerPort, ...otherPorts] = ports as [number, number, number, number]

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
    this.socket.write(frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames))
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

// The replica side: echo every frame's 4-byte id.
createServer((socket) => {
  socket.setNoDelay(true)
  const writer = new FrameWriter(socket)
  readFrames(socket, (payload) => writer.send(frame(payload.subarray(0, 4))))
}).listen(peerPort, '127.0.0.1')

// The coordinator side.
const waiting = new Map<number, () => void>()
let nextId = 1
const peers: FrameWriter[] = []

function connectPeer(port: number): void {
  const socket = connect({ host: '127.0.0.1', port })
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
setTimeout(() => {
  for (const port of otherPorts) connectPeer(port)
}, 200)

createHttpServer((request, response) => {
  const chunks: Buffer[] = []
  request.on('data', (chunk: Buffer) => chunks.push(chunk))
  request.on('end', () => {
    if (peers.length < otherPorts.length) {
      // Not connected to both others yet: refuse rather than wait.
      response.statusCode = 503
      response.end()
      return
    }
    const id = nextId++ >>> 0
    const header = Buffer.alloc(4)
    header.writeUInt32BE(id)
    const payload = frame(Buffer.concat([header, Buffer.from(request.url ?? ''), ...chunks]))
    waiting.set(id, () => {
      response.statusCode = 204
      response.end()
    })
    for (const peer of peers) peer.send(payload)
  })
}).listen(httpPort, '127.0.0.1', () => console.log(`fan-out floor on ${httpPort}`))
