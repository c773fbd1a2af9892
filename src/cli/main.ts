#!/usr/bin/env node

/**
 * The `murmur` binary. Each command prints a one-line error and exits 2 for user mistakes
 * (bad flags, a bad cluster.yml, an unknown node, a port in use), exits 1 for failures at run
 * time, and never shows a stack trace for a user mistake (MURMUR_DEBUG=1 shows them all).
 * The client commands (get, put, del, counter, set, lock, status, cluster, bench) also exit 1
 * for "not found" or a failed condition and 3 when the cluster is unavailable.
 */

import { MurmurClientError } from '../client/errors.js'
import { errorMessage, MurmurError } from '../env/errors.js'
import { VERSION } from '../version.js'
import { UsageError } from './args.js'
import { benchCommand } from './bench-command.js'
import { clientExitCode } from './client-support.js'
import { clusterCommand } from './cluster-commands.js'
import { counterCommand, setCommand } from './crdt-commands.js'
import { devCommand } from './dev.js'
import { delCommand, getCommand, putCommand } from './kv-commands.js'
import { lockCommand, statusCommand } from './lock-status-commands.js'
import { startCommand } from './start.js'

export interface Command {
  readonly summary: string
  readonly usage: string
  run(argv: readonly string[]): Promise<number>
}

const COMMANDS: Readonly<Record<string, Command>> = {
  start: startCommand,
  dev: devCommand,
  get: getCommand,
  put: putCommand,
  del: delCommand,
  counter: counterCommand,
  set: setCommand,
  lock: lockCommand,
  status: statusCommand,
  cluster: clusterCommand,
  bench: benchCommand,
  version: {
    summary: 'print the version',
    usage: 'murmur version',
    run: async () => {
      console.log(`murmur ${VERSION}`)
      return 0
    },
  },
}

function overview(): string {
  const lines = [
    'murmur: a leaderless, Dynamo-style key-value store',
    '',
    'Usage: murmur <command> [options]',
    '',
    'Commands:',
  ]
  for (const [name, command] of Object.entries(COMMANDS))
    lines.push(`  ${name.padEnd(10)} ${command.summary}`)
  lines.push(
    `  ${'help'.padEnd(10)} show help for a command`,
    '',
    'Run `murmur <command> --help` for the options of a command.',
  )
  return lines.join('\n')
}

/**
 * Exit code for an error: 2 for the user's mistakes, the client commands' codes for answers
 * of the cluster (src/cli/client-support.ts), 1 for everything else.
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return 2
  if (error instanceof MurmurClientError) return clientExitCode(error)
  if (
    error instanceof MurmurError &&
    (error.code === 'config_invalid' || error.code === 'invalid_request')
  )
    return 2
  return 1
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h') {
    console.log(overview())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-v') return COMMANDS['version']?.run([]) ?? 1
  if (name === 'help') {
    const topic = rest[0] === undefined ? undefined : COMMANDS[rest[0]]
    console.log(topic === undefined ? overview() : topic.usage)
    return topic === undefined && rest[0] !== undefined ? 2 : 0
  }
  const command = COMMANDS[name]
  if (command === undefined) {
    console.error(`murmur: unknown command "${name}" (run \`murmur --help\` for the list)`)
    return 2
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (error) {
    const code = exitCodeFor(error)
    for (const line of errorMessage(error).split('\n')) console.error(`murmur: ${line}`)
    if (error instanceof UsageError) console.error(`usage: ${command.usage.split('\n')[0]}`)
    if (process.env['MURMUR_DEBUG'] === '1' && error instanceof Error) console.error(error.stack)
    return code
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    console.error(`murmur: ${errorMessage(error)}`)
    process.exitCode = 1
  },
)
