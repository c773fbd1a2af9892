/**
 * Goal: with a keyring, the TCP peer transport talks only to holders of a cluster key (in
 * either order of a rotating keyring) and the UDP gossip transport delivers only datagrams a
 * key opens; whatever else arrives is counted and never reaches a handler.
 * Method: real transports on 127.0.0.1 with OS-chosen ports; raw node:net and node:dgram
 * sockets play a forger without the key. Every wait is an event or a bounded poll; every
 * socket and transport is closed in afterEach.
 */

import { createSocket, type Socket as DatagramSocket } from 'node:dgram'
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { SystemClock } from '../../../src/env/clock.js'
import { MurmurError } from '../../../src/env/errors.js'
import { SeededRandom } from '../../../src/env/random.js'
import type { NodeId, PeerRequestHandler } from '../../../src/env/transport.js'
import { Keyring } from '../../../src/runtime/security/keyring.js'
import { encodeAuthHello, encodeAuthProof } from '../../../src/runtime/security/peer-auth.js'
import {
  type PeerAddress,
  TcpTransport,
  type TcpTransportOptions,
} from '../../../src/runtime/tcp-transport.js'
import { parseAddress, UdpTransport } from '../../../src/runtime/udp-transport.js'
import { encodeFrame } from '../../../src/wire/frame.js'
import { encodeEnvelope } from '../../../src/wire/peer-envelope.js'

const HOST = '127.0.0.1'
const OLD = Keyring.fromSecrets(['old-secret-0123456789'])
const NEW = Keyring.fromSecrets(['new-secret-0123456789'])
const OLD_THEN_NEW = Keyring.fromSecrets(['old-secret-0123456789', 'new-secret-0123456789'])
const NEW_THEN_OLD = Keyring.fromSecrets(['new-secret-0123456789', 'old-secret-0123456789'])
const clock = new SystemClock()
const addresses = new Map<NodeId, PeerAddress>()
const closers: (() => Promise<void> | void)[] = []

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
  addresses.clear()
})

function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expiry = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs)
  })
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer))
}

/** Polls `check` every 10 ms, at most 300 times. */
async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (check()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`${what} did not happen within 3 s`)
}

async function startPeer(
  id: NodeId,
  keyring: Keyring | undefined,
  handler: PeerRequestHandler = (from, body) => ({ from, body }),
): Promise<TcpTransport> {
  const options: TcpTransportOptions = {
    localId: id,
    clusterName: 'secure',
    listenHost: HOST,
    listenPort: 0,
    resolve: (nodeId) => addresses.get(nodeId),
    clock,
    random: new SeededRandom(3),
    connectTimeoutMs: 1000,
    reconnectBackoffMsMin: 5,
    reconnectBackoffMsMax: 20,
    ...(keyring === undefined ? {} : { keyring }),
  }
  const transport = new TcpTransport(options)
  closers.push(() => transport.close())
  transport.setHandler(handler)
  await transport.start()
  addresses.set(id, { host: HOST, port: transport.port })
  return transport
}

async function failure(promise: Promise<unknown>): Promise<MurmurError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(MurmurError)
  return error as MurmurError
}

function rawSocket(port: number): Promise<Socket> {
  const socket = connect({ host: HOST, port })
  closers.push(() => {
    socket.destroy()
  })
  socket.on('error', () => {})
  // Read (and discard) what the node answers, so its closing the connection is seen.
  socket.resume()
  return within(
    new Promise((resolve) => socket.once('connect', () => resolve(socket))),
    5000,
    'raw connect',
  )
}

function closed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve()
  return within(new Promise((resolve) => socket.once('close', () => resolve())), 5000, 'close')
}

describe('authenticated peer connections', () => {
  it('serves requests between holders of the same key', async () => {
    const a = await startPeer('a', OLD)
    await startPeer('b', OLD)
    expect(await a.request('b', { hello: 'world' }, 2000)).toEqual({
      from: 'a',
      body: { hello: 'world' },
    })
    expect(a.connectionCounts().outbound).toBe(1)
  })

  it('connects in both directions while a rotation has the keys in either order', async () => {
    const a = await startPeer('a', OLD_THEN_NEW)
    const b = await startPeer('b', NEW_THEN_OLD)
    const c = await startPeer('c', NEW)
    expect(await a.request('b', 1, 2000)).toEqual({ from: 'a', body: 1 })
    expect(await b.request('a', 2, 2000)).toEqual({ from: 'b', body: 2 })
    // c dropped the old key too early: acceptors prove their primary, so c reaches b (new
    // first) and a reaches c (a holds new), but c cannot verify a, whose primary is still old.
    expect(await c.request('b', 3, 2000)).toEqual({ from: 'c', body: 3 })
    expect(await a.request('c', 4, 2000)).toEqual({ from: 'a', body: 4 })
    expect((await failure(c.request('a', 5, 2000))).code).toBe('unavailable')
    expect(c.rejectionCounts().get('auth_failed')).toBe(1)
  })

  it('refuses a peer with another key and one without any, and counts both', async () => {
    const served: unknown[] = []
    const b = await startPeer('b', OLD, (_from, body) => served.push(body))
    const stranger = await startPeer('x', NEW)
    const plain = await startPeer('y', undefined)
    expect((await failure(stranger.request('b', 'forged', 2000))).code).toBe('unavailable')
    expect(stranger.rejectionCounts().get('auth_failed')).toBe(1)
    expect((await failure(plain.request('b', 'forged', 2000))).code).toBe('unavailable')
    await eventually(() => b.rejectionCounts().get('auth_failed') === 1, 'plain peer rejected')
    expect(served).toEqual([])
  })

  it('closes a forger that skips or fakes the proof, processing nothing it sent', async () => {
    const served: unknown[] = []
    const b = await startPeer('b', OLD, (_from, body) => served.push(body))
    const skipping = await rawSocket(b.port)
    skipping.write(encodeFrame(encodeEnvelope({ kind: 'notify', requestId: 0, body: 'x' })))
    await closed(skipping)
    const faking = await rawSocket(b.port)
    const nonce = new Uint8Array(32).fill(4)
    faking.write(encodeFrame(encodeAuthHello({ nonce, cluster: 'secure', from: 'a', to: 'b' })))
    faking.write(encodeFrame(encodeAuthProof(new Uint8Array(32).fill(9))))
    faking.write(encodeFrame(encodeEnvelope({ kind: 'notify', requestId: 0, body: 'y' })))
    await closed(faking)
    expect(b.rejectionCounts().get('auth_failed')).toBe(2)
    expect(served).toEqual([])
  })
})

describe('sealed gossip datagrams', () => {
  async function bind(keyring: Keyring | undefined): Promise<UdpTransport> {
    const transport = await UdpTransport.bind({
      host: HOST,
      port: 0,
      packetBytesMax: 1400,
      ...(keyring === undefined ? {} : { keyring }),
    })
    closers.push(() => transport.close())
    return transport
  }

  it('delivers what a key opens and drops and counts the rest', async () => {
    const receiver = await bind(NEW_THEN_OLD)
    const received: string[] = []
    receiver.setHandler((_from, bytes) => received.push(new TextDecoder().decode(bytes)))
    const rotated = await bind(OLD_THEN_NEW)
    const stranger = await bind(Keyring.fromSecrets(['other-secret-0123456789']))
    const plain = await bind(undefined)
    stranger.send(receiver.localAddress, new TextEncoder().encode('forged'))
    plain.send(receiver.localAddress, new TextEncoder().encode('forged too'))
    rotated.send(receiver.localAddress, new TextEncoder().encode('genuine'))
    await eventually(
      () => received.length === 1 && receiver.rejectedPackets().get('auth_failed') === 1,
      'genuine delivered',
    )
    await eventually(() => receiver.counters.received === 3, 'all three datagrams arrived')
    expect(received).toEqual(['genuine'])
    const rejected = [...receiver.rejectedPackets().values()].reduce((sum, n) => sum + n, 0)
    expect(rejected).toBe(2)
  })

  it('keeps a sealed datagram within packetBytesMax', async () => {
    const sender = await bind(OLD)
    sender.send(sender.localAddress, new Uint8Array(1400 - 33))
    sender.send(sender.localAddress, new Uint8Array(1400 - 32))
    expect(sender.counters.sent).toBe(1)
    expect(sender.counters.oversizeDropped).toBe(1)
  })

  it('ignores a raw datagram socket without the key', async () => {
    const receiver = await bind(OLD)
    const delivered: Uint8Array[] = []
    receiver.setHandler((_from, bytes) => delivered.push(bytes))
    const raw: DatagramSocket = createSocket('udp4')
    closers.push(() => new Promise<void>((resolve) => raw.close(() => resolve())))
    const target = parseAddress(receiver.localAddress)
    if (target === undefined) throw new Error('unparsable address')
    raw.send(new Uint8Array(64).fill(1), target.port, target.host)
    await eventually(() => receiver.counters.received === 1, 'raw datagram arrived')
    expect(delivered).toEqual([])
    expect(receiver.rejectedPackets().get('auth_failed')).toBe(1)
  })
})
