/**
 * Reading request bodies under a size limit, in one place for every route. Behind a real HTTP
 * server the body is read straight from Node's IncomingMessage (no WHATWG Request is built,
 * which costs more than a small request's whole handling); in-process callers (the simulator,
 * tests) go through the standard body stream. Either way a declared Content-Length over the
 * limit is refused before reading, and a chunked body is refused as soon as it passes the
 * limit, so a client can never make the node buffer more than the limit.
 */

import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'
import { MurmurError } from '../env/errors.js'
import type { ApiEnv } from './app.js'

const EMPTY = new Uint8Array(0)

/** The Node request behind this context, when a real HTTP server is serving it. */
export function incomingOf(c: Context<ApiEnv>): IncomingMessage | undefined {
  const env = c.env as { incoming?: IncomingMessage } | undefined
  return env?.incoming
}

/** The declared Content-Length, or undefined when there is none (or it is not a number). */
export function declaredLength(c: Context<ApiEnv>): number | undefined {
  const incoming = incomingOf(c)
  const header =
    incoming === undefined ? c.req.header('content-length') : incoming.headers['content-length']
  if (header === undefined || header === '') return undefined
  const length = Number(header)
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined
}

export function payloadTooLarge(bytesMax: number): MurmurError {
  return new MurmurError('payload_too_large', `request body exceeds ${bytesMax} bytes`, {
    details: { limitBytes: bytesMax },
    definite: true,
  })
}

export function valueTooLarge(valueBytesMax: number): MurmurError {
  return new MurmurError('value_too_large', `a value holds at most ${valueBytesMax} bytes`, {
    details: { limitBytes: valueBytesMax },
    definite: true,
  })
}

/** The whole body, refused with `tooLarge()` once it would exceed `bytesMax`. */
export async function readBody(
  c: Context<ApiEnv>,
  bytesMax: number,
  tooLarge: () => MurmurError = () => payloadTooLarge(bytesMax),
): Promise<Uint8Array> {
  const declared = declaredLength(c)
  if (declared !== undefined && declared > bytesMax) throw tooLarge()
  const incoming = incomingOf(c)
  if (incoming !== undefined) return readIncoming(incoming, bytesMax, tooLarge)
  const stream = c.req.raw.body
  if (stream === null) return EMPTY
  const chunks: Uint8Array[] = []
  let length = 0
  for await (const chunk of stream) {
    length += chunk.length
    if (length > bytesMax) throw tooLarge()
    chunks.push(chunk)
  }
  return concat(chunks, length)
}

/** A value body: refused with 413 `value_too_large` beyond `valueBytesMax`. */
export function readValue(c: Context<ApiEnv>, valueBytesMax: number): Promise<Uint8Array> {
  return readBody(c, valueBytesMax, () => valueTooLarge(valueBytesMax))
}

/** A JSON body (empty means `{}`), refused with 400 when it is not a JSON object. */
export async function readJsonObject(
  c: Context<ApiEnv>,
  bytesMax: number,
): Promise<Record<string, unknown>> {
  const bytes = await readBody(c, bytesMax)
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  if (text.trim() === '') return {}
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new MurmurError('invalid_request', 'the request body is not valid JSON', {
      definite: true,
    })
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MurmurError('invalid_request', 'the request body must be a JSON object', {
      definite: true,
    })
  }
  return value as Record<string, unknown>
}

function readIncoming(
  incoming: IncomingMessage,
  bytesMax: number,
  tooLarge: () => MurmurError,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let length = 0
    let refused = false
    const onData = (chunk: Buffer) => {
      if (refused) return
      length += chunk.length
      if (length > bytesMax) {
        // Keep draining (and discarding) so the response can still be written.
        refused = true
        chunks.length = 0
        reject(tooLarge())
        return
      }
      chunks.push(chunk)
    }
    incoming.on('data', onData)
    incoming.once('end', () => {
      if (!refused) resolve(concat(chunks, length))
    })
    incoming.once('error', (error) => {
      if (!refused)
        reject(new MurmurError('invalid_request', 'the request body was cut off', { cause: error }))
    })
  })
}

/**
 * Bytes as a response body, without a copy when they already sit on an ArrayBuffer. A
 * Uint8Array body lets the Node adapter write it straight to the socket; an ArrayBuffer body
 * would build a full WHATWG Response and a body stream, which costs more than a whole read.
 */
export function responseBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.buffer instanceof ArrayBuffer) return bytes as Uint8Array<ArrayBuffer>
  return new Uint8Array(bytes)
}

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const whole = new Uint8Array(length)
  let offset = 0
  for (const chunk of chunks) {
    whole.set(chunk, offset)
    offset += chunk.length
  }
  return whole
}
