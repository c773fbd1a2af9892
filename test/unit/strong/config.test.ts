/**
 * Goal: the `raft` section of cluster.yml resolves its documented defaults (voters from the
 * strong keyspaces' replica count, else the first min(3, n) nodes) and rejects inconsistent
 * settings with a message naming the field. Method: parse inline cluster files.
 */

import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../src/config/load.js'
import { MurmurError } from '../../../src/env/errors.js'

const nodes = (count: number) =>
  `nodes: [${Array.from({ length: count }, (_, i) => `{ id: n${i + 1} }`).join(', ')}]\n`

function problem(text: string): string {
  try {
    parseConfig(text)
  } catch (error) {
    expect(error).toBeInstanceOf(MurmurError)
    return (error as MurmurError).message
  }
  throw new Error('expected the config to be rejected')
}

describe('raft section', () => {
  it('fills every default', () => {
    const config = parseConfig(nodes(5))
    expect(config.raft).toEqual({
      members: ['n1', 'n2', 'n3'],
      tickMs: 100,
      electionTicks: 10,
      heartbeatTicks: 1,
      leaseReads: false,
      snapshotEntries: 10_000,
      retainEntries: 5000,
      maxInflightMsgs: 256,
      maxSizePerMsgBytes: 1024 * 1024,
      stateBytesMax: 256 * 1024 * 1024,
      requestIdsMax: 100_000,
      requestIdTtlMs: 600_000,
      forwardsMax: 1024,
    })
    expect(parseConfig(nodes(1)).raft.members).toEqual(['n1'])
  })

  it('takes the voters from the strong keyspaces, or as given', () => {
    const strong = `${nodes(5)}keyspaces: { s: { mode: strong, replicas: 5 } }\n`
    expect(parseConfig(strong).raft.members).toEqual(['n1', 'n2', 'n3', 'n4', 'n5'])
    const given = `${nodes(5)}raft: { members: [n5, n2, n4], tickMs: 50, leaseReads: true }\n`
    expect(parseConfig(given).raft).toMatchObject({
      members: ['n5', 'n2', 'n4'],
      tickMs: 50,
      leaseReads: true,
    })
  })

  it('rejects inconsistent settings', () => {
    expect(problem(`${nodes(3)}raft: { members: [n1, n9] }\n`)).toMatch(
      /raft\.members\.1: "n9" is not a node id/,
    )
    expect(problem(`${nodes(3)}raft: { members: [n1, n1] }\n`)).toMatch(/listed twice/)
    expect(
      problem(
        `${nodes(3)}keyspaces: { s: { mode: strong, replicas: 3 } }\nraft: { members: [n1] }\n`,
      ),
    ).toMatch(/1 members, but strong keyspaces have 3 replicas/)
    expect(problem(`${nodes(3)}raft: { electionTicks: 3, heartbeatTicks: 3 }\n`)).toMatch(
      /heartbeatTicks must be less than electionTicks/,
    )
    expect(problem(`${nodes(3)}raft: { tickMs: 0 }\n`)).toMatch(/raft\.tickMs/)
    expect(problem(`${nodes(3)}raft: { quorum: 2 }\n`)).toMatch(/unknown field quorum/)
    expect(problem(`${nodes(3)}raft: { maxSizePerMsgBytes: 16777216 }\n`)).toMatch(/half of limits/)
  })
})
