/**
 * Goal: the three history formats parse into the operations they describe, `:fail` events are
 * dropped and unanswered or `:info` invocations become pending, and every malformed line is
 * rejected with its line number instead of being guessed at.
 *
 * Method: small inline documents in each format, checked field by field, plus one malformed
 * variant per rule the parsers enforce.
 */

import { describe, expect, it } from 'vitest'
import { readEdnMap } from '../../../src/check/edn.js'
import { HistoryRecorder } from '../../../src/check/history.js'
import { checkLinearizability } from '../../../src/check/linearizability.js'
import { casRegisterModel } from '../../../src/check/models.js'
import {
  formatJsonLinesEvent,
  type JsonLinesEvent,
  parseJepsenRegisterLog,
  parseJsonLinesRegister,
  parseKeyValueEdn,
} from '../../../src/check/parsers.js'
import { isMurmurError } from '../../../src/env/errors.js'

/** Runs `parse` and returns the line number and message of the error it must throw. */
function parseError(parse: () => unknown): { line: unknown; message: string } {
  try {
    parse()
  } catch (error) {
    if (!isMurmurError(error, 'invalid_request')) throw error
    return { line: error.details['line'], message: error.message }
  }
  throw new Error('expected a parse error')
}

const jepsenLog = [
  'INFO  jepsen.util - 0\t:invoke\t:write\t3',
  'INFO  jepsen.util - 1\t:invoke\t:read\tnil',
  'INFO  jepsen.util - 0\t:ok\t:write\t3',
  'INFO  jepsen.util - 1   :ok     :read   3',
  '',
  'INFO  jepsen.util - 2\t:invoke\t:cas\t[3 4]\r',
  'INFO  jepsen.util - 3\t:invoke\t:cas\t[9 1]',
  'INFO  jepsen.util - 2\t:info\t:cas\t:timed-out',
  'INFO  jepsen.util - 3\t:fail\t:cas\t[9 1]',
  'INFO  jepsen.util - 4\t:invoke\t:read\tnil',
  'INFO  jepsen.util - 4\t:fail\t:read\t:timed-out',
  'INFO  jepsen.util - 5\t:invoke\t:write\t-7',
].join('\n')

describe('parseJepsenRegisterLog', () => {
  it('reads invocations, completions, failures and indeterminate operations', () => {
    const { operations, failedCount } = parseJepsenRegisterLog(jepsenLog)
    expect(failedCount).toBe(2)
    expect(operations).toEqual([
      {
        status: 'completed',
        clientId: 0,
        input: { kind: 'write', key: '', value: 3 },
        output: { kind: 'write' },
        callTime: 1,
        returnTime: 3,
      },
      {
        status: 'completed',
        clientId: 1,
        input: { kind: 'read', key: '' },
        output: { kind: 'read', value: 3 },
        callTime: 2,
        returnTime: 4,
      },
      {
        status: 'pending',
        clientId: 2,
        input: { kind: 'cas', key: '', expected: 3, value: 4 },
        callTime: 6,
      },
      {
        status: 'pending',
        clientId: 5,
        input: { kind: 'write', key: '', value: -7 },
        callTime: 12,
      },
    ])
    expect(checkLinearizability(casRegisterModel, operations, { stepsMax: 1000 }).verdict).toBe(
      'linearizable',
    )
  })

  it('rejects malformed lines with their line numbers', () => {
    const cases: [string, number, string][] = [
      ['INFO  jepsen.core - something else', 1, 'not a jepsen.util operation line'],
      ['\nINFO  jepsen.util - 0\t:ok\t:write\t3', 2, 'without an invocation'],
      [
        'INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:ok\t:write\t4',
        2,
        'another argument',
      ],
      [
        'INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:ok\t:cas\t[3 4]',
        2,
        'invoked write',
      ],
      [
        'INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:invoke\t:write\t3',
        2,
        'outstanding',
      ],
      [
        'INFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:ok\t:write\t:timed-out',
        2,
        'needs a value',
      ],
      ['INFO  jepsen.util - 0\t:invoke\t:read\t3', 1, 'invoked with nil'],
      ['INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2 3]', 1, 'unsupported value'],
      ['INFO  jepsen.util - 0\t:invoke\t:delete\tnil', 1, 'unknown register operation'],
      ['INFO  jepsen.util - 0\t:begin\t:read\tnil', 1, 'unknown event type'],
      ['INFO  jepsen.util - 0\t:invoke\t:write\t99999999999999999999', 1, 'out of range'],
    ]
    for (const [text, line, message] of cases) {
      const error = parseError(() => parseJepsenRegisterLog(text))
      expect(error.line).toBe(line)
      expect(error.message).toContain(`line ${line}: `)
      expect(error.message).toContain(message)
    }
  })
})

describe('parseKeyValueEdn', () => {
  const history = [
    '{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}',
    '{:process 1, :type :invoke, :f :get, :key "0", :value nil}',
    '{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}',
    '{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}',
    '{:process 2 :type :invoke :f :put :key "1" :value "a\\"b" :time 5}',
    '{:process 2, :type :info, :f :put, :key "1", :value :timed-out}',
    '{:process 3, :type :invoke, :f :get, :key "1", :value nil}',
    '{:process 3, :type :fail, :f :get, :key "1", :value nil}',
  ].join('\n')

  it('reads gets, puts and appends per key', () => {
    const { operations, failedCount } = parseKeyValueEdn(history)
    expect(failedCount).toBe(1)
    expect(operations.map((operation) => operation.status)).toEqual([
      'completed',
      'completed',
      'pending',
    ])
    expect(operations[1]).toMatchObject({
      input: { kind: 'get', key: '0' },
      output: { kind: 'get', value: 'x 0 0 y' },
    })
    expect(operations[2]).toMatchObject({
      input: { kind: 'put', key: '1', value: 'a"b' },
      callTime: 5,
    })
  })

  it('rejects malformed lines with their line numbers', () => {
    const cases: [string, number, string][] = [
      [
        '{:process 0, :type :invoke, :f :get, :key "0", :value nil, :extra 1}',
        1,
        'unknown key :extra',
      ],
      ['\n\n{:process 0, :type :invoke, :f :get, :key "0", :value nil', 3, 'unterminated map'],
      ['{:process 0, :process 1}', 1, 'duplicate key'],
      ['{:process 0, :type invoke, :f :get, :key "0", :value nil}', 1, 'unsupported invoke'],
      ['{:process 0, :type :invoke, :f :get, :key "0"}', 1, ':value is missing'],
      ['{:process 0, :type :invoke, :f :get, :key "0", :value nil} x', 1, 'unexpected text'],
      ['{:process 0, :type :invoke, :f :put, :key "0", :value 1}', 1, 'takes a string'],
      ['{:process 0, :type :invoke, :f :get, :key "0", :value "\\q"}', 1, 'unsupported escape'],
    ]
    for (const [text, line, message] of cases) {
      const error = parseError(() => parseKeyValueEdn(text))
      expect(error.line).toBe(line)
      expect(error.message).toContain(message)
    }
  })

  it('reads nested vectors but refuses to nest without limit', () => {
    expect(readEdnMap('{:a [1 [2 :b] "c" nil true]}').get('a')).toHaveLength(5)
    expect(() => readEdnMap(`{:a ${'['.repeat(40)}${']'.repeat(40)}}`)).toThrow(/nest deeper/)
  })
})

describe('JSON-lines register format', () => {
  const events: JsonLinesEvent[] = [
    { process: 1, type: 'invoke', f: 'write', key: 'k', value: 'a', timeMs: 10 },
    { process: 1, type: 'ok', f: 'write', key: 'k', value: 'a', timeMs: 12 },
    { process: 2, type: 'invoke', f: 'cas', key: 'k', value: ['b', 'c'], timeMs: 13 },
    { process: 2, type: 'ok', f: 'cas', key: 'k', value: ['b', 'c'], swapped: false, timeMs: 13 },
    { process: 3, type: 'invoke', f: 'read', key: 'j', value: null, timeMs: 14 },
    { process: 3, type: 'ok', f: 'read', key: 'j', value: null, timeMs: 15 },
    { process: 4, type: 'invoke', f: 'write', key: 'k', value: 7, timeMs: 16 },
    { process: 4, type: 'info', f: 'write', key: 'k', timeMs: 20 },
    { process: 4, type: 'invoke', f: 'read', key: 'k', value: null, timeMs: 21 },
  ]

  it('round-trips what formatJsonLinesEvent writes', () => {
    const text = events.map(formatJsonLinesEvent).join('\n')
    const { operations, failedCount } = parseJsonLinesRegister(text)
    expect(failedCount).toBe(0)
    expect(operations).toHaveLength(5)
    expect(operations[1]).toEqual({
      status: 'completed',
      clientId: 2,
      input: { kind: 'cas', key: 'k', expected: 'b', value: 'c' },
      output: { kind: 'cas', swapped: false },
      callTime: 13,
      returnTime: 13,
    })
    // Process 4 timed out, then went on: both of its operations stay pending.
    expect(operations.slice(3).map((operation) => operation.status)).toEqual(['pending', 'pending'])
    const result = checkLinearizability(casRegisterModel, operations, { stepsMax: 1000 })
    expect(result.verdict).toBe('linearizable')
    expect(result.partitionsCount).toBe(2)
  })

  it('rejects malformed lines with their line numbers', () => {
    const first = formatJsonLinesEvent(events[0]!)
    const earlier = formatJsonLinesEvent({ ...events[0]!, process: 2, timeMs: 9 })
    const cases: [string, number, string][] = [
      ['{"process":1,', 1, 'malformed JSON'],
      ['[1,2]', 1, 'expected a JSON object'],
      [`${first}\n${earlier}`, 2, 'before the previous'],
      [first.replace('"key":"k"', '"key":"k","extra":true'), 1, 'unknown field extra'],
      [
        `${first}\n${formatJsonLinesEvent({ ...events[1]!, swapped: true })}`,
        2,
        'swapped is only allowed',
      ],
      [first.replace('"process":1', '"process":1.5'), 1, 'process must be an integer'],
      [first.replace('"value":"a"', '"value":{"nested":1}'), 1, 'expected a string or number'],
      [first.replace(',"value":"a"', ''), 1, 'needs a value'],
    ]
    for (const [text, line, message] of cases) {
      const error = parseError(() => parseJsonLinesRegister(text))
      expect(error.line).toBe(line)
      expect(error.message).toContain(message)
    }
  })
})

describe('HistoryRecorder', () => {
  it('keeps operations in invocation order and closes outstanding ones as pending', () => {
    const recorder = new HistoryRecorder<string, string>()
    recorder.invoke(0, 'first', 1)
    recorder.invoke(1, 'second', 2)
    recorder.ok(1, 'done', 3)
    const { operations } = recorder.finish()
    expect(operations.map((operation) => [operation.input, operation.status])).toEqual([
      ['first', 'pending'],
      ['second', 'completed'],
    ])
  })

  it('rejects events that break the protocol', () => {
    const recorder = new HistoryRecorder<string, string>()
    recorder.invoke(0, 'first', 5)
    expect(() => recorder.invoke(0, 'again', 6)).toThrow(/outstanding/)
    expect(() => recorder.ok(1, 'done', 7)).toThrow(/without an invocation/)
    expect(() => recorder.ok(0, 'done', 4)).toThrow(/before the previous/)
    expect(() => recorder.invoke(2, 'nan', Number.NaN)).toThrow(/finite/)
  })
})
