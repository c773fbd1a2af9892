/**
 * A keyed async mutex: work on one key runs one at a time, in arrival order, while work on
 * different keys runs concurrently. Replicas use it to serialize read-modify-write of a record.
 * Waiters are bounded in total: past `waitersMax`, new work is refused with `overloaded`
 * (definite: it did not run), so a hot key cannot grow memory without limit.
 */

import { assert } from '../../env/assert.js'
import { MurmurError } from '../../env/errors.js'

export class KeyedMutex {
  /** Held keys, each with the wake-up calls of its waiters in arrival order. */
  private readonly held = new Map<string, Array<() => void>>()
  private waiting = 0

  constructor(private readonly waitersMax: number) {
    assert(Number.isSafeInteger(waitersMax) && waitersMax >= 0, 'waitersMax must be an integer')
  }

  /** Keys held now. */
  get heldCount(): number {
    return this.held.size
  }

  get waitingCount(): number {
    return this.waiting
  }

  /** Runs `work` once no earlier work on `key` is running; releases the key however it ends. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const queue = this.held.get(key)
    if (queue === undefined) {
      this.held.set(key, [])
    } else {
      if (this.waiting >= this.waitersMax) {
        throw new MurmurError('overloaded', `too many writes wait for locks (${this.waiting})`, {
          definite: true,
        })
      }
      this.waiting++
      await new Promise<void>((resolve) => queue.push(resolve))
      this.waiting--
    }
    try {
      return await work()
    } finally {
      this.release(key)
    }
  }

  private release(key: string): void {
    const queue = this.held.get(key)
    assert(queue !== undefined, `released key ${key} that is not held`)
    const next = queue.shift()
    if (next === undefined) this.held.delete(key)
    else next()
  }
}
