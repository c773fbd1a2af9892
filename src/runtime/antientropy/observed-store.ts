/**
 * The replica store with a change listener: every mutation of a data record (a write, a
 * merge, a reap's compare-and-delete) is reported with the record before and after, so the
 * anti-entropy trees stay current without rescanning storage.
 *
 * Contract: `willChange` is called before a mutation may touch a record and `settled` after it
 * finished, whatever its outcome; `changed` in between, once the new state is committed (a
 * failed write changes nothing). `before` is what the mutation read under the key's lock, so
 * consecutive changes of one key chain exactly; listeners that fold changes commutatively
 * (the XOR trees) need no ordering between keys or even between changes of one key. Hints are
 * not data records and are not reported.
 */

import type { KeyRecord } from '../../replication/record.js'
import type { DataKey } from '../../storage/layout.js'
import { type Mutation, ReplicaStore } from '../kv/store.js'

export interface RecordChangeListener {
  willChange(address: DataKey): void
  /** `before` is undefined when the record was absent, or corrupt (then `corrupt` is true). */
  changed(
    address: DataKey,
    before: KeyRecord | undefined,
    after: KeyRecord | undefined,
    corrupt: boolean,
  ): void
  settled(address: DataKey): void
}

export class ObservedReplicaStore extends ReplicaStore {
  private listener: RecordChangeListener | undefined

  /** Installs the one listener (replacing none). */
  observe(listener: RecordChangeListener): void {
    this.listener = listener
  }

  override async update<R>(
    address: DataKey,
    mutate: (current: KeyRecord, corrupt: boolean) => Mutation<R>,
    sync: boolean,
  ): Promise<R> {
    const listener = this.listener
    if (listener === undefined) return super.update(address, mutate, sync)
    let change: { before: KeyRecord | undefined; after: KeyRecord; corrupt: boolean } | undefined
    listener.willChange(address)
    try {
      const result = await super.update(
        address,
        (current, corrupt) => {
          const mutation = mutate(current, corrupt)
          change =
            mutation.record === undefined
              ? undefined
              : { before: corrupt ? undefined : current, after: mutation.record, corrupt }
          return mutation
        },
        sync,
      )
      if (change !== undefined) {
        listener.changed(address, change.before, change.after, change.corrupt)
      }
      return result
    } finally {
      listener.settled(address)
    }
  }

  override async deleteIfEqual(
    address: DataKey,
    expected: KeyRecord,
    sync: boolean,
  ): Promise<boolean> {
    const listener = this.listener
    if (listener === undefined) return super.deleteIfEqual(address, expected, sync)
    listener.willChange(address)
    try {
      const deleted = await super.deleteIfEqual(address, expected, sync)
      // The deleted record equals `expected` causally, which is all a tree hashes.
      if (deleted) listener.changed(address, expected, undefined, false)
      return deleted
    } finally {
      listener.settled(address)
    }
  }
}
