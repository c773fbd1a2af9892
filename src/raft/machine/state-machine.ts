/**
 * The strong state machine: what every member of the Raft group applies, entry by entry, in
 * log order. It is pure and deterministic: no clock (time is the largest leader stamp applied,
 * so it never goes backwards even when leaders' clocks disagree), no randomness, and no IO; the
 * same log gives every replica the same state and every entry the same result.
 *
 * An entry's payload is a proposal (commands.ts). Applying one: advance state-machine time to
 * its stamp; if its request id was seen within the dedupe window, answer the remembered result
 * without applying again; otherwise hand the command to the module that registered its type.
 * Empty entries (a new leader's no-op) and configuration changes only advance the applied
 * index. A snapshot is the applied index, the time, and every module's section; restoring one
 * replaces the whole state (a section a snapshot lacks restores as that module's empty state).
 */

import { assert } from '../../env/assert.js'
import { isMurmurError, MurmurError } from '../../env/errors.js'
import { decode, encode } from '../../wire/codec.js'
import { type Command, type CommandResult, decodeProposal } from './commands.js'
import { DedupeTable } from './dedupe.js'
import { KvTable } from './kv-table.js'
import { LockTable } from './lock-table.js'
import type { MachineModule } from './module.js'
import { TopologyTable } from './topology-table.js'

export interface StateMachineLimits {
  /** Bytes of keys, values and locks the state may hold; writes beyond are refused. */
  readonly stateBytesMax: number
  /** Request ids remembered for deduplication. */
  readonly requestIdsMax: number
  /** How long, in state-machine time, a request id is remembered. */
  readonly requestIdTtlMs: number
}

const SNAPSHOT_FORMAT = 1

export class StrongStateMachine {
  readonly locks = new LockTable()
  readonly kv = new KvTable(this.locks)
  /** The cluster's topology record and staged changes (src/raft/machine/topology-table.ts). */
  readonly topology = new TopologyTable()
  private readonly requests: DedupeTable
  private readonly modules: readonly MachineModule[]
  private readonly handlers = new Map<Command['type'], MachineModule>()
  private applied = 0
  private timeMs = 0

  constructor(private readonly limits: StateMachineLimits) {
    assert(limits.stateBytesMax > 0, 'stateBytesMax must be positive')
    this.requests = new DedupeTable(limits.requestIdsMax, limits.requestIdTtlMs)
    this.modules = [this.kv, this.locks, this.topology]
    for (const module of this.modules) {
      for (const type of module.commandTypes) {
        assert(!this.handlers.has(type), `command type ${type} registered twice`)
        this.handlers.set(type, module)
      }
    }
  }

  get appliedIndex(): number {
    return this.applied
  }

  /** State-machine time: the largest leader stamp applied so far. */
  get nowMs(): number {
    return this.timeMs
  }

  get bytes(): number {
    let total = 0
    for (const module of this.modules) total += module.bytes
    return total
  }

  get requestIdsHeld(): number {
    return this.requests.size
  }

  /** Marks an entry without a command (a leader's no-op, a configuration change) applied. */
  skip(index: number): void {
    assert(index === this.applied + 1, `entry ${index} applied after ${this.applied}`)
    this.applied = index
  }

  /** Applies the proposal in entry `index`; every replica returns the same result. */
  apply(index: number, data: Uint8Array): CommandResult {
    assert(index === this.applied + 1, `entry ${index} applied after ${this.applied}`)
    this.applied = index
    let proposal: ReturnType<typeof decodeProposal>
    try {
      proposal = decodeProposal(data)
    } catch (error) {
      if (!isMurmurError(error)) throw error
      return { ok: false, code: 'invalid_command' }
    }
    this.timeMs = Math.max(this.timeMs, proposal.stampMs)
    const { requestId } = proposal
    if (requestId !== undefined) {
      const remembered = this.requests.lookup(requestId)
      if (remembered !== undefined) return remembered
    }
    const module = this.handlers.get(proposal.command.type)
    assert(module !== undefined, `no module serves ${proposal.command.type}`)
    const result = module.apply(proposal.command, {
      index,
      nowMs: this.timeMs,
      bytesAvailable: this.limits.stateBytesMax - this.bytes,
    })
    // A read changes nothing, so answering a retry with a fresh read is as good as the
    // remembered one; not remembering it keeps whole topology states out of the table.
    const remembers = requestId !== undefined && proposal.command.type !== 'topology.read'
    if (remembers) this.requests.remember(requestId, this.timeMs, result)
    else this.requests.expire(this.timeMs)
    return result
  }

  snapshot(): Uint8Array {
    const modules: Record<string, unknown> = { requests: this.requests.snapshot() }
    for (const module of this.modules) modules[module.name] = module.snapshot()
    return encode({
      format: SNAPSHOT_FORMAT,
      appliedIndex: this.applied,
      timeMs: this.timeMs,
      modules,
    })
  }

  /** Replaces the whole state with a snapshot's; throws MurmurError('corrupt_record'). */
  restore(data: Uint8Array, index: number): void {
    if (data.length === 0) {
      // The empty snapshot of a log that has never been compacted: the initial state.
      assert(index === 0, 'only the initial snapshot is empty')
      this.replaceWith({ appliedIndex: 0, timeMs: 0, modules: {} })
      return
    }
    const value = decode(data) as Record<string, unknown> | null
    if (typeof value !== 'object' || value === null || value['format'] !== SNAPSHOT_FORMAT) {
      throw new MurmurError('corrupt_record', 'strong snapshot has an unknown format')
    }
    const appliedIndex = value['appliedIndex']
    const timeMs = value['timeMs']
    const modules = value['modules']
    if (
      appliedIndex !== index ||
      !Number.isSafeInteger(timeMs) ||
      typeof modules !== 'object' ||
      modules === null
    ) {
      throw new MurmurError('corrupt_record', `strong snapshot does not describe index ${index}`)
    }
    this.replaceWith({
      appliedIndex,
      timeMs: timeMs as number,
      modules: modules as Record<string, unknown>,
    })
  }

  private replaceWith(state: {
    appliedIndex: number
    timeMs: number
    modules: Record<string, unknown>
  }): void {
    this.requests.restore(state.modules['requests'] ?? [])
    for (const module of this.modules) module.restore(state.modules[module.name] ?? [])
    this.applied = state.appliedIndex
    this.timeMs = state.timeMs
  }
}
