/**
 * Raft safety checks for the simulation, fed after every event. Each property of the Raft paper
 * (Figure 3) has one global registry that every node's observations must agree with:
 * - election safety: at most one leader per term;
 * - log matching: an (index, term) pair always names the same command with the same
 *   predecessor term, checked on every persisted entry, so equal pairs imply equal prefixes;
 * - leader completeness: every committed entry is in the log of every later leader;
 * - state-machine safety: no two nodes apply different commands at one index, and a snapshot
 *   carries the digest every node computed at its index;
 * - monotonicity: a node's term and commit index never go backwards.
 * Violations throw, naming the node, index and term involved.
 */

import type { RawNode } from '../../../src/raft/raw-node.js'
import type { Entry, NodeId, Ready, Snapshot } from '../../../src/raft/types.js'
import { decodeStateMachine, nextDigest, type RaftDriver } from './driver.js'

/** A compact fingerprint of an entry's command, to compare entries across nodes. */
export function commandKey(entry: Entry): string {
  if (entry.kind === 'conf_change') return `conf:${entry.change.type}:${entry.change.nodeId}`
  return `cmd:${entry.data.length}:${nextDigest(0, 0, entry.data)}`
}

interface Observed {
  term: number
  commit: number
  incarnation: number
}

export class SafetyChecker {
  readonly leaderOfTerm = new Map<number, NodeId>()
  /** `${index}:${term}` → command key and predecessor term. */
  private readonly entriesSeen = new Map<string, { command: string; previousTerm: number }>()
  /** index → term of the committed entry. */
  readonly committedTerms = new Map<number, number>()
  highestCommitted = 0
  /** index → command and digest applied there. */
  private readonly applied = new Map<number, { command: string; digest: number }>()
  private readonly observed = new Map<NodeId, Observed>()
  checks = 0

  private fail(message: string): never {
    throw new Error(`raft safety violation: ${message}`)
  }

  /** After a node handled an event: elections, monotonic term and commit, commit registry. */
  observeNode(driver: RaftDriver): void {
    this.checks++
    const node = driver.node
    const status = node.status()
    const previous = this.observed.get(driver.id)
    if (previous !== undefined && previous.incarnation === driver.incarnation) {
      if (status.term < previous.term) this.fail(`${driver.id} term went back to ${status.term}`)
      if (status.commit < previous.commit) {
        this.fail(`${driver.id} commit went back from ${previous.commit} to ${status.commit}`)
      }
    }
    const start = previous?.incarnation === driver.incarnation ? previous.commit : 0
    if (status.commit > start) this.recordCommitted(driver.id, node, start, status.commit)
    if (status.role === 'leader') {
      const known = this.leaderOfTerm.get(status.term)
      if (known === undefined) {
        this.leaderOfTerm.set(status.term, driver.id)
        this.checkLeaderCompleteness(driver.id, node)
      } else if (known !== driver.id) {
        this.fail(`two leaders in term ${status.term}: ${known} and ${driver.id}`)
      }
    }
    this.observed.set(driver.id, {
      term: status.term,
      commit: status.commit,
      incarnation: driver.incarnation,
    })
  }

  private recordCommitted(id: NodeId, node: RawNode, from: number, to: number): void {
    const first = Math.max(from + 1, node.status().firstIndex)
    for (let index = first; index <= to; index++) {
      const term = node.termOf(index)
      if (!term.ok) continue
      const known = this.committedTerms.get(index)
      if (known === undefined) this.committedTerms.set(index, term.value)
      else if (known !== term.value) {
        this.fail(`${id} committed term ${term.value} at ${index}, others term ${known}`)
      }
    }
    this.highestCommitted = Math.max(this.highestCommitted, to)
  }

  private checkLeaderCompleteness(id: NodeId, node: RawNode): void {
    const { firstIndex, term } = node.status()
    for (const [index, committedTerm] of this.committedTerms) {
      if (index < firstIndex) continue
      const found = node.termOf(index)
      if (!found.ok || found.value !== committedTerm) {
        this.fail(
          `leader ${id} of term ${term} lacks committed entry ${index} (term ${committedTerm})`,
        )
      }
    }
  }

  /** On every persisted Ready: log matching over the entries written. */
  observePersist(driver: RaftDriver, ready: Ready): void {
    for (const entry of ready.entries) {
      const previousTerm = driver.storage.term(entry.index - 1)
      const key = `${entry.index}:${entry.term}`
      const command = commandKey(entry)
      const known = this.entriesSeen.get(key)
      const predecessor = previousTerm.ok ? previousTerm.value : -1
      if (known === undefined) {
        this.entriesSeen.set(key, { command, previousTerm: predecessor })
        continue
      }
      if (known.command !== command) this.fail(`${driver.id} entry ${key} has another command`)
      if (predecessor >= 0 && known.previousTerm >= 0 && known.previousTerm !== predecessor) {
        this.fail(
          `${driver.id} entry ${key} follows term ${predecessor}, not ${known.previousTerm}`,
        )
      }
    }
  }

  observeApply(driver: RaftDriver, entry: Entry, digest: number): void {
    const command = commandKey(entry)
    const known = this.applied.get(entry.index)
    if (known === undefined) {
      this.applied.set(entry.index, { command, digest })
    } else if (known.command !== command || known.digest !== digest) {
      this.fail(`${driver.id} applied a different command or state at ${entry.index}`)
    }
    const committedTerm = this.committedTerms.get(entry.index)
    if (committedTerm !== undefined && committedTerm !== entry.term) {
      this.fail(
        `${driver.id} applied term ${entry.term} at ${entry.index}, committed ${committedTerm}`,
      )
    }
  }

  observeSnapshot(driver: RaftDriver, snapshot: Snapshot): void {
    const { index, digest } = decodeStateMachine(snapshot.data)
    if (index !== snapshot.metadata.index) this.fail(`${driver.id} snapshot index mismatch`)
    const known = this.applied.get(index)
    if (known !== undefined && known.digest !== digest) {
      this.fail(`${driver.id} installed a snapshot at ${index} with a different state`)
    }
  }

  /** Whether `entry` is what was applied at its index (for client acknowledgements). */
  appliedCommand(index: number): string | undefined {
    return this.applied.get(index)?.command
  }
}

export function textCommandKey(text: string): string {
  const data = new TextEncoder().encode(text)
  return `cmd:${data.length}:${nextDigest(0, 0, data)}`
}
