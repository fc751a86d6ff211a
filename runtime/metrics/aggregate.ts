/**
 * One node's metrics from its hosts' families: series with the same name and labels are combined
 * by their family's aggregator (sums for counters, histograms and most gauges; max where declared),
 * which is prom-client's AggregatorRegistry, the tool it ships for Node's cluster workers.
 */
import { AggregatorRegistry } from 'prom-client'
import type { MetricFamily } from './registry.ts'

/** The content type of the Prometheus text format prom-client writes. */
export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8'

export function aggregateFamilies(perHost: readonly (readonly MetricFamily[])[]): { text(): Promise<string>; families(): Promise<MetricFamily[]> } {
  const registry = AggregatorRegistry.aggregate(perHost.map((families) => [...families]))
  return {
    text: () => registry.metrics(),
    families: async () => (await registry.getMetricsAsJSON()) as unknown as MetricFamily[],
  }
}
