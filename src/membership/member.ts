/**
 * Members and SWIM's precedence rules. A member's liveness claim is (state, incarnation); only
 * the member itself raises its incarnation, to refute an accusation. `supersedes` is the single
 * place that decides whether an incoming claim replaces the recorded one, so every path that
 * learns a claim (gossip, push-pull, piggyback) applies the same rules.
 */

import type { PacketAddress } from '../env/transport.js'

export type MemberId = string
/** Small string facts about a member (zone, http and peer addresses), bounded by metaBytesMax. */
export type MemberMeta = Readonly<Record<string, string>>
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left'

export interface MemberSnapshot {
  readonly id: MemberId
  /** Where the member receives gossip datagrams. */
  readonly address: PacketAddress
  readonly meta: MemberMeta
  readonly incarnation: number
  readonly state: MemberState
  /** Local monotonic time of the last state change, as seen by the member holding the view. */
  readonly stateChangedMs: number
}

/** The largest incarnation; incarnations are u32 on the wire. */
export const INCARNATION_MAX = 0xffff_ffff

/** A claim about a member: `left` is the dead message a member sends about itself on leaving. */
export type ClaimKind = 'alive' | 'suspect' | 'dead' | 'left'

/**
 * Whether a claim (kind, incarnation) replaces the recorded (state, incarnation), per SWIM:
 * - alive(i) overrides any state at j < i;
 * - suspect(i) overrides alive(j) when i ≥ j and suspect(j) when i > j, never dead or left;
 * - dead(i) overrides alive or suspect at j ≤ i, never another dead or a left;
 * - left(i) overrides alive, suspect or dead at j ≤ i: a graceful leave is never a failure.
 * A suspect claim at the recorded incarnation of a suspect is a confirmation, not an override.
 */
export function supersedes(
  recorded: { readonly state: MemberState; readonly incarnation: number },
  claim: { readonly kind: ClaimKind; readonly incarnation: number },
): boolean {
  const newer = claim.incarnation > recorded.incarnation
  const notOlder = claim.incarnation >= recorded.incarnation
  switch (claim.kind) {
    case 'alive':
      return newer
    case 'suspect':
      if (recorded.state === 'alive') return notOlder
      if (recorded.state === 'suspect') return newer
      return false
    case 'dead':
      return (recorded.state === 'alive' || recorded.state === 'suspect') && notOlder
    case 'left':
      return recorded.state !== 'left' && notOlder
  }
}

/** UTF-8 byte length of a string, without allocating. */
export function utf8Bytes(text: string): number {
  let bytes = 0
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (code < 0x80) bytes += 1
    else if (code < 0x800) bytes += 2
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      bytes += 4
      index++
    } else bytes += 3
  }
  return bytes
}

/** Size of metadata as bounded by metaBytesMax: the UTF-8 bytes of every key and value. */
export function metaBytes(meta: MemberMeta): number {
  let bytes = 0
  for (const [key, value] of Object.entries(meta)) bytes += utf8Bytes(key) + utf8Bytes(value)
  return bytes
}

export function sameMeta(left: MemberMeta, right: MemberMeta): boolean {
  const leftKeys = Object.keys(left)
  if (leftKeys.length !== Object.keys(right).length) return false
  return leftKeys.every((key) => Object.hasOwn(right, key) && right[key] === left[key])
}
