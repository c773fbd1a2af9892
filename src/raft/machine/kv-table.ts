/**
 * The keys and values of the strong keyspaces, as replicated state. Every value carries a
 * version: the log index of the entry that last wrote it, so versions only grow and a version
 * names exactly one write. A write may be conditioned on the current version (compare-and-set),
 * on the key existing, or on its absence (create-only), and may be fenced by a lock token; the
 * check and the write happen in one apply, so they are atomic on every replica. A delete
 * removes the key; its next write starts a new, higher version.
 */

import { unreachable } from '../../env/assert.js'
import { MurmurError } from '../../env/errors.js'
import { compareKeys } from '../../replication/names.js'
import type { Command, CommandResult, Condition, KvCommand } from './commands.js'
import type { LockTable } from './lock-table.js'
import type { ApplyContext, MachineModule } from './module.js'

export interface StoredValue {
  readonly value: Uint8Array
  readonly contentType: string
  readonly version: number
}

/** Per-key bookkeeping counted toward the state limit, besides names and bytes. */
const VALUE_OVERHEAD_BYTES = 64

function valueBytes(keyspace: string, key: string, stored: StoredValue): number {
  return (
    VALUE_OVERHEAD_BYTES +
    keyspace.length +
    key.length * 2 +
    stored.value.length +
    stored.contentType.length
  )
}

/** Whether `condition` holds for the key's current value. */
function conditionHolds(condition: Condition, current: StoredValue | undefined): boolean {
  switch (condition.kind) {
    case 'version':
      return current !== undefined && current.version === condition.version
    case 'exists':
      return current !== undefined
    case 'absent':
      return current === undefined
    default:
      return unreachable(condition)
  }
}

export class KvTable implements MachineModule {
  readonly name = 'kv'
  readonly commandTypes = ['kv.put', 'kv.delete'] as const
  private readonly keyspaces = new Map<string, Map<string, StoredValue>>()
  private bytesHeld = 0

  constructor(private readonly locks: LockTable) {}

  get bytes(): number {
    return this.bytesHeld
  }

  get(keyspace: string, key: string): StoredValue | undefined {
    return this.keyspaces.get(keyspace)?.get(key)
  }

  /** Up to `limit` keys of `keyspace` after `after` that start with `prefix`, in key order. */
  list(keyspace: string, prefix: string, after: string, limit: number): string[] {
    const keys: string[] = []
    for (const key of this.keyspaces.get(keyspace)?.keys() ?? []) {
      if (key.startsWith(prefix) && compareKeys(key, after) > 0) keys.push(key)
    }
    return keys.sort(compareKeys).slice(0, limit)
  }

  apply(command: Command, context: ApplyContext): CommandResult {
    const write = command as KvCommand
    if (write.fence !== undefined) {
      const refusal = this.locks.checkFence(write.fence, context.nowMs)
      if (refusal !== undefined) return refusal
    }
    const current = this.get(write.keyspace, write.key)
    if (write.condition !== undefined && !conditionHolds(write.condition, current)) {
      return { ok: false, code: 'precondition_failed', currentVersion: current?.version ?? null }
    }
    switch (write.type) {
      case 'kv.put': {
        const stored = {
          value: write.value,
          contentType: write.contentType,
          version: context.index,
        }
        const growth =
          valueBytes(write.keyspace, write.key, stored) -
          (current === undefined ? 0 : valueBytes(write.keyspace, write.key, current))
        if (growth > 0 && growth > context.bytesAvailable) return { ok: false, code: 'state_full' }
        this.set(write.keyspace, write.key, stored, growth)
        return { ok: true, version: context.index }
      }
      case 'kv.delete':
        if (current !== undefined) this.remove(write.keyspace, write.key, current)
        return { ok: true, version: null }
      default:
        return unreachable(write)
    }
  }

  private set(keyspace: string, key: string, stored: StoredValue, growth: number): void {
    let keys = this.keyspaces.get(keyspace)
    if (keys === undefined) {
      keys = new Map()
      this.keyspaces.set(keyspace, keys)
    }
    keys.set(key, stored)
    this.bytesHeld += growth
  }

  private remove(keyspace: string, key: string, current: StoredValue): void {
    const keys = this.keyspaces.get(keyspace)
    keys?.delete(key)
    if (keys?.size === 0) this.keyspaces.delete(keyspace)
    this.bytesHeld -= valueBytes(keyspace, key, current)
  }

  snapshot(): unknown {
    const rows: [string, string, Uint8Array, string, number][] = []
    for (const [keyspace, keys] of this.keyspaces) {
      for (const [key, stored] of keys) {
        rows.push([keyspace, key, stored.value, stored.contentType, stored.version])
      }
    }
    return rows
  }

  restore(section: unknown): void {
    if (!Array.isArray(section)) throw malformed('must be a list')
    this.keyspaces.clear()
    this.bytesHeld = 0
    for (const row of section) {
      if (!Array.isArray(row) || row.length !== 5) throw malformed('rows have five fields')
      const [keyspace, key, value, contentType, version] = row as unknown[]
      if (
        typeof keyspace !== 'string' ||
        typeof key !== 'string' ||
        !(value instanceof Uint8Array) ||
        typeof contentType !== 'string' ||
        !Number.isSafeInteger(version)
      ) {
        throw malformed('a row has a field of the wrong type')
      }
      const stored = { value, contentType, version: version as number }
      this.set(keyspace, key, stored, valueBytes(keyspace, key, stored))
    }
  }
}

function malformed(problem: string): MurmurError {
  return new MurmurError('corrupt_record', `strong snapshot section kv: ${problem}`)
}
