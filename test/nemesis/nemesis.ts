/**
 * The nemesis: carries out schedule steps against real processes (kill -9 and restart,
 * SIGSTOP/SIGCONT, transport partitions and clock skew through `/v1/debug/faults`, a wiped data
 * directory, a flipped bit in a stored record) and heals everything between steps. It also
 * reads what one node stores for a key (the debug route's record inspection), which the
 * corruption check and the convergence checker compare across replicas.
 */

import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type { ClusterRingView } from '../../src/api/cluster-routes.js'
import type { ReplicaRoles } from '../../src/ring/queries.js'
import type { TestCluster } from '../support/cluster.js'
import type { Violation } from './checkers.js'
import { call, sleep } from './http.js'
import { type Fault, type FaultKind, isPartition, type Step } from './schedule.js'

export interface RecordInspection {
  readonly partition: number
  readonly stored: boolean
  readonly corrupt: boolean
  readonly hash: string | null
}

const DEBUG_PATH = '/v1/debug/faults'
const HEAL_ATTEMPTS_MAX = 20
const REPAIR_WAIT_MS = 15_000

export class Nemesis {
  readonly injected = new Map<FaultKind, number>()
  readonly violations: Violation[] = []
  /** Corruptions injected, and how many of them were counted in metrics and repaired. */
  readonly corruption = { injected: 0, detected: 0, repaired: 0 }
  private readonly paused = new Set<string>()
  private ring: ClusterRingView | undefined

  constructor(
    private readonly cluster: TestCluster,
    /** Keys written once before the run and never again, candidates for corruption. */
    private readonly archive: { readonly keyspace: string; readonly keys: readonly string[] },
    private readonly log: (line: string) => void,
  ) {}

  async runStep(step: Step): Promise<void> {
    for (const fault of step.faults)
      this.injected.set(fault.kind, (this.injected.get(fault.kind) ?? 0) + 1)
    // Partitions go first and one fault at a time: a partition must reach every node's fault
    // route, which a node paused or killed by the step's other fault could not answer.
    const ordered = [...step.faults].sort(
      (left, right) => Number(isPartition(right.kind)) - Number(isPartition(left.kind)),
    )
    for (const fault of ordered) await this.inject(fault, step.holdMs)
    await sleep(step.holdMs)
    await this.healAll()
    await sleep(step.gapMs)
  }

  private async inject(fault: Fault, holdMs: number): Promise<void> {
    switch (fault.kind) {
      case 'kill':
        await this.cluster.kill(fault.node)
        return
      case 'pause':
        this.paused.add(fault.node)
        await this.cluster.signal(fault.node, 'SIGSTOP')
        return
      case 'partition-halves':
      case 'partition-isolate':
        await this.partition([fault.node, ...fault.peers])
        return
      case 'partition-asymmetric':
        await this.debug(fault.node, { blockPeers: fault.peers })
        return
      case 'clock-skew':
        await this.debug(fault.node, { clockSkewMs: fault.skewMs })
        return
      case 'wipe':
        await this.wipe(fault.node, holdMs)
        return
      case 'corrupt':
        await this.corrupt(fault.node)
        return
    }
  }

  /** Cuts `group` off from every other node, both directions. */
  private async partition(group: readonly string[]): Promise<void> {
    const ids = this.cluster.nodes.map((node) => node.id)
    const others = ids.filter((id) => !group.includes(id))
    await Promise.all([
      ...group.map((id) => this.debug(id, { blockPeers: others })),
      ...others.map((id) => this.debug(id, { blockPeers: group })),
    ])
  }

  /** Stops the node, deletes its data directory and starts it again with a new identity. */
  private async wipe(node: string, downMs: number): Promise<void> {
    await this.cluster.kill(node)
    rmSync(join(this.cluster.dir, 'data', node), { recursive: true, force: true })
    await sleep(Math.min(downMs, 2000))
    await this.cluster.start(node, 30_000)
  }

  /** Every node running, awake, unpartitioned and on the true wall clock. */
  async healAll(): Promise<void> {
    for (const node of this.cluster.nodes) {
      if (this.paused.delete(node.id)) await this.cluster.signal(node.id, 'SIGCONT')
    }
    await Promise.all(
      this.cluster.nodes
        .filter((node) => !this.cluster.isRunning(node.id))
        .map((node) => this.cluster.start(node.id, 30_000)),
    )
    await Promise.all(
      this.cluster.nodes.map((node) => this.debug(node.id, { blockPeers: [], clockSkewMs: 0 })),
    )
  }

  /** Posts a fault change, retrying a node that is still starting; it must take effect. */
  private async debug(node: string, body: Record<string, unknown>): Promise<void> {
    for (let attempt = 0; attempt < HEAL_ATTEMPTS_MAX; attempt++) {
      const answer = await call(this.cluster, node, DEBUG_PATH, {
        method: 'POST',
        body: JSON.stringify(body),
      })
      if (answer?.status === 200) return
      await sleep(250)
    }
    throw new Error(`${node} refused ${JSON.stringify(body)} on ${DEBUG_PATH}`)
  }

  /** What `node` stores for the key, or undefined when it does not answer. */
  async inspect(
    node: string,
    keyspace: string,
    key: string,
  ): Promise<RecordInspection | undefined> {
    const query = `?keyspace=${encodeURIComponent(keyspace)}&key=${encodeURIComponent(key)}`
    const answer = await call(this.cluster, node, `${DEBUG_PATH}${query}`)
    if (answer?.status !== 200) return undefined
    return (JSON.parse(answer.text) as { record: RecordInspection }).record
  }

  /** The key's replicas (full and witnesses), from the ring every node serves. */
  async replicas(keyspace: string, key: string): Promise<readonly string[]> {
    const roles = await this.roles(keyspace, key)
    return [...roles.full, ...roles.witnesses]
  }

  /** The key's full replicas and witnesses, from the ring every node serves. */
  async roles(keyspace: string, key: string): Promise<ReplicaRoles> {
    const probe = this.cluster.nodes.find((node) => this.cluster.isRunning(node.id))?.id ?? 'n1'
    const inspection = await this.inspect(probe, keyspace, key)
    if (this.ring === undefined) {
      const answer = await call(this.cluster, probe, '/v1/cluster/ring')
      if (answer?.status === 200) this.ring = JSON.parse(answer.text) as ClusterRingView
    }
    const space = this.ring?.keyspaces.find((candidate) => candidate.name === keyspace)
    const place = space?.partitions.find((entry) => entry.partition === inspection?.partition)
    if (place === undefined) throw new Error(`no replicas known for ${keyspace}/${key}`)
    return { full: place.full, witnesses: place.witnesses }
  }

  /**
   * Flips a bit in an archived key's record on a replica of it, then checks the three things a
   * corrupt record must cause: detection (the node's corrupt-records metric grows), and repair
   * from the other replicas (a blocking read repair leaves the record healthy and equal to the
   * others').
   */
  private async corrupt(preferred: string): Promise<void> {
    const { keyspace } = this.archive
    const key = this.archive.keys[this.corruption.injected % this.archive.keys.length] ?? 'a-0'
    const replicas = await this.replicas(keyspace, key)
    const node = replicas.includes(preferred) ? preferred : (replicas[0] ?? preferred)
    const before = await corruptCount(this.cluster, node)
    const answer = await call(this.cluster, node, DEBUG_PATH, {
      method: 'POST',
      body: JSON.stringify({ corruptRecord: { keyspace, key } }),
    })
    if (answer?.status !== 200) {
      this.log(`corrupt: ${node} stores no record of ${key} (${answer?.status}); skipped`)
      return
    }
    this.corruption.injected++
    const deadline = Date.now() + REPAIR_WAIT_MS
    let detected = false
    let repaired = false
    while (Date.now() < deadline && !(detected && repaired)) {
      await call(this.cluster, node, `/v1/kv/${keyspace}/${key}?r=all&repair=blocking`)
      detected = (await corruptCount(this.cluster, node)) > before
      const states = await Promise.all(
        replicas.map((replica) => this.inspect(replica, keyspace, key)),
      )
      const hashes = new Set(states.map((state) => state?.hash ?? 'missing'))
      repaired =
        states.every((state) => state?.stored === true && !state.corrupt) && hashes.size === 1
      if (!(detected && repaired)) await sleep(250)
    }
    if (detected) this.corruption.detected++
    if (repaired) this.corruption.repaired++
    this.log(`corrupt: ${keyspace}/${key} on ${node}: detected ${detected}, repaired ${repaired}`)
    if (!detected || !repaired) {
      this.violations.push({
        check: 'corruption-detected-and-repaired',
        key: `${keyspace}/${key}@${node}`,
        detail: `detected ${detected}, repaired ${repaired} within ${REPAIR_WAIT_MS} ms`,
      })
    }
  }

  describeKinds(): Record<string, number> {
    return Object.fromEntries(
      [...this.injected].sort(([left], [right]) => left.localeCompare(right)),
    )
  }
}

/** The node's `murmur_storage_corrupt_records_total`, or -1 when it does not answer. */
export async function corruptCount(cluster: TestCluster, node: string): Promise<number> {
  const answer = await call(cluster, node, '/metrics')
  const match = /^murmur_storage_corrupt_records_total(?:\{[^}]*\})? (\d+)/m.exec(
    answer?.text ?? '',
  )
  return match?.[1] === undefined ? -1 : Number(match[1])
}
