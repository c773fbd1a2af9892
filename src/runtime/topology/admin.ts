/**
 * The operator's topology actions (the admin REST routes call these): read the state, stage a
 * change, clear the staged list, commit the plan. Every action goes through the Raft group's
 * log (a node outside the group forwards it, as strong writes are forwarded), so it sees and
 * changes the one authoritative state:
 *
 * - reading proposes `topology.read`, a linearizable read of the record and the staged list;
 * - staging validates the whole new list against cluster.yml and the ring it applies to, then
 *   replaces the list conditioned on the revision it read; a concurrent stage makes the
 *   condition fail, and the action starts over, at most STAGE_ATTEMPTS_MAX times;
 * - committing plans the staged list against the version the operator names, and proposes
 *   `topology.cas` expecting that version and the staged revision it planned from; the CAS
 *   refuses it (409) when the version moved on, a move is under way, or the list changed.
 */

import type { Config } from '../../config/load.js'
import { MurmurError } from '../../env/errors.js'
import type { CommandResult, TopologyState } from '../../raft/machine/commands.js'
import { ringToJson } from '../../ring/json.js'
import type { PartitionTransfer } from '../../ring/queries.js'
import type { Topology } from '../../ring/topology.js'
import {
  commitRecord,
  type PlanOptions,
  planChange,
  problemError,
  problemMessage,
  stagedProblem,
  type TopologyChange,
  topologyFromUntrusted,
  topologyToRecord,
} from '../../ring/topology-plan.js'
import type { MetadataGroup } from './group.js'
import { initialTopologyFor, planOptionsFor, replicasMaxFor } from './settings.js'
import { ownershipView, progressOf } from './status.js'
import type { TransferStatus } from './view.js'

/** Attempts of one stage or clear against concurrent stagers. */
const STAGE_ATTEMPTS_MAX = 3

export interface TopologyAdminOptions {
  readonly config: Config
  readonly group: MetadataGroup
  /** The transfers of the move this node watches (its topology manager). */
  readonly transfers: () => TransferStatus[]
}

/** The state as the admin routes show it (GET /v1/admin/topology). */
export interface AdminView {
  readonly version: number
  readonly moving: boolean
  readonly current: RingSummary
  readonly next?: RingSummary
  readonly staged: readonly TopologyChange[]
  readonly plan: PlanView
  readonly transfers: readonly TransferStatus[]
  readonly progress: ReturnType<typeof progressOf>
}

interface RingSummary {
  readonly nodes: readonly { readonly id: string; readonly zone: string }[]
  readonly ownership: ReturnType<typeof ownershipView>
}

type PlanView =
  | {
      readonly ok: true
      readonly ring: RingSummary & { readonly json: ReturnType<typeof ringToJson> }
      readonly transfers: readonly PartitionTransfer[]
    }
  | { readonly ok: false; readonly reason: string; readonly message: string }

export class TopologyAdmin {
  private readonly planOptions: PlanOptions
  private readonly replicasMax: number

  constructor(private readonly options: TopologyAdminOptions) {
    this.planOptions = planOptionsFor(options.config)
    this.replicasMax = replicasMaxFor(options.config)
  }

  async view(timeoutMs: number): Promise<AdminView> {
    return this.describe(await this.read(timeoutMs))
  }

  async stage(change: TopologyChange, timeoutMs: number): Promise<AdminView> {
    return this.replaceStaged((staged) => [...staged, change], timeoutMs)
  }

  async clear(timeoutMs: number): Promise<AdminView> {
    return this.replaceStaged(() => [], timeoutMs)
  }

  /** Commits the staged plan from `expectedVersion`; answers the new version. */
  async commit(expectedVersion: number, timeoutMs: number): Promise<{ version: number }> {
    const state = await this.read(timeoutMs)
    const topology = this.topologyOf(state)
    if (topology.version !== expectedVersion) throw versionMoved(expectedVersion, topology.version)
    const planned = planChange(topology, state.staged, this.planOptions)
    if (!planned.ok) throw problemError(planned.problem)
    const record = topologyToRecord(commitRecord(topology, planned.plan.next))
    const result = await this.options.group.command(
      {
        type: 'topology.cas',
        expectedVersion,
        record,
        stagedRevision: state.stagedRevision,
      },
      undefined,
      timeoutMs,
    )
    if (!result.ok) throw refusal(result, 'the topology or the staged changes changed meanwhile')
    return { version: record.version }
  }

  private async replaceStaged(
    change: (staged: readonly TopologyChange[]) => TopologyChange[],
    timeoutMs: number,
  ): Promise<AdminView> {
    for (let attempt = 1; ; attempt++) {
      const state = await this.read(timeoutMs)
      const changes = change(state.staged)
      const problem = stagedProblem(this.topologyOf(state), changes, this.planOptions)
      if (problem !== undefined) throw problemError(problem)
      const result = await this.options.group.command(
        { type: 'topology.stage', expectedRevision: state.stagedRevision, changes },
        undefined,
        timeoutMs,
      )
      if (result.ok) return this.view(timeoutMs)
      if (result.code !== 'precondition_failed' || attempt >= STAGE_ATTEMPTS_MAX) {
        throw refusal(result, 'other changes were staged at the same time; try again')
      }
    }
  }

  private async read(timeoutMs: number): Promise<TopologyState> {
    const result = await this.options.group.command({ type: 'topology.read' }, undefined, timeoutMs)
    if (!result.ok || !('topology' in result)) {
      throw new MurmurError('internal', 'the topology read answered no topology')
    }
    return result.topology
  }

  private topologyOf(state: TopologyState): Topology {
    return state.record === null
      ? initialTopologyFor(this.options.config)
      : topologyFromUntrusted(state.record)
  }

  private describe(state: TopologyState): AdminView {
    const topology = this.topologyOf(state)
    const summary = (ring: Topology['current']): RingSummary => ({
      nodes: ring.nodes.map((node) => ({ id: node.id, zone: node.zone })),
      ownership: ownershipView(ring, this.replicasMax),
    })
    const planned = planChange(topology, state.staged, this.planOptions)
    const plan: PlanView = planned.ok
      ? {
          ok: true,
          ring: { ...summary(planned.plan.next), json: ringToJson(planned.plan.next) },
          transfers: planned.plan.transfers,
        }
      : { ok: false, reason: planned.problem.reason, message: problemMessage(planned.problem) }
    const transfers = this.options
      .transfers()
      .filter((transfer) => transfer.version === topology.version)
    const view = {
      version: topology.version,
      moving: topology.next !== undefined,
      current: summary(topology.current),
      staged: state.staged,
      plan,
      transfers,
      progress: progressOf(transfers),
    }
    return topology.next === undefined ? view : { ...view, next: summary(topology.next) }
  }
}

function versionMoved(expected: number, version: number): MurmurError {
  return new MurmurError(
    'precondition_failed',
    `the topology is at version ${version}, not ${expected}; review the plan and commit again`,
    { definite: true, details: { version } },
  )
}

function refusal(result: Exclude<CommandResult, { ok: true }>, message: string): MurmurError {
  if (result.code === 'precondition_failed') {
    return new MurmurError('precondition_failed', message, {
      definite: true,
      details: { version: result.currentVersion },
    })
  }
  if (result.code === 'state_full') {
    return new MurmurError('overloaded', 'the Raft state machine is full', { definite: true })
  }
  return new MurmurError('internal', `the topology command was refused: ${result.code}`)
}
