/**
 * What the dashboard draws, computed from metric families (pure, so tests reach it without a
 * cluster): one node's totals at an instant, and the rates and latency quantiles between two
 * instants. Counter deltas that go negative mean the node restarted: its new totals are the delta.
 */
import type { MetricFamily } from '../../runtime/metrics/registry.ts'

/** Cumulative bucket counts of a histogram, by upper bound, plus its total count. */
export interface HistogramTotals {
  readonly bounds: readonly number[]
  readonly cumulative: readonly number[]
  readonly count: number
}

export interface NodeTotals {
  readonly netSentBytes: number
  readonly netReceivedBytes: number
  readonly diskReadBytes: number
  readonly diskWriteBytes: number
  readonly messages: number
  readonly storageOps: number
  readonly metaOps: number
  readonly actors: number
  readonly mailboxDepth: number
  readonly poolSlotsInUse: number
  readonly poolSlots: number
  readonly diskLatency: HistogramTotals
  readonly metaLatency: HistogramTotals
  readonly storageLatency: HistogramTotals
  /** smallpond tasks by state (started, succeeded, failed), and those running now. */
  readonly smallpondTasks: Readonly<Record<string, number>>
  readonly smallpondRunning: number
}

export interface NodeRates {
  readonly netSentBytesPerS: number
  readonly netReceivedBytesPerS: number
  readonly diskReadBytesPerS: number
  readonly diskWriteBytesPerS: number
  readonly messagesPerS: number
  readonly storageOpsPerS: number
  readonly metaOpsPerS: number
}

type Labels = Readonly<Record<string, string | number>>

function sum(families: Map<string, MetricFamily>, name: string, match: Labels = {}, sampleName = name): number {
  const family = families.get(name)
  if (family === undefined) return 0
  let total = 0
  for (const v of family.values) {
    if ((v.metricName ?? name) !== sampleName) continue
    if (Object.entries(match).every(([k, want]) => String(v.labels[k]) === String(want))) total += v.value
  }
  return total
}

function histogram(families: Map<string, MetricFamily>, name: string, match: Labels = {}): HistogramTotals {
  const family = families.get(name)
  const byBound = new Map<number, number>()
  if (family !== undefined) {
    for (const v of family.values) {
      if (v.metricName !== `${name}_bucket`) continue
      if (!Object.entries(match).every(([k, want]) => String(v.labels[k]) === String(want))) continue
      const le = v.labels.le === '+Inf' ? Infinity : Number(v.labels.le)
      byBound.set(le, (byBound.get(le) ?? 0) + v.value)
    }
  }
  const bounds = [...byBound.keys()].sort((a, b) => a - b)
  return { bounds, cumulative: bounds.map((b) => byBound.get(b)!), count: bounds.length === 0 ? 0 : byBound.get(bounds[bounds.length - 1])! }
}

function byLabel(families: Map<string, MetricFamily>, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of families.get(name)?.values ?? []) {
    const key = String(v.labels[label] ?? '')
    out[key] = (out[key] ?? 0) + v.value
  }
  return out
}

export function nodeTotals(list: readonly MetricFamily[]): NodeTotals {
  const f = new Map(list.map((family) => [family.name, family]))
  return {
    netSentBytes: sum(f, 't3fs_transport_bytes_total', { direction: 'sent' }) + sum(f, 't3fs_transport_one_sided_bytes_total', { op: 'write' }),
    netReceivedBytes: sum(f, 't3fs_transport_bytes_total', { direction: 'received' }) + sum(f, 't3fs_transport_one_sided_bytes_total', { op: 'read' }),
    diskReadBytes: sum(f, 't3fs_disk_bytes_total', { op: 'read' }),
    diskWriteBytes: sum(f, 't3fs_disk_bytes_total', { op: 'write' }),
    messages: sum(f, 't3fs_actor_messages_total'),
    storageOps: sum(f, 't3fs_storage_chunk_ops_total'),
    metaOps: sum(f, 't3fs_meta_ops_total'),
    actors: sum(f, 't3fs_actors'),
    mailboxDepth: sum(f, 't3fs_actor_mailbox_depth'),
    poolSlotsInUse: sum(f, 't3fs_buffer_pool_slots_in_use'),
    poolSlots: sum(f, 't3fs_buffer_pool_slots'),
    diskLatency: histogram(f, 't3fs_disk_op_duration_seconds'),
    metaLatency: histogram(f, 't3fs_meta_op_duration_seconds'),
    storageLatency: histogram(f, 't3fs_storage_chunk_op_duration_seconds'),
    smallpondTasks: byLabel(f, 't3fs_smallpond_tasks_total', 'state'),
    smallpondRunning: sum(f, 't3fs_smallpond_tasks_running'),
  }
}

/** A counter's growth; a counter that went back means its node restarted, so all of `now` is new. */
const delta = (before: number, now: number): number => (now >= before ? now - before : now)

export function nodeRates(before: NodeTotals, now: NodeTotals, seconds: number): NodeRates {
  const rate = (pick: (t: NodeTotals) => number): number => (seconds > 0 ? delta(pick(before), pick(now)) / seconds : 0)
  return {
    netSentBytesPerS: rate((t) => t.netSentBytes),
    netReceivedBytesPerS: rate((t) => t.netReceivedBytes),
    diskReadBytesPerS: rate((t) => t.diskReadBytes),
    diskWriteBytesPerS: rate((t) => t.diskWriteBytes),
    messagesPerS: rate((t) => t.messages),
    storageOpsPerS: rate((t) => t.storageOps),
    metaOpsPerS: rate((t) => t.metaOps),
  }
}

/**
 * The q-quantile (0..1) in milliseconds of the observations made between two snapshots, linearly
 * interpolated inside its bucket as Prometheus's histogram_quantile does; null without observations.
 */
export function quantileMs(before: HistogramTotals, now: HistogramTotals, q: number): number | null {
  const previous = new Map(before.bounds.map((b, i) => [b, before.cumulative[i]]))
  const counts = now.bounds.map((b, i) => delta(previous.get(b) ?? 0, now.cumulative[i]))
  const total = counts.length === 0 ? 0 : counts[counts.length - 1]
  if (total <= 0) return null
  const rank = q * total
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] < rank) continue
    const upper = now.bounds[i]
    const lower = i === 0 ? 0 : now.bounds[i - 1]
    if (!Number.isFinite(upper)) return lower * 1000 // above the last bound: report the bound
    const below = i === 0 ? 0 : counts[i - 1]
    const inBucket = counts[i] - below
    const fraction = inBucket <= 0 ? 1 : (rank - below) / inBucket
    return (lower + (upper - lower) * fraction) * 1000
  }
  return null
}

/** Sums the totals of several nodes (histograms bucket by bucket). */
export function sumTotals(list: readonly NodeTotals[]): NodeTotals {
  const addH = (hs: HistogramTotals[]): HistogramTotals => {
    const byBound = new Map<number, number>()
    for (const h of hs) h.bounds.forEach((b, i) => byBound.set(b, (byBound.get(b) ?? 0) + h.cumulative[i]))
    const bounds = [...byBound.keys()].sort((a, b) => a - b)
    return { bounds, cumulative: bounds.map((b) => byBound.get(b)!), count: hs.reduce((n, h) => n + h.count, 0) }
  }
  const add = (pick: (t: NodeTotals) => number): number => list.reduce((n, t) => n + pick(t), 0)
  const tasks: Record<string, number> = {}
  for (const t of list) for (const [k, v] of Object.entries(t.smallpondTasks)) tasks[k] = (tasks[k] ?? 0) + v
  return {
    netSentBytes: add((t) => t.netSentBytes),
    netReceivedBytes: add((t) => t.netReceivedBytes),
    diskReadBytes: add((t) => t.diskReadBytes),
    diskWriteBytes: add((t) => t.diskWriteBytes),
    messages: add((t) => t.messages),
    storageOps: add((t) => t.storageOps),
    metaOps: add((t) => t.metaOps),
    actors: add((t) => t.actors),
    mailboxDepth: add((t) => t.mailboxDepth),
    poolSlotsInUse: add((t) => t.poolSlotsInUse),
    poolSlots: add((t) => t.poolSlots),
    diskLatency: addH(list.map((t) => t.diskLatency)),
    metaLatency: addH(list.map((t) => t.metaLatency)),
    storageLatency: addH(list.map((t) => t.storageLatency)),
    smallpondTasks: tasks,
    smallpondRunning: add((t) => t.smallpondRunning),
  }
}
