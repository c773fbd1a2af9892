/**
 * Goal: UdpTransport sends and receives datagrams on loopback, drops oversize datagrams on
 * both sides and counts them, reports a taken port as a one-line config_invalid error, and
 * releases its socket on close.
 *
 * Method: real sockets on 127.0.0.1 with OS-chosen ports; every wait is an awaited event with
 * a timeout; every socket is closed in `finally`.
 */

import { createSocket } from 'node:dgram'
import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import { parseAddress, UdpTransport } from '../../../src/runtime/udp-transport.js'

const WAIT_MS = 2_000

function nextPacket(transport: UdpTransport): Promise<{ from: string; bytes: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no datagram within 2 s')), WAIT_MS)
    transport.setHandler((from, bytes) => {
      clearTimeout(timer)
      resolve({ from, bytes: bytes.slice() })
    })
  })
}

describe('UdpTransport', () => {
  it('delivers a datagram with the sender address', async () => {
    const left = await UdpTransport.bind({ host: '127.0.0.1', port: 0, packetBytesMax: 1400 })
    const right = await UdpTransport.bind({ host: '127.0.0.1', port: 0, packetBytesMax: 1400 })
    try {
      const received = nextPacket(right)
      left.send(right.localAddress, new Uint8Array([1, 2, 3]))
      const packet = await received
      expect([...packet.bytes]).toEqual([1, 2, 3])
      expect(packet.from).toBe(left.localAddress)
      expect(left.counters.sent).toBe(1)
      expect(right.counters.received).toBe(1)
    } finally {
      await left.close()
      await right.close()
    }
  })

  it('drops oversize datagrams on send and on receipt', async () => {
    const small = await UdpTransport.bind({ host: '127.0.0.1', port: 0, packetBytesMax: 600 })
    const raw = createSocket('udp4')
    try {
      small.send(small.localAddress, new Uint8Array(601))
      expect(small.counters.oversizeDropped).toBe(1)
      expect(small.counters.sent).toBe(0)
      // A foreign sender's oversize datagram is dropped; the small one after it arrives.
      const target = parseAddress(small.localAddress)!
      const received = nextPacket(small)
      await new Promise<void>((resolve) =>
        raw.send(new Uint8Array(1000), target.port, target.host, () => resolve()),
      )
      await new Promise<void>((resolve) =>
        raw.send(new Uint8Array([9]), target.port, target.host, () => resolve()),
      )
      const packet = await received
      expect([...packet.bytes]).toEqual([9])
      expect(small.counters.oversizeDropped).toBe(2)
    } finally {
      raw.close()
      await small.close()
    }
  })

  it('reports a port in use as a config error', async () => {
    const taken = await UdpTransport.bind({ host: '127.0.0.1', port: 0, packetBytesMax: 1400 })
    try {
      const port = parseAddress(taken.localAddress)!.port
      const error = await UdpTransport.bind({ host: '127.0.0.1', port, packetBytesMax: 1400 }).then(
        () => undefined,
        (reason: unknown) => reason,
      )
      expect(isMurmurError(error, 'config_invalid')).toBe(true)
      expect((error as Error).message).toBe(`gossip port ${port} on 127.0.0.1 is already in use`)
    } finally {
      await taken.close()
    }
  })

  it('frees the port on close and ignores sends afterwards', async () => {
    const first = await UdpTransport.bind({ host: '127.0.0.1', port: 0, packetBytesMax: 1400 })
    const port = parseAddress(first.localAddress)!.port
    await first.close()
    first.send('127.0.0.1:9', new Uint8Array([1]))
    expect(first.counters.sent).toBe(0)
    const second = await UdpTransport.bind({ host: '127.0.0.1', port, packetBytesMax: 1400 })
    expect(second.localAddress).toBe(`127.0.0.1:${port}`)
    await second.close()
  })
})
