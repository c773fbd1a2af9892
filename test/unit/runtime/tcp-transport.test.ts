/**
 * Goal: TcpTransport keeps the PeerTransport contract over real sockets: answers, errors,
 * timeouts, multiplexing, reconnects, backpressure, the handshake, hostile input and a clean
 * close.
 * Method: real transports on 127.0.0.1 with OS-chosen ports and a shared address book; raw
 * node:net sockets play hostile peers. Every wait is on an event or a promise, bounded by
 * `within`; every transport and socket a test opens is closed in afterEach.
 */

import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { SystemClock } from '../../../src/env/clock.js'
import { MurmurError } from '../../../src/env/errors.js'
import { SeededRandom } from '../../../src/env/random.js'
import type { NodeId, PeerRequestHandler } from '../../../src/env/transport.js'
import {
  type PeerAddress,
  type RejectReason,
  TcpTransport,
  type TcpTransportEvent,
  type TcpTransportOptions,
} from '../../../src/runtime/tcp-transport.js'
import { encode } from '../../../src/wire/codec.js'
import { encodeFrame } from '../../../src/wire/frame.js'
import { encodeEnvelope, helloFor } from '../../../src/wire/peer-envelope.js'

const HOST = '127.0.0.1'
const clock = new SystemClock()
const addresses = new Map<NodeId, PeerAddress>()
const transports: TcpTransport[] = []
const sockets: Socket[] = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await Promise.all(transports.splice(0).map((transport) => transport.close()))
  addresses.clear()
})

/** Rejects when `promise` has not settled within `timeoutMs`. */
function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expiry = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not happen within ${timeoutMs} ms`)),
      timeoutMs,
    )
  })
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer))
}

function delay(durationMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, durationMs))
}

/** Collects a transport's events and lets a test await the first one matching a predicate. */
class EventLog {
  readonly events: TcpTransportEvent[] = []
  private waiters: { match: (event: TcpTransportEvent) => boolean; resolve: () => void }[] = []

  readonly record = (event: TcpTransportEvent): void => {
    this.events.push(event)
    for (const waiter of this.waiters.filter((candidate) => candidate.match(event)))
      waiter.resolve()
    this.waiters = this.waiters.filter((candidate) => !candidate.match(event))
  }

  waitFor(match: (event: TcpTransportEvent) => boolean, what: string): Promise<void> {
    if (this.events.some(match)) return Promise.resolve()
    return within(new Promise((resolve) => this.waiters.push({ match, resolve })), 5000, what)
  }
}

async function startNode(
  id: NodeId,
  handler: PeerRequestHandler,
  overrides: Partial<TcpTransportOptions> = {},
): Promise<TcpTransport> {
  const transport = new TcpTransport({
    localId: id,
    clusterName: 'test-cluster',
    listenHost: HOST,
    listenPort: 0,
    resolve: (nodeId) => addresses.get(nodeId),
    clock,
    random: new SeededRandom(7),
    reconnectBackoffMsMin: 10,
    reconnectBackoffMsMax: 100,
    ...overrides,
  })
  transports.push(transport)
  transport.setHandler(handler)
  await transport.start()
  addresses.set(id, { host: HOST, port: transport.port })
  return transport
}

const echo: PeerRequestHandler = (from, body) => ({ from, body })

async function rejection(promise: Promise<unknown>): Promise<MurmurError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  )
  expect(error).toBeInstanceOf(MurmurError)
  return error as MurmurError
}

function rawSocket(port: number): Promise<Socket> {
  const socket = connect({ host: HOST, port })
  sockets.push(socket)
  socket.on('error', () => {})
  return within(
    new Promise((resolve) => socket.once('connect', () => resolve(socket))),
    5000,
    'raw connect',
  )
}

function closed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve()
  return within(
    new Promise((resolve) => socket.once('close', () => resolve())),
    5000,
    'socket close',
  )
}

describe('TcpTransport', () => {
  it('answers requests and delivers notifications', async () => {
    let notified: (body: unknown) => void = () => {}
    const notification = new Promise<unknown>((resolve) => {
      notified = resolve
    })
    const a = await startNode('a', echo)
    await startNode('b', (from, body) => {
      if (typeof body === 'object' && body !== null && 'note' in body) notified({ from, body })
      return { from, body }
    })
    expect(await a.request('b', { key: 'k', value: new Uint8Array([1, 2]) }, 2000)).toEqual({
      from: 'a',
      body: { key: 'k', value: new Uint8Array([1, 2]) },
    })
    a.notify('b', { note: 'hi' })
    expect(await within(notification, 5000, 'notification')).toEqual({
      from: 'a',
      body: { note: 'hi' },
    })
  })

  it('multiplexes many concurrent requests on one connection per direction', async () => {
    const a = await startNode('a', echo)
    const b = await startNode('b', async (_from, body) => {
      // Answer out of order: later requests often finish first.
      const index = body as number
      for (let turn = 0; turn < index % 7; turn++)
        await new Promise((resolve) => setImmediate(resolve))
      return index * 2
    })
    const indexes = Array.from({ length: 1000 }, (_unused, index) => index)
    const answers = await Promise.all(indexes.map((index) => a.request('b', index, 5000)))
    expect(answers).toEqual(indexes.map((index) => index * 2))
    expect(a.connectionCounts()).toEqual({ outbound: 1, inbound: 0 })
    expect(b.connectionCounts()).toEqual({ outbound: 0, inbound: 1 })
  })

  it("carries the peer handler's MurmurError back and hides foreign errors as internal", async () => {
    const a = await startNode('a', echo)
    await startNode('b', (_from, body) => {
      if (body === 'murmur') {
        throw new MurmurError('quorum_unavailable', 'only 1 of 2 replicas answered', {
          details: { required: 2, acknowledged: 1 },
          definite: false,
        })
      }
      throw new TypeError('cannot read properties of undefined')
    })
    const remote = await rejection(a.request('b', 'murmur', 2000))
    expect(remote.code).toBe('quorum_unavailable')
    expect(remote.message).toBe('only 1 of 2 replicas answered')
    expect(remote.details).toEqual({ required: 2, acknowledged: 1 })
    expect(remote.definite).toBe(false)
    const foreign = await rejection(a.request('b', 'foreign', 2000))
    expect(foreign.code).toBe('internal')
    expect(foreign.message).toBe('cannot read properties of undefined')
    expect(foreign.stack).not.toMatch(/TypeError/)
  })

  it('times out each request on its own and keeps the connection for the next', async () => {
    const a = await startNode('a', echo)
    await startNode('b', (_from, body) => (body === 'hang' ? new Promise(() => {}) : body))
    const startedMs = clock.nowMs()
    const timedOut = await rejection(a.request('b', 'hang', 100))
    expect(clock.nowMs() - startedMs).toBeGreaterThanOrEqual(99)
    expect(timedOut.code).toBe('timeout')
    expect(timedOut.definite).toBe(false)
    expect(await a.request('b', 'quick', 2000)).toBe('quick')
    expect(a.connectionCounts().outbound).toBe(1)
  })

  it('fails written requests indefinitely when the connection drops', async () => {
    let received: () => void = () => {}
    const arrived = new Promise<void>((resolve) => {
      received = resolve
    })
    const a = await startNode('a', echo)
    const b = await startNode('b', () => {
      received()
      return new Promise(() => {})
    })
    const answer = rejection(a.request('b', 'never answered', 10_000))
    await within(arrived, 5000, 'request arrival')
    await b.close()
    const lost = await within(answer, 5000, 'request failure')
    expect(lost.code).toBe('unavailable')
    expect(lost.definite).toBe(false)
  })

  it('reconnects after the peer restarts on the same port', async () => {
    const events = new EventLog()
    const a = await startNode('a', echo, { onEvent: events.record })
    const first = await startNode('b', () => 'first incarnation')
    const port = first.port
    expect(await a.request('b', 'x', 2000)).toBe('first incarnation')
    await first.close()
    await events.waitFor((event) => event.type === 'disconnected', 'disconnect')
    const down = await rejection(a.request('b', 'x', 2000))
    expect(down.code).toBe('unavailable')
    expect(down.definite).toBe(true)
    await startNode('b', () => 'second incarnation', { listenPort: port })
    let answer: unknown
    for (let attempt = 0; attempt < 50 && answer === undefined; attempt++) {
      answer = await a.request('b', 'x', 2000).catch(async (error: MurmurError) => {
        expect(error.code).toBe('unavailable')
        // The peer is in backoff (at most 100 ms here); the next attempt is due after it.
        await delay(25)
        return undefined
      })
    }
    expect(answer).toBe('second incarnation')
  })

  it('tells link-lost listeners which peer a broken connection was with', async () => {
    const a = await startNode('a', echo)
    const b = await startNode('b', echo)
    const lost: NodeId[] = []
    let heard: () => void = () => {}
    const first = new Promise<void>((resolve) => {
      heard = resolve
    })
    a.onLinkLost((peer) => {
      lost.push(peer)
      heard()
    })
    expect(await a.request('b', 'x', 2000)).toEqual({ from: 'a', body: 'x' })
    expect(lost).toEqual([])
    await b.close()
    await within(first, 5000, 'link lost')
    expect(new Set(lost)).toEqual(new Set(['b']))
  })

  it('fails fast while the peer is in backoff instead of dialing again', async () => {
    const events = new EventLog()
    const a = await startNode('a', echo, {
      onEvent: events.record,
      reconnectBackoffMsMin: 5000,
      reconnectBackoffMsMax: 5000,
    })
    // Take a free port and release it, so nothing listens there.
    const vacant = await startNode('vacant', echo)
    await vacant.close()
    const refused = await rejection(a.request('vacant', 'x', 2000))
    expect(refused.code).toBe('unavailable')
    expect(refused.definite).toBe(true)
    const startedMs = clock.nowMs()
    const fast = await rejection(a.request('vacant', 'x', 2000))
    expect(clock.nowMs() - startedMs).toBeLessThan(100)
    expect(fast.message).toMatch(/next attempt in \d+ ms/)
    expect(events.events.filter((event) => event.type === 'connect_failed')).toHaveLength(1)
  })

  it('ends the backoff when the peer connects to us or is reported reachable', async () => {
    const longBackoff = { reconnectBackoffMsMin: 60_000, reconnectBackoffMsMax: 60_000 }
    const a = await startNode('a', echo, longBackoff)
    const vacant = await startNode('b', echo)
    const port = vacant.port
    await vacant.close()
    expect((await rejection(a.request('b', 'x', 2000))).code).toBe('unavailable')
    const b = await startNode('b', echo, { listenPort: port })
    // Still in its minute of backoff: fails fast.
    expect((await rejection(a.request('b', 'x', 2000))).message).toMatch(/next attempt in/)
    // b's own connection to a is evidence that b is back.
    expect(await b.request('a', 'hi', 2000)).toEqual({ from: 'b', body: 'hi' })
    expect(await a.request('b', 'x', 2000)).toEqual({ from: 'a', body: 'x' })

    // Membership's word is enough too.
    const c = await startNode('c', echo, longBackoff)
    await b.close()
    expect((await rejection(c.request('b', 'x', 2000))).code).toBe('unavailable')
    await startNode('b', echo, { listenPort: port })
    expect((await rejection(c.request('b', 'x', 2000))).message).toMatch(/next attempt in/)
    c.peerReachable('b')
    expect(await c.request('b', 'x', 2000)).toEqual({ from: 'c', body: 'x' })
  })

  it('refuses a peer from another cluster during the handshake', async () => {
    const events = new EventLog()
    await startNode('b', echo, { onEvent: events.record })
    const stranger = await startNode('a', echo, { clusterName: 'other-cluster' })
    const refused = await rejection(stranger.request('b', 'x', 2000))
    expect(refused.code).toBe('unavailable')
    expect(refused.definite).toBe(true)
    expect(refused.message).toMatch(/handshake refused by peer: cluster name 'other-cluster'/)
    await events.waitFor(
      (event) => event.type === 'rejected' && event.reason === 'handshake_refused',
      'handshake refusal',
    )
  })

  it('refuses to reach a node that answers under another id', async () => {
    const a = await startNode('a', echo)
    const b = await startNode('b', echo)
    addresses.set('c', { host: HOST, port: b.port })
    const wrong = await rejection(a.request('c', 'x', 2000))
    expect(wrong.code).toBe('unavailable')
    expect(wrong.message).toMatch(/this node is 'b', not 'c'/)
  })

  const hostileInputs: { name: string; reason: RejectReason; bytes: () => Uint8Array }[] = [
    {
      name: 'an oversized length prefix',
      reason: 'frame_oversized',
      bytes: () => new Uint8Array([0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0]),
    },
    {
      name: 'text that is not a frame at all',
      reason: 'frame_oversized',
      bytes: () => new TextEncoder().encode('GET / HTTP/1.1\r\nHost: murmur\r\n\r\n'),
    },
    {
      name: 'a bad checksum',
      reason: 'frame_checksum',
      bytes: () => {
        const frame = encodeFrame(encodeEnvelope(helloFor('test-cluster', 'mallory', 'b')))
        frame[5] = (frame[5] ?? 0) ^ 0xff
        return frame
      },
    },
    {
      name: 'a frame that is not an envelope',
      reason: 'envelope_malformed',
      bytes: () => encodeFrame(encode({ hello: 'world' })),
    },
    {
      name: 'a request before the hello',
      reason: 'protocol_violation',
      bytes: () => encodeFrame(encodeEnvelope({ kind: 'request', requestId: 1, body: 'x' })),
    },
  ]

  for (const hostile of hostileInputs) {
    it(`disconnects a peer that sends ${hostile.name} and keeps serving others`, async () => {
      const a = await startNode('a', echo)
      const b = await startNode('b', echo)
      expect(await a.request('b', 'before', 2000)).toEqual({ from: 'a', body: 'before' })
      const raw = await rawSocket(b.port)
      raw.write(hostile.bytes())
      await closed(raw)
      expect(b.rejectionCounts().get(hostile.reason)).toBe(1)
      expect(await a.request('b', 'after', 2000)).toEqual({ from: 'a', body: 'after' })
    })
  }

  it('disconnects a peer that never says hello', async () => {
    const b = await startNode('b', echo, { connectTimeoutMs: 100 })
    const raw = await rawSocket(b.port)
    await closed(raw)
    expect(b.rejectionCounts().get('handshake_timeout')).toBe(1)
  })

  it('fails requests at once with overloaded when the send queue is full', async () => {
    const a = await startNode('a', echo, { queueBytesMax: 256 })
    await startNode('b', echo)
    const big = await rejection(a.request('b', 'x'.repeat(1000), 2000))
    expect(big.code).toBe('overloaded')
    expect(big.definite).toBe(true)
    // Queued in one turn, small requests fill the queue; the ones past the limit fail.
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_unused, index) => a.request('b', index, 2000)),
    )
    const fulfilled = outcomes.filter((result) => result.status === 'fulfilled')
    const overloaded = outcomes.filter(
      (result) =>
        result.status === 'rejected' && (result.reason as MurmurError).code === 'overloaded',
    )
    expect(fulfilled.length).toBeGreaterThan(0)
    expect(overloaded.length).toBeGreaterThan(0)
    expect(fulfilled.length + overloaded.length).toBe(20)
  })

  it('refuses to send a message larger than a frame', async () => {
    const a = await startNode('a', echo, { frameBytesMax: 1024 })
    await startNode('b', echo)
    const tooLarge = await rejection(a.request('b', new Uint8Array(2048), 2000))
    expect(tooLarge.code).toBe('payload_too_large')
    expect(tooLarge.definite).toBe(true)
  })

  it('reports a port in use as a one-line config error', async () => {
    const b = await startNode('b', echo)
    const clash = new TcpTransport({
      localId: 'c',
      clusterName: 'test-cluster',
      listenHost: HOST,
      listenPort: b.port,
      resolve: () => undefined,
      clock,
      random: new SeededRandom(1),
    })
    const error = await rejection(clash.start())
    expect(error.code).toBe('config_invalid')
    expect(error.message).toBe(`peer port ${b.port} on ${HOST} is already in use`)
  })

  it('closes every socket and server so nothing keeps the process alive', async () => {
    // A server's 'close' comes before libuv runs its handle's close callback, in the close
    // phase of a later loop turn; two turns guarantee that phase has run.
    const tcpHandles = async () => {
      for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve))
      return process.getActiveResourcesInfo().filter((resource) => resource.startsWith('TCP'))
        .length
    }
    const before = await tcpHandles()
    const a = await startNode('a', echo)
    const b = await startNode('b', (_from, body) =>
      body === 'hang' ? new Promise(() => {}) : body,
    )
    expect(await a.request('b', 'x', 2000)).toBe('x')
    expect(await b.request('a', 'y', 2000)).toEqual({ from: 'b', body: 'y' })
    expect(await tcpHandles()).toBeGreaterThan(before)
    const hanging = rejection(a.request('b', 'hang', 60_000))
    await a.close()
    await b.close()
    const failed = await hanging
    expect(failed.code).toBe('unavailable')
    expect(await tcpHandles()).toBe(before)
    const afterClose = await rejection(a.request('b', 'x', 2000))
    expect(afterClose.code).toBe('unavailable')
  })
})
