/**
 * `murmur start --config cluster.yml --node n1`: runs one node in the foreground until SIGINT
 * or SIGTERM, then shuts down gracefully (stops taking requests, leaves the cluster, flushes
 * storage). With --exit-with-stdin it also stops when its standard input closes, which is how
 * `murmur dev` makes sure no node outlives it.
 */

import { loadConfigFile } from '../config/load.js'
import { parseCommandArgs, stringOption } from './args.js'
import type { Command } from './main.js'

const SHUTDOWN_TIMEOUT_MS = 15_000

export const startCommand: Command = {
  summary: 'run one node of the cluster in the foreground',
  usage: [
    'murmur start --config <cluster.yml> --node <id>',
    '',
    'Options:',
    '  --config <file>     cluster file (default: cluster.yml)',
    '  --node <id>         which node of the file this process is',
    '  --exit-with-stdin   also stop when standard input closes (used by `murmur dev`)',
    '',
    'Environment: MURMUR_NODE_<ID>_HTTP_PORT, _PEER_PORT, _GOSSIP_PORT, _HOST, _DATA_DIR,',
    'MURMUR_CLUSTER_SECRET (comma-separated keyring), MURMUR_TOKEN_<NAME>, MURMUR_LOG_LEVEL',
    'override the file (docs/CONFIGURATION.md, docs/SECURITY.md).',
  ].join('\n'),
  async run(argv) {
    const args = parseCommandArgs(argv, {
      config: { type: 'string', short: 'c' },
      node: { type: 'string', short: 'n' },
      'exit-with-stdin': { type: 'boolean' },
    })
    const config = loadConfigFile(stringOption(args, 'config', 'cluster.yml'))
    // Loaded here, not at the top, so the client commands start without the storage engine.
    const { startNodeProcess } = await import('../runtime/process.js')
    const node = await startNodeProcess(config, stringOption(args, 'node'))
    console.log(
      `murmur ${node.id} serving ${node.httpScheme}://${node.httpAddress} (peer ${node.peerAddress}, gossip ${node.gossipAddress}, data ${node.dataDir})`,
    )
    return new Promise<number>((resolve) => {
      let stopping = false
      const stop = (reason: string) => {
        if (stopping) return
        stopping = true
        console.log(`murmur ${node.id} stopping (${reason})`)
        const forced = setTimeout(() => {
          console.error(
            `murmur ${node.id}: shutdown took longer than ${SHUTDOWN_TIMEOUT_MS} ms, exiting`,
          )
          resolve(1)
        }, SHUTDOWN_TIMEOUT_MS)
        forced.unref()
        node.stop().then(
          () => resolve(0),
          (error: unknown) => {
            console.error(`murmur ${node.id}: shutdown failed: ${String(error)}`)
            resolve(1)
          },
        )
      }
      process.on('SIGINT', () => stop('SIGINT'))
      process.on('SIGTERM', () => stop('SIGTERM'))
      if (args.values['exit-with-stdin'] === true) {
        process.stdin.on('end', () => stop('stdin closed'))
        process.stdin.on('close', () => stop('stdin closed'))
        process.stdin.resume()
      }
    }).then((code) => {
      // Sockets and timers are closed by now; exit explicitly so a stray handle cannot hang.
      process.exit(code)
    })
  },
}
