/**
 * The initiator's side of one anti-entropy exchange between two replicas of a (keyspace,
 * partition): a pure state machine that walks the peer's hash tree top-down and yields the
 * segments whose hashes differ, then `diffKeys`, which tells from the two replicas' key
 * lists of those segments which keys to pull and which to push.
 *
 * Protocol (the runtime carries each step over peer RPC):
 *   1. `next()` returns a request for some node hashes of one level, starting with the root.
 *      The runtime asks the peer and hands the answer to `answer()`.
 *   2. For every node whose hash differs from the local tree's, its 16 children are asked in
 *      the next level's round; equal subtrees are never visited again. A round asks at most
 *      `nodesPerMessageMax` nodes per message, so a level may take several messages.
 *   3. At the leaf level, the differing nodes are the differing segments (`differingSegments`)
 *      and `next()` returns undefined. With nodesPerMessageMax >= segments, that takes depth+1
 *      hash rounds, and one key round follows: depth+2 rounds for an exchange of bounded size.
 *   4. The runtime lists both replicas' keys (with their record hashes) in those segments and
 *      calls `diffKeys`: keys the peer holds in another state are pulled and merged, keys only
 *      this replica holds are pushed. Repair merges; it never overwrites.
 *
 * The local tree may change while an exchange runs; the walk compares whatever it holds at each
 * step, and the key comparison works on the records themselves, so a write racing the exchange
 * costs at most a spurious key comparison.
 */

import { assert } from '../../env/assert.js'
import { compareKeys } from '../names.js'
import {
  type HashTree,
  type KeyHash,
  keyHashesEqual,
  keyHashFromBytes,
  NODE_HASH_BYTES,
  TREE_FANOUT,
} from './tree.js'

export interface HashesRequest {
  readonly level: number
  /** Node indices at `level`, ascending. */
  readonly indices: readonly number[]
}

export class TreeExchange {
  private level = 0
  /** Nodes of the current level still to ask, ascending. */
  private toAsk: number[] = [0]
  /** Nodes of the current level found to differ, ascending. */
  private differing: number[] = []
  private inFlight: HashesRequest | undefined
  private finished = false
  private roundsCount = 0

  constructor(
    private readonly tree: HashTree,
    private readonly nodesPerMessageMax: number,
  ) {
    assert(
      Number.isSafeInteger(nodesPerMessageMax) && nodesPerMessageMax >= TREE_FANOUT,
      `nodesPerMessageMax ${nodesPerMessageMax} must hold one node's children`,
    )
  }

  get done(): boolean {
    return this.finished
  }

  /** Hash messages answered so far. */
  get rounds(): number {
    return this.roundsCount
  }

  /** The next request to send, or undefined once the walk reached the segments. */
  next(): HashesRequest | undefined {
    assert(this.inFlight === undefined, 'one request at a time')
    if (this.finished) return undefined
    const indices = this.toAsk.splice(0, this.nodesPerMessageMax)
    assert(indices.length > 0, 'a walk in progress always has nodes to ask')
    this.inFlight = { level: this.level, indices }
    return this.inFlight
  }

  /** The peer's hashes of the last request's nodes, 8 bytes each, in order. */
  answer(hashes: Uint8Array): void {
    const request = this.inFlight
    assert(request !== undefined, 'an answer needs a request')
    assert(hashes.length === request.indices.length * NODE_HASH_BYTES, 'one hash per node asked')
    this.inFlight = undefined
    this.roundsCount++
    request.indices.forEach((index, position) => {
      const remote = keyHashFromBytes(hashes, position * NODE_HASH_BYTES)
      if (!keyHashesEqual(this.tree.node(request.level, index), remote)) this.differing.push(index)
    })
    if (this.toAsk.length > 0) return
    if (this.level === this.tree.depth || this.differing.length === 0) {
      this.finished = true
      return
    }
    this.level++
    this.toAsk = this.differing.flatMap((parent) =>
      Array.from({ length: TREE_FANOUT }, (_, child) => parent * TREE_FANOUT + child),
    )
    this.differing = []
  }

  /** The segments whose hashes differ, ascending (empty when the trees are equal). */
  differingSegments(): number[] {
    assert(this.finished, 'segments are known once the walk is done')
    return this.level === this.tree.depth ? [...this.differing] : []
  }
}

export interface KeyEntry {
  readonly key: string
  readonly hash: KeyHash
}

export interface KeyDiff {
  /** Keys the peer holds in a state this replica does not: fetch and merge them. */
  readonly pull: string[]
  /** Keys only this replica holds: send them. */
  readonly push: string[]
  /** Distinct keys the two lists name. */
  readonly compared: number
}

/**
 * Compares two replicas' entries of the same key range and segments, each sorted by key with
 * no key twice.
 */
export function diffKeys(local: readonly KeyEntry[], remote: readonly KeyEntry[]): KeyDiff {
  const pull: string[] = []
  const push: string[] = []
  let at = 0
  let remoteAt = 0
  let compared = 0
  while (at < local.length || remoteAt < remote.length) {
    const mine = local[at]
    const theirs = remote[remoteAt]
    const order =
      mine === undefined ? 1 : theirs === undefined ? -1 : compareKeys(mine.key, theirs.key)
    if (order < 0 && mine !== undefined) {
      push.push(mine.key)
      at++
    } else if (order > 0 && theirs !== undefined) {
      pull.push(theirs.key)
      remoteAt++
    } else if (mine !== undefined && theirs !== undefined) {
      if (!keyHashesEqual(mine.hash, theirs.hash)) pull.push(theirs.key)
      at++
      remoteAt++
    }
    compared++
    assert(at <= local.length && remoteAt <= remote.length, 'the walk stays within both lists')
  }
  return { pull, push, compared }
}
