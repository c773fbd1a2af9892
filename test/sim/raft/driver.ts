/**
 * A test runtime for one Raft core: it owns the node's "disk" (a MemoryRaftStorage that survives
 * crashes) and a tiny state machine (a running digest of applied commands), and carries out
 * Ready batches in the documented order. Unit tests drive it synchronously; the simulation
 * splits a Ready into "take" and "complete" around a virtual disk delay, so a crash in between
 * loses exactly the unpersisted batch.
 */

import type { Random } from '../../../src/env/random.js'
import type { RaftConfig } from '../../../src/raft/config.js'
import { RawNode } from '../../../src/raft/raw-node.js'
import { MemoryRaftStorage } from '../../../src/raft/storage.js'
import type { Entry, Message, NodeId, ReadState, Ready, Snapshot } from '../../../src/raft/types.js'
import { decode, encode } from '../../../src/wire/codec.js'

/** FNV-1a over the previous digest, the index and the payload: a cheap state-machine hash. */
export function nextDigest(digest: number, index: number, data: Uint8Array): number {
  let hash = (digest ^ 0x811c9dc5) >>> 0
  hash = Math.imul(hash ^ (index & 0xffff), 0x01000193) >>> 0
  hash = Math.imul(hash ^ (index >>> 16), 0x01000193) >>> 0
  for (const byte of data) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  return hash >>> 0
}

export function encodeStateMachine(index: number, digest: number): Uint8Array {
  return encode([index, digest])
}

export function decodeStateMachine(data: Uint8Array): { index: number; digest: number } {
  if (data.length === 0) return { index: 0, digest: 0 }
  const [index, digest] = decode(data) as [number, number]
  return { index, digest }
}

/** What the driver reports while applying, for checkers. */
export interface ApplyObserver {
  onApply?(driver: RaftDriver, entry: Entry, digest: number): void
  onSnapshot?(driver: RaftDriver, snapshot: Snapshot): void
  onPersist?(driver: RaftDriver, ready: Ready): void
}

export type ConfigFactory = (id: NodeId, random: Random) => RaftConfig

export class RaftDriver {
  node: RawNode
  /** The state machine: last applied index and the digest of everything applied. */
  appliedIndex = 0
  digest = 0
  /** Applied entries since the last restart or snapshot install (for unit tests). */
  appliedEntries: Entry[] = []
  readStates: ReadState[] = []
  incarnation = 0

  constructor(
    readonly id: NodeId,
    private readonly makeConfig: ConfigFactory,
    private readonly random: Random,
    private readonly observer: ApplyObserver = {},
    readonly storage = new MemoryRaftStorage(),
  ) {
    this.node = new RawNode(makeConfig(id, random.fork(`${id}#0`)), this.storage)
  }

  /** Loses all volatile state and starts again from what the storage persisted. */
  restart(): void {
    this.incarnation++
    const restored = decodeStateMachine(this.snapshotOrEmpty().data)
    this.appliedIndex = restored.index
    this.digest = restored.digest
    this.appliedEntries = []
    this.readStates = []
    const random = this.random.fork(`${this.id}#${this.incarnation}`)
    this.node = new RawNode(this.makeConfig(this.id, random), this.storage)
  }

  private snapshotOrEmpty(): Snapshot {
    const snapshot = this.storage.snapshot()
    if (!snapshot.ok) throw new Error('memory storage always has a snapshot')
    return snapshot.value
  }

  /** Step 2 of the contract: make the Ready durable. */
  persist(ready: Ready): void {
    if (ready.snapshot !== undefined) {
      const applied = this.storage.applySnapshot(ready.snapshot)
      if (!applied.ok) throw new Error(`${this.id}: stale snapshot in a Ready`)
    }
    this.storage.append(ready.entries)
    if (ready.hardState !== undefined) this.storage.setHardState(ready.hardState)
    this.observer.onPersist?.(this, ready)
  }

  /** Step 4 of the contract: apply the snapshot and committed entries, record read states. */
  apply(ready: Ready): void {
    if (ready.snapshot !== undefined) {
      const restored = decodeStateMachine(ready.snapshot.data)
      this.appliedIndex = ready.snapshot.metadata.index
      this.digest = restored.digest
      this.appliedEntries = []
      this.observer.onSnapshot?.(this, ready.snapshot)
    }
    for (const entry of ready.committedEntries) {
      if (entry.index <= this.appliedIndex) {
        throw new Error(`${this.id}: entry ${entry.index} applied twice`)
      }
      if (entry.index !== this.appliedIndex + 1) {
        throw new Error(`${this.id}: applied ${entry.index} after ${this.appliedIndex}`)
      }
      const data = entry.kind === 'normal' ? entry.data : encode(entry.change)
      this.digest = nextDigest(this.digest, entry.index, data)
      this.appliedIndex = entry.index
      this.appliedEntries.push(entry)
      this.observer.onApply?.(this, entry, this.digest)
    }
    for (const readState of ready.readStates) this.readStates.push(readState)
  }

  /** Runs one whole Ready synchronously; returns its messages, or undefined if none was due. */
  processReady(): readonly Message[] | undefined {
    if (!this.node.hasReady()) return undefined
    const ready = this.node.ready()
    this.persist(ready)
    this.apply(ready)
    this.node.advance()
    return ready.messages
  }

  /** Records a snapshot of the state machine and compacts the log, keeping `retain` entries. */
  compact(retain: number): boolean {
    const index = this.appliedIndex
    const created = this.storage.createSnapshot(
      index,
      this.node.confState(),
      encodeStateMachine(index, this.digest),
    )
    if (!created.ok) return false
    const compactTo = Math.max(0, index - retain)
    if (compactTo > this.storage.firstIndex() - 1) this.storage.compact(compactTo)
    return true
  }
}
