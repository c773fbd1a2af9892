/**
 * Topologies for simulations that change ownership: `SimTopologyLog` stands for the metadata
 * log (the committed versions, each version one topology), and `SimTopologyView` is one node's
 * `TopologyView` over it, which the run moves forward (`moveTo`) at the moment it chooses, and
 * which the node's own data plane moves forward when a peer names a newer version (`adopt`).
 * Adoption is immediate: fetching a committed version is not what these runs test.
 */

import { MurmurError } from '../../../src/env/errors.js'
import type { Topology } from '../../../src/ring/topology.js'
import type { TopologyView } from '../../../src/runtime/topology/view.js'

/** The committed versions, in order. */
export class SimTopologyLog {
  private readonly versions: Topology[] = []

  constructor(first: Topology) {
    if (first.version !== 1) throw new Error('the first committed version is 1')
    this.versions.push(first)
  }

  /** Commits the next version. */
  commit(topology: Topology): void {
    if (topology.version !== this.latest.version + 1) {
      throw new Error(`version ${topology.version} does not follow ${this.latest.version}`)
    }
    this.versions.push(topology)
  }

  get latest(): Topology {
    return this.versions[this.versions.length - 1] as Topology
  }

  get(version: number): Topology | undefined {
    return this.versions[version - 1]
  }
}

export class SimTopologyView implements TopologyView {
  /** Versions this view took from a peer that named them (fencing), not from the run. */
  adoptions = 0
  private current: Topology
  private readonly listeners = new Set<(topology: Topology, previous: Topology) => void>()

  constructor(private readonly log: SimTopologyLog) {
    this.current = log.get(1) as Topology
  }

  topology(): Topology {
    return this.current
  }

  async adopt(version: number, _from: string): Promise<void> {
    if (version <= this.current.version) return
    if (this.log.get(version) === undefined) {
      throw new MurmurError('unavailable', `topology version ${version} is not committed`)
    }
    this.adoptions++
    this.moveTo(version)
  }

  /** Acts on `version` (and every committed one before it) from now on; never moves back. */
  moveTo(version: number): void {
    for (let next = this.current.version + 1; next <= version; next++) {
      const topology = this.log.get(next)
      if (topology === undefined) throw new Error(`version ${next} is not committed`)
      const previous = this.current
      this.current = topology
      for (const listener of [...this.listeners]) listener(topology, previous)
    }
  }

  onChange(listener: (topology: Topology, previous: Topology) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
