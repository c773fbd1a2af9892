/**
 * The logging seam: structured records with a level, a message and fields. The runtime writes
 * JSON lines to stderr; tests and the simulator collect records in memory. Nothing logs a line
 * per request at the default level, and secrets never appear in fields.
 */

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export type LogFields = Readonly<Record<string, unknown>>

export interface Logger {
  trace(message: string, fields?: LogFields): void
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger
  isLevelEnabled(level: LogLevel): boolean
}

export interface LogRecord {
  readonly level: Exclude<LogLevel, 'silent'>
  readonly message: string
  readonly fields: LogFields
}

export type LogSink = (record: LogRecord) => void

const RANK: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  silent: 100,
}

/** A logger that forwards records at or above `level` to `sink`. */
export function createLogger(level: LogLevel, sink: LogSink, fields: LogFields = {}): Logger {
  const threshold = RANK[level]
  const emit =
    (recordLevel: Exclude<LogLevel, 'silent'>) => (message: string, extra?: LogFields) => {
      if (RANK[recordLevel] < threshold) return
      sink({
        level: recordLevel,
        message,
        fields: extra === undefined ? fields : { ...fields, ...extra },
      })
    }
  return {
    trace: emit('trace'),
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (extra) => createLogger(level, sink, { ...fields, ...extra }),
    isLevelEnabled: (candidate) => RANK[candidate] >= threshold,
  }
}

export const silentLogger: Logger = createLogger('silent', () => {})

/** A sink writing one JSON object per line, with a wall-clock timestamp. */
export function jsonLineSink(write: (line: string) => void, now: () => number = Date.now): LogSink {
  return (record) => {
    const line = {
      time: new Date(now()).toISOString(),
      level: record.level,
      msg: record.message,
      ...record.fields,
    }
    write(`${JSON.stringify(line, jsonReplacer)}\n`)
  }
}

/** How log fields become JSON: errors by name and message, bigints as text, bytes by length. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return `<${value.length} bytes>`
  return value
}
