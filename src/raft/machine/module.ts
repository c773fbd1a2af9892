/**
 * The contract between the strong state machine and its modules. A module owns one kind of
 * replicated state (keys and values, locks, later cluster metadata), serves the command types
 * it registers, and saves and restores its state for snapshots. Applying is deterministic: the
 * same commands in the same order, with the same indexes and stamped times, give every replica
 * the same state and the same results.
 */

import type { Command, CommandResult } from './commands.js'

/** What a module may use when applying one entry, besides the command itself. */
export interface ApplyContext {
  /** The entry's log index: versions and lock tokens are indexes, so they only ever grow. */
  readonly index: number
  /** State-machine time: the largest leader stamp applied so far (never a local clock). */
  readonly nowMs: number
  /** Bytes the module may still add before the state machine reaches `stateBytesMax`. */
  readonly bytesAvailable: number
}

export interface MachineModule {
  /** Names the module's section of a snapshot. */
  readonly name: string
  readonly commandTypes: readonly Command['type'][]
  /** Bytes of state held, by a deterministic estimate (the same on every replica). */
  readonly bytes: number
  apply(command: Command, context: ApplyContext): CommandResult
  /** The module's state as a msgpack-encodable value. */
  snapshot(): unknown
  /** Replaces the state with a snapshot's section; throws MurmurError on a malformed one. */
  restore(section: unknown): void
}
