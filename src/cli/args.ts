/**
 * Command-line parsing shared by every murmur command: node:util's parseArgs with strict
 * options, turned into one-line usage errors (exit code 2) instead of stack traces.
 *
 * An option that takes a value takes the next argument whatever it starts with, as getopt
 * does: parseArgs alone refuses `--context -Xy…` as ambiguous, and a context token begins with
 * "-" one time in 64 (its first character comes from a checksum). Arguments after `--` are
 * positionals, so `murmur put ks key -- -v` stores "-v".
 */

import { parseArgs } from 'node:util'
import { MurmurError } from '../env/errors.js'

export type OptionSpec = Readonly<
  Record<string, { readonly type: 'string' | 'boolean'; readonly short?: string }>
>

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | undefined>>
  readonly positionals: readonly string[]
}

/** A user mistake on the command line; the CLI prints it with the usage hint and exits 2. */
export class UsageError extends MurmurError {
  constructor(message: string) {
    super('invalid_request', message)
  }
}

export function parseCommandArgs(
  argv: readonly string[],
  options: OptionSpec,
  positionalsMax = 0,
): ParsedArgs {
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: attachOptionValues(argv, options),
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    })
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error)
    throw new UsageError(message ?? 'invalid arguments')
  }
  if (parsed.positionals.length > positionalsMax) {
    throw new UsageError(`unexpected argument "${parsed.positionals[positionalsMax]}"`)
  }
  return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals }
}

/** `--name value` as `--name=value` (`-n value` as `-nvalue`) for every option taking a value. */
function attachOptionValues(argv: readonly string[], options: OptionSpec): string[] {
  const takesValue = new Set<string>()
  for (const [name, spec] of Object.entries(options)) {
    if (spec.type !== 'string') continue
    takesValue.add(`--${name}`)
    if (spec.short !== undefined) takesValue.add(`-${spec.short}`)
  }
  const attached: string[] = []
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string
    if (arg === '--') {
      attached.push(...argv.slice(index))
      break
    }
    const value = argv[index + 1]
    if (!takesValue.has(arg) || value === undefined) {
      attached.push(arg)
      continue
    }
    attached.push(arg.startsWith('--') ? `${arg}=${value}` : `${arg}${value}`)
    index++
  }
  return attached
}

export function stringOption(args: ParsedArgs, name: string, fallback?: string): string {
  const value = args.values[name]
  if (typeof value === 'string' && value !== '') return value
  if (fallback !== undefined) return fallback
  throw new UsageError(`missing --${name}`)
}
