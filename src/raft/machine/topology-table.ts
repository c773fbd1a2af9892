/**
 * The cluster's topology metadata, as replicated state: the committed topology record (the
 * versioned ring every node acts on, see src/ring/topology-plan.ts) and the staged changes an
 * operator is preparing.
 *
 * Why here: the Raft log totally orders every `topology.cas`, and a CAS applies only when the
 * stored version is the one it expects, so each version is written exactly once, with one
 * content, on every replica. Version 1 is not stored: every node derives it from cluster.yml,
 * so the first CAS expects 1. Staged changes are not versioned; they are replaced as a whole,
 * conditioned on their revision (the log index that last replaced them), so two operators
 * staging at once cannot lose each other's change unnoticed. `topology.read` answers the state
 * at its place in the log, which makes it a linearizable read of both.
 */

import { unreachable } from '../../env/assert.js'
import { MurmurError } from '../../env/errors.js'
import { encode } from '../../wire/codec.js'
import {
  type Command,
  type CommandResult,
  parseTopologyState,
  type TopologyCommand,
  type TopologyState,
} from './commands.js'
import type { ApplyContext, MachineModule } from './module.js'

/** Bookkeeping counted toward the state limit, besides the encoded record and changes. */
const TOPOLOGY_OVERHEAD_BYTES = 64

const EMPTY: TopologyState = Object.freeze({ record: null, staged: [], stagedRevision: 0 })

export type TopologyListener = (state: TopologyState) => void

export class TopologyTable implements MachineModule {
  readonly name = 'topology'
  readonly commandTypes = ['topology.cas', 'topology.stage', 'topology.read'] as const
  private current: TopologyState = EMPTY
  private bytesHeld = 0
  private listener: TopologyListener | undefined

  get bytes(): number {
    return this.bytesHeld
  }

  /** The state as last applied; for the node's own adoption and for status views. */
  state(): TopologyState {
    return this.current
  }

  /** The stored version, or 1 when none is stored yet. */
  get version(): number {
    return this.current.record?.version ?? 1
  }

  /**
   * Called after every change of the state (a successful CAS or stage, a restored snapshot).
   * One listener: the node's topology manager. It must not throw.
   */
  setListener(listener: TopologyListener | undefined): void {
    this.listener = listener
  }

  apply(command: Command, context: ApplyContext): CommandResult {
    const topologyCommand = command as TopologyCommand
    switch (topologyCommand.type) {
      case 'topology.read':
        return { ok: true, topology: this.current }
      case 'topology.cas': {
        if (topologyCommand.expectedVersion !== this.version) {
          return { ok: false, code: 'precondition_failed', currentVersion: this.version }
        }
        const { stagedRevision } = topologyCommand
        if (stagedRevision !== undefined && stagedRevision !== this.current.stagedRevision) {
          return { ok: false, code: 'precondition_failed', currentVersion: this.version }
        }
        const next: TopologyState =
          stagedRevision === undefined
            ? { ...this.current, record: topologyCommand.record }
            : { record: topologyCommand.record, staged: [], stagedRevision: context.index }
        if (!this.replace(next, context)) return { ok: false, code: 'state_full' }
        return { ok: true, version: topologyCommand.record.version }
      }
      case 'topology.stage': {
        if (topologyCommand.expectedRevision !== this.current.stagedRevision) {
          return {
            ok: false,
            code: 'precondition_failed',
            currentVersion: this.current.stagedRevision,
          }
        }
        const next = {
          ...this.current,
          staged: topologyCommand.changes,
          stagedRevision: context.index,
        }
        if (!this.replace(next, context)) return { ok: false, code: 'state_full' }
        return { ok: true, version: context.index }
      }
      default:
        return unreachable(topologyCommand)
    }
  }

  /** Installs `next` unless it would pass the state limit; tells the listener. */
  private replace(next: TopologyState, context: ApplyContext): boolean {
    const bytes = stateBytes(next)
    if (bytes - this.bytesHeld > context.bytesAvailable) return false
    this.current = Object.freeze(next)
    this.bytesHeld = bytes
    this.listener?.(this.current)
    return true
  }

  snapshot(): unknown {
    return this.current
  }

  restore(section: unknown): void {
    // A snapshot written before topology metadata existed has no section: the empty state.
    if (Array.isArray(section) && section.length === 0) {
      this.current = EMPTY
      this.bytesHeld = 0
    } else {
      try {
        this.current = Object.freeze(parseTopologyState(section))
      } catch (error) {
        const reason = error instanceof Error ? error.message : 'malformed'
        throw new MurmurError('corrupt_record', `strong snapshot section topology: ${reason}`)
      }
      this.bytesHeld = stateBytes(this.current)
    }
    this.listener?.(this.current)
  }
}

function stateBytes(state: TopologyState): number {
  if (state.record === null && state.staged.length === 0) return 0
  return TOPOLOGY_OVERHEAD_BYTES + encode(state).length
}
