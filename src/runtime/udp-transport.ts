/**
 * The gossip datagram path: one node:dgram socket implementing PacketTransport. Sends are
 * fire-and-forget (UDP may lose, duplicate or reorder); datagrams larger than `packetBytesMax`
 * are dropped and counted on both sides, never truncated. A bind failure becomes a one-line
 * MurmurError('config_invalid') naming the host and port. `close()` releases the socket; the
 * socket does not keep the process alive on its own.
 *
 * With a keyring (a cluster secret) every datagram is sealed on send and opened on receive
 * (src/runtime/security/gossip-seal.ts); one that no key opens is dropped and counted by
 * reason, and never reaches the handler. `packetBytesMax` bounds the sealed datagram, so the
 * membership core's budget is smaller by GOSSIP_SEAL_OVERHEAD_BYTES (see `gossipPayloadBytesMax`).
 */

import { randomBytes } from 'node:crypto'

import { createSocket, type Socket } from 'node:dgram'
import { isIP } from 'node:net'
import { assert } from '../env/assert.js'
import { errorMessage, MurmurError } from '../env/errors.js'
import type { PacketAddress, PacketHandler, PacketTransport } from '../env/transport.js'
import type { FaultFilter } from './faults.js'
import {
  GOSSIP_SALT_BYTES,
  GOSSIP_SEAL_OVERHEAD_BYTES,
  type GossipOpenFailure,
  openPacket,
  sealPacket,
} from './security/gossip-seal.js'
import type { Keyring } from './security/keyring.js'

export interface UdpTransportOptions {
  /** Interface to bind, e.g. 127.0.0.1 or ::1. */
  readonly host: string
  /** Port to bind; 0 lets the OS choose (tests). */
  readonly port: number
  /** Largest datagram sent or accepted; the membership config's packetBytesMax. */
  readonly packetBytesMax: number
  /** Fault injection (MURMUR_FAULTS=1): datagrams to and from blocked addresses are dropped. */
  readonly faults?: FaultFilter
  /** The cluster keyring; with one, datagrams are sealed and unauthenticated ones dropped. */
  readonly keyring?: Keyring
}

/** The largest membership packet a datagram of `packetBytesMax` carries, sealed or not. */
export function gossipPayloadBytesMax(packetBytesMax: number, sealed: boolean): number {
  return sealed ? packetBytesMax - GOSSIP_SEAL_OVERHEAD_BYTES : packetBytesMax
}

export interface UdpCounters {
  sent: number
  received: number
  /** Datagrams dropped for exceeding packetBytesMax, outgoing and incoming. */
  oversizeDropped: number
  /** Sends to an unparsable address or that failed in the kernel. */
  sendErrors: number
}

export class UdpTransport implements PacketTransport {
  readonly counters: UdpCounters = { sent: 0, received: 0, oversizeDropped: 0, sendErrors: 0 }
  /** Datagrams dropped because no key of the keyring opened them, by reason. */
  private readonly rejections = new Map<GossipOpenFailure, number>()
  private handler: PacketHandler | undefined
  private closed = false

  private constructor(
    private readonly socket: Socket,
    readonly localAddress: PacketAddress,
    private readonly packetBytesMax: number,
    private readonly faults: FaultFilter | undefined,
    private readonly keyring: Keyring | undefined,
  ) {
    socket.on('message', (message, remote) => this.onMessage(message, remote.address, remote.port))
    // Errors after binding (e.g. ICMP-induced send errors) are counted, never fatal.
    socket.on('error', () => {
      this.counters.sendErrors++
    })
  }

  /** Binds the socket; rejects with a config_invalid MurmurError when the port is unusable. */
  static async bind(options: UdpTransportOptions): Promise<UdpTransport> {
    assert(
      Number.isSafeInteger(options.port) && options.port >= 0 && options.port <= 65_535,
      `bad gossip port ${options.port}`,
    )
    assert(options.packetBytesMax > 0 && options.packetBytesMax <= 65_507, 'bad packetBytesMax')
    const socket = createSocket({ type: isIP(options.host) === 6 ? 'udp6' : 'udp4' })
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        socket.close()
        reject(bindError(options.host, options.port, error))
      }
      socket.once('error', onError)
      socket.bind(options.port, options.host, () => {
        socket.off('error', onError)
        resolve()
      })
    })
    socket.unref()
    const bound = socket.address()
    return new UdpTransport(
      socket,
      formatAddress(bound.address, bound.port),
      options.packetBytesMax,
      options.faults,
      options.keyring,
    )
  }

  /** Datagrams dropped as unauthenticated since the start, by reason, in reason order. */
  rejectedPackets(): ReadonlyMap<GossipOpenFailure, number> {
    return new Map([...this.rejections].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  }

  send(to: PacketAddress, plain: Uint8Array): void {
    if (this.closed || this.faults?.blocksAddress(to) === true) return
    const key = this.keyring?.gossipKeys[0]
    const bytes = key === undefined ? plain : sealPacket(key, plain, randomBytes(GOSSIP_SALT_BYTES))
    if (bytes.length > this.packetBytesMax) {
      this.counters.oversizeDropped++
      return
    }
    const target = parseAddress(to)
    if (target === undefined) {
      this.counters.sendErrors++
      return
    }
    this.counters.sent++
    this.socket.send(bytes, target.port, target.host, (error) => {
      if (error) this.counters.sendErrors++
    })
  }

  setHandler(handler: PacketHandler): void {
    this.handler = handler
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.handler = undefined
    await new Promise<void>((resolve) => this.socket.close(() => resolve()))
  }

  private onMessage(message: Buffer, host: string, port: number): void {
    if (message.length > this.packetBytesMax) {
      this.counters.oversizeDropped++
      return
    }
    const from = formatAddress(host, port)
    if (this.faults?.blocksAddress(from) === true) return
    this.counters.received++
    const bytes = new Uint8Array(message.buffer, message.byteOffset, message.byteLength)
    if (this.keyring === undefined) {
      this.handler?.(from, bytes)
      return
    }
    const opened = openPacket(this.keyring.gossipKeys, bytes)
    if (!opened.ok) {
      this.rejections.set(opened.reason, (this.rejections.get(opened.reason) ?? 0) + 1)
      return
    }
    this.handler?.(from, opened.plaintext)
  }
}

/** `host:port`, with IPv6 hosts in brackets. */
export function formatAddress(host: string, port: number): PacketAddress {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
}

export function parseAddress(address: PacketAddress): { host: string; port: number } | undefined {
  const colon = address.lastIndexOf(':')
  if (colon <= 0) return undefined
  let host = address.slice(0, colon)
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  const port = Number(address.slice(colon + 1))
  if (!Number.isInteger(port) || port < 1 || port > 65_535 || host.length === 0) return undefined
  return { host, port }
}

function bindError(host: string, port: number, error: Error): MurmurError {
  const code = (error as NodeJS.ErrnoException).code
  const what = `gossip port ${port} on ${host}`
  const message =
    code === 'EADDRINUSE'
      ? `${what} is already in use`
      : code === 'EADDRNOTAVAIL'
        ? `${what}: ${host} is not an address of this machine`
        : code === 'EACCES'
          ? `${what}: permission denied`
          : `${what} cannot be bound: ${errorMessage(error)}`
  return new MurmurError('config_invalid', message, { cause: error, details: { host, port } })
}
