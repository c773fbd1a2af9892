/**
 * Client request ids, remembered so that a retried write applies once. The first entry that
 * carries an id is applied and its result remembered; a later entry with the same id is not
 * applied again and answers the remembered result, whichever node the retry went through.
 *
 * The window is bounded both ways, deterministically: an id is forgotten once state-machine
 * time has passed its stamp by `ttlMs`, or when more than `countMax` newer ids arrived. A retry
 * outside the window applies again, so clients retry within it (docs/API.md states the window).
 * Ids are kept in arrival order, which is stamp order, because state-machine time never goes
 * backwards; expiring is a walk from the oldest.
 */

import { assert } from '../../env/assert.js'
import { MurmurError } from '../../env/errors.js'
import { type CommandResult, parseResult } from './commands.js'

interface Remembered {
  readonly stampMs: number
  readonly result: CommandResult
}

export class DedupeTable {
  private readonly entries = new Map<string, Remembered>()

  constructor(
    private readonly countMax: number,
    private readonly ttlMs: number,
  ) {
    assert(Number.isSafeInteger(countMax) && countMax > 0, 'countMax must be positive')
    assert(Number.isSafeInteger(ttlMs) && ttlMs > 0, 'ttlMs must be positive')
  }

  get size(): number {
    return this.entries.size
  }

  lookup(requestId: string): CommandResult | undefined {
    return this.entries.get(requestId)?.result
  }

  remember(requestId: string, stampMs: number, result: CommandResult): void {
    assert(!this.entries.has(requestId), 'a request id is remembered once')
    this.entries.set(requestId, { stampMs, result })
    this.expire(stampMs)
  }

  /** Forgets ids older than the window at `nowMs`, and the oldest beyond `countMax`. */
  expire(nowMs: number): void {
    for (const [requestId, remembered] of this.entries) {
      const tooMany = this.entries.size > this.countMax
      if (!tooMany && remembered.stampMs > nowMs - this.ttlMs) return
      this.entries.delete(requestId)
    }
  }

  snapshot(): unknown {
    const rows: [string, number, CommandResult][] = []
    for (const [requestId, remembered] of this.entries) {
      rows.push([requestId, remembered.stampMs, remembered.result])
    }
    return rows
  }

  restore(section: unknown): void {
    if (!Array.isArray(section)) throw malformed('must be a list')
    this.entries.clear()
    for (const row of section) {
      if (!Array.isArray(row) || row.length !== 3) throw malformed('rows have three fields')
      const [requestId, stampMs, result] = row as unknown[]
      if (typeof requestId !== 'string' || !Number.isSafeInteger(stampMs)) {
        throw malformed('a row has a field of the wrong type')
      }
      this.entries.set(requestId, { stampMs: stampMs as number, result: parseResult(result) })
    }
  }
}

function malformed(problem: string): MurmurError {
  return new MurmurError('corrupt_record', `strong snapshot section requests: ${problem}`)
}
