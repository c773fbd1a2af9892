/**
 * Goal: the process logger (pino behind the Logger seam) writes one JSON object per line with
 * the level name, an ISO time, the node id exactly once and the message, honours the level,
 * renders errors with their code and stack and bytes by their length, and carries a child's
 * fields. Method: createProcessLogger with an in-memory destination, lines parsed back.
 */

import { describe, expect, it } from 'vitest'
import { MurmurError } from '../../../src/env/errors.js'
import { createProcessLogger } from '../../../src/runtime/process.js'

function capture(level: Parameters<typeof createProcessLogger>[0]) {
  const lines: string[] = []
  const log = createProcessLogger(level, 'n7', { write: (line: string) => lines.push(line) })
  const records = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  return { log, lines, records }
}

describe('process logger', () => {
  it('writes JSON lines with level, time, node and message', () => {
    const { log, lines, records } = capture('info')
    log.info('node started', { node: 'n7', boots: 3 })
    log.warn('corrupt record read as missing', { key: 12 })
    expect(lines.every((line) => line.endsWith('\n') && line.split('\n').length === 2)).toBe(true)
    expect(records()).toEqual([
      expect.objectContaining({ level: 'info', node: 'n7', boots: 3, msg: 'node started' }),
      expect.objectContaining({ level: 'warn', node: 'n7', key: 12 }),
    ])
    expect(lines[0]?.match(/"node":/g)?.length).toBe(1)
    const time = records()[0]?.['time']
    expect(typeof time === 'string' && new Date(time).toISOString() === time).toBe(true)
  })

  it('drops records below its level', () => {
    const { log, records } = capture('warn')
    log.debug('peer transport', { peer: 'n2' })
    log.info('raft role changed')
    log.error('request failed')
    expect(records().map((record) => record['level'])).toEqual(['error'])
    expect(log.isLevelEnabled('info')).toBe(false)
    expect(log.isLevelEnabled('error')).toBe(true)
    const silent = capture('silent')
    silent.log.error('nothing')
    expect(silent.lines).toEqual([])
  })

  it('renders errors with code and stack, bytes by length, and child fields', () => {
    const { log, records } = capture('debug')
    const error = new MurmurError('corrupt_record', 'bad checksum', { details: { key: 'k' } })
    log.child({ component: 'raft' }).error('storage failed', { error, value: new Uint8Array(9) })
    const [record] = records()
    expect(record).toMatchObject({ component: 'raft', node: 'n7', value: '<9 bytes>' })
    expect(record?.['error']).toMatchObject({
      type: 'MurmurError',
      message: 'bad checksum',
      code: 'corrupt_record',
    })
    const rendered = (record?.['error'] ?? {}) as Record<string, unknown>
    expect(String(rendered['stack'])).toContain('logs.test')
  })
})
