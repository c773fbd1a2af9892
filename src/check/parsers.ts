/**
 * Parsers from recorded histories (text) to the checker's history model. They are strict: a
 * line that does not fit its format, a completion without an invocation, or a completion that
 * names another operation than the one invoked is an error carrying its 1-based line number
 * (MurmurError('invalid_request'), `details.line`). Blank lines are skipped. Event order is
 * real-time order, so the line number is the event's time unless the format carries its own.
 *
 * Three formats:
 *
 * 1. Jepsen 0.x register logs (`parseJepsenRegisterLog`), one event a line:
 *    `INFO  jepsen.util - 3	:invoke	:cas	[1 4]`, fields separated by tabs or spaces; the
 *    process id; `:invoke`, `:ok`, `:fail` or `:info`; `:read`, `:write` or `:cas`; and `nil`,
 *    an integer or `[old new]`. Completions repeat the invocation's argument, except that a
 *    read's `:ok` carries the value read and a `:fail`/`:info` may carry a reason keyword such
 *    as `:timed-out` instead. The history is one register, with key "".
 *
 * 2. Jepsen EDN key-value histories (`parseKeyValueEdn`), one map a line:
 *    `{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}` with `:f` one of
 *    `:get`, `:put`, `:append`. A get's `:ok` carries the string read (nil reads as ""); the
 *    optional `:time` and `:index` keys are accepted and ignored; no other key is.
 *
 * 3. murmur's JSON-lines register histories (`parseJsonLinesRegister`), written by murmur's
 *    own harnesses through `formatJsonLinesEvent`, one object a line:
 *      {"process":1,"type":"invoke","f":"cas","key":"k","value":["a","b"],"timeMs":17}
 *      {"process":1,"type":"ok","f":"cas","key":"k","value":["a","b"],"swapped":false,"timeMs":19}
 *    - `process`: integer id of the client; one outstanding operation per process.
 *    - `type`: "invoke", "ok" (returned), "fail" (definitely did not happen) or "info"
 *      (outcome unknown: timed out, connection lost, crashed; pending forever).
 *    - `f`: "read", "write" or "cas"; `key`: the register's key (histories split per key).
 *    - `value`: read invoke null, read ok the value read (null = never written); write the
 *      value written; cas `[expected, new]`. Values are strings or numbers. Completions repeat
 *      the invocation's argument; "fail" and "info" may omit `value`.
 *    - `swapped`: only on a cas "ok"; false when the CAS completed but found another value
 *      (an observation of the register), true or absent when it swapped.
 *    - `timeMs`: when the event happened, non-decreasing down the file; events at the same
 *      instant count as concurrent.
 *
 * In all formats `:fail` operations are dropped (counted in `failedCount`) and invocations
 * left without a completion at the end become pending operations.
 */

import { isMurmurError, MurmurError } from '../env/errors.js'
import { EdnKeyword, type EdnValue, readEdnMap } from './edn.js'
import { HistoryRecorder, type RecordedHistory } from './history.js'
import type {
  KeyValueInput,
  KeyValueOutput,
  RegisterInput,
  RegisterOutput,
  RegisterState,
  RegisterValue,
} from './models.js'

export type EventType = 'invoke' | 'ok' | 'fail' | 'info'

const EVENT_TYPES: readonly EventType[] = ['invoke', 'ok', 'fail', 'info']

/** One event as every format states it, before it is checked against its invocation. */
interface ParsedEvent {
  readonly process: number
  readonly type: EventType
  readonly f: string
  readonly key: string
  /** The event's value; undefined when the line gives a reason (such as :timed-out) or none. */
  readonly value: unknown
  readonly swapped: boolean | undefined
  readonly time: number
}

/** What every model's input carries: the operation's name (an event's `f`) and its key. */
interface OperationName {
  readonly kind: string
  readonly key: string
}

/** How one model's operations are named in events. */
interface EventGrammar<I, O> {
  /** The operation an invocation names; throws when its value does not fit. */
  input(event: ParsedEvent): I
  /** The output a completion reports for `input`. */
  output(input: I, event: ParsedEvent): O
  /** Whether a completion's own argument agrees with its invocation's. */
  sameArgument(input: I, value: unknown): boolean
  /** Whether an ok event's value is the operation's result (a read's) rather than its argument. */
  okCarriesResult(input: I): boolean
}

/** Splits `text` into lines, feeds each non-blank one to `parseLine`, and adds line numbers. */
function parseLines<I extends OperationName, O>(
  text: string,
  grammar: EventGrammar<I, O>,
  parseLine: (line: string, lineNumber: number) => ParsedEvent,
): RecordedHistory<I, O> {
  const recorder = new HistoryRecorder<I, O>()
  const lines = text.split('\n')
  for (let index = 0; index < lines.length; index++) {
    const line = (lines[index] ?? '').replace(/\r$/, '')
    if (line.trim() === '') continue
    try {
      applyEvent(recorder, grammar, parseLine(line, index + 1))
    } catch (error) {
      if (!isMurmurError(error, 'invalid_request')) throw error
      throw new MurmurError('invalid_request', `line ${index + 1}: ${error.message}`, {
        details: { line: index + 1 },
        cause: error,
      })
    }
  }
  return recorder.finish()
}

function applyEvent<I extends OperationName, O>(
  recorder: HistoryRecorder<I, O>,
  grammar: EventGrammar<I, O>,
  event: ParsedEvent,
): void {
  if (event.type === 'invoke') {
    if (event.value === undefined) invalid('an invoke event needs a value')
    recorder.invoke(event.process, grammar.input(event), event.time)
    return
  }
  const input = recorder.outstandingInput(event.process)
  if (input === undefined) invalid(`process ${event.process} completes without an invocation`)
  if (event.f !== input.kind || event.key !== input.key) {
    const invoked = `${input.kind} ${JSON.stringify(input.key)}`
    invalid(`process ${event.process} completes ${event.f} but invoked ${invoked}`)
  }
  if (event.type === 'ok' && event.value === undefined) invalid('an ok event needs a value')
  const carriesResult = event.type === 'ok' && grammar.okCarriesResult(input)
  if (!carriesResult && event.value !== undefined && !grammar.sameArgument(input, event.value)) {
    invalid(`process ${event.process} completes with another argument than it invoked`)
  }
  if (event.swapped !== undefined && (event.type !== 'ok' || event.f !== 'cas')) {
    invalid('swapped is only allowed on a cas ok')
  }
  if (event.type === 'ok') recorder.ok(event.process, grammar.output(input, event), event.time)
  else if (event.type === 'fail') recorder.fail(event.process, event.time)
  else recorder.info(event.process, event.time)
}

// ---------------------------------------------------------------------------------------------
// Register grammar (Jepsen logs and JSON lines)

const registerGrammar: EventGrammar<RegisterInput, RegisterOutput> = {
  input(event) {
    const { key, value } = event
    switch (event.f) {
      case 'read':
        if (value !== null) invalid('a read is invoked with nil')
        return { kind: 'read', key }
      case 'write':
        return { kind: 'write', key, value: registerValue(value) }
      case 'cas': {
        const [expected, next] = registerPair(value)
        return { kind: 'cas', key, expected, value: next }
      }
      default:
        return invalid(`unknown register operation ${event.f}`)
    }
  },
  output(input, event) {
    switch (input.kind) {
      case 'read':
        return { kind: 'read', value: event.value === null ? null : registerValue(event.value) }
      case 'write':
        return { kind: 'write' }
      case 'cas':
        return { kind: 'cas', swapped: event.swapped ?? true }
    }
  },
  sameArgument(input, value) {
    switch (input.kind) {
      case 'read':
        return value === null
      case 'write':
        return value === input.value
      case 'cas':
        return Array.isArray(value) && value[0] === input.expected && value[1] === input.value
    }
  },
  okCarriesResult: (input) => input.kind === 'read',
}

function registerValue(value: unknown): RegisterValue {
  if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) {
    return value
  }
  return invalid(`expected a string or number, got ${JSON.stringify(value)}`)
}

function registerPair(value: unknown): readonly [RegisterValue, RegisterValue] {
  if (!Array.isArray(value) || value.length !== 2) invalid('a cas takes [expected new]')
  return [registerValue(value[0]), registerValue(value[1])]
}

// ---------------------------------------------------------------------------------------------
// Key-value grammar (EDN)

const keyValueGrammar: EventGrammar<KeyValueInput, KeyValueOutput> = {
  input(event) {
    const { key, value } = event
    switch (event.f) {
      case 'get':
        if (value !== null) invalid('a get is invoked with nil')
        return { kind: 'get', key }
      case 'put':
      case 'append':
        if (typeof value !== 'string') invalid(`a ${event.f} takes a string`)
        return { kind: event.f, key, value }
      default:
        return invalid(`unknown key-value operation ${event.f}`)
    }
  },
  output(input, event) {
    if (input.kind !== 'get') return { kind: input.kind }
    if (event.value !== null && typeof event.value !== 'string') invalid('a get reads a string')
    return { kind: 'get', value: event.value ?? '' }
  },
  sameArgument(input, value) {
    return input.kind === 'get' ? value === null : value === input.value
  },
  okCarriesResult: (input) => input.kind === 'get',
}

// ---------------------------------------------------------------------------------------------
// Jepsen 0.x register logs

const JEPSEN_LINE = /^INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(\S+)\s+:(\S+)\s+(.+?)\s*$/

/** Parses a Jepsen 0.x log of one CAS register (see the module comment). */
export function parseJepsenRegisterLog(
  text: string,
): RecordedHistory<RegisterInput, RegisterOutput> {
  return parseLines(text, registerGrammar, (line, lineNumber) => {
    const match = JEPSEN_LINE.exec(line)
    if (match === null) invalid('not a jepsen.util operation line')
    const [, process = '', type = '', f = '', value = ''] = match
    return {
      process: Number(process),
      type: eventType(type),
      f,
      key: '',
      value: jepsenValue(value),
      swapped: undefined,
      time: lineNumber,
    }
  })
}

/** `nil`, an integer, `[a b]` of integers, or a reason keyword (undefined). */
function jepsenValue(text: string): unknown {
  if (text === 'nil') return null
  if (/^-?\d+$/.test(text)) return safeInteger(text)
  const pair = /^\[(-?\d+)\s+(-?\d+)\]$/.exec(text)
  if (pair !== null) return [safeInteger(pair[1] ?? ''), safeInteger(pair[2] ?? '')]
  if (/^:[\w-]+$/.test(text)) return undefined
  return invalid(`unsupported value ${text}`)
}

function safeInteger(text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value)) invalid(`integer ${text} is out of range`)
  return value
}

function eventType(text: string): EventType {
  const type = EVENT_TYPES.find((candidate) => candidate === text)
  if (type === undefined) invalid(`unknown event type ${text}`)
  return type
}

// ---------------------------------------------------------------------------------------------
// Jepsen EDN key-value histories

const EDN_KEYS = new Set(['process', 'type', 'f', 'key', 'value', 'time', 'index'])

/** Parses a Jepsen EDN key-value history (see the module comment). */
export function parseKeyValueEdn(text: string): RecordedHistory<KeyValueInput, KeyValueOutput> {
  return parseLines(text, keyValueGrammar, (line, lineNumber) => {
    const map = readEdnMap(line)
    for (const key of map.keys()) if (!EDN_KEYS.has(key)) invalid(`unknown key :${key}`)
    const process = map.get('process')
    if (typeof process !== 'number') invalid(':process must be an integer')
    const key = map.get('key')
    if (typeof key !== 'string' && typeof key !== 'number') invalid(':key must be a string')
    if (!map.has('value')) invalid(':value is missing')
    const value = map.get('value')
    return {
      process,
      type: eventType(ednKeyword(map.get('type'), 'type')),
      f: ednKeyword(map.get('f'), 'f'),
      key: String(key),
      value: value instanceof EdnKeyword ? undefined : value,
      swapped: undefined,
      time: lineNumber,
    }
  })
}

function ednKeyword(value: EdnValue | undefined, name: string): string {
  if (!(value instanceof EdnKeyword)) invalid(`:${name} must be a keyword`)
  return value.name
}

// ---------------------------------------------------------------------------------------------
// murmur JSON-lines register histories

/** One event of murmur's JSON-lines register format (see the module comment). */
export interface JsonLinesEvent {
  readonly process: number
  readonly type: EventType
  readonly f: 'read' | 'write' | 'cas'
  readonly key: string
  readonly value?: RegisterState | readonly [RegisterValue, RegisterValue]
  readonly swapped?: boolean
  readonly timeMs: number
}

const JSON_KEYS = new Set(['process', 'type', 'f', 'key', 'value', 'swapped', 'timeMs'])

/** One line of the JSON-lines format, without the newline. */
export function formatJsonLinesEvent(event: JsonLinesEvent): string {
  const { process, type, f, key, value, swapped, timeMs } = event
  return JSON.stringify({ process, type, f, key, value, swapped, timeMs })
}

/** Parses murmur's JSON-lines register history (see the module comment). */
export function parseJsonLinesRegister(
  text: string,
): RecordedHistory<RegisterInput, RegisterOutput> {
  return parseLines(text, registerGrammar, (line) => {
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch (error) {
      return invalid(`malformed JSON (${error instanceof Error ? error.message : 'unknown'})`)
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      invalid('expected a JSON object')
    }
    const fields = parsed as Record<string, unknown>
    for (const name of Object.keys(fields))
      if (!JSON_KEYS.has(name)) invalid(`unknown field ${name}`)
    const { process, type, f, key, swapped, timeMs } = fields
    if (!Number.isSafeInteger(process)) invalid('process must be an integer')
    if (typeof type !== 'string' || typeof f !== 'string') invalid('type and f must be strings')
    if (typeof key !== 'string') invalid('key must be a string')
    if (swapped !== undefined && typeof swapped !== 'boolean') invalid('swapped must be a boolean')
    if (typeof timeMs !== 'number') invalid('timeMs must be a number')
    return {
      process: Number(process),
      type: eventType(type),
      f,
      key,
      value: fields['value'],
      swapped,
      time: timeMs,
    }
  })
}

function invalid(message: string): never {
  throw new MurmurError('invalid_request', message)
}
