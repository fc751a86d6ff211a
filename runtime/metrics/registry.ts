/**
 * The metrics of one host thread (one ActorSystem), on a prom-client Registry of its own: what
 * `ctx.metrics` registers into, plus the runtime's own collectors (system-collectors.ts). The
 * node's main thread gathers every host's families as JSON (they cross the comlink control
 * channel) and sums them (aggregate.ts); prom-client stays inside runtime/.
 *
 * Histograms keep their buckets in cells (cells.ts) that prom-client reads when a scrape comes:
 * prom-client's own Histogram hashes the label set and looks its bucket up by a number-keyed
 * property on every observation (~0.2 µs in a tight loop, more in a busy process; the chunk
 * engine observes once per 4 KiB read); a bound cell adds to a Float64Array. /metrics shows the
 * same text.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import { T3fsError } from '../errors.ts'
import { HistogramCells } from './cells.ts'
import {
  checkMetricOptions, invalidMetric, latencyBucketsSeconds, seriesPerMetricMax,
  type BoundHistogram, type CounterMetric, type GaugeMetric, type HistogramMetric, type HistogramOptions, type MetricLabels, type MetricOptions, type Metrics,
} from './metrics.ts'

/** One metric family as prom-client's getMetricsAsJSON gives it: plain data, structured-cloneable. */
export interface MetricFamily {
  readonly name: string
  readonly help: string
  readonly type: string
  readonly aggregator: string
  readonly values: readonly { readonly labels: Readonly<Record<string, string | number>>; readonly value: number; readonly metricName?: string }[]
}

type Kind = 'counter' | 'gauge' | 'histogram'
type PromMetric = Counter | Gauge | HistogramCells

/** A registered metric with the label sets it has seen (bounded by seriesPerMetricMax). */
class Series {
  private readonly seen = new Set<string>()
  constructor(
    readonly name: string,
    readonly kind: Kind,
    readonly labels: readonly string[],
    readonly metric: PromMetric,
    private readonly onDropped: () => void,
  ) {}

  /**
   * The labels to pass to prom-client, or null when this observation must be dropped (too many
   * series; counted as dropped unless `binding`: then each observation counts).
   */
  resolve(labels: MetricLabels | undefined, binding = false): Record<string, string | number> | null {
    if (this.labels.length === 0) {
      if (labels !== undefined && Object.keys(labels).length > 0) throw invalidMetric(this.name, 'labels', labels, 'no labels (none were declared)')
      return {}
    }
    if (labels === undefined) throw invalidMetric(this.name, 'labels', labels, `values for ${this.labels.join(', ')}`)
    let key = ''
    for (const label of this.labels) {
      const value = labels[label]
      if (value === undefined) throw invalidMetric(this.name, 'labels', labels, `values for ${this.labels.join(', ')}`)
      key += `${value}\u0001`
    }
    if (!this.seen.has(key)) {
      if (Object.keys(labels).length !== this.labels.length) throw invalidMetric(this.name, 'labels', labels, `exactly ${this.labels.join(', ')}`)
      if (this.seen.size >= seriesPerMetricMax) {
        if (!binding) this.onDropped()
        return null
      }
      this.seen.add(key)
    }
    return labels as Record<string, string | number>
  }

  forget(): void {
    this.seen.clear()
  }
}

export class MetricsRegistry implements Metrics {
  /** The prom-client registry (runtime collectors register here directly). */
  readonly prom = new Registry()
  private readonly series = new Map<string, Series>()
  private readonly dropped: Counter

  constructor() {
    this.dropped = new Counter({ name: 't3fs_metrics_series_dropped_total', help: `observations dropped because their metric already had ${seriesPerMetricMax} label sets`, registers: [this.prom] })
  }

  counter(name: string, options: MetricOptions): CounterMetric {
    const s = this.register(name, 'counter', options)
    const counter = s.metric as Counter
    return {
      inc(labels, amount = 1) {
        if (!(amount >= 0)) throw invalidMetric(name, 'amount', amount, 'a number ≥ 0')
        const resolved = s.resolve(labels)
        if (resolved !== null) counter.inc(resolved, amount)
      },
    }
  }

  gauge(name: string, options: MetricOptions): GaugeMetric {
    const s = this.register(name, 'gauge', options)
    const gauge = s.metric as Gauge
    const apply = (labels: MetricLabels | undefined, delta: number, absolute: boolean): void => {
      if (!Number.isFinite(delta)) throw invalidMetric(name, 'value', delta, 'a finite number')
      const resolved = s.resolve(labels)
      if (resolved === null) return
      if (absolute) gauge.set(resolved, delta)
      else gauge.inc(resolved, delta)
    }
    return {
      set: (labels, value) => apply(labels, value, true),
      inc: (labels, amount = 1) => apply(labels, amount, false),
      dec: (labels, amount = 1) => apply(labels, -amount, false),
      reset() {
        gauge.reset()
        s.forget()
      },
    }
  }

  histogram(name: string, options: HistogramOptions): HistogramMetric {
    const s = this.register(name, 'histogram', options)
    const cells = s.metric as HistogramCells
    const dropped = this.dropped
    const checked = (value: number): number => {
      if (!Number.isFinite(value)) throw invalidMetric(name, 'value', value, 'a finite number')
      return value
    }
    return {
      observe(labels, value) {
        checked(value)
        const resolved = s.resolve(labels)
        if (resolved !== null) cells.cell(resolved).observe(value)
      },
      bind(labels): BoundHistogram {
        const resolved = s.resolve(labels, true)
        if (resolved === null) return { observe: (value) => { checked(value); dropped.inc() } }
        const cell = cells.cell(resolved)
        return { observe: (value) => cell.observe(checked(value)) }
      },
    }
  }

  /** Every family of this host, collectors run first. */
  async families(): Promise<MetricFamily[]> {
    return (await this.prom.getMetricsAsJSON()) as unknown as MetricFamily[]
  }

  async text(): Promise<string> {
    return this.prom.metrics()
  }

  private register(name: string, kind: Kind, options: HistogramOptions): Series {
    const existing = this.series.get(name)
    const labels = options.labels ?? []
    if (existing !== undefined) {
      if (existing.kind !== kind || existing.labels.length !== labels.length || existing.labels.some((l, i) => l !== labels[i])) {
        throw new T3fsError('ERR_METRIC_CONFLICT', `metric ${name} is already registered as a ${existing.kind} with labels [${existing.labels.join(', ')}]; asked: a ${kind} with labels [${labels.join(', ')}]`, { metric: name })
      }
      return existing
    }
    checkMetricOptions(name, options)
    if (this.prom.getSingleMetric(name) !== undefined) {
      throw new T3fsError('ERR_METRIC_CONFLICT', `metric ${name} is the runtime's own; pick another name`, { metric: name })
    }
    const common = { name, help: options.help, labelNames: [...labels], registers: [this.prom] }
    const metric = kind === 'counter' ? new Counter(common)
      : kind === 'gauge' ? new Gauge(common)
      : new HistogramCells(this, name, options.help, labels, options.buckets ?? latencyBucketsSeconds)
    // A histogram without labels shows its zero series before the first observation, as prom-client's own does.
    if (metric instanceof HistogramCells && labels.length === 0) metric.cell({})
    const s = new Series(name, kind, labels, metric, () => this.dropped.inc())
    this.series.set(name, s)
    return s
  }
}
