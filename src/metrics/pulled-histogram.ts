/**
 * A histogram recorded into plain arrays and read by the registry at scrape time, for the
 * request path: an observation is a bucket search over a dozen bounds and three additions,
 * where prom-client's own Histogram hashes and validates the label set on every call.
 *
 * prom-client 15 renders a histogram through its getForPromString() method (the JSON form,
 * get(), is built on it too); this class supplies that one method from the series, so the
 * metric is exposed exactly as a prom-client histogram with the same name would be. The unit
 * tests read both forms back, so a prom-client upgrade that changed the contract fails there.
 */

import { Histogram } from 'prom-client'
import { assert } from '../env/assert.js'
import type { Labels } from './pulled.js'

/** One label set's buckets: non-cumulative counts per upper bound, then the overflow. */
export class HistogramSeries {
  readonly labels: Labels
  readonly counts: number[]
  sum = 0
  count = 0
  private readonly bounds: readonly number[]

  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels
    this.bounds = bounds
    this.counts = new Array<number>(bounds.length + 1).fill(0)
  }

  observe(value: number): void {
    let index = 0
    while (index < this.bounds.length && value > (this.bounds[index] as number)) index++
    this.counts[index] = (this.counts[index] ?? 0) + 1
    this.sum += value
    this.count++
  }
}

interface ExportedValue {
  readonly labels: Readonly<Record<string, string | number>>
  readonly sharedLabels: Labels
  readonly value: number
  readonly metricName: string
}

export interface PulledHistogramConfiguration {
  readonly name: string
  readonly help: string
  readonly labelNames: readonly string[]
  readonly buckets: readonly number[]
  readonly registry: import('prom-client').Registry
  /** Every series to expose, read at each scrape. */
  readonly series: () => Iterable<HistogramSeries>
}

export class PulledHistogram extends Histogram<string> {
  readonly bounds: readonly number[]
  private readonly readSeries: () => Iterable<HistogramSeries>
  private readonly metricName: string
  private readonly metricHelp: string

  constructor(config: PulledHistogramConfiguration) {
    super({
      name: config.name,
      help: config.help,
      labelNames: [...config.labelNames],
      buckets: [...config.buckets],
      registers: [config.registry],
    })
    assert(
      config.buckets.every(
        (bound, index) => index === 0 || bound > (config.buckets[index - 1] ?? 0),
      ),
      'histogram bounds must increase',
    )
    this.bounds = config.buckets
    this.readSeries = config.series
    this.metricName = config.name
    this.metricHelp = config.help
  }

  /** A new series with these labels; the caller keeps it and observes into it. */
  createSeries(labels: Labels): HistogramSeries {
    return new HistogramSeries(labels, this.bounds)
  }

  /** What prom-client's registry renders (text) and splays into labels (JSON). */
  async getForPromString(): Promise<{
    name: string
    help: string
    type: 'histogram'
    values: ExportedValue[]
    aggregator: 'sum'
  }> {
    const values: ExportedValue[] = []
    const bucketName = `${this.metricName}_bucket`
    for (const series of this.readSeries()) {
      let cumulative = 0
      this.bounds.forEach((bound, index) => {
        cumulative += series.counts[index] ?? 0
        values.push(exported({ le: bound }, series, cumulative, bucketName))
      })
      values.push(exported({ le: '+Inf' }, series, series.count, bucketName))
      values.push(exported({}, series, series.sum, `${this.metricName}_sum`))
      values.push(exported({}, series, series.count, `${this.metricName}_count`))
    }
    return {
      name: this.metricName,
      help: this.metricHelp,
      type: 'histogram',
      values,
      aggregator: 'sum',
    }
  }
}

function exported(
  labels: Readonly<Record<string, string | number>>,
  series: HistogramSeries,
  value: number,
  metricName: string,
): ExportedValue {
  return { labels: { ...labels }, sharedLabels: series.labels, value, metricName }
}
