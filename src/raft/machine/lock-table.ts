/**
 * Locks with fencing tokens, as replicated state. A lock's token is the log index of the entry
 * that acquired it, so tokens only grow, per lock and across locks. A lease expires by
 * state-machine time (the leader stamps each command with its clock; replicas never read their
 * own), so every replica agrees on whether a lock was held when a command applied.
 *
 * Why fencing: a holder can pause (GC, SIGSTOP, a slow network) past its lease, and another
 * client then acquires the lock. The paused holder cannot know, so the store must refuse its
 * late writes: a write fenced with a token is applied only while that token is the lock's
 * newest, not released and not expired, which Jepsen found etcd's locks lack. A lock's record
 * stays after release or expiry, so its newest token is never forgotten.
 */

import { assert, unreachable } from '../../env/assert.js'
import { MurmurError } from '../../env/errors.js'
import type { Command, CommandResult, Fence, LockCommand, Refusal } from './commands.js'
import type { ApplyContext, MachineModule } from './module.js'

interface LockState {
  readonly token: number
  readonly expiresAtMs: number
  readonly released: boolean
}

/** Per-lock bookkeeping counted toward the state limit, besides the name. */
const LOCK_OVERHEAD_BYTES = 48

function lockBytes(name: string): number {
  return LOCK_OVERHEAD_BYTES + name.length * 2
}

type StaleRefusal = Extract<Refusal, { code: 'stale_token' }>

function stale(reason: StaleRefusal['reason']): StaleRefusal {
  return { ok: false, code: 'stale_token', reason }
}

export class LockTable implements MachineModule {
  readonly name = 'locks'
  readonly commandTypes = ['lock.acquire', 'lock.renew', 'lock.release'] as const
  private readonly locks = new Map<string, LockState>()
  private bytesHeld = 0

  get bytes(): number {
    return this.bytesHeld
  }

  /** The lock's state, for status views and tests. */
  get(name: string): LockState | undefined {
    return this.locks.get(name)
  }

  /** Why a write fenced with `fence` must be refused at `nowMs`, or undefined to allow it. */
  checkFence(fence: Fence, nowMs: number): StaleRefusal | undefined {
    const lock = this.locks.get(fence.lock)
    if (lock === undefined) return stale('unknown_lock')
    if (fence.token > lock.token) return stale('never_issued')
    if (fence.token < lock.token) return stale('superseded')
    if (lock.released) return stale('released')
    if (nowMs >= lock.expiresAtMs) return stale('expired')
    return undefined
  }

  apply(command: Command, context: ApplyContext): CommandResult {
    const lockCommand = command as LockCommand
    switch (lockCommand.type) {
      case 'lock.acquire':
        return this.acquire(lockCommand.name, lockCommand.ttlMs, context)
      case 'lock.renew': {
        const refusal = this.checkFence(
          { lock: lockCommand.name, token: lockCommand.token },
          context.nowMs,
        )
        if (refusal !== undefined) return refusal
        const expiresAtMs = context.nowMs + lockCommand.ttlMs
        this.locks.set(lockCommand.name, { token: lockCommand.token, expiresAtMs, released: false })
        return { ok: true, token: lockCommand.token, expiresAtMs }
      }
      case 'lock.release':
        return this.release(lockCommand.name, lockCommand.token)
      default:
        return unreachable(lockCommand)
    }
  }

  private acquire(name: string, ttlMs: number, context: ApplyContext): CommandResult {
    const existing = this.locks.get(name)
    if (existing !== undefined && !existing.released && context.nowMs < existing.expiresAtMs) {
      return { ok: false, code: 'lock_held', expiresAtMs: existing.expiresAtMs }
    }
    if (existing === undefined) {
      const bytes = lockBytes(name)
      if (bytes > context.bytesAvailable) return { ok: false, code: 'state_full' }
      this.bytesHeld += bytes
    }
    assert(existing === undefined || existing.token < context.index, 'lock tokens only grow')
    const expiresAtMs = context.nowMs + ttlMs
    this.locks.set(name, { token: context.index, expiresAtMs, released: false })
    return { ok: true, token: context.index, expiresAtMs }
  }

  /** Releasing is idempotent for the current token, even after expiry: nobody else holds it. */
  private release(name: string, token: number): CommandResult {
    const lock = this.locks.get(name)
    if (lock === undefined) return stale('unknown_lock')
    if (token > lock.token) return stale('never_issued')
    if (token < lock.token) return stale('superseded')
    this.locks.set(name, { token, expiresAtMs: lock.expiresAtMs, released: true })
    return { ok: true, token, expiresAtMs: null }
  }

  snapshot(): unknown {
    const rows: [string, number, number, boolean][] = []
    for (const [name, lock] of this.locks) {
      rows.push([name, lock.token, lock.expiresAtMs, lock.released])
    }
    return rows
  }

  restore(section: unknown): void {
    if (!Array.isArray(section)) throw malformed('must be a list')
    this.locks.clear()
    this.bytesHeld = 0
    for (const row of section) {
      if (!Array.isArray(row) || row.length !== 4)
        throw malformed('rows are [name, token, expiry, released]')
      const [name, token, expiresAtMs, released] = row as unknown[]
      if (
        typeof name !== 'string' ||
        !Number.isSafeInteger(token) ||
        !Number.isSafeInteger(expiresAtMs) ||
        typeof released !== 'boolean'
      ) {
        throw malformed('a row has a field of the wrong type')
      }
      this.locks.set(name, { token: token as number, expiresAtMs: expiresAtMs as number, released })
      this.bytesHeld += lockBytes(name)
    }
  }
}

function malformed(problem: string): MurmurError {
  return new MurmurError('corrupt_record', `strong snapshot section locks: ${problem}`)
}
