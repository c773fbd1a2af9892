/**
 * Goal: fault injection partitions real transports as documented: with a peer blocked, requests
 * to it fail at once as unreachable (definite), its requests and notifications are ignored (the
 * sender times out), gossip datagrams are dropped both ways, and unblocking heals; the debug
 * route validates its body. Method: two TcpTransports and two UdpTransports on 127.0.0.1 with
 * OS-chosen ports, one PeerFaults per side; every wait is bounded; every socket is closed.
 */

import { describe, expect, it } from 'vitest'
import { createApp } from '../../../src/api/app.js'
import { faultRoutes } from '../../../src/api/fault-routes.js'
import { SystemClock } from '../../../src/env/clock.js'
import { isMurmurError } from '../../../src/env/errors.js'
import { createLogger } from '../../../src/env/log.js'
import { SeededRandom } from '../../../src/env/random.js'
import { PeerFaults } from '../../../src/runtime/faults.js'
import { TcpTransport } from '../../../src/runtime/tcp-transport.js'
import { UdpTransport } from '../../../src/runtime/udp-transport.js'

async function transportPair() {
  const clock = new SystemClock()
  const ports = new Map<string, number>()
  const faults = { a: new PeerFaults(() => undefined), b: new PeerFaults(() => undefined) }
  const make = (id: 'a' | 'b') =>
    new TcpTransport({
      localId: id,
      clusterName: 'test',
      listenHost: '127.0.0.1',
      listenPort: 0,
      resolve: (peer) => {
        const port = ports.get(peer)
        return port === undefined ? undefined : { host: '127.0.0.1', port }
      },
      clock,
      random: new SeededRandom(1),
      faults: faults[id],
    })
  const a = make('a')
  const b = make('b')
  await a.start()
  await b.start()
  ports.set('a', a.port)
  ports.set('b', b.port)
  const notified: string[] = []
  for (const [transport, name] of [
    [a, 'a'],
    [b, 'b'],
  ] as const) {
    transport.setHandler((from, body) => {
      if ((body as { kind?: string }).kind === 'notify') notified.push(`${from}->${name}`)
      return { pong: name }
    })
  }
  return { a, b, faults, notified }
}

describe('fault injection', () => {
  it('cuts and heals a TCP link in both directions', async () => {
    const { a, b, faults, notified } = await transportPair()
    try {
      expect(await a.request('b', { kind: 'ping' }, 2000)).toEqual({ pong: 'b' })
      faults.a.block(['b'])
      const refused = await a.request('b', { kind: 'ping' }, 2000).catch((error: unknown) => error)
      expect(isMurmurError(refused, 'unavailable') && refused.definite).toBe(true)
      // b does not block a, but a ignores what b sends: b's notification is dropped and its
      // request, which follows it on the same connection, times out.
      b.notify('a', { kind: 'notify' })
      a.notify('b', { kind: 'notify' })
      const ignored = await b.request('a', { kind: 'ping' }, 300).catch((error: unknown) => error)
      expect(isMurmurError(ignored, 'timeout')).toBe(true)
      faults.a.block([])
      expect(await b.request('a', { kind: 'ping' }, 2000)).toEqual({ pong: 'a' })
      b.notify('a', { kind: 'notify' })
      expect(await a.request('b', { kind: 'ping' }, 2000)).toEqual({ pong: 'b' })
      expect(notified).toEqual(['b->a'])
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('drops gossip datagrams to and from a blocked address', async () => {
    const faults = new PeerFaults((id) => (id === 'peer' ? address : undefined))
    const left = await UdpTransport.bind({
      host: '127.0.0.1',
      port: 0,
      packetBytesMax: 1400,
      faults,
    })
    const right = await UdpTransport.bind({ host: '127.0.0.1', port: 0, packetBytesMax: 1400 })
    const address = right.localAddress
    const received: string[] = []
    left.setHandler(() => received.push('left'))
    right.setHandler(() => received.push('right'))
    const arrived = (side: string) =>
      new Promise<boolean>((resolve) => {
        const started = Date.now()
        const poll = () => {
          if (received.includes(side)) resolve(true)
          else if (Date.now() - started > 300) resolve(false)
          else setTimeout(poll, 10)
        }
        poll()
      })
    try {
      faults.block(['peer'])
      expect(faults.blocksAddress(address)).toBe(true)
      left.send(address, Uint8Array.of(1))
      right.send(left.localAddress, Uint8Array.of(2))
      expect(await arrived('right')).toBe(false)
      expect(await arrived('left')).toBe(false)
      faults.block([])
      right.send(left.localAddress, Uint8Array.of(3))
      expect(await arrived('left')).toBe(true)
    } finally {
      await left.close()
      await right.close()
    }
  })

  it('validates the debug route body', async () => {
    const faults = new PeerFaults(() => undefined)
    const app = createApp({
      requestBodyBytesMax: 4096,
      log: createLogger('silent', () => {}),
      routes: [faultRoutes(faults, ['n1', 'n2'])],
    })
    const post = (body: string) => app.request('/v1/debug/faults', { method: 'POST', body })
    expect((await post('{"blockPeers": ["n2"]}')).status).toBe(200)
    expect(faults.blocked()).toEqual(['n2'])
    for (const bad of [
      '{"blockPeers": ["n9"]}',
      '{"blockPeers": "n2"}',
      '[]',
      'x',
      '{"blockPeers": [], "x": 1}',
    ]) {
      expect((await post(bad)).status, bad).toBe(400)
    }
    expect(await (await app.request('/v1/debug/faults')).json()).toEqual({ blockPeers: ['n2'] })
  })
})
