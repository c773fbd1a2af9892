/**
 * What every client command of the CLI shares: which nodes to talk to (`--node`, else
 * MURMUR_URL, else the nodes of cluster.yml, over https when it configures tls), the API token
 * (`--token`, else MURMUR_TOKEN) and the CA to trust for https (`--ca`, else MURMUR_CA, else
 * the file's tls.caFile when the nodes came from it), output in human form or as one JSON
 * document (`--json`), option parsing with one-line usage errors, and the exit codes:
 *
 *   0  success
 *   1  not found, or a condition failed (precondition_failed, stale_token, type_mismatch)
 *   2  a usage error (bad flags or arguments, or a request the server refused as invalid)
 *   3  unavailable (no node reachable, no quorum, overloaded, timed out)
 *
 * Any other failure (a server bug, an unexpected answer) exits 1.
 */

import { existsSync, readFileSync } from 'node:fs'
import { MurmurClient } from '../client/client.js'
import { MurmurClientError } from '../client/errors.js'
import type { Level } from '../client/kv.js'
import type { TransportOptions } from '../client/transport.js'
import { loadConfigFile } from '../config/load.js'
import { type ErrorCode, errorMessage } from '../env/errors.js'
import { type OptionSpec, type ParsedArgs, parseCommandArgs, UsageError } from './args.js'

export const EXIT = { ok: 0, failed: 1, usage: 2, unavailable: 3 } as const

export const CLIENT_OPTIONS: OptionSpec = {
  node: { type: 'string' },
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  'client-timeout': { type: 'string' },
  retries: { type: 'string' },
  token: { type: 'string' },
  ca: { type: 'string' },
}

export const CLIENT_USAGE = [
  'Connection and output:',
  '  --node <url>[,<url>...]  nodes to talk to (default: MURMUR_URL, else every node of',
  '                           --config <cluster.yml>, default ./cluster.yml)',
  '  --json                   print one JSON document instead of human-readable text',
  '  --client-timeout <ms>    per-attempt HTTP timeout (default 5000)',
  '  --retries <n>            extra attempts of retry-safe requests on other nodes (default 2)',
  '  --token <token>          API token (default: MURMUR_TOKEN)',
  '  --ca <file>              PEM CA to trust for https nodes (default: MURMUR_CA, else the',
  "                           cluster file's tls.caFile, else the system CAs)",
  '',
  'Exit codes: 0 ok, 1 not found or condition failed, 2 usage error, 3 unavailable.',
]

const CONDITION_CODES: readonly ErrorCode[] = [
  'not_found',
  'precondition_failed',
  'stale_token',
  'idempotency_conflict',
  'type_mismatch',
  'too_many_siblings',
]
const USAGE_CODES: readonly ErrorCode[] = [
  'invalid_request',
  'invalid_context',
  'invalid_consistency',
  'unknown_keyspace',
  'method_not_allowed',
  'value_too_large',
  'payload_too_large',
]
const UNAVAILABLE_CODES: readonly ErrorCode[] = [
  'quorum_unavailable',
  'no_quorum',
  'not_leader',
  'overloaded',
  'unavailable',
  'timeout',
]

/** The exit code for an error a client command raised. */
export function clientExitCode(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage
  if (!(error instanceof MurmurClientError)) return EXIT.failed
  if (CONDITION_CODES.includes(error.code)) return EXIT.failed
  if (USAGE_CODES.includes(error.code)) return EXIT.usage
  if (UNAVAILABLE_CODES.includes(error.code)) return EXIT.unavailable
  return EXIT.failed
}

/** Parses a client command's arguments: its own options plus the shared ones. */
export function parseClientArgs(
  argv: readonly string[],
  options: OptionSpec,
  positionalsMax: number,
): ParsedArgs {
  return parseCommandArgs(argv, { ...CLIENT_OPTIONS, ...options }, positionalsMax)
}

/** Where the client commands send: node URLs, and the CA file to trust for https if any. */
export interface ClientTargets {
  readonly nodes: string[]
  readonly caFile: string | undefined
}

/**
 * The node URLs: --node, else MURMUR_URL, else the nodes of the cluster file (https when it
 * configures tls). The CA: --ca, else MURMUR_CA, else the file's tls.caFile.
 */
export function resolveTargets(
  args: ParsedArgs,
  env: NodeJS.ProcessEnv = process.env,
): ClientTargets {
  const caGiven = nonEmpty(stringValue(args, 'ca') ?? env['MURMUR_CA'])
  const given = nonEmpty(stringValue(args, 'node') ?? env['MURMUR_URL'])
  if (given !== undefined)
    return { nodes: given.split(',').map((node) => node.trim()), caFile: caGiven }
  const configPath = stringValue(args, 'config') ?? 'cluster.yml'
  if (!existsSync(configPath)) {
    throw new UsageError(
      `no --node given, MURMUR_URL unset, and no ${configPath} to read nodes from`,
    )
  }
  const config = loadConfigFile(configPath, env)
  const scheme = config.tls === undefined ? 'http' : 'https'
  return {
    nodes: config.nodes.map((node) => `${scheme}://${node.host}:${node.httpPort}`),
    caFile: caGiven ?? config.tls?.caFile,
  }
}

/** The node URLs alone (see `resolveTargets`). */
export function resolveNodes(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): string[] {
  return resolveTargets(args, env).nodes
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

export function clientFrom(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): MurmurClient {
  return new MurmurClient(transportOptionsFrom(args, env))
}

/** The connection settings of a client command: nodes, timeouts, retries, token and CA. */
export function transportOptionsFrom(
  args: ParsedArgs,
  env: NodeJS.ProcessEnv = process.env,
): TransportOptions {
  const { nodes, caFile } = resolveTargets(args, env)
  for (const node of nodes) {
    if (!/^(https?:\/\/)?[^/\s]+(:[0-9]{1,5})?\/?$/.test(node))
      throw new UsageError(
        `--node ${JSON.stringify(node)} is not a URL such as http://127.0.0.1:7001`,
      )
  }
  const token = nonEmpty(stringValue(args, 'token') ?? env['MURMUR_TOKEN'])
  if (token !== undefined && !/^[\x21-\x7e]{1,2048}$/.test(token))
    throw new UsageError('--token must be 1..2048 printable characters without spaces')
  return {
    nodes,
    timeoutMs: integerValue(args, 'client-timeout', 1, 3_600_000) ?? 5000,
    retries: integerValue(args, 'retries', 0, 10) ?? 2,
    ...(token === undefined ? {} : { token }),
    ...(caFile === undefined ? {} : { ca: readCa(caFile) }),
  }
}

function readCa(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read the CA file ${path}: ${errorMessage(error)}`)
  }
}

export function stringValue(args: ParsedArgs, name: string): string | undefined {
  const value = args.values[name]
  return typeof value === 'string' ? value : undefined
}

export function flag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true
}

export function integerValue(
  args: ParsedArgs,
  name: string,
  minimum: number,
  maximum: number,
): number | undefined {
  const raw = stringValue(args, name)
  if (raw === undefined) return undefined
  const value = /^-?[0-9]{1,16}$/.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(value) || value < minimum || value > maximum)
    throw new UsageError(`--${name} must be an integer in ${minimum}..${maximum}`)
  return value
}

const LEVELS = ['one', 'two', 'three', 'quorum', 'all']

export function levelValue(args: ParsedArgs, name: string): Level | undefined {
  const raw = stringValue(args, name)
  if (raw === undefined) return undefined
  if (LEVELS.includes(raw)) return raw as Level
  if (/^[0-9]{1,2}$/.test(raw)) return Number(raw)
  throw new UsageError(`--${name} must be one, two, three, quorum, all or a number`)
}

export function positional(args: ParsedArgs, index: number, what: string): string {
  const value = args.positionals[index]
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`)
  return value
}

/** Prints a result: JSON (one document) or human-readable lines. */
export function emit(args: ParsedArgs, json: unknown, human: () => string): void {
  if (flag(args, 'json')) console.log(JSON.stringify(json))
  else {
    const text = human()
    if (text !== '') console.log(text)
  }
}

/**
 * Runs a client command: a failure is one line on stderr (and, with --json, the error as a
 * JSON document on stdout) and its exit code; usage errors go to the caller, which adds the
 * usage line.
 */
export async function runClientCommand(
  args: ParsedArgs,
  body: () => Promise<number>,
): Promise<number> {
  try {
    return await body()
  } catch (error) {
    if (error instanceof UsageError || !(error instanceof MurmurClientError)) throw error
    if (flag(args, 'json')) {
      console.log(
        JSON.stringify({
          error: {
            ...error.details,
            code: error.code,
            message: error.message,
            status: error.status,
            ...(error.definite === undefined ? {} : { definite: error.definite }),
          },
        }),
      )
    }
    console.error(`murmur: ${errorMessage(error)}`)
    return clientExitCode(error)
  }
}
