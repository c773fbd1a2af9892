/**
 * The node's TopologyView: the versioned ring this node acts on, kept current.
 *
 * Sources of versions, all funnelled through one serialized `install`:
 * - the Raft group's applied state (members hear every committed record as they apply it);
 * - `adopt(version, from)`: a peer named a newer version (fencing answered `stale_ring`, or a
 *   request arrived stamped with it), so it is fetched from that peer (`topology.get`),
 *   single-flight per version, with ADOPT_ATTEMPTS_MAX bounded attempts;
 * - gossip: each node advertises `ringVersion` in its membership metadata, and a node that
 *   sees a newer one adopts it from the advertiser; the periodic check looks again, so a fetch
 *   that failed is retried.
 *
 * Install contract: versions only move forward; a topology is written to storage (synced)
 * before this node acts on it, so after a crash it resumes at least the version it acted on;
 * then listeners run, in adoption order, once per version; then the new version is gossiped.
 * Two records with the same version and different content cannot exist (the Raft group writes
 * each version once by compare-and-set); meeting one is logged as an error and ignored.
 *
 * The manager also answers `topology.get` and `topology.transfers`, and runs the periodic
 * check (`topology.finishCheckIntervalMs`) that watches a move's transfers and, on the Raft
 * leader, finishes the move (progress.ts).
 */

import type { Config } from '../../config/load.js'
import { assert } from '../../env/assert.js'
import type { Clock, Timer } from '../../env/clock.js'
import { errorMessage, isMurmurError, MurmurError } from '../../env/errors.js'
import type { Logger } from '../../env/log.js'
import type { NodeId, PeerTransport } from '../../env/transport.js'
import type { MemberSnapshot } from '../../membership/member.js'
import type { TopologyState } from '../../raft/machine/commands.js'
import type { Topology } from '../../ring/topology.js'
import { sameTopology, topologyFromUntrusted } from '../../ring/topology-plan.js'
import type { StorageEngine } from '../../storage/engine.js'
import type { PeerRouter } from '../peer-router.js'
import type { MetadataGroup } from './group.js'
import {
  parseTopologyAnswer,
  TOPOLOGY_GET_TYPE,
  TOPOLOGY_TRANSFERS_TYPE,
  topologyAnswer,
  transfersAnswer,
} from './messages.js'
import { MoveWatcher } from './progress.js'
import { movedKeyspacesFor } from './settings.js'
import { persistTopology } from './store.js'
import type { TopologyView, TransferReport, TransferStatus } from './view.js'

/** The gossip metadata entry that advertises the version a node acts on. */
export const RING_VERSION_META = 'ringVersion'
/** Fetch attempts per adopted version, each bounded by `topology.fetchTimeoutMs`. */
const ADOPT_ATTEMPTS_MAX = 3
const ADOPT_RETRY_DELAY_MS = 100
/** Distinct versions being fetched at once; more are refused as unavailable. */
const FETCHES_IN_FLIGHT_MAX = 16
const LISTENERS_COUNT_MAX = 64

/** The part of the membership driver the manager uses: metadata and member views. */
export interface GossipMetadata {
  updateMeta(changes: Readonly<Record<string, string>>): void
  onEvent(listener: (event: { readonly member: MemberSnapshot }) => void): () => void
  members(): readonly MemberSnapshot[]
}

export interface TopologyManagerOptions {
  readonly config: Config
  readonly selfId: NodeId
  readonly clock: Clock
  readonly storage: StorageEngine
  readonly peers: PeerTransport
  readonly router: PeerRouter
  readonly log: Logger
  readonly group: MetadataGroup
  /** The topology to start on (store.ts `startTopology`), already stored. */
  readonly initial: Topology
}

type Listener = (topology: Topology, previous: Topology) => void

export class TopologyManager implements TopologyView {
  private current: Topology
  private readonly listeners = new Set<Listener>()
  private readonly fetches = new Map<number, Promise<void>>()
  private installs: Promise<void> = Promise.resolve()
  private report: TransferReport = { transfers: () => [] }
  private readonly watcher: MoveWatcher
  private gossip: GossipMetadata | undefined
  private timer: Timer | undefined
  private checking = false
  private stopped = false

  constructor(private readonly options: TopologyManagerOptions) {
    this.current = options.initial
    this.watcher = new MoveWatcher({
      selfId: options.selfId,
      peers: options.peers,
      group: options.group,
      log: options.log,
      keyspaces: movedKeyspacesFor(options.config),
      fetchTimeoutMs: options.config.topology.fetchTimeoutMs,
      commandTimeoutMs: options.config.requests.timeoutMs,
      report: () => this.report,
    })
    options.router.register(TOPOLOGY_GET_TYPE, () => topologyAnswer(this.current))
    options.router.register(TOPOLOGY_TRANSFERS_TYPE, () => transfersAnswer(this.report.transfers()))
    options.group.setTopologyListener((state) => this.onGroupState(state))
  }

  topology(): Topology {
    return this.current
  }

  onChange(listener: Listener): () => void {
    assert(this.listeners.size < LISTENERS_COUNT_MAX, 'too many topology listeners')
    this.listeners.add(listener)
    return () => {
      this.listeners.delete(listener)
    }
  }

  /** The data plane's report of the transfers this node receives. */
  attachTransferReport(report: TransferReport): void {
    this.report = report
  }

  /** Every transfer the current move needs, with its latest known status. */
  transfers(): TransferStatus[] {
    return this.watcher.transfers(this.current)
  }

  /** Advertises the version in gossip, follows other nodes' versions, starts the checks. */
  start(gossip: GossipMetadata): void {
    assert(this.gossip === undefined, 'topology manager started twice')
    this.gossip = gossip
    gossip.updateMeta({ [RING_VERSION_META]: String(this.current.version) })
    gossip.onEvent((event) => this.noticeAdvertised(event.member))
    this.schedule()
  }

  stop(): void {
    this.stopped = true
    this.timer?.cancel()
    this.timer = undefined
  }

  async adopt(version: number, from: string): Promise<void> {
    assert(Number.isSafeInteger(version) && version >= 1, 'versions are positive integers')
    if (this.current.version >= version) return
    if (this.stopped) {
      throw new MurmurError('unavailable', 'the node is stopping', {
        definite: true,
        details: { version: this.current.version },
      })
    }
    const existing = this.fetches.get(version)
    if (existing !== undefined) return existing
    // A fetch of a newer version already under way brings this one too, most likely.
    const newer = [...this.fetches].find(([pending]) => pending > version)?.[1]
    if (newer !== undefined) {
      await newer.catch(() => {})
      if (this.current.version >= version) return
      const joined = this.fetches.get(version)
      if (joined !== undefined) return joined
    }
    if (this.fetches.size >= FETCHES_IN_FLIGHT_MAX) {
      throw new MurmurError('unavailable', 'too many topology versions being fetched', {
        definite: true,
        details: { version: this.current.version },
      })
    }
    const fetch = this.fetchVersion(version, from).finally(() => this.fetches.delete(version))
    this.fetches.set(version, fetch)
    return fetch
  }

  /** Installs `topology` after every install before it; see the module comment. */
  install(topology: Topology, source: string): Promise<void> {
    const next = this.installs.then(() => this.installNow(topology, source))
    // One failed install (a storage error) must not block the ones after it.
    this.installs = next.catch(() => {})
    return next
  }

  private async installNow(topology: Topology, source: string): Promise<void> {
    const previous = this.current
    if (topology.version <= previous.version) {
      if (topology.version === previous.version && !sameTopology(topology, previous)) {
        this.options.log.error('two different topologies with one version', {
          version: topology.version,
          source,
        })
      }
      return
    }
    if (this.stopped) return
    await persistTopology(this.options.storage, topology)
    this.current = topology
    this.options.log.info('topology adopted', {
      version: topology.version,
      moving: topology.next !== undefined,
      nodes: (topology.next ?? topology.current).nodes.length,
      source,
    })
    for (const listener of this.listeners) {
      try {
        listener(topology, previous)
      } catch (error) {
        this.options.log.error('a topology listener failed', { error: errorMessage(error) })
      }
    }
    this.gossip?.updateMeta({ [RING_VERSION_META]: String(topology.version) })
  }

  private async fetchVersion(version: number, from: string): Promise<void> {
    const applied = this.options.group.topologyState()?.record
    if (applied !== undefined && applied !== null && applied.version >= version) {
      await this.install(topologyFromUntrusted(applied), 'raft')
      return
    }
    let problem = `${from} was not asked`
    let reachable = true
    for (let attempt = 0; attempt < ADOPT_ATTEMPTS_MAX && !this.stopped; attempt++) {
      if (attempt > 0) await this.pause(ADOPT_RETRY_DELAY_MS)
      if (this.current.version >= version) return
      try {
        const answer = await this.options.peers.request(
          from,
          { type: TOPOLOGY_GET_TYPE },
          this.options.config.topology.fetchTimeoutMs,
        )
        const topology = parseTopologyAnswer(answer)
        if (topology.version >= version) {
          await this.install(topology, from)
          return
        }
        reachable = true
        problem = `${from} acts on version ${topology.version}`
      } catch (error) {
        reachable = !isMurmurError(error, 'unavailable') && !isMurmurError(error, 'timeout')
        problem = errorMessage(error)
      }
    }
    if (this.current.version >= version) return
    throw new MurmurError(
      reachable ? 'stale_ring' : 'unavailable',
      `cannot adopt topology version ${version} from ${from}: ${problem}`,
      { definite: true, details: { version: this.current.version } },
    )
  }

  private onGroupState(state: TopologyState): void {
    const record = state.record
    if (record === null || record.version <= this.current.version) return
    this.install(topologyFromUntrusted(record), 'raft').catch((error: unknown) => {
      this.options.log.error('storing the topology failed', { error: errorMessage(error) })
    })
  }

  private noticeAdvertised(member: MemberSnapshot): void {
    if (member.id === this.options.selfId || member.state !== 'alive') return
    const advertised = Number(member.meta[RING_VERSION_META])
    if (!Number.isSafeInteger(advertised) || advertised <= this.current.version) return
    this.adopt(advertised, member.id).catch((error: unknown) => {
      this.options.log.debug('adopting an advertised topology failed', {
        version: advertised,
        from: member.id,
        error: errorMessage(error),
      })
    })
  }

  private schedule(): void {
    if (this.stopped) return
    this.timer = this.options.clock.setTimer(
      this.options.config.topology.finishCheckIntervalMs,
      () => this.check(),
    )
  }

  /** The periodic check: newer advertised versions, then the move's transfers. */
  private check(): void {
    if (this.stopped || this.checking) return
    this.checking = true
    for (const member of this.gossip?.members() ?? []) this.noticeAdvertised(member)
    this.watcher
      .check(this.current)
      .catch((error: unknown) => {
        this.options.log.warn('checking the move failed', { error: errorMessage(error) })
      })
      .finally(() => {
        this.checking = false
        this.schedule()
      })
  }

  private pause(delayMs: number): Promise<void> {
    return new Promise((resolve) => this.options.clock.setTimer(delayMs, resolve))
  }
}
