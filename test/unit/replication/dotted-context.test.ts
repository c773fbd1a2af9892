/**
 * Goal: contexts with cloud dots keep DVV's promise: a write supersedes exactly what its
 * context covers, on every replica, even through a coordinator that never saw a covered write;
 * the context a write hands back lets the client supersede what it saw plus its own write and
 * nothing else; no write is ever lost; clocks with clouds round-trip; and dotted tokens
 * round-trip while malformed ones are refused as invalid_context.
 * Method: worked examples, then fast-check over random histories in which clients keep their
 * context across reads and writes (as HTTP clients do), replicas mint with a node-wide
 * monotonic counter floor, and replicas sync pairwise; the final state is the join of all.
 */

import { Buffer } from 'node:buffer'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isMurmurError } from '../../../src/env/errors.js'
import {
  DOTTED_TOKEN_VERSION,
  decodeCausalContextToken,
  decodeContextToken,
  encodeCausalContextToken,
  encodeContextToken,
} from '../../../src/versioning/context-token.js'
import {
  contextCovers,
  type DotContext,
  EMPTY_DOT_CONTEXT,
} from '../../../src/versioning/dot-context.js'
import {
  CLOCK_CLOUD_DOTS_MAX,
  CONTEXT_DOTS_MAX,
  context,
  decodeVersioned,
  emptyVersioned,
  encodeVersioned,
  sync,
  update,
  updateDotted,
  type Versioned,
  writeContext,
} from '../../../src/versioning/dvv.js'
import {
  type Dot,
  dotKey,
  EMPTY_VECTOR,
  vectorFromEntries,
} from '../../../src/versioning/version-vector.js'
import { checksum, decode, encode } from '../../../src/wire/codec.js'

const A = 'n1.aa'
const B = 'n2.bb'
const C = 'n3.cc'
const EMPTY_CONTEXT: DotContext = EMPTY_DOT_CONTEXT

function dotsOf(state: Versioned<unknown>): string[] {
  return state.siblings.map((sibling) => dotKey(sibling.dot))
}

function payloadsOf(state: Versioned<string>): string[] {
  return state.siblings.map((sibling) => sibling.payload)
}

describe('updateDotted and writeContext', () => {
  it('supersedes siblings the context covers and keeps its dots in the new clock', () => {
    const x = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'x')
    const y = update(x.versioned, EMPTY_VECTOR, B, 'y')
    const context: DotContext = { vector: EMPTY_VECTOR, cloud: [y.dot] }
    const z = updateDotted(y.versioned, context, A, 'z')
    expect(payloadsOf(z.versioned)).toEqual(['x', 'z'])
    expect(z.versioned.clock.vector.get(B)).toBe(1)
    const foreign: DotContext = { vector: EMPTY_VECTOR, cloud: [{ actor: C, counter: 7 }] }
    const w = updateDotted(z.versioned, foreign, A, 'w')
    expect(w.versioned.clock.vector.has(C)).toBe(false)
    expect(w.versioned.clock.cloud).toEqual([{ actor: C, counter: 7 }])
  })

  it('mints above the counter floor, so a reaped key never reuses a dot', () => {
    const first = updateDotted(emptyVersioned<string>(), EMPTY_CONTEXT, A, 'x', {
      counterFloor: 41,
    })
    expect(first.dot).toEqual({ actor: A, counter: 42 })
    const stale: DotContext = { vector: vectorFromEntries([[A, 42]]), cloud: [] }
    const fresh = updateDotted(emptyVersioned<string>(), EMPTY_CONTEXT, A, 'y', {
      counterFloor: 42,
    })
    expect(contextCovers(stale, fresh.dot)).toBe(false)
  })

  it('answers the exact clock when only the new sibling remains', () => {
    const x = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'x')
    const y = updateDotted(x.versioned, x.versioned.clock, B, 'y')
    expect(writeContext(y.versioned, y.dot, x.versioned.clock)).toEqual(y.versioned.clock)
  })

  it('answers the sent context plus the new dot when concurrent siblings remain', () => {
    const x = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'x')
    const earlier = update(x.versioned, EMPTY_VECTOR, B, 'b1')
    const y = updateDotted(earlier.versioned, EMPTY_CONTEXT, B, 'y')
    const context = writeContext(y.versioned, y.dot, EMPTY_CONTEXT)
    expect(context).toEqual({ vector: EMPTY_VECTOR, cloud: [y.dot] })
    expect(contextCovers(context, earlier.dot)).toBe(false)
    const next = updateDotted(y.versioned, context, B, 'y2')
    expect(payloadsOf(next.versioned)).toEqual(['x', 'b1', 'y2'])
  })

  it('supersedes a named write everywhere, through a coordinator that never saw it', () => {
    // Replica one holds 'old' beside a concurrent 'other'; the client overwrote 'old' there
    // and was handed its dot. Replica two saw neither and coordinates the next write.
    const other = update(emptyVersioned<string>(), EMPTY_VECTOR, B, 'other')
    const old = updateDotted(other.versioned, EMPTY_CONTEXT, A, 'old', { counterFloor: 40 })
    const handed = writeContext(old.versioned, old.dot, EMPTY_CONTEXT)
    expect(handed.cloud).toEqual([old.dot])
    const overwrite = updateDotted(emptyVersioned<string>(), handed, C, 'new')
    expect(contextCovers(overwrite.versioned.clock, old.dot)).toBe(true)
    expect(contextCovers(overwrite.versioned.clock, { actor: A, counter: 40 })).toBe(false)
    const answer = writeContext(overwrite.versioned, overwrite.dot, handed)
    expect(contextCovers(answer, old.dot)).toBe(true)
    // Merged either way, 'old' is gone and 'other' (never seen by the client) stays.
    const merged = sync(old.versioned, overwrite.versioned)
    expect(payloadsOf(merged)).toEqual(['other', 'new'])
    expect(canonical(sync(overwrite.versioned, old.versioned))).toEqual(canonical(merged))
    // The merged vector covers the named dot, so the cloud folds away.
    expect(merged.clock.cloud).toEqual([])
    // Through a coordinator that keeps a concurrent sibling, the answer names only the new
    // dot beyond the sent vector; the new clock holds the named dot, so it is still dropped.
    const stranger = update(emptyVersioned<string>(), EMPTY_VECTOR, B, 'stranger')
    const beside = updateDotted(stranger.versioned, handed, C, 'beside')
    const besideAnswer = writeContext(beside.versioned, beside.dot, handed)
    expect([...besideAnswer.vector]).toEqual([[C, beside.dot.counter]])
    expect(besideAnswer.cloud).toEqual([])
    expect(contextCovers(besideAnswer, stranger.dot)).toBe(false)
    expect(payloadsOf(sync(old.versioned, beside.versioned))).toEqual(['other', 'beside'])
    // A delete through that answer leaves only the tombstone beside 'other'.
    const deleted = updateDotted(overwrite.versioned, answer, C, 'tombstone')
    expect(payloadsOf(sync(old.versioned, deleted.versioned))).toEqual(['other', 'tombstone'])
  })

  it('encodes a clock with a cloud as a third element and one without as before', () => {
    const plain = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'x').versioned
    expect(encodeVersioned(plain, (payload) => payload)).toHaveLength(2)
    const named: DotContext = { vector: EMPTY_VECTOR, cloud: [{ actor: B, counter: 9 }] }
    const clouded = updateDotted(plain, named, A, 'y').versioned
    const wire = encodeVersioned(clouded, (payload) => payload)
    expect(wire).toHaveLength(3)
    const decoded = decodeVersioned(decode(encode(wire)), (raw) => String(raw), 'corrupt_record')
    expect(canonical(decoded)).toEqual(canonical(clouded))
    const tooMany = [wire[0], wire[1], Array.from({ length: 1025 }, (_, i) => [B, i + 3])]
    expect(() => decodeVersioned(tooMany, (raw) => String(raw), 'corrupt_record')).toThrow(
      expect.objectContaining({ code: 'corrupt_record' }),
    )
  })

  it('keeps at most CLOCK_CLOUD_DOTS_MAX cloud dots, the highest counters', () => {
    let state = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'x').versioned
    for (let batch = 0; batch < 10; batch++) {
      const cloud = Array.from({ length: 128 }, (_, i) => ({
        actor: B,
        counter: 2 * (batch * 128 + i) + 3,
      }))
      state = updateDotted(state, { vector: EMPTY_VECTOR, cloud }, A, `v${batch}`).versioned
    }
    expect(state.clock.cloud).toHaveLength(CLOCK_CLOUD_DOTS_MAX)
    // A client is handed at most CONTEXT_DOTS_MAX of them, which a token can carry.
    const handed = context(state)
    expect(handed.cloud).toHaveLength(CONTEXT_DOTS_MAX)
    expect(decodeCausalContextToken(encodeCausalContextToken(handed))).toEqual(handed)
    const only = updateDotted(state, handed, A, 'only')
    expect(writeContext(only.versioned, only.dot, handed).cloud).toHaveLength(CONTEXT_DOTS_MAX)
    expect(state.clock.cloud[0]).toEqual({ actor: B, counter: 2 * (1280 - 1024) + 3 })
  })
})

function canonical(state: Versioned<string>): unknown {
  return encodeVersioned(state, (payload) => payload)
}

interface Client {
  context: DotContext
}

type Step =
  | { readonly kind: 'read'; readonly client: number; readonly replicas: readonly number[] }
  | {
      readonly kind: 'write'
      readonly client: number
      readonly replica: number
      readonly blind: boolean
    }
  | { readonly kind: 'sync'; readonly from: number; readonly to: number }

const REPLICAS = 3
const CLIENTS = 3

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('read' as const),
    client: fc.nat(CLIENTS - 1),
    replicas: fc.uniqueArray(fc.nat(REPLICAS - 1), { minLength: 1, maxLength: REPLICAS }),
  }),
  fc.record({
    kind: fc.constant('write' as const),
    client: fc.nat(CLIENTS - 1),
    replica: fc.nat(REPLICAS - 1),
    blind: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('sync' as const),
    from: fc.nat(REPLICAS - 1),
    to: fc.nat(REPLICAS - 1),
  }),
)

interface Write {
  readonly dot: Dot
  readonly sent: DotContext
  readonly before: Versioned<string>
  readonly after: Versioned<string>
  readonly answered: DotContext
}

function run(steps: readonly Step[]): { replicas: Versioned<string>[]; writes: Write[] } {
  const replicas = Array.from({ length: REPLICAS }, () => emptyVersioned<string>())
  const clients: Client[] = Array.from({ length: CLIENTS }, () => ({ context: EMPTY_CONTEXT }))
  const floors = new Array<number>(REPLICAS).fill(0)
  const writes: Write[] = []
  for (const step of steps) {
    if (step.kind === 'read') {
      const merged = step.replicas.reduce(
        (acc, index) => sync(acc, replicas[index] as Versioned<string>),
        emptyVersioned<string>(),
      )
      ;(clients[step.client] as Client).context = merged.clock
    } else if (step.kind === 'write') {
      const client = clients[step.client] as Client
      const sent = step.blind ? EMPTY_CONTEXT : client.context
      const before = replicas[step.replica] as Versioned<string>
      const actor = `n${step.replica}.x`
      const result = updateDotted(before, sent, actor, `w${writes.length}`, {
        counterFloor: floors[step.replica] as number,
      })
      floors[step.replica] = result.dot.counter
      replicas[step.replica] = result.versioned
      const answered = writeContext(result.versioned, result.dot, sent)
      // A token round trip is what the client really holds.
      client.context = decodeCausalContextToken(encodeCausalContextToken(answered))
      writes.push({
        dot: result.dot,
        sent,
        before,
        after: result.versioned,
        answered: client.context,
      })
    } else {
      replicas[step.to] = sync(
        replicas[step.to] as Versioned<string>,
        replicas[step.from] as Versioned<string>,
      )
    }
  }
  return { replicas, writes }
}

const historyArbitrary = fc.array(stepArbitrary, { maxLength: 40 }).map(run)

describe('dotted contexts over random histories', () => {
  it('never loses a write that no context named', () => {
    fc.assert(
      fc.property(historyArbitrary, ({ replicas, writes }) => {
        const final = new Set(dotsOf(replicas.reduce((a, b) => sync(a, b))))
        for (const write of writes) {
          const named = writes.some((other) => contextCovers(other.sent, write.dot))
          if (!named) expect(final.has(dotKey(write.dot))).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('drops for good every write a context covered, whether or not its coordinator held it', () => {
    fc.assert(
      fc.property(historyArbitrary, ({ replicas, writes }) => {
        const final = new Set(dotsOf(replicas.reduce((a, b) => sync(a, b))))
        for (const write of writes) {
          for (const other of writes) {
            if (contextCovers(write.sent, other.dot)) {
              expect(final.has(dotKey(other.dot))).toBe(false)
            }
          }
        }
      }),
      { numRuns: 300 },
    )
  })

  it('hands back a context that names its own write and no sibling the client did not see', () => {
    fc.assert(
      fc.property(historyArbitrary, ({ writes }) => {
        for (const write of writes) {
          expect(contextCovers(write.answered, write.dot)).toBe(true)
          for (const sibling of write.after.siblings) {
            if (dotKey(sibling.dot) === dotKey(write.dot)) continue
            expect(contextCovers(write.answered, sibling.dot)).toBe(false)
          }
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('dotted context tokens', () => {
  it('round-trips, and stays a plain token when there are no dots', () => {
    const vector = vectorFromEntries([
      [A, 3],
      [B, 1],
    ])
    expect(encodeCausalContextToken({ vector, cloud: [] })).toBe(encodeContextToken(vector))
    const context: DotContext = {
      vector,
      cloud: [
        { actor: B, counter: 5 },
        { actor: A, counter: 9 },
      ],
    }
    const decoded = decodeCausalContextToken(encodeCausalContextToken(context))
    expect(decoded.cloud).toEqual([
      { actor: A, counter: 9 },
      { actor: B, counter: 5 },
    ])
    expect([...decoded.vector]).toEqual([...vector])
    expect(decodeCausalContextToken(undefined)).toEqual(EMPTY_CONTEXT)
  })

  it('drops dots the vector covers and keeps plain readers working', () => {
    const vector = vectorFromEntries([[A, 3]])
    const token = encodeCausalContextToken({ vector, cloud: [{ actor: A, counter: 2 }] })
    expect(decodeContextToken(token).get(A)).toBe(3)
  })

  function sealed(body: unknown): string {
    const payload = encode(body)
    const bytes = Buffer.alloc(4 + payload.length)
    bytes.writeUInt32BE(checksum(payload), 0)
    bytes.set(payload, 4)
    return bytes.toString('base64url')
  }

  it('folds a dot that extends the vector, as tokens of earlier versions may hold', () => {
    const decoded = decodeCausalContextToken(sealed([DOTTED_TOKEN_VERSION, [[A, 1]], [[A, 2]]]))
    expect([...decoded.vector]).toEqual([[A, 2]])
    expect(decoded.cloud).toEqual([])
  })

  it('refuses malformed dotted bodies with invalid_context', () => {
    const bad: unknown[] = [
      [DOTTED_TOKEN_VERSION, [[A, 1]], []],
      [DOTTED_TOKEN_VERSION, [[A, 1]], [[A, 1]]],
      [
        DOTTED_TOKEN_VERSION,
        [],
        [
          [B, 2],
          [A, 2],
        ],
      ],
      [
        DOTTED_TOKEN_VERSION,
        [],
        [
          [A, 2],
          [A, 2],
        ],
      ],
      [DOTTED_TOKEN_VERSION, [], [['', 2]]],
      [DOTTED_TOKEN_VERSION, [], [[A, 0]]],
      [DOTTED_TOKEN_VERSION, [], 'dots'],
      [DOTTED_TOKEN_VERSION, [], Array.from({ length: 129 }, (_, i) => [A, i + 1])],
      [3, [], [[A, 1]]],
      [1, [], [[A, 1]]],
    ]
    for (const body of bad) {
      let thrown: unknown
      try {
        decodeCausalContextToken(sealed(body))
      } catch (error) {
        thrown = error
      }
      expect(isMurmurError(thrown, 'invalid_context'), JSON.stringify(body)).toBe(true)
    }
  })

  it('refuses random text with invalid_context and nothing else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          decodeCausalContextToken(text)
        } catch (error) {
          expect(isMurmurError(error, 'invalid_context')).toBe(true)
        }
      }),
    )
  })
})
