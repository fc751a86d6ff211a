/**
 * Metrics as an actor sees them: `ctx.metrics`. Counters, gauges and histograms are registered by
 * name on the host's registry (a second registration of the same name and shape returns the same
 * metric, so every life of an actor and every actor of one kind share it). The node serves them
 * in the Prometheus text format on its `[metrics]` listen address (runtime/metrics/metrics-server.ts),
 * the hosts of a node summed.
 *
 * This file is the interface only: actors/ never imports prom-client (runtime/metrics/registry.ts
 * implements it on prom-client).
 */
import { T3fsError } from '../errors.ts'

/** Label values by label name; every declared label must be given (numbers are written as text). */
export type MetricLabels = Readonly<Record<string, string | number>>

export interface MetricOptions {
  /** One line saying what is counted, and in which unit. */
  readonly help: string
  /** Label names, declared once; at most `metricLabelsMax`. */
  readonly labels?: readonly string[]
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds of the buckets, increasing; default `latencyBucketsSeconds`. */
  readonly buckets?: readonly number[]
}

export interface CounterMetric {
  /** Adds `amount` (default 1, never negative). */
  inc(labels?: MetricLabels, amount?: number): void
}

export interface GaugeMetric {
  set(labels: MetricLabels | undefined, value: number): void
  inc(labels?: MetricLabels, amount?: number): void
  dec(labels?: MetricLabels, amount?: number): void
  /** Forgets every label set (before setting a fresh picture, e.g. the states of all targets). */
  reset(): void
}

export interface HistogramMetric {
  /** Records one observation (durations in seconds, sizes in bytes: the unit ends the metric's name). */
  observe(labels: MetricLabels | undefined, value: number): void
  /**
   * The series of one label set, for a hot path: its labels are checked and looked up once here,
   * so each observation then costs a few additions (keep it; every bind of the same labels
   * records into the same series).
   */
  bind(labels?: MetricLabels): BoundHistogram
}

/** A histogram's series of one label set (HistogramMetric.bind). */
export interface BoundHistogram {
  observe(value: number): void
}

export interface Metrics {
  counter(name: string, options: MetricOptions): CounterMetric
  gauge(name: string, options: MetricOptions): GaugeMetric
  histogram(name: string, options: HistogramOptions): HistogramMetric
}

/** Every metric of t3fs is named `t3fs_…` (Prometheus's rule: letters, digits, `_`). */
export const metricNamePattern = /^t3fs_[a-z0-9_]{1,120}$/
export const labelNamePattern = /^[a-z][a-z0-9_]{0,63}$/
export const metricLabelsMax = 8
/** Distinct label sets one metric may hold: a label with unbounded values (a chunk id) is a bug. */
export const seriesPerMetricMax = 10_000
/** 100 µs to 10 s, for operation latencies. */
export const latencyBucketsSeconds: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]

export function invalidMetric(name: string, field: string, value: unknown, accepted: string): T3fsError {
  return new T3fsError('ERR_INVALID_METRIC', `metric ${name}: ${field} ${JSON.stringify(value)} is not accepted; accepted: ${accepted}`, { metric: name, field })
}

/** Checks a registration: name, help, labels, buckets. */
export function checkMetricOptions(name: string, options: HistogramOptions): void {
  if (typeof name !== 'string' || !metricNamePattern.test(name)) {
    throw invalidMetric(String(name), 'name', name, '"t3fs_" then lower-case letters, digits and "_" (at most 125 characters)')
  }
  if (typeof options.help !== 'string' || options.help.length === 0 || options.help.length > 500) {
    throw invalidMetric(name, 'help', options.help, 'a text of 1 to 500 characters')
  }
  const labels = options.labels ?? []
  if (labels.length > metricLabelsMax || new Set(labels).size !== labels.length) {
    throw invalidMetric(name, 'labels', labels, `at most ${metricLabelsMax} distinct label names`)
  }
  for (const label of labels) {
    if (!labelNamePattern.test(label) || label === 'le') throw invalidMetric(name, 'label', label, 'lower-case letters, digits and "_", starting with a letter, not "le"')
  }
  const buckets = options.buckets
  if (buckets !== undefined) {
    const increasing = buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]))
    if (buckets.length === 0 || buckets.length > 64 || !increasing) throw invalidMetric(name, 'buckets', buckets, '1 to 64 finite, strictly increasing upper bounds')
  }
}
