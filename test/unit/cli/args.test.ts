/**
 * Command-line parsing (src/cli/args.ts): an option's value may begin with "-" (context tokens
 * do one time in 64), and mistakes are one-line usage errors.
 */

import { describe, expect, it } from 'vitest'
import { type OptionSpec, parseCommandArgs, UsageError } from '../../../src/cli/args.js'
import { encodeCausalContextToken } from '../../../src/versioning/context-token.js'

const OPTIONS: OptionSpec = {
  context: { type: 'string' },
  node: { type: 'string', short: 'n' },
  json: { type: 'boolean' },
}

describe('parseCommandArgs', () => {
  it('takes the next argument as an option value even when it begins with "-"', () => {
    const parsed = parseCommandArgs(
      ['ks', 'key', '--context', '-Abc_', '-n', '-weird', '--json'],
      OPTIONS,
      2,
    )
    expect(parsed.values).toMatchObject({ context: '-Abc_', node: '-weird', json: true })
    expect(parsed.positionals).toEqual(['ks', 'key'])
  })

  it('passes every real context token through, whatever its first character', () => {
    // Tokens of different clocks start with different characters; some with "-".
    const firstCharacters = new Set<string>()
    for (let counter = 1; counter <= 2000; counter++) {
      const token = encodeCausalContextToken({ vector: new Map([['n1', counter]]), cloud: [] })
      firstCharacters.add(token[0] as string)
      const parsed = parseCommandArgs(['--context', token], OPTIONS)
      expect(parsed.values['context']).toBe(token)
    }
    expect(firstCharacters.has('-')).toBe(true)
  })

  it('keeps arguments after -- as positionals and reports mistakes as usage errors', () => {
    expect(parseCommandArgs(['ks', '--', '--context', '-v'], OPTIONS, 3).positionals).toEqual([
      'ks',
      '--context',
      '-v',
    ])
    expect(() => parseCommandArgs(['--context'], OPTIONS)).toThrow(UsageError)
    expect(() => parseCommandArgs(['--bogus'], OPTIONS)).toThrow(/bogus/)
    expect(() => parseCommandArgs(['a', 'b'], OPTIONS, 1)).toThrow('unexpected argument "b"')
  })
})
