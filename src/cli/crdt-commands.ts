/**
 * `murmur counter get|inc|dec` and `murmur set get|add|remove`: CRDT counters and sets.
 * Updates carry an Idempotency-Key (random unless given), so the client retries them safely.
 */

import type { CrdtUpdateOptions } from '../client/crdt.js'
import { type ParsedArgs, UsageError } from './args.js'
import {
  CLIENT_USAGE,
  clientFrom,
  EXIT,
  emit,
  integerValue,
  levelValue,
  parseClientArgs,
  positional,
  runClientCommand,
  stringValue,
} from './client-support.js'
import type { Command } from './main.js'

const CRDT_OPTIONS = {
  r: { type: 'string' },
  w: { type: 'string' },
  timeout: { type: 'string' },
  'idempotency-key': { type: 'string' },
  context: { type: 'string' },
} as const

const CRDT_USAGE = [
  '  --r <level>, --w <level>     consistency of the read or the update',
  '  --idempotency-key <key>      the key that makes a retried update count once (default: random)',
  '  --timeout <ms>               server-side timeout of the request',
]

function updateOptions(args: ParsedArgs): CrdtUpdateOptions {
  const w = levelValue(args, 'w')
  const timeoutMs = integerValue(args, 'timeout', 1, 3_600_000)
  const idempotencyKey = stringValue(args, 'idempotency-key')
  return {
    ...(w === undefined ? {} : { w }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  }
}

function readOptions(args: ParsedArgs) {
  const r = levelValue(args, 'r')
  const timeoutMs = integerValue(args, 'timeout', 1, 3_600_000)
  return { ...(r === undefined ? {} : { r }), ...(timeoutMs === undefined ? {} : { timeoutMs }) }
}

function notFound(args: ParsedArgs): number {
  emit(args, { found: false }, () => '')
  console.error('murmur: not found')
  return EXIT.failed
}

async function counter(args: ParsedArgs): Promise<number> {
  const action = positional(args, 0, 'an action: get, inc or dec')
  const keyspace = positional(args, 1, '<keyspace>')
  const key = positional(args, 2, '<key>')
  const client = clientFrom(args)
  if (action === 'get') {
    if (args.positionals.length > 3) throw new UsageError('get takes no amount')
    const value = await client.counters.get(keyspace, key, readOptions(args))
    if (value === undefined) return notFound(args)
    emit(args, { found: true, value }, () => String(value))
    return EXIT.ok
  }
  if (action !== 'inc' && action !== 'dec')
    throw new UsageError(`unknown counter action "${action}"`)
  const rawAmount = args.positionals[3] ?? '1'
  const amount = /^[0-9]{1,15}$/.test(rawAmount) ? Number(rawAmount) : Number.NaN
  if (!Number.isSafeInteger(amount))
    throw new UsageError('the amount must be a non-negative integer')
  const value =
    action === 'inc'
      ? await client.counters.increment(keyspace, key, amount, updateOptions(args))
      : await client.counters.decrement(keyspace, key, amount, updateOptions(args))
  emit(args, { value }, () => String(value))
  return EXIT.ok
}

async function set(args: ParsedArgs): Promise<number> {
  const action = positional(args, 0, 'an action: get, add or remove')
  const keyspace = positional(args, 1, '<keyspace>')
  const key = positional(args, 2, '<key>')
  const elements = args.positionals.slice(3)
  const client = clientFrom(args)
  if (action === 'get') {
    if (elements.length > 0) throw new UsageError('get takes no elements')
    const state = await client.sets.get(keyspace, key, readOptions(args))
    if (state === undefined) return notFound(args)
    emit(args, { found: true, ...state }, () =>
      [...state.elements, `context: ${state.context}`].join('\n'),
    )
    return EXIT.ok
  }
  if (action !== 'add' && action !== 'remove')
    throw new UsageError(`unknown set action "${action}"`)
  if (elements.length === 0) throw new UsageError(`${action} needs at least one element`)
  const context = stringValue(args, 'context')
  const state = await client.sets.update(
    keyspace,
    key,
    {
      ...(action === 'add' ? { add: elements } : { remove: elements }),
      ...(context === undefined ? {} : { context }),
    },
    updateOptions(args),
  )
  emit(args, state, () => `${state.size} elements; context: ${state.context}`)
  return EXIT.ok
}

export const counterCommand: Command = {
  summary: 'read or update a CRDT counter',
  usage: [
    'murmur counter get <keyspace> <key> | inc|dec <keyspace> <key> [amount] [options]',
    '',
    ...CRDT_USAGE,
    '',
    ...CLIENT_USAGE,
  ].join('\n'),
  async run(argv) {
    const args = parseClientArgs(argv, CRDT_OPTIONS, 4)
    return runClientCommand(args, () => counter(args))
  },
}

const SET_ELEMENTS_MAX = 1000

export const setCommand: Command = {
  summary: 'read or update a CRDT set (add-wins)',
  usage: [
    'murmur set get <keyspace> <key> | add|remove <keyspace> <key> <element>... [options]',
    '',
    '  --context <token>            remove: the context of a read that saw the elements',
    ...CRDT_USAGE,
    '',
    ...CLIENT_USAGE,
  ].join('\n'),
  async run(argv) {
    const args = parseClientArgs(argv, CRDT_OPTIONS, 3 + SET_ELEMENTS_MAX)
    return runClientCommand(args, () => set(args))
  },
}
