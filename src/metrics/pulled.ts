/**
 * Pulled metrics: a metric described by a name, a help text and a `read` function that returns
 * its current value (or labelled samples) from state a service already keeps. The registry calls
 * `read` at every scrape, so the code paths that move the value pay nothing for it. Counters
 * read this way are totals kept by the services since the node started; a restart starts them
 * at zero again, which Prometheus's rate() treats as a counter reset.
 */

import { Counter, Gauge, type Registry } from 'prom-client'
import { assert } from '../env/assert.js'

export type Labels = Readonly<Record<string, string>>
export type Sample = readonly [labels: Labels, value: number]
export type Reading = number | readonly Sample[]

export interface PulledMetric {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge'
  readonly labelNames?: readonly string[]
  /** The value now: one number, or one sample per label set (none: no series this scrape). */
  read(): Reading | Promise<Reading>
}

/** Registers `metric` on `registry`; its collect callback replaces every sample at each scrape. */
export function registerPulled(registry: Registry, metric: PulledMetric): void {
  const config = {
    name: metric.name,
    help: metric.help,
    labelNames: [...(metric.labelNames ?? [])],
    registers: [registry],
  }
  if (metric.type === 'counter') {
    new Counter({
      ...config,
      async collect() {
        const reading = await metric.read()
        this.reset()
        forEachSample(metric, reading, (labels, value) => this.inc(labels, value))
      },
    })
  } else {
    new Gauge({
      ...config,
      async collect() {
        const reading = await metric.read()
        this.reset()
        forEachSample(metric, reading, (labels, value) => this.set(labels, value))
      },
    })
  }
}

function forEachSample(
  metric: PulledMetric,
  reading: Reading,
  emit: (labels: Labels, value: number) => void,
): void {
  const samples: readonly Sample[] = typeof reading === 'number' ? [[{}, reading]] : reading
  for (const [labels, value] of samples) {
    assert(Number.isFinite(value), `metric ${metric.name} read a non-finite value`)
    assert(metric.type === 'gauge' || value >= 0, `counter ${metric.name} read a negative value`)
    emit(labels, value)
  }
}

/** Samples of a map, one per key, labelled `labelName`, in key order. */
export function samplesOf(labelName: string, values: ReadonlyMap<string, number>): Sample[] {
  return [...values.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => [{ [labelName]: key }, value])
}
