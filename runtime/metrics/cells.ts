/**
 * Metrics for the runtime's hot paths (every frame sent, every disk operation): the caller keeps a
 * cell per label set and bumps plain numbers in it; prom-client reads the cells only when a scrape
 * comes (a metric object with `get()`, as prom-client's registry takes). Going through prom-client
 * per event costs about half a microsecond; a cell costs a few nanoseconds.
 */
import type { MetricFamily, MetricsRegistry } from './registry.ts'
import { checkMetricOptions, seriesPerMetricMax, invalidMetric } from './metrics.ts'

type Labels = Readonly<Record<string, string | number>>

export interface CounterCell { value: number }

export interface HistogramCell {
  observe(value: number): void
}

abstract class Cells<C> {
  protected readonly cells = new Map<string, { labels: Labels; cell: C }>()
  constructor(registry: MetricsRegistry, readonly name: string, readonly help: string, readonly type: 'counter' | 'histogram', readonly labelNames: readonly string[], buckets?: readonly number[]) {
    checkMetricOptions(name, { help, labels: labelNames, ...(buckets === undefined ? {} : { buckets }) })
    registry.prom.registerMetric({ name, help, type, aggregator: 'sum', get: async () => this.family() } as never)
  }

  /** The cell of one label set (keep it: looking it up builds a key). Past seriesPerMetricMax: a cell nobody reads. */
  cell(labels: Labels): C {
    let key = ''
    for (const name of this.labelNames) {
      const value = labels[name]
      if (value === undefined) throw invalidMetric(this.name, 'labels', labels, `values for ${this.labelNames.join(', ')}`)
      key += `${value}\u0001`
    }
    const found = this.cells.get(key)
    if (found !== undefined) return found.cell
    const cell = this.newCell()
    if (this.cells.size < seriesPerMetricMax) this.cells.set(key, { labels: { ...labels }, cell })
    return cell
  }

  protected abstract newCell(): C
  protected abstract family(): MetricFamily
}

export class CounterCells extends Cells<CounterCell> {
  constructor(registry: MetricsRegistry, name: string, help: string, labelNames: readonly string[]) {
    super(registry, name, help, 'counter', labelNames)
  }

  protected newCell(): CounterCell {
    return { value: 0 }
  }

  protected family(): MetricFamily {
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values: [...this.cells.values()].map(({ labels, cell }) => ({ labels, value: cell.value })) }
  }
}

class Buckets implements HistogramCell {
  readonly counts: Float64Array
  sum = 0
  count = 0
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length)
  }

  observe(value: number): void {
    this.sum += value
    this.count++
    const bounds = this.bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i]++
        return
      }
    }
  }
}

export class HistogramCells extends Cells<HistogramCell> {
  constructor(registry: MetricsRegistry, name: string, help: string, labelNames: readonly string[], private readonly bounds: readonly number[]) {
    super(registry, name, help, 'histogram', labelNames, bounds)
  }

  protected newCell(): HistogramCell {
    return new Buckets(this.bounds)
  }

  /** Cumulative buckets (`le` first), +Inf, sum and count per label set, as prom-client's own histograms give them. */
  protected family(): MetricFamily {
    const values: MetricFamily['values'][number][] = []
    for (const { labels, cell } of this.cells.values()) {
      const b = cell as Buckets
      let cumulative = 0
      this.bounds.forEach((le, i) => {
        cumulative += b.counts[i]
        values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${this.name}_bucket` })
      })
      values.push({ labels: { le: '+Inf', ...labels }, value: b.count, metricName: `${this.name}_bucket` })
      values.push({ labels, value: b.sum, metricName: `${this.name}_sum` })
      values.push({ labels, value: b.count, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values }
  }
}
