/**
 * Goal: the dotted-context extension keeps DVV's promise: a write supersedes exactly what its
 * context names, the context a write hands back lets the client supersede what it saw plus
 * its own write and nothing else, no write is ever lost, and dotted tokens round-trip while
 * malformed ones are refused as invalid_context.
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
  type DottedContext,
  emptyVersioned,
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
  vectorCovers,
  vectorFromEntries,
} from '../../../src/versioning/version-vector.js'
import { checksum, encode } from '../../../src/wire/codec.js'

const A = 'n1.aa'
const B = 'n2.bb'
const EMPTY_CONTEXT: DottedContext = { vector: EMPTY_VECTOR, dots: [] }

function names(context: DottedContext, dot: Dot): boolean {
  return vectorCovers(context.vector, dot) || context.dots.some((d) => dotKey(d) === dotKey(dot))
}

function dotsOf(state: Versioned<unknown>): string[] {
  return state.siblings.map((sibling) => dotKey(sibling.dot))
}

describe('updateDotted and writeContext', () => {
  it('supersedes siblings named by the vector or by a dot, and joins only the vector', () => {
    const x = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'x')
    const y = update(x.versioned, EMPTY_VECTOR, B, 'y')
    const context: DottedContext = { vector: EMPTY_VECTOR, dots: [y.dot] }
    const z = updateDotted(y.versioned, context, A, 'z')
    expect(z.versioned.siblings.map((s) => s.payload)).toEqual(['x', 'z'])
    expect(z.versioned.clock.get(B)).toBe(1)
    const foreign: DottedContext = { vector: EMPTY_VECTOR, dots: [{ actor: 'n3.cc', counter: 7 }] }
    const w = updateDotted(z.versioned, foreign, A, 'w')
    expect(w.versioned.clock.has('n3.cc')).toBe(false)
  })

  it('mints above the counter floor, so a reaped key never reuses a dot', () => {
    const first = updateDotted(emptyVersioned<string>(), EMPTY_CONTEXT, A, 'x', {
      counterFloor: 41,
    })
    expect(first.dot).toEqual({ actor: A, counter: 42 })
    const stale: DottedContext = { vector: vectorFromEntries([[A, 42]]), dots: [] }
    const fresh = updateDotted(emptyVersioned<string>(), EMPTY_CONTEXT, A, 'y', {
      counterFloor: 42,
    })
    expect(vectorCovers(stale.vector, fresh.dot)).toBe(false)
  })

  it('answers the exact clock when only the new sibling remains', () => {
    const x = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'x')
    const y = updateDotted(x.versioned, { vector: x.versioned.clock, dots: [] }, B, 'y')
    expect(writeContext(y.versioned, y.dot, { vector: x.versioned.clock, dots: [] })).toEqual({
      vector: y.versioned.clock,
      dots: [],
    })
  })

  it('answers the sent vector plus the new dot when concurrent siblings remain', () => {
    const x = update(emptyVersioned<string>(), EMPTY_VECTOR, A, 'x')
    const y = updateDotted(x.versioned, EMPTY_CONTEXT, B, 'y')
    const context = writeContext(y.versioned, y.dot, EMPTY_CONTEXT)
    expect(context).toEqual({ vector: EMPTY_VECTOR, dots: [y.dot] })
    const next = updateDotted(y.versioned, context, B, 'y2')
    expect(next.versioned.siblings.map((s) => s.payload)).toEqual(['x', 'y2'])
  })
})

interface Client {
  context: DottedContext
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
  readonly sent: DottedContext
  readonly before: Versioned<string>
  readonly after: Versioned<string>
  readonly answered: DottedContext
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
      ;(clients[step.client] as Client).context = { vector: merged.clock, dots: [] }
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
          const named = writes.some((other) => names(other.sent, write.dot))
          if (!named) expect(final.has(dotKey(write.dot))).toBe(true)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('drops for good what a write superseded: everything its vector covers, and named dots it held', () => {
    fc.assert(
      fc.property(historyArbitrary, ({ replicas, writes }) => {
        const final = new Set(dotsOf(replicas.reduce((a, b) => sync(a, b))))
        for (const write of writes) {
          for (const sibling of write.before.siblings) {
            if (names(write.sent, sibling.dot)) expect(final.has(dotKey(sibling.dot))).toBe(false)
          }
          for (const other of writes) {
            if (vectorCovers(write.sent.vector, other.dot)) {
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
          expect(names(write.answered, write.dot)).toBe(true)
          for (const sibling of write.after.siblings) {
            if (dotKey(sibling.dot) === dotKey(write.dot)) continue
            expect(names(write.answered, sibling.dot)).toBe(false)
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
    expect(encodeCausalContextToken({ vector, dots: [] })).toBe(encodeContextToken(vector))
    const context: DottedContext = {
      vector,
      dots: [
        { actor: B, counter: 5 },
        { actor: A, counter: 9 },
      ],
    }
    const decoded = decodeCausalContextToken(encodeCausalContextToken(context))
    expect(decoded.dots).toEqual([
      { actor: A, counter: 9 },
      { actor: B, counter: 5 },
    ])
    expect([...decoded.vector]).toEqual([...vector])
    expect(decodeCausalContextToken(undefined)).toEqual(EMPTY_CONTEXT)
  })

  it('drops dots the vector covers and keeps plain readers working', () => {
    const vector = vectorFromEntries([[A, 3]])
    const token = encodeCausalContextToken({ vector, dots: [{ actor: A, counter: 2 }] })
    expect(decodeContextToken(token).get(A)).toBe(3)
  })

  function sealed(body: unknown): string {
    const payload = encode(body)
    const bytes = Buffer.alloc(4 + payload.length)
    bytes.writeUInt32BE(checksum(payload), 0)
    bytes.set(payload, 4)
    return bytes.toString('base64url')
  }

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
