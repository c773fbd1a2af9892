/**
 * Free loopback ports chosen at run time, for integration tests and benchmarks. Each port is
 * found by binding port 0 on 127.0.0.1 for both TCP and UDP, so the same number is free for a
 * node's peer (TCP) and gossip (UDP) sockets.
 */

import { createSocket } from 'node:dgram'
import { createServer } from 'node:net'

function tcpPort(port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no address')),
      )
    })
  })
}

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4')
    socket.once('error', () => {
      socket.close()
      resolve(false)
    })
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)))
  })
}

const handedOut = new Set<number>()

/** `count` distinct ports that were free for TCP and UDP on 127.0.0.1 a moment ago. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = []
  for (let attempt = 0; ports.length < count && attempt < count * 50; attempt++) {
    const port = await tcpPort()
    if (handedOut.has(port) || ports.includes(port)) continue
    if (!(await udpFree(port))) continue
    ports.push(port)
    handedOut.add(port)
  }
  if (ports.length < count) throw new Error(`could not find ${count} free ports`)
  return ports
}
