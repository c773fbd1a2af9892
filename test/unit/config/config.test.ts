/**
 * Goal: cluster.yml parsing accepts good files with every default filled in, and rejects each
 * kind of bad file with a message that names the file position and the cause. Method: parse
 * inline YAML texts (and the repository's own cluster.yml) and inspect the Config or the error.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { findKeyspace, findNode, loadConfigFile, parseConfig } from '../../../src/config/load.js'
import { MurmurError } from '../../../src/env/errors.js'
import { MEMBERSHIP_PRESETS } from '../../../src/membership/config.js'

const MINIMAL = 'nodes:\n  - id: n1\n'

function configError(text: string, env: Record<string, string> = {}): string {
  try {
    parseConfig(text, { sourcePath: '/etc/murmur/cluster.yml', env })
  } catch (error) {
    expect(error).toBeInstanceOf(MurmurError)
    expect((error as MurmurError).code).toBe('config_invalid')
    return (error as MurmurError).message
  }
  throw new Error('expected the config to be rejected')
}

describe('good files', () => {
  it('fills every default for a minimal file', () => {
    const config = parseConfig(MINIMAL, { sourcePath: '/etc/murmur/cluster.yml' })
    expect(config.cluster).toEqual({ name: 'murmur', secret: undefined })
    expect(config.nodes).toEqual([
      {
        id: 'n1',
        host: '127.0.0.1',
        httpPort: 7001,
        peerPort: 7101,
        gossipPort: 7101,
        zone: 'default',
        dataDir: '/etc/murmur/data/n1',
        standby: false,
      },
    ])
    expect(config.seeds).toEqual(['n1'])
    expect(config.ring.partitions).toBe(64)
    expect(config.gossip).toEqual({ ...MEMBERSHIP_PRESETS.local, preset: 'local' })
    expect(config.keyspaces.map((keyspace) => [keyspace.name, keyspace.replicas])).toEqual([
      ['default', 1],
    ])
    expect(config.limits.requestBodyBytesMax).toBe(config.limits.valueBytesMax + 64 * 1024)
    expect(config.requests.timeoutMs).toBe(5000)
    expect(config.storage.engine).toBe('rocksdb')
    expect(config.log.level).toBe('info')
  })

  it('derives ports from node positions and resolves keyspace defaults', () => {
    const text = `
nodes: [{ id: a }, { id: b }, { id: c, gossipPort: 9000 }]
keyspaces:
  default: {}
  fast: { replicas: 2, read: one, write: 2, durability: async }
`
    const config = parseConfig(text)
    expect(config.nodes.map((node) => [node.httpPort, node.peerPort, node.gossipPort])).toEqual([
      [7001, 7101, 7101],
      [7002, 7102, 7102],
      [7003, 7103, 9000],
    ])
    expect(findKeyspace(config, 'default')).toEqual({
      name: 'default',
      mode: 'eventual',
      replicas: 3,
      witnesses: 0,
      read: 'quorum',
      write: 'quorum',
      durability: 'sync',
    })
    expect(findKeyspace(config, 'fast')).toMatchObject({
      replicas: 2,
      read: 'one',
      write: 2,
      durability: 'async',
    })
    expect(findKeyspace(config, 'missing')).toBeUndefined()
  })

  it('an empty keyspaces section is allowed, an absent one gets "default"', () => {
    expect(parseConfig('nodes: [{id: a}, {id: b}, {id: c}]\nkeyspaces: {}\n').keyspaces).toEqual([])
    const config = parseConfig('nodes: [{id: a}, {id: b}, {id: c}, {id: d}]')
    expect(config.keyspaces.map((keyspace) => [keyspace.name, keyspace.replicas])).toEqual([
      ['default', 3],
    ])
  })

  it('applies gossip presets and overrides', () => {
    const config = parseConfig(`${MINIMAL}gossip: { preset: lan, probeIntervalMs: 2000 }\n`)
    expect(config.gossip).toEqual({
      ...MEMBERSHIP_PRESETS.lan,
      probeIntervalMs: 2000,
      preset: 'lan',
    })
  })

  it('environment variables override secrets and ports', () => {
    const config = parseConfig(MINIMAL, {
      env: {
        MURMUR_CLUSTER_SECRET: 'a-secret-of-enough-length',
        MURMUR_NODE_N1_HTTP_PORT: '8001',
        MURMUR_NODE_N1_PEER_PORT: '8101',
        MURMUR_NODE_N1_DATA_DIR: '/var/lib/murmur',
        MURMUR_LOG_LEVEL: 'warn',
      },
    })
    expect(config.cluster.secret?.reveal()).toEqual(['a-secret-of-enough-length'])
    expect(findNode(config, 'n1')).toMatchObject({
      httpPort: 8001,
      peerPort: 8101,
      gossipPort: 8101,
      dataDir: '/var/lib/murmur',
    })
    expect(config.log.level).toBe('warn')
  })

  it('returns a deeply frozen object', () => {
    const config = parseConfig(MINIMAL)
    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.nodes[0])).toBe(true)
    expect(Object.isFrozen(config.limits)).toBe(true)
  })

  it("parses the repository's cluster.yml", () => {
    const config = loadConfigFile('cluster.yml', {})
    expect(config.nodes.map((node) => node.id)).toEqual(['n1', 'n2', 'n3'])
    expect(new Set(config.nodes.map((node) => node.zone)).size).toBe(3)
  })
})

describe('bad files', () => {
  it('names the line of a YAML syntax error', () => {
    expect(configError('nodes:\n  - id: n1\n  bad: [\n')).toMatch(
      /^\/etc\/murmur\/cluster\.yml:\d+:\d+: /,
    )
  })

  it('rejects duplicate YAML keys', () => {
    expect(configError('nodes: []\nnodes: []\n')).toMatch(
      /cluster\.yml:2:1: .*[Mm]ap keys must be unique/,
    )
  })

  it('names the line and field of a wrong type', () => {
    const message = configError('nodes:\n  - id: n1\n    httpPort: "eighty"\n')
    expect(message).toMatch(/cluster\.yml:3:15: nodes\.0\.httpPort: Invalid input: expected number/)
  })

  it('rejects unknown fields (typos never fall back to defaults)', () => {
    expect(configError('nodes:\n  - id: n1\n    htpPort: 80\n')).toMatch(
      /cluster\.yml:3:14: nodes\.0\.htpPort: unknown field htpPort/,
    )
    expect(configError(`${MINIMAL}limit: {}\n`)).toMatch(/unknown field limit/)
  })

  it('rejects a file without nodes, and an empty file', () => {
    expect(configError('cluster: { name: x }\n')).toMatch(/nodes: Invalid input: expected array/)
    expect(configError('')).toMatch(/nodes/)
  })

  it('rejects bad names and out-of-range numbers', () => {
    expect(configError('nodes: [{ id: "N 1" }]\n')).toMatch(/nodes\.0\.id: must be 1-64 characters/)
    expect(configError(`${MINIMAL}ring: { partitions: 100 }\n`)).toMatch(
      /ring\.partitions: 100 is not a power of two/,
    )
    expect(configError('nodes: [{ id: a, httpPort: 70000 }]\n')).toMatch(/httpPort: Too big/)
  })

  it('rejects duplicate ids, ports and data dirs', () => {
    expect(configError('nodes: [{ id: a }, { id: a }]\n')).toMatch(/node id "a" is used twice/)
    expect(configError('nodes: [{ id: a, httpPort: 9000 }, { id: b, httpPort: 9000 }]\n')).toMatch(
      /127\.0\.0\.1:9000 \(tcp\) is already used by a\.httpPort/,
    )
    expect(configError('nodes: [{ id: a, dataDir: d }, { id: b, dataDir: d }]\n')).toMatch(
      /is already used by a\.dataDir/,
    )
  })

  it('rejects seeds that are not nodes', () => {
    expect(configError(`${MINIMAL}seeds: [n9]\n`)).toMatch(/seeds\.0: seed "n9" is not a node id/)
  })

  it('rejects keyspaces that the cluster cannot serve', () => {
    expect(configError(`${MINIMAL}keyspaces: { default: {} }\n`)).toMatch(
      /keyspaces\.default\.replicas: 3 replicas need at least 3 nodes; the cluster has 1/,
    )
    const three = 'nodes: [{id: a}, {id: b}, {id: c}]\n'
    expect(configError(`${three}keyspaces: { k: { witnesses: 3 } }\n`)).toMatch(
      /witnesses < replicas/,
    )
    expect(configError(`${three}keyspaces: { k: { replicas: 2, read: three } }\n`)).toMatch(
      /keyspaces\.k\.read: level three needs 3 replicas but the keyspace has 2/,
    )
    expect(configError(`${three}keyspaces: { k: { read: sometimes } }\n`)).toMatch(
      /keyspaces\.k\.read/,
    )
    expect(configError(`${three}keyspaces: { "Bad Name": {} }\n`)).toMatch(/keyspace names are/)
    expect(configError(`${three}keyspaces: { k: { mode: strong, witnesses: 1 } }\n`)).toMatch(
      /strong keyspaces do not use witnesses/,
    )
  })

  it('rejects gossip settings that contradict each other', () => {
    expect(
      configError(`${MINIMAL}gossip: { probeIntervalMs: 100, probeTimeoutMs: 500 }\n`),
    ).toMatch(/gossip/)
  })

  it('names the environment variable behind a bad override', () => {
    expect(configError(MINIMAL, { MURMUR_NODE_N1_HTTP_PORT: 'abc' })).toMatch(
      /^MURMUR_NODE_N1_HTTP_PORT \(nodes\.0\.httpPort\): /,
    )
    expect(configError(MINIMAL, { MURMUR_CLUSTER_SECRET: 'short' })).toMatch(
      /^MURMUR_CLUSTER_SECRET \(cluster\.secret\): Too small/,
    )
  })

  it('reports an unreadable file and an unknown node in one line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'murmur-config-'))
    try {
      expect(() => loadConfigFile(join(dir, 'missing.yml'))).toThrow(
        /cannot read config .*missing\.yml: no such file/,
      )
      const path = join(dir, 'cluster.yml')
      writeFileSync(path, MINIMAL)
      const config = loadConfigFile(path, {})
      expect(config.nodes[0]?.dataDir).toBe(join(dir, 'data/n1'))
      expect(() => findNode(config, 'n7')).toThrow(/unknown node "n7": .*cluster\.yml defines n1$/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
