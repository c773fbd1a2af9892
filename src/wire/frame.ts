/**
 * Frames: how peer messages are delimited on a byte stream. A frame is
 *
 *   u32 payload length (big-endian) | u32 CRC-32 of the payload (big-endian) | payload
 *
 * `encodeFrame` builds one; `FrameDecoder` turns a stream of arbitrarily split or packed chunks
 * back into payloads. The decoder never trusts the stream: a length prefix that would exceed
 * `frameBytesMax` is rejected as soon as the header is complete, before any of the body is
 * buffered, and a checksum mismatch is reported instead of a payload. Both are typed results,
 * not exceptions, so a transport can count them and drop the connection. A decoder that
 * reported an error stays failed: the stream has lost its framing and nothing after the error
 * can be trusted.
 */

import { assert, assertNonNegativeInteger } from '../env/assert.js'
import { checksum } from './codec.js'

export const FRAME_HEADER_BYTES = 8

/** The length field is a u32, so no payload can be longer than this. */
export const FRAME_PAYLOAD_BYTES_LIMIT = 0xffff_ffff

/** Bytes on the wire of a frame carrying `payloadBytes` of payload. */
export function frameBytes(payloadBytes: number): number {
  return FRAME_HEADER_BYTES + payloadBytes
}

/** The frame carrying `payload`, in one freshly allocated buffer. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  assert(
    payload.length <= FRAME_PAYLOAD_BYTES_LIMIT,
    `frame payload of ${payload.length} bytes exceeds the u32 length field`,
  )
  const frame = new Uint8Array(frameBytes(payload.length))
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  view.setUint32(0, payload.length)
  view.setUint32(4, checksum(payload))
  frame.set(payload, FRAME_HEADER_BYTES)
  return frame
}

export type FrameError =
  | {
      readonly kind: 'oversized'
      /** The size the length prefix announced, header included. */
      readonly frameBytes: number
      readonly frameBytesMax: number
    }
  | { readonly kind: 'checksum_mismatch'; readonly expected: number; readonly actual: number }

/** A one-line description of a frame error, for logs and events. */
export function describeFrameError(error: FrameError): string {
  switch (error.kind) {
    case 'oversized':
      return `frame of ${error.frameBytes} bytes exceeds the limit of ${error.frameBytesMax} bytes`
    case 'checksum_mismatch':
      return `frame checksum mismatch (sent ${error.expected}, computed ${error.actual})`
  }
}

export interface FrameBatch {
  /** Complete, verified payloads in stream order. They may share memory with pushed chunks. */
  readonly payloads: Uint8Array[]
  /** Set when the stream is broken; the payloads before the error are still valid. */
  readonly error: FrameError | undefined
}

export class FrameDecoder {
  readonly frameBytesMax: number
  private readonly header = new Uint8Array(FRAME_HEADER_BYTES)
  private readonly headerView = new DataView(this.header.buffer)
  private headerBytesFilled = 0
  /** Set while a frame's body is being collected: its announced length and checksum. */
  private body: { readonly bytes: number; readonly checksum: number } | undefined
  /** Body pieces received so far; joined once, when the body is complete. */
  private bodyChunks: Uint8Array[] = []
  private bodyBytesFilled = 0
  private failure: FrameError | undefined

  /** `frameBytesMax` bounds a whole frame, header included. */
  constructor(frameBytesMax: number) {
    assertNonNegativeInteger(frameBytesMax, 'frameBytesMax')
    assert(
      frameBytesMax >= FRAME_HEADER_BYTES,
      `frameBytesMax ${frameBytesMax} cannot hold a header`,
    )
    this.frameBytesMax = frameBytesMax
  }

  /** The error that broke the stream, if any. */
  get error(): FrameError | undefined {
    return this.failure
  }

  /** Bytes held for a frame that is not complete yet. */
  get bufferedBytes(): number {
    return this.headerBytesFilled + this.bodyBytesFilled
  }

  /** Feeds the next chunk of the stream; returns the payloads it completed. */
  push(chunk: Uint8Array): FrameBatch {
    const payloads: Uint8Array[] = []
    let offset = 0
    // Bounded by the chunk: every pass consumes at least one byte of it.
    while (this.failure === undefined && offset < chunk.length) {
      const rest = chunk.subarray(offset)
      offset += this.body === undefined ? this.takeHeader(rest) : this.takeBody(rest)
      // A header announcing an empty body completes its frame without consuming more bytes.
      if (this.body !== undefined && this.bodyBytesFilled === this.body.bytes) {
        const payload = this.completeFrame()
        if (payload !== undefined) payloads.push(payload)
      }
    }
    return { payloads, error: this.failure }
  }

  /** Consumes header bytes from `bytes`; returns how many it took. */
  private takeHeader(bytes: Uint8Array): number {
    const taken = Math.min(FRAME_HEADER_BYTES - this.headerBytesFilled, bytes.length)
    this.header.set(bytes.subarray(0, taken), this.headerBytesFilled)
    this.headerBytesFilled += taken
    if (this.headerBytesFilled < FRAME_HEADER_BYTES) return taken
    this.headerBytesFilled = 0
    const payloadBytes = this.headerView.getUint32(0)
    const announcedBytes = frameBytes(payloadBytes)
    if (announcedBytes > this.frameBytesMax) {
      this.failure = {
        kind: 'oversized',
        frameBytes: announcedBytes,
        frameBytesMax: this.frameBytesMax,
      }
      return taken
    }
    this.body = { bytes: payloadBytes, checksum: this.headerView.getUint32(4) }
    return taken
  }

  /** Consumes body bytes from `bytes`; returns how many it took. */
  private takeBody(bytes: Uint8Array): number {
    assert(this.body !== undefined, 'takeBody without a header')
    const taken = Math.min(this.body.bytes - this.bodyBytesFilled, bytes.length)
    this.bodyChunks.push(bytes.subarray(0, taken))
    this.bodyBytesFilled += taken
    return taken
  }

  /** Joins and verifies the finished body; returns it, or undefined after recording a failure. */
  private completeFrame(): Uint8Array | undefined {
    assert(this.body !== undefined, 'completeFrame without a header')
    const expected = this.body.checksum
    const payload = joinChunks(this.bodyChunks, this.body.bytes)
    this.body = undefined
    this.bodyChunks = []
    this.bodyBytesFilled = 0
    const actual = checksum(payload)
    if (actual !== expected) {
      this.failure = { kind: 'checksum_mismatch', expected, actual }
      return undefined
    }
    return payload
  }
}

function joinChunks(chunks: readonly Uint8Array[], totalBytes: number): Uint8Array {
  const only = chunks[0]
  if (chunks.length === 1 && only !== undefined) return only
  const joined = new Uint8Array(totalBytes)
  let offset = 0
  for (const chunk of chunks) {
    joined.set(chunk, offset)
    offset += chunk.length
  }
  assert(offset === totalBytes, `joined ${offset} bytes, expected ${totalBytes}`)
  return joined
}
