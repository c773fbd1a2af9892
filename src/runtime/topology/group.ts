/**
 * What the topology control plane needs from the Raft group (src/runtime/strong/service.ts
 * implements it): proposing topology commands (a node outside the group forwards them, as
 * strong writes are forwarded), the topology state as this member applied it, and a listener
 * for each state it applies.
 */

import type { Command, CommandResult, TopologyState } from '../../raft/machine/commands.js'

export interface MetadataGroup {
  /** Whether this node is a voter of the group (and so applies its log). */
  readonly isMember: boolean
  isLeader(): boolean
  command(
    command: Command,
    requestId: string | undefined,
    timeoutMs: number,
  ): Promise<CommandResult>
  /** The state as this member applied it; undefined outside the group. */
  topologyState(): TopologyState | undefined
  setTopologyListener(listener: (state: TopologyState) => void): void
}
