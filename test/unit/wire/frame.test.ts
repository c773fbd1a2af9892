/**
 * Goal: the frame decoder recovers exactly the encoded payloads from any chunking of the
 * stream, and refuses hostile streams early.
 * Method: fast-check generates payload sequences and cut points; fixed cases build headers by
 * hand for oversized lengths and flip single bits for checksum detection.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  describeFrameError,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  frameBytes,
} from '../../../src/wire/frame.js'

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const total = parts.reduce((sum, part) => sum + part.length, 0)
  const joined = new Uint8Array(total)
  let offset = 0
  for (const part of parts) {
    joined.set(part, offset)
    offset += part.length
  }
  return joined
}

/** Splits `bytes` at the given offsets (any order, duplicates and out-of-range ones allowed). */
function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)
  const chunks: Uint8Array[] = []
  let start = 0
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, point))
    start = point
  }
  return chunks
}

function header(payloadBytes: number, checksum: number): Uint8Array {
  const bytes = new Uint8Array(FRAME_HEADER_BYTES)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, payloadBytes)
  view.setUint32(4, checksum)
  return bytes
}

const FRAME_BYTES_MAX = 4096

describe('frames', () => {
  it('decodes any payload sequence from any chunking of the stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (payloads, cuts) => {
          const stream = concat(payloads.map(encodeFrame))
          const decoder = new FrameDecoder(FRAME_BYTES_MAX)
          const decoded: Uint8Array[] = []
          for (const chunk of splitAt(stream, cuts)) {
            const batch = decoder.push(chunk)
            expect(batch.error).toBeUndefined()
            decoded.push(...batch.payloads)
          }
          expect(decoded).toEqual(payloads)
          expect(decoder.bufferedBytes).toBe(0)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('returns the payloads before a broken frame along with the error', () => {
    const good = encodeFrame(new Uint8Array([1, 2, 3]))
    const bad = encodeFrame(new Uint8Array([4, 5, 6]))
    bad[FRAME_HEADER_BYTES] = 9
    const batch = new FrameDecoder(FRAME_BYTES_MAX).push(concat([good, bad, good]))
    expect(batch.payloads).toEqual([new Uint8Array([1, 2, 3])])
    expect(batch.error?.kind).toBe('checksum_mismatch')
  })

  it('rejects an oversized length prefix as soon as the header is complete', () => {
    const decoder = new FrameDecoder(FRAME_BYTES_MAX)
    const announced = FRAME_BYTES_MAX - FRAME_HEADER_BYTES + 1
    // The header arrives split; nothing of the body has been sent yet.
    expect(decoder.push(header(announced, 0).subarray(0, 5)).error).toBeUndefined()
    const batch = decoder.push(header(announced, 0).subarray(5))
    expect(batch.error).toEqual({
      kind: 'oversized',
      frameBytes: frameBytes(announced),
      frameBytesMax: FRAME_BYTES_MAX,
    })
    expect(decoder.bufferedBytes).toBe(0)
    expect(describeFrameError(batch.error!)).toMatch(/exceeds the limit of 4096 bytes/)
  })

  it('does not buffer the body that follows an oversized header', () => {
    const decoder = new FrameDecoder(FRAME_BYTES_MAX)
    const body = new Uint8Array(2 * FRAME_BYTES_MAX)
    const batch = decoder.push(concat([header(0xffff_ffff, 0), body]))
    expect(batch.error?.kind).toBe('oversized')
    expect(decoder.bufferedBytes).toBe(0)
    // The stream has lost its framing: the decoder stays failed and keeps nothing.
    const later = decoder.push(encodeFrame(new Uint8Array([1])))
    expect(later.payloads).toEqual([])
    expect(later.error?.kind).toBe('oversized')
    expect(decoder.bufferedBytes).toBe(0)
  })

  it('accepts a frame of exactly frameBytesMax', () => {
    const payload = new Uint8Array(FRAME_BYTES_MAX - FRAME_HEADER_BYTES).fill(7)
    const batch = new FrameDecoder(FRAME_BYTES_MAX).push(encodeFrame(payload))
    expect(batch.error).toBeUndefined()
    expect(batch.payloads).toEqual([payload])
  })

  it('detects any single flipped bit in the checksum or the payload', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (payload, position, bit) => {
          const frame = encodeFrame(payload)
          // Bytes 4.. are the checksum and the payload; a flipped length changes the framing.
          const index = 4 + (position % (frame.length - 4))
          frame[index] = (frame[index] ?? 0) ^ (1 << bit)
          const batch = new FrameDecoder(FRAME_BYTES_MAX).push(frame)
          expect(batch.payloads).toEqual([])
          expect(batch.error?.kind).toBe('checksum_mismatch')
        },
      ),
      { numRuns: 300 },
    )
  })

  it('decodes empty payloads, including one whose header ends a chunk', () => {
    const decoder = new FrameDecoder(FRAME_BYTES_MAX)
    const first = decoder.push(encodeFrame(new Uint8Array(0)))
    expect(first.payloads).toEqual([new Uint8Array(0)])
    expect(decoder.bufferedBytes).toBe(0)
  })
})
