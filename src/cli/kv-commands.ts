/**
 * `murmur get|put|del <keyspace> <key>`: plain values on any keyspace. The keyspace's mode
 * (from the cluster's ring) picks the request shape: eventual keyspaces take consistency
 * levels and causal contexts and may answer siblings; strong keyspaces take versions
 * (compare-and-set), request ids and fencing tokens.
 */

import { readFileSync } from 'node:fs'
import type { MurmurClient } from '../client/client.js'
import type { KvReadResult } from '../client/kv.js'
import type { StrongReadResult } from '../client/strong.js'
import { type ParsedArgs, UsageError } from './args.js'
import {
  CLIENT_USAGE,
  clientFrom,
  EXIT,
  emit,
  flag,
  integerValue,
  levelValue,
  parseClientArgs,
  positional,
  runClientCommand,
  stringValue,
} from './client-support.js'
import type { Command } from './main.js'

const READ_OPTIONS = {
  r: { type: 'string' },
  pr: { type: 'string' },
  repair: { type: 'string' },
  consistency: { type: 'string' },
  timeout: { type: 'string' },
} as const

const WRITE_OPTIONS = {
  w: { type: 'string' },
  pw: { type: 'string' },
  timeout: { type: 'string' },
  context: { type: 'string' },
  retry: { type: 'boolean' },
  'if-match': { type: 'string' },
  'if-none-match': { type: 'boolean' },
  'fencing-token': { type: 'string' },
  'request-id': { type: 'string' },
} as const

const WRITE_USAGE = [
  'Eventual keyspaces:',
  '  --w <level>, --pw <level>   acknowledgements required (one|two|three|quorum|all|<n>)',
  '  --context <token>           the context of the read this write supersedes',
  '  --retry                     retry on other nodes when unavailable (may leave a sibling)',
  'Strong keyspaces (retried safely with a request id):',
  '  --if-match <version|*>      compare-and-set on the version',
  '  --if-none-match             create-only',
  '  --fencing-token <lock:n>    apply only while the lock token is current',
  '  --request-id <id>           the id that makes a retry apply once (default: random)',
  '  --timeout <ms>              server-side timeout of the request',
]

async function modeOf(client: MurmurClient, keyspace: string): Promise<'eventual' | 'strong'> {
  const mode = await client.keyspaceMode(keyspace)
  if (mode === undefined)
    throw new UsageError(`the cluster has no keyspace ${JSON.stringify(keyspace)}`)
  return mode
}

function text(bytes: Uint8Array | null): string {
  return bytes === null ? '' : Buffer.from(bytes).toString('utf8')
}

function eventualJson(result: KvReadResult) {
  return {
    found: result.found,
    context: result.context,
    replicas: result.replicas,
    siblings: result.siblings.map((sibling) => ({
      value: sibling.value === null ? null : text(sibling.value),
      contentType: sibling.contentType,
      deleted: sibling.deleted,
    })),
  }
}

function eventualHuman(result: KvReadResult): string {
  if (result.siblings.length === 1) return text(result.siblings[0]?.value ?? null)
  const lines = [`${result.siblings.length} siblings (write with --context to resolve them):`]
  result.siblings.forEach((sibling, index) => {
    lines.push(`  [${index + 1}] ${sibling.deleted ? '(deleted)' : text(sibling.value)}`)
  })
  lines.push(`context: ${result.context}`)
  return lines.join('\n')
}

function strongJson(result: StrongReadResult) {
  return {
    found: result.found,
    value: text(result.value),
    contentType: result.contentType,
    version: result.version,
  }
}

async function get(args: ParsedArgs): Promise<number> {
  const client = clientFrom(args)
  const keyspace = positional(args, 0, '<keyspace>')
  const key = positional(args, 1, '<key>')
  const timeoutMs = integerValue(args, 'timeout', 1, 3_600_000)
  if ((await modeOf(client, keyspace)) === 'strong') {
    const consistency = stringValue(args, 'consistency')
    if (
      consistency !== undefined &&
      consistency !== 'linearizable' &&
      consistency !== 'serializable'
    )
      throw new UsageError('--consistency must be linearizable or serializable')
    const result = await client.strong.get(keyspace, key, {
      ...(consistency === undefined ? {} : { consistency }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
    })
    return report(args, result.found, strongJson(result), () => text(result.value))
  }
  const repair = stringValue(args, 'repair')
  if (repair !== undefined && repair !== 'async' && repair !== 'blocking')
    throw new UsageError('--repair must be async or blocking')
  const r = levelValue(args, 'r') ?? levelValue(args, 'consistency')
  const pr = levelValue(args, 'pr')
  const result = await client.kv.get(keyspace, key, {
    ...(r === undefined ? {} : { r }),
    ...(pr === undefined ? {} : { pr }),
    ...(repair === undefined ? {} : { repair }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  })
  return report(args, result.found, eventualJson(result), () => eventualHuman(result))
}

/** Prints a read; a missing key is exit 1 with a line on stderr. */
function report(args: ParsedArgs, found: boolean, json: unknown, human: () => string): number {
  if (!found) {
    if (flag(args, 'json')) console.log(JSON.stringify(json))
    console.error('murmur: not found')
    return EXIT.failed
  }
  emit(args, json, human)
  return EXIT.ok
}

/** The value of a put: the argument, `--file <path>`, or standard input for `-`. */
function putValueOf(args: ParsedArgs): Uint8Array | string {
  const file = stringValue(args, 'file')
  const given = args.positionals[2]
  if (file !== undefined && given !== undefined)
    throw new UsageError('give a value or --file, not both')
  if (file !== undefined) return new Uint8Array(readFileSync(file))
  if (given === undefined)
    throw new UsageError('missing <value> (or --file <path>, or - for stdin)')
  return given === '-' ? new Uint8Array(readFileSync(0)) : given
}

function ifMatchOf(args: ParsedArgs): number | '*' | undefined {
  const raw = stringValue(args, 'if-match')
  if (raw === undefined || raw === '*') return raw
  const version = /^"?([1-9][0-9]{0,15})"?$/.exec(raw)
  if (version === null) throw new UsageError('--if-match must be a version number or *')
  return Number(version[1])
}

async function write(args: ParsedArgs, operation: 'put' | 'del'): Promise<number> {
  const client = clientFrom(args)
  const keyspace = positional(args, 0, '<keyspace>')
  const key = positional(args, 1, '<key>')
  const value = operation === 'put' ? putValueOf(args) : undefined
  const contentType = stringValue(args, 'content-type')
  const timeoutMs = integerValue(args, 'timeout', 1, 3_600_000)
  const common = {
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(contentType === undefined ? {} : { contentType }),
  }
  if ((await modeOf(client, keyspace)) === 'strong') {
    const ifMatch = ifMatchOf(args)
    const fencingToken = stringValue(args, 'fencing-token')
    const requestId = stringValue(args, 'request-id')
    const options = {
      ...common,
      ...(ifMatch === undefined ? {} : { ifMatch }),
      ...(flag(args, 'if-none-match') ? { ifNoneMatch: '*' as const } : {}),
      ...(fencingToken === undefined ? {} : { fencingToken }),
      ...(requestId === undefined ? {} : { requestId }),
    }
    const result =
      value === undefined
        ? await client.strong.delete(keyspace, key, options)
        : await client.strong.put(keyspace, key, value, options)
    emit(args, result, () => (result.version === null ? 'ok' : `ok, version ${result.version}`))
    return EXIT.ok
  }
  const w = levelValue(args, 'w')
  const pw = levelValue(args, 'pw')
  const context = stringValue(args, 'context')
  const options = {
    ...common,
    ...(w === undefined ? {} : { w }),
    ...(pw === undefined ? {} : { pw }),
    ...(context === undefined ? {} : { context }),
    retry: flag(args, 'retry'),
  }
  const result =
    value === undefined
      ? await client.kv.delete(keyspace, key, options)
      : await client.kv.put(keyspace, key, value, options)
  emit(args, result, () => `ok (replicas ${result.replicas.join(',')}; context ${result.context})`)
  return EXIT.ok
}

export const getCommand: Command = {
  summary: 'read a value (eventual: value or siblings and context; strong: value and version)',
  usage: [
    'murmur get <keyspace> <key> [options]',
    '',
    '  --r <level>, --pr <level>    eventual: replicas that must answer',
    '  --repair async|blocking      eventual: repair stale replicas before answering',
    '  --consistency <c>            strong: linearizable (default) or serializable',
    '  --timeout <ms>               server-side timeout of the request',
    '',
    ...CLIENT_USAGE,
  ].join('\n'),
  async run(argv) {
    const args = parseClientArgs(argv, READ_OPTIONS, 2)
    return runClientCommand(args, () => get(args))
  },
}

export const putCommand: Command = {
  summary: 'write a value',
  usage: [
    'murmur put <keyspace> <key> <value|-> [options]   (- reads the value from stdin)',
    '',
    '  --file <path>                the value is the file content',
    '  --content-type <type>        stored with the value (default text/plain for text)',
    ...WRITE_USAGE,
    '',
    ...CLIENT_USAGE,
  ].join('\n'),
  async run(argv) {
    const args = parseClientArgs(
      argv,
      { ...WRITE_OPTIONS, file: { type: 'string' }, 'content-type': { type: 'string' } },
      3,
    )
    return runClientCommand(args, () => write(args, 'put'))
  },
}

export const delCommand: Command = {
  summary: 'delete a value',
  usage: ['murmur del <keyspace> <key> [options]', '', ...WRITE_USAGE, '', ...CLIENT_USAGE].join(
    '\n',
  ),
  async run(argv) {
    const args = parseClientArgs(argv, WRITE_OPTIONS, 2)
    return runClientCommand(args, () => write(args, 'del'))
  },
}
