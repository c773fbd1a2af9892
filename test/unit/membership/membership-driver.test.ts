/**
 * Goal: the driver runs the core over real UDP and a peer transport: members started with a
 * seed address find each other (ping, ack, push-pull by id), a graceful leave reaches the
 * others as `left`, and stop() leaves nothing running.
 *
 * Method: three drivers on 127.0.0.1 (OS-chosen UDP ports, the system clock, the local preset);
 * push-pull over a loopback PeerTransport that msgpack-encodes every body as the real ones do.
 * Waits are driven by membership events, each bounded by a timeout.
 */

import { describe, expect, it } from 'vitest'
import { SystemClock } from '../../../src/env/clock.js'
import { SeededRandom } from '../../../src/env/random.js'
import {
  type NodeId,
  type PeerTransport,
  transportUnavailable,
} from '../../../src/env/transport.js'
import { MEMBERSHIP_PRESETS } from '../../../src/membership/config.js'
import { MembershipDriver } from '../../../src/runtime/membership-driver.js'
import { PeerRouter } from '../../../src/runtime/peer-router.js'
import { UdpTransport } from '../../../src/runtime/udp-transport.js'
import { decode, encode } from '../../../src/wire/codec.js'

const WAIT_MS = 5_000

class LoopbackPeers {
  readonly routers = new Map<NodeId, PeerRouter>()

  transport(localId: NodeId): PeerTransport {
    return {
      localId,
      request: async (to, body) => {
        const router = this.routers.get(to)
        if (router === undefined) throw transportUnavailable(to, 'not running')
        const response = await router.handle(localId, decode(encode(body)))
        return decode(encode(response))
      },
      notify: () => {},
      setHandler: () => {},
      onLinkLost: () => {},
      close: async () => {},
    }
  }
}

/** Resolves once `predicate` holds, re-checked on every event of every driver. */
function waitFor(drivers: readonly MembershipDriver[], predicate: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const unsubscribes: (() => void)[] = []
    const finish = (error?: Error): void => {
      clearTimeout(timer)
      for (const unsubscribe of unsubscribes) unsubscribe()
      if (error === undefined) resolve()
      else reject(error)
    }
    const timer = setTimeout(() => finish(new Error('condition not reached in time')), WAIT_MS)
    const check = (): void => {
      if (predicate()) finish()
    }
    for (const driver of drivers) unsubscribes.push(driver.onEvent(check))
    check()
  })
}

function aliveIds(driver: MembershipDriver): string[] {
  return driver
    .members()
    .filter((member) => member.state === 'alive')
    .map((member) => member.id)
}

describe('MembershipDriver', () => {
  it('joins through a seed address, spreads a leave, and stops', async () => {
    const config = MEMBERSHIP_PRESETS.local
    const peers = new LoopbackPeers()
    const transports: UdpTransport[] = []
    const drivers: MembershipDriver[] = []
    try {
      for (const [index, id] of ['a', 'b', 'c'].entries()) {
        const packets = await UdpTransport.bind({
          host: '127.0.0.1',
          port: 0,
          packetBytesMax: 1400,
        })
        transports.push(packets)
        const router = new PeerRouter()
        peers.routers.set(id, router)
        const seeds = index === 0 ? [] : [transports[0]!.localAddress]
        const driver = new MembershipDriver({
          config,
          local: { id, address: packets.localAddress, meta: { zone: `z${index}` } },
          incarnation: 0,
          random: new SeededRandom(index + 1),
          clock: new SystemClock(),
          packets,
          peers: peers.transport(id),
          router,
          seeds,
        })
        drivers.push(driver)
        driver.start()
      }
      await waitFor(drivers, () => drivers.every((driver) => aliveIds(driver).length === 3))
      expect(aliveIds(drivers[1]!)).toEqual(['a', 'b', 'c'])
      expect(drivers[2]!.members().find((member) => member.id === 'a')?.meta).toEqual({
        zone: 'z0',
      })

      const leaving = drivers[2]!
      await leaving.leave()
      leaving.stop()
      const others = drivers.slice(0, 2)
      await waitFor(others, () =>
        others.every(
          (driver) => driver.members().find((member) => member.id === 'c')?.state === 'left',
        ),
      )
      expect(aliveIds(drivers[0]!)).toEqual(['a', 'b'])
    } finally {
      for (const driver of drivers) driver.stop()
      for (const transport of transports) await transport.close()
    }
  }, 15_000)
})
