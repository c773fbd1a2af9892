/**
 * A simulated datagram network implementing PacketTransport for gossip: every packet's fate
 * (loss, delay, duplication, partition) comes from the seeded NetworkFaults, and delivery is an
 * event on the simulation's queue. Bytes are copied on send, so no buffer is shared.
 */

import type { PacketAddress, PacketHandler, PacketTransport } from '../../src/env/transport.js'
import type { NetworkFaults } from './faults.js'
import type { Simulation } from './simulation.js'

export interface PacketCounters {
  sent: number
  delivered: number
  dropped: number
  bytesSent: number
}

export class SimPacketNetwork {
  readonly counters: PacketCounters = { sent: 0, delivered: 0, dropped: 0, bytesSent: 0 }
  /** Per-address count of packets sent, for load checks. */
  readonly sentBy = new Map<PacketAddress, number>()
  private readonly handlers = new Map<PacketAddress, PacketHandler>()
  private readonly down = new Set<PacketAddress>()

  constructor(
    private readonly sim: Simulation,
    private readonly faults: NetworkFaults,
  ) {}

  transport(address: PacketAddress): PacketTransport {
    return {
      localAddress: address,
      send: (to, bytes) => this.send(address, to, bytes),
      setHandler: (handler) => {
        this.handlers.set(address, handler)
      },
      close: async () => {
        this.handlers.delete(address)
      },
    }
  }

  /** A down endpoint neither sends nor receives (a crashed or paused process). */
  setDown(address: PacketAddress, isDown: boolean): void {
    if (isDown) this.down.add(address)
    else this.down.delete(address)
  }

  isDown(address: PacketAddress): boolean {
    return this.down.has(address)
  }

  private send(from: PacketAddress, to: PacketAddress, bytes: Uint8Array): void {
    if (this.down.has(from)) return
    this.counters.sent++
    this.counters.bytesSent += bytes.length
    this.sentBy.set(from, (this.sentBy.get(from) ?? 0) + 1)
    const decision = this.faults.decide(from, to)
    if (decision.drop) {
      this.counters.dropped++
      return
    }
    const copy = bytes.slice()
    this.sim.schedule(decision.delayMs, () => this.deliver(from, to, copy))
    if (decision.duplicate)
      this.sim.schedule(decision.delayMs, () => this.deliver(from, to, copy.slice()))
  }

  private deliver(from: PacketAddress, to: PacketAddress, bytes: Uint8Array): void {
    const handler = this.handlers.get(to)
    if (handler === undefined || this.down.has(to)) {
      this.counters.dropped++
      return
    }
    this.counters.delivered++
    handler(from, bytes)
  }
}
