/**
 * A reader for the small subset of EDN that Jepsen histories use: one map per line whose keys
 * are keywords and whose values are nil, booleans, integers, strings, keywords or vectors of
 * those. Anything outside that subset (floats, sets, lists, tagged literals, comments) is an
 * error rather than a guess, so a history is never checked in a form it was not written in.
 */

import { MurmurError } from '../env/errors.js'

/** A keyword such as `:invoke`, kept apart from strings (its `name` has no colon). */
export class EdnKeyword {
  constructor(readonly name: string) {}
}

export type EdnValue = null | boolean | number | string | EdnKeyword | readonly EdnValue[]

/** Nesting limit for vectors, so a hostile line cannot overflow the stack. */
const ednDepthMax = 16

const SYMBOL_CHARACTER = /[A-Za-z0-9*+!\-_?<>=/.]/

/** Reads one EDN map with keyword keys; throws MurmurError('invalid_request') on bad syntax. */
export function readEdnMap(text: string): Map<string, EdnValue> {
  const reader = new EdnReader(text)
  const map = reader.readMap()
  reader.expectEnd()
  return map
}

class EdnReader {
  private position = 0

  constructor(private readonly text: string) {}

  readMap(): Map<string, EdnValue> {
    this.expect('{')
    const map = new Map<string, EdnValue>()
    for (;;) {
      this.skipSpace()
      if (this.peek() === '') this.fail('unterminated map')
      if (this.peek() === '}') break
      const key = this.readValue(0)
      if (!(key instanceof EdnKeyword)) this.fail('map keys must be keywords')
      if (map.has(key.name)) this.fail(`duplicate key :${key.name}`)
      this.skipSpace()
      if (this.peek() === '}') this.fail(`key :${key.name} has no value`)
      map.set(key.name, this.readValue(0))
    }
    this.position++
    return map
  }

  expectEnd(): void {
    this.skipSpace()
    if (this.position < this.text.length) this.fail('unexpected text after the map')
  }

  private readValue(depth: number): EdnValue {
    this.skipSpace()
    const character = this.peek()
    if (character === '"') return this.readString()
    if (character === ':') return new EdnKeyword(this.readSymbol(1))
    if (character === '[') return this.readVector(depth)
    const symbol = this.readSymbol(0)
    if (symbol === 'nil') return null
    if (symbol === 'true' || symbol === 'false') return symbol === 'true'
    if (/^[-+]?\d+$/.test(symbol)) {
      const value = Number(symbol)
      if (!Number.isSafeInteger(value)) this.fail(`integer ${symbol} is out of range`)
      return value
    }
    return this.fail(symbol === '' ? `unexpected ${describe(character)}` : `unsupported ${symbol}`)
  }

  private readVector(depth: number): EdnValue[] {
    if (depth >= ednDepthMax) this.fail(`vectors nest deeper than ${ednDepthMax}`)
    this.expect('[')
    const items: EdnValue[] = []
    for (;;) {
      this.skipSpace()
      if (this.peek() === '') this.fail('unterminated vector')
      if (this.peek() === ']') break
      items.push(this.readValue(depth + 1))
    }
    this.position++
    return items
  }

  private readString(): string {
    this.expect('"')
    let value = ''
    for (;;) {
      const character = this.text[this.position++]
      if (character === undefined) this.fail('unterminated string')
      if (character === '"') return value
      if (character !== '\\') {
        value += character
        continue
      }
      const escaped = this.text[this.position++]
      const replacement = escaped === undefined ? undefined : ESCAPES.get(escaped)
      if (replacement === undefined) this.fail(`unsupported escape \\${escaped ?? ''}`)
      value += replacement
    }
  }

  /** Reads a run of symbol characters after skipping `prefixLength` characters. */
  private readSymbol(prefixLength: number): string {
    this.position += prefixLength
    const start = this.position
    while (SYMBOL_CHARACTER.test(this.peek())) this.position++
    const symbol = this.text.slice(start, this.position)
    if (prefixLength > 0 && symbol === '') this.fail('empty keyword')
    return symbol
  }

  /** Whitespace and commas separate EDN elements. */
  private skipSpace(): void {
    while (/[\s,]/.test(this.peek())) this.position++
  }

  private peek(): string {
    return this.text[this.position] ?? ''
  }

  private expect(character: string): void {
    this.skipSpace()
    if (this.peek() !== character) this.fail(`expected ${describe(character)}`)
    this.position++
  }

  private fail(message: string): never {
    throw new MurmurError('invalid_request', `${message} at column ${this.position + 1}`)
  }
}

const ESCAPES = new Map([
  ['"', '"'],
  ['\\', '\\'],
  ['n', '\n'],
  ['t', '\t'],
  ['r', '\r'],
])

function describe(character: string): string {
  return character === '' ? 'end of line' : `'${character}'`
}
