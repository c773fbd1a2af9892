/**
 * Holds a leader's empty appends for a moment, so that the next append to the same follower
 * carries their news instead of a message of its own.
 *
 * Why. An append without entries only tells a follower the leader's commit index (or probes its
 * log). The core sends one to every follower as soon as an entry commits, so a client that
 * writes one key at a time costs every follower an extra wakeup and answer per write, and the
 * leader one more wakeup per follower, just before the append of the client's next write
 * carries the same commit index anyway. On a machine whose cores are busy, those wakeups are
 * what the next write waits behind.
 *
 * Contract. `route(messages)` returns, in order, the messages to send now:
 * - an empty append is held instead, for at most `holdMs`, after which `release` sends it as it
 *   is; a newer empty append in the same term replaces it;
 * - an append with entries in the same term replaces the held one for its follower: it carries
 *   a commit index at least as high, and the follower answers it instead;
 * - any other message to that follower goes out right after the held one, so messages to a
 *   peer keep their order (a lease-based read index, say, reaches a follower after the commit
 *   index it waits for).
 * Holding a message only delays it and replacing one only loses it, both of which Raft
 * tolerates: no safety property depends on these messages, and at most one message per
 * follower is ever held.
 */

import { assert } from '../../env/assert.js'
import type { Clock, Timer } from '../../env/clock.js'
import type { NodeId } from '../../env/transport.js'
import type { Message } from '../../raft/index.js'

export interface AppendHoldOptions {
  readonly clock: Clock
  readonly holdMs: number
  /** Sends messages whose hold ended. */
  readonly release: (messages: readonly Message[]) => void
  /** Called for each held append that a later append to the same follower replaced. */
  readonly onReplaced?: () => void
}

export class AppendHold {
  private readonly held = new Map<NodeId, Message>()
  private timer: Timer | undefined

  constructor(private readonly options: AppendHoldOptions) {
    const { holdMs } = options
    assert(Number.isFinite(holdMs) && holdMs > 0, `holdMs must be positive, got ${holdMs}`)
  }

  /** The messages of `messages` to send now, in order, with held ones put back in place. */
  route(messages: readonly Message[]): Message[] {
    const now: Message[] = []
    for (const message of messages) {
      const held = this.held.get(message.to)
      const sameTerm = held !== undefined && held.term === message.term
      if (held !== undefined) {
        this.held.delete(message.to)
        if (sameTerm && message.type === 'append') this.options.onReplaced?.()
        else now.push(held)
      }
      if (message.type === 'append' && message.entries.length === 0)
        this.held.set(message.to, message)
      else now.push(message)
    }
    this.arm()
    return now
  }

  /** Sends every held message now. */
  releaseAll(): void {
    this.timer?.cancel()
    this.timer = undefined
    if (this.held.size === 0) return
    const messages = [...this.held.values()]
    this.held.clear()
    this.options.release(messages)
  }

  /** Drops every held message (the node stops, or its storage failed). */
  stop(): void {
    this.timer?.cancel()
    this.timer = undefined
    this.held.clear()
  }

  /** Keeps one timer running while anything is held, and none otherwise. */
  private arm(): void {
    if (this.held.size === 0) {
      this.timer?.cancel()
      this.timer = undefined
      return
    }
    this.timer ??= this.options.clock.setTimer(this.options.holdMs, () => {
      this.timer = undefined
      this.releaseAll()
    })
  }
}
