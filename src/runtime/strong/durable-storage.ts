/**
 * The Raft group's durable storage: a RaftStorage whose reads are served from memory (the log
 * since the last compaction, the hard state, the latest snapshot) and whose every change is
 * written through to the StorageEngine, in the raft sublevel of the node's store:
 *
 *   raft/<group>/state/0      the hard state {term, vote, commit}
 *   raft/<group>/state/1      the compaction point {index, term}
 *   raft/<group>/log/<i>      entry i, for every i after the compaction point
 *   raft/<group>/snapshot/0   the latest snapshot's metadata and chunk count
 *   raft/<group>/snapshot/<n> its data, in chunks of SNAPSHOT_CHUNK_BYTES
 *
 * Every record is sealed (CRC-32 + msgpack, src/storage/records.ts). Each mutation changes
 * memory at once and returns the write ops that make it durable; `write` hands batches to the
 * engine strictly in order, one at a time, so a later batch never overtakes an earlier one. The
 * runtime writes one batch per Ready, synced when the Ready says so, and sends nothing that
 * depends on it before the write resolves. A failed write is fatal for the group: the store no
 * longer matches memory, so every later write is refused.
 *
 * Recovery (`open`) reads the records back and checks that the log is contiguous after the
 * compaction point. A corrupt record is reported as `corrupt_record`: a node whose Raft log is
 * damaged must not take part with a log it cannot vouch for, so it refuses to start.
 */

import { assert } from '../../env/assert.js'
import { MurmurError } from '../../env/errors.js'
import {
  type ConfState,
  EMPTY_CONF_STATE,
  EMPTY_HARD_STATE,
  type Entry,
  entryBytes,
  type HardState,
  type InitialState,
  MemoryRaftStorage,
  parseConfState,
  parseEntry,
  parseHardState,
  type RaftStorage,
  type Ready,
  type Snapshot,
  type StorageResult,
} from '../../raft/index.js'
import type { StorageEngine, WriteOp, WriteOptions } from '../../storage/engine.js'
import { raftKey, raftLogRange } from '../../storage/layout.js'
import {
  decodeStoredRecord,
  getRecord,
  putRecordOp,
  type RecordType,
  scanRecords,
} from '../../storage/records.js'

export const SNAPSHOT_CHUNK_BYTES = 4 * 1024 * 1024

interface CompactionPoint {
  readonly index: number
  readonly term: number
}

interface SnapshotHeader {
  readonly index: number
  readonly term: number
  readonly confState: ConfState
  readonly chunks: number
}

function integerField(record: Record<string, unknown>, name: string): number {
  const value = record[name]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer`)
  }
  return value
}

function objectOf(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null) throw new Error('must be a map')
  return value as Record<string, unknown>
}

const HARD_STATE_RECORD: RecordType<HardState> = { name: 'raft hard state', parse: parseHardState }
const ENTRY_RECORD: RecordType<Entry> = { name: 'raft log entry', parse: parseEntry }
const COMPACTION_RECORD: RecordType<CompactionPoint> = {
  name: 'raft compaction point',
  parse: (value) => {
    const record = objectOf(value)
    return { index: integerField(record, 'index'), term: integerField(record, 'term') }
  },
}
const SNAPSHOT_HEADER_RECORD: RecordType<SnapshotHeader> = {
  name: 'raft snapshot header',
  parse: (value) => {
    const record = objectOf(value)
    return {
      index: integerField(record, 'index'),
      term: integerField(record, 'term'),
      confState: parseConfState(record['confState']),
      chunks: integerField(record, 'chunks'),
    }
  },
}
const CHUNK_RECORD: RecordType<Uint8Array> = {
  name: 'raft snapshot chunk',
  parse: (value) => {
    if (!(value instanceof Uint8Array)) throw new Error('must be binary')
    return value
  },
}

export class DurableRaftStorage implements RaftStorage {
  private memory: MemoryRaftStorage
  private snapshotChunks: number
  private logBytesHeld: number
  /** The hard state in memory is newer than on disk (only its commit index can be). */
  private hardStateDirty = false
  private tail: Promise<void> = Promise.resolve()
  private failure: unknown

  private constructor(
    private readonly engine: StorageEngine,
    private readonly groupId: string,
    memory: MemoryRaftStorage,
    snapshotChunks: number,
  ) {
    this.memory = memory
    this.snapshotChunks = snapshotChunks
    const all = memory.entries(memory.firstIndex(), memory.lastIndex() + 1, Number.MAX_SAFE_INTEGER)
    this.logBytesHeld = all.ok ? all.value.reduce((sum, entry) => sum + entryBytes(entry), 0) : 0
  }

  /** Reads the group's records back; throws MurmurError('corrupt_record') on damage. */
  static async open(engine: StorageEngine, groupId: string): Promise<DurableRaftStorage> {
    const hardState =
      (await getRecord(engine, HARD_STATE_RECORD, raftKey(groupId, 'state', 0))) ?? EMPTY_HARD_STATE
    const compaction = (await getRecord(
      engine,
      COMPACTION_RECORD,
      raftKey(groupId, 'state', 1),
    )) ?? { index: 0, term: 0 }
    const { snapshot, chunks } = await readSnapshot(engine, groupId)
    const entries: Entry[] = []
    const onCorrupt = (_key: Uint8Array, error: MurmurError) => {
      throw error
    }
    const range = raftLogRange(groupId, compaction.index + 1)
    for await (const { value } of scanRecords(engine, ENTRY_RECORD, range, onCorrupt)) {
      const expected = compaction.index + entries.length + 1
      if (value.index !== expected) {
        throw new MurmurError(
          'corrupt_record',
          `raft log of group ${groupId} has entry ${value.index} where ${expected} belongs`,
        )
      }
      entries.push(value)
    }
    const memory = MemoryRaftStorage.recover({
      hardState,
      snapshot,
      compactedIndex: compaction.index,
      compactedTerm: compaction.term,
      entries,
    })
    return new DurableRaftStorage(engine, groupId, memory, chunks)
  }

  initialState(): InitialState {
    return this.memory.initialState()
  }

  entries(lo: number, hi: number, bytesMax: number): StorageResult<Entry[]> {
    return this.memory.entries(lo, hi, bytesMax)
  }

  term(index: number): StorageResult<number> {
    return this.memory.term(index)
  }

  firstIndex(): number {
    return this.memory.firstIndex()
  }

  lastIndex(): number {
    return this.memory.lastIndex()
  }

  snapshot(): StorageResult<Snapshot> {
    return this.memory.snapshot()
  }

  /** The latest snapshot, which always exists (the empty one before the first). */
  latestSnapshot(): Snapshot {
    const snapshot = this.memory.snapshot()
    assert(snapshot.ok, 'the durable storage always holds a snapshot')
    return snapshot.value
  }

  get persistedHardState(): HardState {
    return this.memory.persistedHardState
  }

  /** Estimated bytes of the log held since the compaction point. */
  get logBytes(): number {
    return this.logBytesHeld
  }

  /**
   * Step 2 of the Ready contract, in memory; returns the ops that make it durable. A change of
   * the commit index alone (no entries, no snapshot, same term and vote) is written lazily,
   * with the next batch: the commit index is volatile state in Raft (a restarted node learns it
   * from the leader), and a stale one on disk only means replaying fewer entries at startup.
   * That spares followers and the leader one write per commit.
   */
  stageReady(ready: Ready): WriteOp[] {
    const ops: WriteOp[] = []
    if (ready.snapshot !== undefined) this.installSnapshot(ready.snapshot, ops)
    this.append(ready.entries, ops)
    if (ready.hardState !== undefined) {
      this.memory.setHardState(ready.hardState)
      this.hardStateDirty = true
    }
    if (this.hardStateDirty && (ops.length > 0 || ready.mustSync)) {
      ops.push(putRecordOp(raftKey(this.groupId, 'state', 0), this.memory.persistedHardState))
      this.hardStateDirty = false
    }
    return ops
  }

  private append(entries: readonly Entry[], ops: WriteOp[]): void {
    const compacted = this.memory.firstIndex() - 1
    const fresh = entries.filter((entry) => entry.index > compacted)
    const first = fresh[0]
    if (first === undefined) return
    const previousLast = this.memory.lastIndex()
    if (first.index <= previousLast) {
      const old = this.memory.entries(first.index, previousLast + 1, Number.MAX_SAFE_INTEGER)
      if (old.ok) for (const entry of old.value) this.logBytesHeld -= entryBytes(entry)
    }
    this.memory.append(fresh)
    for (const entry of fresh) {
      this.logBytesHeld += entryBytes(entry)
      ops.push(putRecordOp(raftKey(this.groupId, 'log', entry.index), entry))
    }
    // A new leader's entries may replace a longer, conflicting tail: drop what is left of it.
    for (let index = this.memory.lastIndex() + 1; index <= previousLast; index++) {
      ops.push({ type: 'del', key: raftKey(this.groupId, 'log', index) })
    }
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  private installSnapshot(snapshot: Snapshot, ops: WriteOp[]): void {
    const previousFirst = this.memory.firstIndex()
    const previousLast = this.memory.lastIndex()
    const applied = this.memory.applySnapshot(snapshot)
    assert(applied.ok, 'a Ready never carries a stale snapshot')
    for (let index = previousFirst; index <= previousLast; index++) {
      ops.push({ type: 'del', key: raftKey(this.groupId, 'log', index) })
    }
    this.logBytesHeld = 0
    const { index, term } = snapshot.metadata
    ops.push(putRecordOp(raftKey(this.groupId, 'state', 1), { index, term }))
    this.writeSnapshot(snapshot, ops)
  }

  /**
   * Records a snapshot of the state machine as of `index` (already applied); returns the ops,
   * or undefined when a snapshot at or after `index` already exists.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): WriteOp[] | undefined {
    const created = this.memory.createSnapshot(index, confState, data)
    if (!created.ok) return undefined
    const ops: WriteOp[] = []
    this.writeSnapshot(this.latestSnapshot(), ops)
    return ops
  }

  /** Discards entries up to `index` (a snapshot covers them); returns the ops. */
  compact(index: number): WriteOp[] {
    const previousFirst = this.memory.firstIndex()
    const term = this.memory.term(index)
    assert(term.ok, `compaction index ${index} is unavailable`)
    const dropped = this.memory.entries(previousFirst, index + 1, Number.MAX_SAFE_INTEGER)
    const compacted = this.memory.compact(index)
    if (!compacted.ok) return []
    const ops: WriteOp[] = [
      putRecordOp(raftKey(this.groupId, 'state', 1), { index, term: term.value }),
    ]
    if (dropped.ok) for (const entry of dropped.value) this.logBytesHeld -= entryBytes(entry)
    for (let each = previousFirst; each <= index; each++) {
      ops.push({ type: 'del', key: raftKey(this.groupId, 'log', each) })
    }
    return ops
  }

  private writeSnapshot(snapshot: Snapshot, ops: WriteOp[]): void {
    const { data, metadata } = snapshot
    const chunks = Math.ceil(data.length / SNAPSHOT_CHUNK_BYTES)
    for (let chunk = 0; chunk < chunks; chunk++) {
      const start = chunk * SNAPSHOT_CHUNK_BYTES
      const bytes = data.subarray(start, Math.min(data.length, start + SNAPSHOT_CHUNK_BYTES))
      ops.push(putRecordOp(raftKey(this.groupId, 'snapshot', chunk + 1), bytes))
    }
    for (let stale = chunks + 1; stale <= this.snapshotChunks; stale++) {
      ops.push({ type: 'del', key: raftKey(this.groupId, 'snapshot', stale) })
    }
    this.snapshotChunks = chunks
    const header: SnapshotHeader = {
      index: metadata.index,
      term: metadata.term,
      confState: metadata.confState,
      chunks,
    }
    ops.push(putRecordOp(raftKey(this.groupId, 'snapshot', 0), header))
  }

  /**
   * Writes `ops` atomically after every batch written before; resolves once durable (with
   * `sync`, and on the event loop's thread with `inline`: see WriteOptions). After a failure
   * nothing more is written: memory and disk have diverged.
   */
  write(ops: readonly WriteOp[], options: WriteOptions): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure)
    if (ops.length === 0) return this.tail
    const written = this.tail.then(() => {
      if (this.failure !== undefined) throw this.failure
      return this.engine.write(ops, options)
    })
    this.tail = written.catch((error: unknown) => {
      this.failure ??= error
    })
    return written
  }
}

async function readSnapshot(
  engine: StorageEngine,
  groupId: string,
): Promise<{ snapshot: Snapshot; chunks: number }> {
  const header = await getRecord(engine, SNAPSHOT_HEADER_RECORD, raftKey(groupId, 'snapshot', 0))
  if (header === undefined) {
    const metadata = { index: 0, term: 0, confState: EMPTY_CONF_STATE }
    return { snapshot: { metadata, data: new Uint8Array(0) }, chunks: 0 }
  }
  const keys = Array.from({ length: header.chunks }, (_, chunk) =>
    raftKey(groupId, 'snapshot', chunk + 1),
  )
  const stored = await engine.getMany(keys)
  const parts = stored.map((bytes, chunk) => {
    const key = keys[chunk] as Uint8Array
    if (bytes === undefined) {
      throw new MurmurError('corrupt_record', `raft snapshot chunk ${chunk + 1} is missing`)
    }
    return decodeStoredRecord(CHUNK_RECORD, key, bytes)
  })
  const data = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0))
  let offset = 0
  for (const part of parts) {
    data.set(part, offset)
    offset += part.length
  }
  const { index, term, confState } = header
  return { snapshot: { metadata: { index, term, confState }, data }, chunks: header.chunks }
}
