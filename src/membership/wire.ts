/**
 * The gossip wire format. A packet is `version u8 | type u8 | msgpack body | CRC-32 u32` (the
 * CRC, big-endian, covers everything before it). A compound packet's body is a msgpack array of
 * parts, each part `type u8 | msgpack body`, so several messages share one datagram. Push-pull
 * state uses the same framing but travels over the peer transport and is not bound by the
 * datagram size.
 *
 * `decodePacket` and `decodePushPull` are the only places that trust bytes from the network:
 * they check size, version, checksum, type and every field (lengths, integer ranges, address
 * syntax, metadata bounds) and return a typed rejection instead of throwing. With a cluster
 * secret, datagrams are sealed and authenticated below this format, by the UDP transport
 * (src/runtime/security/gossip-seal.ts): the core then sees only packets that opened, and its
 * `packetBytesMax` is the datagram limit less the seal's overhead (src/runtime/process.ts).
 */

import { checksum, decode, encode, PROTOCOL_VERSION } from '../wire/codec.js'
import {
  INCARNATION_MAX,
  type MemberId,
  type MemberMeta,
  type MemberState,
  metaBytes,
} from './member.js'

export const MESSAGE_TYPES = {
  ping: 1,
  pingReq: 2,
  ack: 3,
  nack: 4,
  alive: 5,
  suspect: 6,
  dead: 7,
  compound: 8,
  pushPull: 9,
} as const

export type PingMessage = {
  readonly type: 'ping'
  readonly seq: number
  /** The member the sender means to reach; empty for a join ping to a seed address. */
  readonly targetId: MemberId
  readonly sourceId: MemberId
  readonly sourceIncarnation: number
}
export type PingReqMessage = {
  readonly type: 'pingReq'
  readonly seq: number
  readonly targetId: MemberId
  readonly targetAddress: string
  readonly wantNack: boolean
  readonly sourceId: MemberId
}
export type AckMessage = {
  readonly type: 'ack'
  readonly seq: number
  readonly sourceId: MemberId
  readonly sourceIncarnation: number
}
export type NackMessage = {
  readonly type: 'nack'
  readonly seq: number
  readonly sourceId: MemberId
}
export type AliveMessage = {
  readonly type: 'alive'
  readonly incarnation: number
  readonly id: MemberId
  readonly address: string
  readonly meta: MemberMeta
}
export type SuspectMessage = {
  readonly type: 'suspect'
  readonly incarnation: number
  readonly id: MemberId
  readonly fromId: MemberId
}
/** A dead message whose `fromId` equals `id` is the member's own graceful leave. */
export type DeadMessage = {
  readonly type: 'dead'
  readonly incarnation: number
  readonly id: MemberId
  readonly fromId: MemberId
}

export type GossipMessage =
  | PingMessage
  | PingReqMessage
  | AckMessage
  | NackMessage
  | AliveMessage
  | SuspectMessage
  | DeadMessage

export interface PushPullEntry {
  readonly id: MemberId
  readonly address: string
  readonly meta: MemberMeta
  readonly incarnation: number
  readonly state: MemberState
}

export interface PushPullMessage {
  readonly join: boolean
  readonly senderId: MemberId
  readonly members: readonly PushPullEntry[]
}

/** Why bytes or a message were dropped; counted per reason by the core. */
export type RejectReason =
  | 'too_short'
  | 'oversized'
  | 'wrong_version'
  | 'bad_checksum'
  | 'malformed'
  | 'unknown_type'
  | 'invalid_field'
  | 'nested_compound'
  | 'wrong_target'
  | 'unknown_member'
  | 'absurd_incarnation'
  | 'address_conflict'
  | 'members_full'
  | 'relays_full'

export const REJECT_REASONS: readonly RejectReason[] = [
  'too_short',
  'oversized',
  'wrong_version',
  'bad_checksum',
  'malformed',
  'unknown_type',
  'invalid_field',
  'nested_compound',
  'wrong_target',
  'unknown_member',
  'absurd_incarnation',
  'address_conflict',
  'members_full',
  'relays_full',
]

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: RejectReason }

export const MEMBER_ID_LENGTH_MAX = 128
export const ADDRESS_LENGTH_MAX = 262
const META_KEYS_MAX = 32
/** Bound on messages in one compound packet. */
export const PARTS_COUNT_MAX = 255
/** Bound on a push-pull state, whatever the member table bound says. */
export const PUSH_PULL_BYTES_MAX = 16 * 1024 * 1024
const VERSION_BYTES = 1
const TYPE_BYTES = 1
const CHECKSUM_BYTES = 4
/** Fixed bytes of a compound packet: version, type, checksum and a msgpack array16 header. */
export const COMPOUND_OVERHEAD_BYTES = VERSION_BYTES + TYPE_BYTES + CHECKSUM_BYTES + 3
/** The smallest packet that can carry a message. */
const PACKET_BYTES_MIN = VERSION_BYTES + TYPE_BYTES + 1 + CHECKSUM_BYTES

/** Bytes one part adds to a compound packet: the part plus its msgpack bin header. */
export function partCostBytes(partBytes: number): number {
  if (partBytes < 0x100) return partBytes + 2
  if (partBytes < 0x1_0000) return partBytes + 3
  return partBytes + 5
}

function stateCode(state: MemberState): number {
  return state === 'alive' ? 0 : state === 'suspect' ? 1 : state === 'dead' ? 2 : 3
}

const STATES_BY_CODE: readonly MemberState[] = ['alive', 'suspect', 'dead', 'left']

/** Metadata on the wire: a flat [key, value, ...] array in key order, so encoding is canonical. */
function encodeMeta(meta: MemberMeta): string[] {
  const flat: string[] = []
  for (const key of Object.keys(meta).sort()) flat.push(key, meta[key] ?? '')
  return flat
}

function messageBody(message: GossipMessage): unknown[] {
  switch (message.type) {
    case 'ping':
      return [message.seq, message.targetId, message.sourceId, message.sourceIncarnation]
    case 'pingReq':
      return [
        message.seq,
        message.targetId,
        message.targetAddress,
        message.wantNack,
        message.sourceId,
      ]
    case 'ack':
      return [message.seq, message.sourceId, message.sourceIncarnation]
    case 'nack':
      return [message.seq, message.sourceId]
    case 'alive':
      return [message.incarnation, message.id, message.address, encodeMeta(message.meta)]
    case 'suspect':
    case 'dead':
      return [message.incarnation, message.id, message.fromId]
  }
}

/** One message as a part: type byte then msgpack body. */
export function encodePart(message: GossipMessage): Uint8Array {
  return withTypeByte(MESSAGE_TYPES[message.type], encode(messageBody(message)))
}

function withTypeByte(type: number, body: Uint8Array): Uint8Array {
  const part = new Uint8Array(TYPE_BYTES + body.length)
  part[0] = type
  part.set(body, TYPE_BYTES)
  return part
}

function sealFrame(part: Uint8Array): Uint8Array {
  const frame = new Uint8Array(VERSION_BYTES + part.length + CHECKSUM_BYTES)
  frame[0] = PROTOCOL_VERSION
  frame.set(part, VERSION_BYTES)
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  view.setUint32(frame.length - CHECKSUM_BYTES, checksum(frame.subarray(0, frame.length - 4)))
  return frame
}

/** A datagram holding the parts: a plain packet for one part, a compound packet for more. */
export function framePacket(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return sealFrame(parts[0])
  return sealFrame(withTypeByte(MESSAGE_TYPES.compound, encode(parts)))
}

export function encodePushPull(message: PushPullMessage): Uint8Array {
  const members = message.members.map((entry) => [
    entry.id,
    entry.address,
    encodeMeta(entry.meta),
    entry.incarnation,
    stateCode(entry.state),
  ])
  return sealFrame(
    withTypeByte(MESSAGE_TYPES.pushPull, encode([message.join, message.senderId, members])),
  )
}

/**
 * Checks size, version and checksum, and returns the type byte and msgpack body. The one
 * gate every byte from the network passes.
 */
function openFrame(
  bytes: Uint8Array,
  bytesMax: number,
): Decoded<{ type: number; body: Uint8Array }> {
  if (bytes.length < PACKET_BYTES_MIN) return { ok: false, reason: 'too_short' }
  if (bytes.length > bytesMax) return { ok: false, reason: 'oversized' }
  if (bytes[0] !== PROTOCOL_VERSION) return { ok: false, reason: 'wrong_version' }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const stored = view.getUint32(bytes.length - CHECKSUM_BYTES)
  if (checksum(bytes.subarray(0, bytes.length - CHECKSUM_BYTES)) !== stored) {
    return { ok: false, reason: 'bad_checksum' }
  }
  const type = bytes[VERSION_BYTES] ?? 0
  return {
    ok: true,
    value: { type, body: bytes.subarray(VERSION_BYTES + TYPE_BYTES, bytes.length - 4) },
  }
}

function decodeBody(body: Uint8Array): Decoded<unknown> {
  try {
    return { ok: true, value: decode(body) }
  } catch {
    return { ok: false, reason: 'malformed' }
  }
}

export interface PacketLimits {
  readonly packetBytesMax: number
  readonly metaBytesMax: number
}

/** Decodes a datagram into its messages, or says why it was rejected. Never throws. */
export function decodePacket(bytes: Uint8Array, limits: PacketLimits): Decoded<GossipMessage[]> {
  const frame = openFrame(bytes, limits.packetBytesMax)
  if (!frame.ok) return frame
  if (frame.value.type !== MESSAGE_TYPES.compound) {
    const message = decodeMessage(frame.value.type, frame.value.body, limits)
    return message.ok ? { ok: true, value: [message.value] } : message
  }
  const body = decodeBody(frame.value.body)
  if (!body.ok) return body
  const parts = body.value
  if (!Array.isArray(parts) || parts.length === 0 || parts.length > PARTS_COUNT_MAX) {
    return { ok: false, reason: 'invalid_field' }
  }
  const messages: GossipMessage[] = []
  for (const part of parts) {
    if (!(part instanceof Uint8Array) || part.length < TYPE_BYTES + 1) {
      return { ok: false, reason: 'invalid_field' }
    }
    const type = part[0] ?? 0
    if (type === MESSAGE_TYPES.compound) return { ok: false, reason: 'nested_compound' }
    const message = decodeMessage(type, part.subarray(TYPE_BYTES), limits)
    if (!message.ok) return message
    messages.push(message.value)
  }
  return { ok: true, value: messages }
}

function decodeMessage(
  type: number,
  bytes: Uint8Array,
  limits: PacketLimits,
): Decoded<GossipMessage> {
  if (type < MESSAGE_TYPES.ping || type > MESSAGE_TYPES.dead) {
    return { ok: false, reason: 'unknown_type' }
  }
  const body = decodeBody(bytes)
  if (!body.ok) return body
  const fields = body.value
  if (!Array.isArray(fields)) return { ok: false, reason: 'invalid_field' }
  const message = parseFields(type, fields, limits)
  return message === undefined
    ? { ok: false, reason: 'invalid_field' }
    : { ok: true, value: message }
}

function parseFields(
  type: number,
  fields: readonly unknown[],
  limits: PacketLimits,
): GossipMessage | undefined {
  const [first, second, third, fourth, fifth] = fields
  switch (type) {
    case MESSAGE_TYPES.ping:
      if (fields.length !== 4 || !isU32(first) || !isTargetId(second) || !isMemberId(third)) break
      if (!isU32(fourth)) break
      return {
        type: 'ping',
        seq: first,
        targetId: second,
        sourceId: third,
        sourceIncarnation: fourth,
      }
    case MESSAGE_TYPES.pingReq:
      if (fields.length !== 5 || !isU32(first) || !isMemberId(second) || !isAddress(third)) break
      if (typeof fourth !== 'boolean' || !isMemberId(fifth)) break
      return {
        type: 'pingReq',
        seq: first,
        targetId: second,
        targetAddress: third,
        wantNack: fourth,
        sourceId: fifth,
      }
    case MESSAGE_TYPES.ack:
      if (fields.length !== 3 || !isU32(first) || !isMemberId(second) || !isU32(third)) break
      return { type: 'ack', seq: first, sourceId: second, sourceIncarnation: third }
    case MESSAGE_TYPES.nack:
      if (fields.length !== 2 || !isU32(first) || !isMemberId(second)) break
      return { type: 'nack', seq: first, sourceId: second }
    case MESSAGE_TYPES.alive: {
      if (fields.length !== 4 || !isU32(first) || !isMemberId(second) || !isAddress(third)) break
      const meta = parseMeta(fourth, limits.metaBytesMax)
      if (meta === undefined) break
      return { type: 'alive', incarnation: first, id: second, address: third, meta }
    }
    case MESSAGE_TYPES.suspect:
    case MESSAGE_TYPES.dead:
      if (fields.length !== 3 || !isU32(first) || !isMemberId(second) || !isMemberId(third)) break
      return {
        type: type === MESSAGE_TYPES.suspect ? 'suspect' : 'dead',
        incarnation: first,
        id: second,
        fromId: third,
      }
  }
  return undefined
}

export interface PushPullLimits {
  readonly metaBytesMax: number
  readonly membersCountMax: number
}

/** Decodes a push-pull state, or says why it was rejected. Never throws. */
export function decodePushPull(
  bytes: Uint8Array,
  limits: PushPullLimits,
): Decoded<PushPullMessage> {
  const frame = openFrame(bytes, PUSH_PULL_BYTES_MAX)
  if (!frame.ok) return frame
  if (frame.value.type !== MESSAGE_TYPES.pushPull) return { ok: false, reason: 'unknown_type' }
  const body = decodeBody(frame.value.body)
  if (!body.ok) return body
  const fields = body.value
  if (!Array.isArray(fields) || fields.length !== 3) return { ok: false, reason: 'invalid_field' }
  const [join, senderId, entries] = fields
  if (typeof join !== 'boolean' || !isMemberId(senderId) || !Array.isArray(entries)) {
    return { ok: false, reason: 'invalid_field' }
  }
  if (entries.length > limits.membersCountMax) return { ok: false, reason: 'oversized' }
  const members: PushPullEntry[] = []
  for (const entry of entries) {
    const parsed = parsePushPullEntry(entry, limits.metaBytesMax)
    if (parsed === undefined) return { ok: false, reason: 'invalid_field' }
    members.push(parsed)
  }
  return { ok: true, value: { join, senderId, members } }
}

function parsePushPullEntry(entry: unknown, metaBytesMax: number): PushPullEntry | undefined {
  if (!Array.isArray(entry) || entry.length !== 5) return undefined
  const [id, address, metaFlat, incarnation, code] = entry
  if (!isMemberId(id) || !isAddress(address) || !isU32(incarnation)) return undefined
  const state = typeof code === 'number' ? STATES_BY_CODE[code] : undefined
  const meta = parseMeta(metaFlat, metaBytesMax)
  if (state === undefined || meta === undefined) return undefined
  return { id, address, meta, incarnation, state }
}

function parseMeta(value: unknown, metaBytesMax: number): MemberMeta | undefined {
  if (!Array.isArray(value) || value.length % 2 !== 0 || value.length > META_KEYS_MAX * 2) {
    return undefined
  }
  const entries: [string, string][] = []
  for (let index = 0; index < value.length; index += 2) {
    const key: unknown = value[index]
    const item: unknown = value[index + 1]
    if (typeof key !== 'string' || typeof item !== 'string' || key.length === 0) return undefined
    const previous = entries[entries.length - 1]
    // Keys must be strictly increasing: canonical and free of duplicates.
    if (previous !== undefined && !(previous[0] < key)) return undefined
    entries.push([key, item])
  }
  const meta: MemberMeta = Object.freeze(Object.fromEntries(entries))
  return metaBytes(meta) <= metaBytesMax ? meta : undefined
}

function isU32(value: unknown): value is number {
  return (
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= INCARNATION_MAX
  )
}

function isMemberId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MEMBER_ID_LENGTH_MAX
}

function isTargetId(value: unknown): value is string {
  return value === '' || isMemberId(value)
}

/** `host:port` or `[v6]:port`, with a port from 1 to 65535 and no whitespace or controls. */
export function isAddress(value: unknown): value is string {
  if (typeof value !== 'string' || value.length < 3 || value.length > ADDRESS_LENGTH_MAX) {
    return false
  }
  const colon = value.lastIndexOf(':')
  const portDigits = value.length - colon - 1
  if (colon <= 0 || portDigits < 1 || portDigits > 5) return false
  let port = 0
  for (let index = colon + 1; index < value.length; index++) {
    const digit = value.charCodeAt(index) - 48
    if (digit < 0 || digit > 9) return false
    port = port * 10 + digit
  }
  for (let index = 0; index < colon; index++) {
    if (value.charCodeAt(index) <= 0x20) return false
  }
  return port >= 1 && port <= 65_535
}
