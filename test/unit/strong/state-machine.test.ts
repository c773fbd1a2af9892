/**
 * Goal: the strong state machine applies commands deterministically and answers exactly what
 * the API promises: versions are log indexes, conditions (CAS, create-only, exists) are atomic
 * with the write, request ids deduplicate within their window, lock tokens grow, fencing
 * refuses stale, released and expired tokens, and lease expiry follows stamped time only.
 * Method: feed encoded proposals at consecutive indexes into fresh machines and inspect the
 * results; snapshots are restored into a second machine and compared by their encoding; a
 * fast-check property replays random command sequences on two machines, one of them restored
 * from a snapshot taken midway, and demands identical results and state.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MurmurError } from '../../../src/env/errors.js'
import {
  type Command,
  type CommandResult,
  decodeProposal,
  encodeProposal,
  parseResult,
} from '../../../src/raft/machine/commands.js'
import { StrongStateMachine } from '../../../src/raft/machine/state-machine.js'

const LIMITS = { stateBytesMax: 1024 * 1024, requestIdsMax: 4, requestIdTtlMs: 10_000 }
const bytes = (text: string) => new TextEncoder().encode(text)

/** A machine plus a helper that applies one command at the next index. */
function machine(limits = LIMITS) {
  const state = new StrongStateMachine(limits)
  return {
    state,
    run(command: Command, stampMs = 1000, requestId?: string): CommandResult {
      const proposal =
        requestId === undefined ? { command, stampMs } : { command, stampMs, requestId }
      return state.apply(state.appliedIndex + 1, encodeProposal(proposal))
    },
  }
}

const put = (key: string, value: string, extra: Partial<Command> = {}): Command =>
  ({
    type: 'kv.put',
    keyspace: 'ks',
    key,
    value: bytes(value),
    contentType: 'text/plain',
    ...extra,
  }) as Command

describe('keys and versions', () => {
  it('versions a value with the index of its last write and deletes it', () => {
    const m = machine()
    expect(m.run(put('a', 'one'))).toEqual({ ok: true, version: 1 })
    expect(m.run(put('a', 'two'))).toEqual({ ok: true, version: 2 })
    expect(m.state.kv.get('ks', 'a')).toMatchObject({ version: 2, contentType: 'text/plain' })
    expect(m.run({ type: 'kv.delete', keyspace: 'ks', key: 'a' })).toEqual({
      ok: true,
      version: null,
    })
    expect(m.state.kv.get('ks', 'a')).toBeUndefined()
    expect(m.state.bytes).toBe(0)
  })

  it('applies a compare-and-set only when the version matches', () => {
    const m = machine()
    m.run(put('a', 'one'))
    expect(m.run(put('a', 'x', { condition: { kind: 'version', version: 7 } }))).toEqual({
      ok: false,
      code: 'precondition_failed',
      currentVersion: 1,
    })
    expect(m.run(put('a', 'two', { condition: { kind: 'version', version: 1 } }))).toEqual({
      ok: true,
      version: 3,
    })
    expect(new TextDecoder().decode(m.state.kv.get('ks', 'a')?.value)).toBe('two')
  })

  it('creates only absent keys and updates only existing ones on request', () => {
    const m = machine()
    expect(m.run(put('a', 'x', { condition: { kind: 'exists' } }))).toMatchObject({
      code: 'precondition_failed',
      currentVersion: null,
    })
    expect(m.run(put('a', 'one', { condition: { kind: 'absent' } }))).toEqual({
      ok: true,
      version: 2,
    })
    expect(m.run(put('a', 'two', { condition: { kind: 'absent' } }))).toMatchObject({
      code: 'precondition_failed',
      currentVersion: 2,
    })
    expect(
      m.run({
        type: 'kv.delete',
        keyspace: 'ks',
        key: 'a',
        condition: { kind: 'version', version: 1 },
      }),
    ).toMatchObject({ code: 'precondition_failed', currentVersion: 2 })
  })

  it('refuses writes past stateBytesMax and frees room on delete', () => {
    const m = machine({ ...LIMITS, stateBytesMax: 1024 * 1024 })
    const big = 'x'.repeat(600 * 1024)
    expect(m.run(put('a', big))).toEqual({ ok: true, version: 1 })
    expect(m.run(put('b', big))).toEqual({ ok: false, code: 'state_full' })
    expect(m.run(put('a', 'small'))).toEqual({ ok: true, version: 3 })
    expect(m.run(put('b', big))).toEqual({ ok: true, version: 4 })
  })

  it('lists keys of one keyspace in key order after a cursor', () => {
    const m = machine()
    for (const key of ['b', 'a/2', 'a/1', 'c']) m.run(put(key, 'v'))
    m.run({ ...put('z', 'v'), keyspace: 'other' } as Command)
    expect(m.state.kv.list('ks', '', '', 10)).toEqual(['a/1', 'a/2', 'b', 'c'])
    expect(m.state.kv.list('ks', 'a/', 'a/1', 10)).toEqual(['a/2'])
    expect(m.state.kv.list('ks', '', '', 2)).toEqual(['a/1', 'a/2'])
  })
})

describe('request ids', () => {
  it('applies a retried write once and answers the first result', () => {
    const m = machine()
    expect(m.run(put('a', 'one'), 1000, 'r1')).toEqual({ ok: true, version: 1 })
    expect(m.run(put('a', 'two'), 1001, 'r1')).toEqual({ ok: true, version: 1 })
    expect(new TextDecoder().decode(m.state.kv.get('ks', 'a')?.value)).toBe('one')
  })

  it('forgets ids after the time window and beyond the count bound', () => {
    const m = machine()
    m.run(put('a', 'one'), 1000, 'old')
    m.run(put('a', 'two'), 1000 + LIMITS.requestIdTtlMs + 1)
    expect(m.run(put('a', 'three'), 20_000, 'old')).toEqual({ ok: true, version: 3 })
    for (const id of ['r1', 'r2', 'r3', 'r4', 'r5']) m.run(put('b', id), 20_001, id)
    expect(m.state.requestIdsHeld).toBe(LIMITS.requestIdsMax)
    expect(m.run(put('b', 'again'), 20_002, 'r1')).toMatchObject({ ok: true, version: 9 })
  })
})

describe('locks and fencing', () => {
  const acquire = (name: string, ttlMs = 1000): Command => ({ type: 'lock.acquire', name, ttlMs })

  it('issues growing tokens and refuses a held lock until it expires by stamped time', () => {
    const m = machine()
    expect(m.run(acquire('l'), 1000)).toEqual({ ok: true, token: 1, expiresAtMs: 2000 })
    expect(m.run(acquire('l'), 1999)).toEqual({ ok: false, code: 'lock_held', expiresAtMs: 2000 })
    expect(m.run(acquire('l'), 2000)).toEqual({ ok: true, token: 3, expiresAtMs: 3000 })
  })

  it('never lets a leader with a slow clock move time backwards', () => {
    const m = machine()
    m.run(acquire('l'), 5000)
    // A new leader whose clock is behind stamps 4000; state-machine time stays at 5000.
    expect(m.run(acquire('l'), 4000)).toEqual({ ok: false, code: 'lock_held', expiresAtMs: 6000 })
    expect(m.state.nowMs).toBe(5000)
  })

  it('renews and releases with the current token only', () => {
    const m = machine()
    m.run(acquire('l'), 1000)
    expect(m.run({ type: 'lock.renew', name: 'l', token: 1, ttlMs: 5000 }, 1500)).toEqual({
      ok: true,
      token: 1,
      expiresAtMs: 6500,
    })
    expect(m.run({ type: 'lock.release', name: 'l', token: 9 }, 1600)).toMatchObject({
      code: 'stale_token',
      reason: 'never_issued',
    })
    expect(m.run({ type: 'lock.release', name: 'l', token: 1 }, 1700)).toEqual({
      ok: true,
      token: 1,
      expiresAtMs: null,
    })
    expect(m.run({ type: 'lock.renew', name: 'l', token: 1, ttlMs: 10 }, 1800)).toMatchObject({
      code: 'stale_token',
      reason: 'released',
    })
    expect(m.run(acquire('l'), 1900)).toMatchObject({ ok: true, token: 6 })
  })

  it('refuses fenced writes whose token is stale, released, expired or unknown', () => {
    const m = machine()
    const fenced = (token: number, lock = 'l') => put('k', `t${token}`, { fence: { lock, token } })
    m.run(acquire('l'), 1000)
    expect(m.run(fenced(1), 1100)).toEqual({ ok: true, version: 2 })
    expect(m.run(fenced(1, 'nope'), 1100)).toMatchObject({ reason: 'unknown_lock' })
    expect(m.run(fenced(1), 2500)).toMatchObject({ code: 'stale_token', reason: 'expired' })
    m.run(acquire('l'), 2600)
    // The paused holder of token 1 wakes up: its write is refused, the new holder's is not.
    expect(m.run(fenced(1), 2700)).toMatchObject({ code: 'stale_token', reason: 'superseded' })
    expect(m.run(fenced(6), 2700)).toMatchObject({ code: 'stale_token', reason: 'never_issued' })
    expect(m.run(fenced(5), 2800)).toEqual({ ok: true, version: 8 })
    m.run({ type: 'lock.release', name: 'l', token: 5 }, 2900)
    expect(m.run(fenced(5), 3000)).toMatchObject({ code: 'stale_token', reason: 'released' })
    expect(new TextDecoder().decode(m.state.kv.get('ks', 'k')?.value)).toBe('t5')
  })
})

describe('decoding and snapshots', () => {
  it('answers invalid_command for an undecodable entry and skips no-ops', () => {
    const m = machine()
    expect(m.state.apply(1, Uint8Array.of(0xc1))).toEqual({ ok: false, code: 'invalid_command' })
    m.state.skip(2)
    expect(m.state.appliedIndex).toBe(2)
    expect(() => m.state.skip(4)).toThrow()
  })

  it('refuses malformed proposals and results from peers', () => {
    const bad = [
      {
        command: { type: 'kv.put', keyspace: 'ks', key: '', value: bytes('v'), contentType: 'x' },
        stampMs: 1,
      },
      { command: { type: 'kv.zap' }, stampMs: 1 },
      { command: { type: 'lock.acquire', name: 'a:b', ttlMs: 10 }, stampMs: 1 },
      { command: { type: 'lock.acquire', name: 'a', ttlMs: 10, extra: 1 }, stampMs: 1 },
      { command: { type: 'lock.acquire', name: 'a', ttlMs: 10 }, stampMs: -1 },
    ]
    for (const proposal of bad) {
      expect(() => decodeProposal(encodeProposal(proposal as never))).toThrow(MurmurError)
    }
    expect(() => parseResult({ ok: false, code: 'nope' })).toThrow(MurmurError)
    expect(parseResult({ ok: true, version: null })).toEqual({ ok: true, version: null })
  })

  it('restores a snapshot into an identical state', () => {
    const m = machine()
    m.run(put('a', 'one'), 1000, 'r1')
    m.run({ type: 'lock.acquire', name: 'l', ttlMs: 50 }, 1200)
    const copy = new StrongStateMachine(LIMITS)
    copy.restore(m.state.snapshot(), m.state.appliedIndex)
    expect(copy.snapshot()).toEqual(m.state.snapshot())
    expect(copy.nowMs).toBe(1200)
    expect(() => copy.restore(m.state.snapshot(), 7)).toThrow(MurmurError)
    expect(() => copy.restore(Uint8Array.of(1, 2, 3), 2)).toThrow(MurmurError)
  })
})

const commandArbitrary: fc.Arbitrary<{
  command: Command
  stampMs: number
  requestId?: string | undefined
}> = fc.record(
  {
    command: fc.oneof(
      fc.record({
        type: fc.constant('kv.put' as const),
        keyspace: fc.constantFrom('a', 'b'),
        key: fc.constantFrom('x', 'y', 'z'),
        value: fc.uint8Array({ maxLength: 8 }),
        contentType: fc.constant('t'),
        condition: fc.option(
          fc.oneof(
            fc.record({
              kind: fc.constant('version' as const),
              version: fc.integer({ min: 1, max: 30 }),
            }),
            fc.record({ kind: fc.constantFrom('exists' as const, 'absent' as const) }),
          ),
          { nil: undefined },
        ),
      }),
      fc.record({
        type: fc.constant('kv.delete' as const),
        keyspace: fc.constantFrom('a', 'b'),
        key: fc.constantFrom('x', 'y'),
      }),
      fc.record({
        type: fc.constant('lock.acquire' as const),
        name: fc.constantFrom('l1', 'l2'),
        ttlMs: fc.integer({ min: 1, max: 50 }),
      }),
      fc.record({
        type: fc.constant('lock.release' as const),
        name: fc.constantFrom('l1', 'l2'),
        token: fc.integer({ min: 1, max: 30 }),
      }),
    ) as fc.Arbitrary<Command>,
    stampMs: fc.integer({ min: 0, max: 200 }),
    requestId: fc.option(fc.constantFrom('r1', 'r2', 'r3'), { nil: undefined }),
  },
  { requiredKeys: ['command', 'stampMs'] },
)

describe('determinism', () => {
  it('gives a replica restored from a snapshot the same results and state', () => {
    fc.assert(
      fc.property(fc.array(commandArbitrary, { maxLength: 30 }), fc.nat(30), (proposals, cut) => {
        const first = new StrongStateMachine(LIMITS)
        let second = new StrongStateMachine(LIMITS)
        proposals.forEach((proposal, position) => {
          const data = encodeProposal(
            Object.fromEntries(
              Object.entries(proposal).filter(([, v]) => v !== undefined),
            ) as never,
          )
          const index = position + 1
          if (position === cut) {
            const restored = new StrongStateMachine(LIMITS)
            restored.restore(second.snapshot(), second.appliedIndex)
            second = restored
          }
          expect(second.apply(index, data)).toEqual(first.apply(index, data))
        })
        expect(second.snapshot()).toEqual(first.snapshot())
      }),
      { numRuns: 200 },
    )
  })
})
