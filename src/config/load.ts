/**
 * Turns cluster.yml plus the environment into one frozen, fully defaulted Config. Parsing uses
 * the `yaml` package's document API so every problem names its file, line and column; the
 * environment may override secrets and addresses (docs/CONFIGURATION.md lists the variables).
 * Cores never parse anything: they receive pieces of the typed Config.
 */

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { inspect } from 'node:util'
import { type Document, LineCounter, parseDocument } from 'yaml'
import type { z } from 'zod'
import { errorMessage, MurmurError } from '../env/errors.js'
import {
  MEMBERSHIP_PRESETS,
  type MembershipConfig,
  validateMembershipConfig,
} from '../membership/config.js'
import { type ConsistencyLevel, levelProblem } from '../replication/consistency.js'
import { type ClusterFile, clusterFileSchema } from './schema.js'

export interface NodeConfig {
  readonly id: string
  readonly host: string
  readonly httpPort: number
  readonly peerPort: number
  readonly gossipPort: number
  readonly zone: string
  /** Absolute path. */
  readonly dataDir: string
  /** Owns nothing until joined to the ring; version 1 of the ring leaves it out. */
  readonly standby: boolean
}

export interface KeyspaceConfig {
  readonly name: string
  readonly mode: 'eventual' | 'strong'
  readonly replicas: number
  readonly witnesses: number
  readonly read: ConsistencyLevel
  readonly write: ConsistencyLevel
  readonly durability: 'sync' | 'async'
}

/** The Raft group serving the strong keyspaces, with its voters resolved. */
export interface RaftSettings extends Omit<ClusterFile['raft'], 'members'> {
  /** Voter node ids, each a node of the file, in the order given. */
  readonly members: readonly string[]
}

export interface GossipConfig extends MembershipConfig {
  readonly preset: 'local' | 'lan' | 'wan'
}

/**
 * The cluster secrets, primary first. They print as "set (N keys)" wherever the config is
 * logged, serialized or inspected; `reveal` is the one way to read them (the keyring does).
 */
export class ClusterSecrets {
  readonly #values: readonly string[]

  constructor(values: readonly string[]) {
    this.#values = Object.freeze([...values])
  }

  get size(): number {
    return this.#values.length
  }

  reveal(): readonly string[] {
    return this.#values
  }

  toString(): string {
    return `set (${this.size} ${this.size === 1 ? 'key' : 'keys'})`
  }

  toJSON(): string {
    return this.toString()
  }

  [inspect.custom](): string {
    return this.toString()
  }
}

export type TokenAccess = 'read' | 'readwrite' | 'admin'

/** An API token as the node keeps it: its SHA-256, never the token itself. */
export interface ApiTokenConfig {
  readonly name: string
  /** SHA-256 of the token, 64 lowercase hex digits. */
  readonly sha256: string
  readonly access: TokenAccess
  /** Keyspace names, or ['*'] for every keyspace. */
  readonly keyspaces: readonly string[]
}

export interface TlsConfig {
  /** Absolute paths; `{node}` stands for the node's id (see `tlsFilesFor`). */
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string | undefined
}

export interface Config {
  /** Absolute path of the file this config came from ("<inline>" for text). */
  readonly sourcePath: string
  readonly cluster: { readonly name: string; readonly secret: ClusterSecrets | undefined }
  /** API tokens; empty: the REST API needs none. */
  readonly auth: { readonly tokens: readonly ApiTokenConfig[] }
  /** HTTPS for the REST port, or undefined for plain HTTP. */
  readonly tls: TlsConfig | undefined
  readonly nodes: readonly NodeConfig[]
  readonly seeds: readonly string[]
  readonly ring: { readonly partitions: number }
  readonly gossip: GossipConfig
  readonly keyspaces: readonly KeyspaceConfig[]
  readonly raft: RaftSettings
  readonly requests: ClusterFile['requests']
  readonly replication: ClusterFile['replication']
  readonly topology: ClusterFile['topology']
  readonly limits: ClusterFile['limits'] & { readonly requestBodyBytesMax: number }
  readonly storage: ClusterFile['storage']
  readonly log: ClusterFile['log']
}

export const DEFAULT_HTTP_PORT_BASE = 7001
export const DEFAULT_PEER_PORT_BASE = 7101
const DEFAULT_SEEDS_COUNT = 3

type Environment = Readonly<Record<string, string | undefined>>

/** One problem found in a config, located when possible. */
interface Problem {
  readonly path: readonly (string | number)[]
  readonly message: string
}

/** Reads and validates a cluster file. Throws MurmurError('config_invalid') naming each problem. */
export function loadConfigFile(path: string, env: Environment = process.env): Config {
  const absolutePath = resolve(path)
  let text: string
  try {
    text = readFileSync(absolutePath, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'no such file' : errorMessage(error)
    throw new MurmurError('config_invalid', `cannot read config ${path}: ${reason}`)
  }
  return parseConfig(text, { sourcePath: absolutePath, env })
}

/** Validates cluster-file text. Relative data dirs resolve against the file's directory. */
export function parseConfig(
  text: string,
  options: { sourcePath?: string; env?: Environment } = {},
): Config {
  const sourcePath = options.sourcePath ?? '<inline>'
  const env = options.env ?? {}
  const lineCounter = new LineCounter()
  const document = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true })
  const label = sourcePath === '<inline>' ? 'config' : sourcePath
  if (document.errors.length > 0) {
    const lines = document.errors.map((error) => {
      const position = error.linePos?.[0]
      const where = position === undefined ? label : `${label}:${position.line}:${position.col}`
      return `${where}: ${(error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`
    })
    throw new MurmurError('config_invalid', lines.join('\n'))
  }
  const raw: unknown = document.toJS() ?? {}
  const overridden = applyEnvironment(raw, env)
  const parsed = clusterFileSchema.safeParse(overridden.value)
  if (!parsed.success) {
    throw configError(
      label,
      document,
      lineCounter,
      parsed.error.issues.map(issueToProblem),
      overridden.sources,
    )
  }
  const baseDir = sourcePath === '<inline>' ? process.cwd() : dirname(sourcePath)
  const { config, problems } = resolveConfig(parsed.data, sourcePath, baseDir)
  if (problems.length > 0)
    throw configError(label, document, lineCounter, problems, overridden.sources)
  return deepFreeze(config)
}

/** The node named `id`, or a MurmurError listing the known ids. */
export function findNode(config: Config, id: string): NodeConfig {
  const node = config.nodes.find((candidate) => candidate.id === id)
  if (node === undefined) {
    const known = config.nodes.map((candidate) => candidate.id).join(', ')
    throw new MurmurError(
      'config_invalid',
      `unknown node "${id}": ${config.sourcePath} defines ${known}`,
    )
  }
  return node
}

export function findKeyspace(config: Config, name: string): KeyspaceConfig | undefined {
  return config.keyspaces.find((keyspace) => keyspace.name === name)
}

/** The TLS files of node `nodeId`, `{node}` replaced by its id; undefined without TLS. */
export function tlsFilesFor(config: Config, nodeId: string): TlsConfig | undefined {
  const tls = config.tls
  if (tls === undefined) return undefined
  const forNode = (path: string) => path.replaceAll('{node}', nodeId)
  return {
    certFile: forNode(tls.certFile),
    keyFile: forNode(tls.keyFile),
    caFile: tls.caFile === undefined ? undefined : forNode(tls.caFile),
  }
}

/** The SHA-256 of an API token as lowercase hex, as `tokenSha256` holds it. */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex')
}

/** The environment variable that overrides the token named `name`: MURMUR_TOKEN_<NAME>. */
export function tokenVariable(name: string): string {
  return `MURMUR_TOKEN_${name.toUpperCase().replaceAll('-', '_')}`
}

function issueToProblem(issue: z.core.$ZodIssue): Problem {
  const path = issue.path.map((segment) =>
    typeof segment === 'symbol' ? String(segment) : segment,
  )
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys
    return {
      path: [...path, keys[0] ?? ''],
      message: `unknown field${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`,
    }
  }
  return { path, message: issue.message }
}

function configError(
  label: string,
  document: Document,
  lineCounter: LineCounter,
  problems: readonly Problem[],
  envSources: ReadonlyMap<string, string>,
): MurmurError {
  const lines = problems.map((problem) => {
    const dotted = problem.path.join('.')
    // A list set from one variable (the comma-separated secrets) reports its items' paths.
    const variable = envSources.get(dotted) ?? envSources.get(problem.path.slice(0, -1).join('.'))
    if (variable !== undefined) return `${variable} (${dotted}): ${problem.message}`
    return `${locate(label, document, lineCounter, problem.path)}: ${dotted === '' ? '' : `${dotted}: `}${problem.message}`
  })
  return new MurmurError('config_invalid', lines.join('\n'))
}

/** `file:line:col` of the deepest existing node on `path`. */
function locate(
  label: string,
  document: Document,
  lineCounter: LineCounter,
  path: readonly (string | number)[],
): string {
  for (let length = path.length; length >= 0; length--) {
    const node = document.getIn(path.slice(0, length), true) as
      | { range?: [number, number, number] }
      | undefined
    if (node?.range !== undefined) {
      const position = lineCounter.linePos(node.range[0])
      return `${label}:${position.line}:${position.col}`
    }
  }
  return label
}

interface Overridden {
  readonly value: unknown
  /** dotted config path → environment variable that set it. */
  readonly sources: Map<string, string>
}

const NODE_VARIABLES = [
  ['HOST', 'host', 'string'],
  ['HTTP_PORT', 'httpPort', 'integer'],
  ['PEER_PORT', 'peerPort', 'integer'],
  ['GOSSIP_PORT', 'gossipPort', 'integer'],
  ['DATA_DIR', 'dataDir', 'string'],
  ['ZONE', 'zone', 'string'],
] as const

/** The environment variable prefix for one node: MURMUR_NODE_<ID>_, with - as _. */
export function nodeVariablePrefix(id: string): string {
  return `MURMUR_NODE_${id.toUpperCase().replaceAll('-', '_')}_`
}

/**
 * Applies MURMUR_CLUSTER_SECRET, MURMUR_LOG_LEVEL, MURMUR_TOKEN_<NAME> and
 * MURMUR_NODE_<ID>_<FIELD> to the raw document before validation, so overridden values are
 * validated like file values.
 */
function applyEnvironment(raw: unknown, env: Environment): Overridden {
  const sources = new Map<string, string>()
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { value: raw, sources }
  const root = structuredClone(raw) as Record<string, unknown>
  const set = (section: string, field: string, variable: string) => {
    const value = env[variable]
    if (value === undefined || value === '') return
    const current = root[section]
    const target =
      typeof current === 'object' && current !== null ? (current as Record<string, unknown>) : {}
    target[field] = value
    root[section] = target
    sources.set(`${section}.${field}`, variable)
  }
  set('cluster', 'secret', 'MURMUR_CLUSTER_SECRET')
  splitSecrets(root)
  set('log', 'level', 'MURMUR_LOG_LEVEL')
  applyTokenVariables(root, env, sources)
  const nodes = root['nodes']
  if (Array.isArray(nodes)) {
    nodes.forEach((node: unknown, index) => {
      if (typeof node !== 'object' || node === null) return
      const record = node as Record<string, unknown>
      if (typeof record['id'] !== 'string') return
      const prefix = nodeVariablePrefix(record['id'])
      for (const [suffix, field, kind] of NODE_VARIABLES) {
        const value = env[prefix + suffix]
        if (value === undefined || value === '') continue
        record[field] = kind === 'integer' && /^[0-9]+$/.test(value) ? Number(value) : value
        sources.set(`nodes.${index}.${field}`, prefix + suffix)
      }
    })
  }
  return { value: root, sources }
}

/** A comma-separated MURMUR_CLUSTER_SECRET is a keyring, primary first. */
function splitSecrets(root: Record<string, unknown>): void {
  const cluster = root['cluster']
  if (typeof cluster !== 'object' || cluster === null) return
  const record = cluster as Record<string, unknown>
  const secret = record['secret']
  if (typeof secret === 'string' && secret.includes(','))
    record['secret'] = secret.split(',').map((part) => part.trim())
}

/** MURMUR_TOKEN_<NAME> replaces the token (or tokenSha256) of the token named <name>. */
function applyTokenVariables(
  root: Record<string, unknown>,
  env: Environment,
  sources: Map<string, string>,
): void {
  const auth = root['auth']
  if (typeof auth !== 'object' || auth === null) return
  const tokens = (auth as Record<string, unknown>)['tokens']
  if (!Array.isArray(tokens)) return
  tokens.forEach((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null) return
    const record = entry as Record<string, unknown>
    if (typeof record['name'] !== 'string') return
    const variable = tokenVariable(record['name'])
    const value = env[variable]
    if (value === undefined || value === '') return
    record['token'] = value
    delete record['tokenSha256']
    sources.set(`auth.tokens.${index}.token`, variable)
  })
}

function resolveNodes(file: ClusterFile, baseDir: string): NodeConfig[] {
  return file.nodes.map((node, index) => {
    const peerPort = node.peerPort ?? DEFAULT_PEER_PORT_BASE + index
    const dataDir = node.dataDir ?? `data/${node.id}`
    return {
      id: node.id,
      host: node.host,
      httpPort: node.httpPort ?? DEFAULT_HTTP_PORT_BASE + index,
      peerPort,
      gossipPort: node.gossipPort ?? peerPort,
      zone: node.zone,
      dataDir: isAbsolute(dataDir) ? dataDir : resolve(baseDir, dataDir),
      standby: node.standby,
    }
  })
}

function resolveConfig(
  file: ClusterFile,
  sourcePath: string,
  baseDir: string,
): { config: Config; problems: Problem[] } {
  const problems: Problem[] = []
  const nodes = resolveNodes(file, baseDir)
  checkNodes(nodes, problems)
  const seeds = file.seeds ?? nodes.slice(0, DEFAULT_SEEDS_COUNT).map((node) => node.id)
  seeds.forEach((seed, index) => {
    if (!nodes.some((node) => node.id === seed))
      problems.push({ path: ['seeds', index], message: `seed "${seed}" is not a node id` })
  })
  const partitions = file.ring.partitions
  if ((partitions & (partitions - 1)) !== 0)
    problems.push({ path: ['ring', 'partitions'], message: `${partitions} is not a power of two` })
  if (partitions < nodes.length) {
    problems.push({
      path: ['ring', 'partitions'],
      message: `${partitions} partitions cannot be spread over ${nodes.length} nodes`,
    })
  }
  const founding = nodes.filter((node) => !node.standby).length
  if (founding === 0) {
    problems.push({ path: ['nodes'], message: 'at least one node must not be a standby' })
  }
  const keyspaces = resolveKeyspaces(file, founding, problems)
  const gossip = resolveGossip(file, problems)
  const raft = resolveRaft(file, nodes, keyspaces, problems)
  const requestBodyBytesMax =
    file.limits.requestBodyBytesMax ?? file.limits.valueBytesMax + 64 * 1024
  if (file.limits.siblingsWarn > file.limits.siblingsMax) {
    problems.push({
      path: ['limits', 'siblingsWarn'],
      message: 'siblingsWarn must not exceed siblingsMax',
    })
  }
  if (file.requests.timeoutMs > file.requests.timeoutMsMax) {
    problems.push({
      path: ['requests', 'timeoutMs'],
      message: 'timeoutMs must not exceed timeoutMsMax',
    })
  }
  const secret = file.cluster.secret
  const config: Config = {
    sourcePath,
    cluster: {
      name: file.cluster.name,
      secret:
        secret === undefined
          ? undefined
          : new ClusterSecrets(typeof secret === 'string' ? [secret] : secret),
    },
    auth: { tokens: resolveTokens(file, problems) },
    tls: resolveTls(file, baseDir),
    nodes,
    seeds,
    ring: { partitions },
    gossip,
    keyspaces,
    raft,
    requests: file.requests,
    replication: file.replication,
    topology: file.topology,
    limits: { ...file.limits, requestBodyBytesMax },
    storage: file.storage,
    log: file.log,
  }
  return { config, problems }
}

/** Tokens as SHA-256 digests; each needs exactly one of token and tokenSha256, and a unique name. */
function resolveTokens(file: ClusterFile, problems: Problem[]): ApiTokenConfig[] {
  const names = new Set<string>()
  const tokens: ApiTokenConfig[] = []
  file.auth.tokens.forEach((token, index) => {
    const path = ['auth', 'tokens', index]
    if (names.has(token.name))
      problems.push({
        path: [...path, 'name'],
        message: `token name "${token.name}" is used twice`,
      })
    names.add(token.name)
    const sha256 = token.token === undefined ? token.tokenSha256 : tokenSha256(token.token)
    if ((token.token === undefined) === (token.tokenSha256 === undefined) || sha256 === undefined) {
      problems.push({
        path,
        message: `token "${token.name}" needs exactly one of token and tokenSha256 (or ${tokenVariable(token.name)})`,
      })
      return
    }
    tokens.push({ name: token.name, sha256, access: token.access, keyspaces: token.keyspaces })
  })
  return tokens
}

function resolveTls(file: ClusterFile, baseDir: string): TlsConfig | undefined {
  const tls = file.tls
  if (tls === undefined) return undefined
  const absolute = (path: string) => (isAbsolute(path) ? path : resolve(baseDir, path))
  return {
    certFile: absolute(tls.certFile),
    keyFile: absolute(tls.keyFile),
    caFile: tls.caFile === undefined ? undefined : absolute(tls.caFile),
  }
}

function checkNodes(nodes: readonly NodeConfig[], problems: Problem[]): void {
  const ids = new Map<string, number>()
  const tcp = new Map<string, string>()
  const udp = new Map<string, string>()
  const dirs = new Map<string, string>()
  nodes.forEach((node, index) => {
    const previous = ids.get(node.id)
    if (previous !== undefined)
      problems.push({ path: ['nodes', index, 'id'], message: `node id "${node.id}" is used twice` })
    ids.set(node.id, index)
    const claim = (table: Map<string, string>, key: string, owner: string, field: string) => {
      const holder = table.get(key)
      if (holder !== undefined)
        problems.push({
          path: ['nodes', index, field],
          message: `${key} is already used by ${holder}`,
        })
      else table.set(key, owner)
    }
    claim(tcp, `${node.host}:${node.httpPort} (tcp)`, `${node.id}.httpPort`, 'httpPort')
    claim(tcp, `${node.host}:${node.peerPort} (tcp)`, `${node.id}.peerPort`, 'peerPort')
    claim(udp, `${node.host}:${node.gossipPort} (udp)`, `${node.id}.gossipPort`, 'gossipPort')
    claim(dirs, node.dataDir, `${node.id}.dataDir`, 'dataDir')
  })
}

function resolveKeyspaces(
  file: ClusterFile,
  nodeCount: number,
  problems: Problem[],
): KeyspaceConfig[] {
  const entries = Object.entries(
    file.keyspaces ?? { default: { replicas: Math.min(3, nodeCount) } },
  )
  const keyspaces: KeyspaceConfig[] = []
  for (const [name, raw] of entries) {
    const path = ['keyspaces', name]
    const parsed = clusterFileSchema.shape.keyspaces.unwrap().valueType.safeParse(raw)
    if (!parsed.success) continue
    const keyspace: KeyspaceConfig = { name, ...parsed.data }
    if (!/^[a-z0-9_-]{1,64}$/.test(name))
      problems.push({ path, message: 'keyspace names are 1-64 characters of a-z, 0-9, _ and -' })
    if (keyspace.replicas > nodeCount) {
      problems.push({
        path: [...path, 'replicas'],
        message: `${keyspace.replicas} replicas need at least ${keyspace.replicas} nodes; the cluster has ${nodeCount} (standby nodes not counted)`,
      })
    }
    if (keyspace.witnesses >= keyspace.replicas) {
      problems.push({
        path: [...path, 'witnesses'],
        message: 'at least one replica must be a full copy (witnesses < replicas)',
      })
    }
    if (keyspace.mode === 'strong' && keyspace.witnesses > 0) {
      problems.push({
        path: [...path, 'witnesses'],
        message: 'strong keyspaces do not use witnesses',
      })
    }
    for (const field of ['read', 'write'] as const) {
      const problem = levelProblem(keyspace[field], keyspace.replicas)
      if (problem !== undefined) problems.push({ path: [...path, field], message: problem })
    }
    keyspaces.push(keyspace)
  }
  const strong = keyspaces.filter((keyspace) => keyspace.mode === 'strong')
  for (const keyspace of strong.slice(1)) {
    if (keyspace.replicas !== strong[0]?.replicas) {
      problems.push({
        path: ['keyspaces', keyspace.name, 'replicas'],
        message:
          'every strong keyspace is served by one Raft group, so they must share one replica count',
      })
    }
  }
  return keyspaces
}

/**
 * The Raft voters: as given, or the first `replicas` nodes when strong keyspaces exist (they
 * share one replica count), or the first min(3, node count) nodes. An explicit list must match
 * the strong keyspaces' replica count, so `replicas` keeps meaning the group size.
 */
function resolveRaft(
  file: ClusterFile,
  nodes: readonly NodeConfig[],
  keyspaces: readonly KeyspaceConfig[],
  problems: Problem[],
): RaftSettings {
  const strong = keyspaces.find((keyspace) => keyspace.mode === 'strong')
  const members =
    file.raft.members ??
    nodes.slice(0, strong?.replicas ?? Math.min(3, nodes.length)).map((node) => node.id)
  members.forEach((id, index) => {
    if (!nodes.some((node) => node.id === id))
      problems.push({ path: ['raft', 'members', index], message: `"${id}" is not a node id` })
    if (members.indexOf(id) !== index)
      problems.push({ path: ['raft', 'members', index], message: `"${id}" is listed twice` })
  })
  if (file.raft.members !== undefined && strong !== undefined) {
    if (members.length !== strong.replicas) {
      problems.push({
        path: ['raft', 'members'],
        message: `${members.length} members, but strong keyspaces have ${strong.replicas} replicas`,
      })
    }
  }
  // An append must fit in one peer frame, or replication to a follower would stall on it.
  if (file.raft.maxSizePerMsgBytes > file.limits.peerFrameBytesMax / 2) {
    problems.push({
      path: ['raft', 'maxSizePerMsgBytes'],
      message: 'maxSizePerMsgBytes must be at most half of limits.peerFrameBytesMax',
    })
  }
  if (strong !== undefined && file.limits.valueBytesMax > file.limits.peerFrameBytesMax / 2) {
    problems.push({
      path: ['limits', 'valueBytesMax'],
      message: 'strong keyspaces need valueBytesMax at most half of peerFrameBytesMax',
    })
  }
  if (file.raft.heartbeatTicks >= file.raft.electionTicks) {
    problems.push({
      path: ['raft', 'heartbeatTicks'],
      message: 'heartbeatTicks must be less than electionTicks',
    })
  }
  return { ...file.raft, members }
}

function resolveGossip(file: ClusterFile, problems: Problem[]): GossipConfig {
  const { preset, ...overrides } = file.gossip
  const defined = Object.fromEntries(
    Object.entries(overrides).filter(([, value]) => value !== undefined),
  )
  const gossip: GossipConfig = { ...MEMBERSHIP_PRESETS[preset], ...defined, preset }
  for (const message of validateMembershipConfig(gossip))
    problems.push({ path: ['gossip'], message })
  return gossip
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}
