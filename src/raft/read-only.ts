/**
 * The leader's queue of ReadIndex requests awaiting leadership confirmation (thesis §6.4). Each
 * request records the commit index at arrival; the leader tags its heartbeats with the newest
 * request's context, and once a quorum of voters echoes a context, that request and every
 * earlier one are confirmed: no other leader can have committed anything newer at that moment.
 * Requests are keyed by their context, which callers keep unique; the queue is bounded.
 */

import { assert } from '../env/assert.js'
import type { NodeId } from './types.js'

export interface ReadRequest {
  readonly key: string
  readonly context: Uint8Array
  readonly index: number
  /** The node that asked: the leader itself or a follower to answer by message. */
  readonly from: NodeId
  readonly acks: Set<NodeId>
}

export function contextKey(context: Uint8Array): string {
  let key = ''
  for (const byte of context) key += byte.toString(16).padStart(2, '0')
  return key
}

export class ReadOnlyQueue {
  private readonly pending = new Map<string, ReadRequest>()
  private order: string[] = []

  constructor(private readonly requestsMax: number) {
    assert(requestsMax > 0, 'read queue needs room')
  }

  get size(): number {
    return this.order.length
  }

  /** Queues a request; false when the queue is full or the context is already pending. */
  add(index: number, from: NodeId, context: Uint8Array): boolean {
    assert(context.length > 0, 'read contexts are never empty')
    const key = contextKey(context)
    if (this.pending.has(key) || this.order.length >= this.requestsMax) return false
    this.pending.set(key, { key, context, index, from, acks: new Set() })
    this.order.push(key)
    return true
  }

  /** Records `from`'s echo of `context`; returns the request's acknowledgers, if pending. */
  recordAck(from: NodeId, context: Uint8Array): ReadonlySet<NodeId> | undefined {
    const request = this.pending.get(contextKey(context))
    if (request === undefined) return undefined
    request.acks.add(from)
    return request.acks
  }

  /** Removes and returns the request for `context` and every request queued before it. */
  release(context: Uint8Array): ReadRequest[] {
    const key = contextKey(context)
    const position = this.order.indexOf(key)
    if (position < 0) return []
    const released = this.order.slice(0, position + 1).map((each) => {
      const request = this.pending.get(each)
      assert(request !== undefined, 'read queue order and map disagree')
      this.pending.delete(each)
      return request
    })
    this.order = this.order.slice(position + 1)
    return released
  }

  /** The newest pending context, which heartbeats carry; empty when nothing is pending. */
  lastPendingContext(): Uint8Array {
    const key = this.order[this.order.length - 1]
    if (key === undefined) return new Uint8Array(0)
    const request = this.pending.get(key)
    assert(request !== undefined, 'read queue order and map disagree')
    return request.context
  }

  reset(): void {
    this.pending.clear()
    this.order = []
  }
}
