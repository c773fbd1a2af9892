/**
 * Partition handoff as one part of a node's key-value service: the transfer engine (what this
 * node receives and serves) and the cleanup (what it deletes once a move settled), built from
 * the service's parts and started and stopped with it. The service answers `transfer.page`
 * through its fenced peer handlers and passes the bodies here.
 *
 * Lifecycle: `open()` after the anti-entropy trees were built (a transfer's reconciliation is
 * an exchange, and records a transfer merges must reach the trees), `stop()` before storage
 * closes.
 */

import type { Config, KeyspaceConfig } from '../../config/load.js'
import type { Clock } from '../../env/clock.js'
import type { Logger } from '../../env/log.js'
import type { PeerTransport } from '../../env/transport.js'
import type { HandoffKeyspace } from '../../replication/handoff.js'
import type { MessageLimits } from '../../replication/messages.js'
import type { Liveness } from '../../replication/plan.js'
import type { KeyRecord } from '../../replication/record.js'
import type { StorageEngine } from '../../storage/engine.js'
import type { GroupCommitter } from '../../storage/group-commit.js'
import type { DataKey } from '../../storage/layout.js'
import type { AntiEntropy } from '../antientropy/anti-entropy.js'
import type { ReplicaStore } from '../kv/store.js'
import { PartitionCleanup } from './cleanup.js'
import { type HandoffCounters, TransferEngine } from './transfer.js'
import type { TopologyView, TransferReport, TransferStatus } from './view.js'

export interface HandoffOptions {
  readonly config: Config
  readonly selfId: string
  readonly topology: TopologyView
  readonly store: ReplicaStore
  readonly engine: StorageEngine
  readonly commits: GroupCommitter
  readonly peers: PeerTransport
  readonly liveness: Liveness
  readonly clock: Clock
  readonly log: Logger
  readonly limits: MessageLimits
  /** Undefined when anti-entropy is off: transfers then skip their reconciliation. */
  readonly antiEntropy: AntiEntropy | undefined
  /** The replica accept path (a merge in the form this node's role asks for). */
  readonly accept: (
    keyspace: KeyspaceConfig,
    address: DataKey,
    record: KeyRecord,
  ) => Promise<unknown>
}

export class Handoff implements TransferReport {
  readonly engine: TransferEngine
  readonly cleanup: PartitionCleanup

  constructor(options: HandoffOptions) {
    const { config, antiEntropy } = options
    const eventual = config.keyspaces.filter((keyspace) => keyspace.mode === 'eventual')
    const keyspaces: HandoffKeyspace[] = eventual.map((keyspace) => ({
      name: keyspace.name,
      replicas: keyspace.replicas,
      witnesses: keyspace.witnesses,
    }))
    const settings = config.topology.handoff
    this.engine = new TransferEngine({
      ...options,
      keyspaces,
      settings,
      peerTimeoutMs: config.requests.peerTimeoutMs,
      accept: async (name, address, record) => {
        const keyspace = eventual.find((candidate) => candidate.name === name)
        if (keyspace !== undefined) await options.accept(keyspace, address, record)
      },
      reconcile:
        antiEntropy === undefined
          ? undefined
          : async (keyspace, partition, peer) => {
              await antiEntropy.reconcile(keyspace, partition, peer)
            },
    })
    this.cleanup = new PartitionCleanup({
      ...options,
      keyspaces,
      settings,
      dropTree: (keyspace, partition) => antiEntropy?.trees.drop(keyspace, partition),
    })
  }

  async open(): Promise<void> {
    await this.engine.open()
    await this.cleanup.start()
  }

  stop(): void {
    this.engine.stop()
    this.cleanup.stop()
  }

  transfers(): readonly TransferStatus[] {
    return this.engine.transfers()
  }

  /** The live counters, read by the metrics at scrape time. */
  counters(): { readonly handoff: Readonly<HandoffCounters>; readonly inProgress: number } {
    return { handoff: this.engine.counters, inProgress: this.engine.inProgress() }
  }
}
