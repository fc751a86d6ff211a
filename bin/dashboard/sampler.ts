/**
 * The dashboard's view of the cluster, refreshed every `refreshIntervalMs`: routing info from
 * mgmtd (nodes, chains, targets with their states and sync progress, re-replications) and every
 * live node's metrics through its metrics actor, turned into rates and kept as a bounded history
 * for the graphs.
 */
import type { MgmtdMsg, RoutingInfo } from '../../actors/mgmtd/protocol.ts'
import type { NodeRuntime } from '../../runtime/node-runtime.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import type { DashboardSettings } from '../../runtime/profile/index.ts'
import { metricsAddress, type MetricsMsg } from '../../runtime/metrics/metrics-actor.ts'
import { toT3fsError } from '../../runtime/errors.ts'
import { nodeRates, nodeTotals, quantileMs, sumTotals, type NodeRates, type NodeTotals } from './figures.ts'

/** Samples kept for the graphs, whatever `history` says. */
export const historySamplesMax = 3600
/** Nodes whose metrics one refresh asks for (mgmtd's node list can be long). */
export const metricNodesMax = 256

export const seriesNames = ['netSentBytesPerS', 'netReceivedBytesPerS', 'diskReadBytesPerS', 'diskWriteBytesPerS', 'messagesPerS', 'storageOpsPerS', 'metaOpsPerS', 'diskP50Ms', 'diskP99Ms', 'storageP99Ms', 'metaP99Ms'] as const
export type SeriesName = (typeof seriesNames)[number]

export interface NodeRow extends Partial<NodeRates> {
  readonly node: number
  readonly error: string | null
  readonly actors?: number
  readonly mailboxDepth?: number
  readonly poolSlotsInUse?: number
  readonly poolSlots?: number
}

export interface DashboardState {
  readonly clusterId: string
  readonly node: number
  readonly mgmtdNode: number
  readonly refreshIntervalMs: number
  /** Wall-clock ms of the last refresh (0: none yet). */
  readonly updatedMs: number
  readonly routing: RoutingInfo | null
  readonly routingError: string | null
  readonly nodes: readonly NodeRow[]
  /** Sample times (wall-clock ms) and one value per series per sample (null: nothing observed). */
  readonly times: readonly number[]
  readonly series: Readonly<Record<SeriesName, readonly (number | null)[]>>
  readonly smallpond: { readonly tasks: Readonly<Record<string, number>>; readonly running: number }
}

export class DashboardSampler {
  private routing: RoutingInfo | null = null
  private routingError: string | null = 'not asked yet'
  private rows: NodeRow[] = []
  private previous = new Map<number, { totals: NodeTotals; atMs: number }>()
  private readonly times: number[] = []
  private readonly series = Object.fromEntries(seriesNames.map((n) => [n, [] as (number | null)[]])) as Record<SeriesName, (number | null)[]>
  private smallpond: DashboardState['smallpond'] = { tasks: {}, running: 0 }
  private updatedMs = 0
  private timer: NodeJS.Timeout | null = null
  /** mgmtd's ref, looked up once and again after a failure (it may have restarted elsewhere). */
  private mgmtd: ActorRef<MgmtdMsg> | null = null
  private readonly samplesMax: number

  constructor(
    private readonly runtime: NodeRuntime,
    private readonly settings: DashboardSettings,
    private readonly clusterId: string,
  ) {
    this.samplesMax = Math.min(historySamplesMax, Math.max(2, Math.ceil(settings.historyMs / settings.refreshIntervalMs)))
  }

  start(): void {
    const loop = (): void => {
      void this.refresh().finally(() => {
        if (this.timer !== null) this.timer = setTimeout(loop, this.settings.refreshIntervalMs)
      })
    }
    this.timer = setTimeout(loop, 0)
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  state(): DashboardState {
    return {
      clusterId: this.clusterId, node: this.runtime.system.node, mgmtdNode: this.settings.mgmtdNode,
      refreshIntervalMs: this.settings.refreshIntervalMs, updatedMs: this.updatedMs,
      routing: this.routing, routingError: this.routingError, nodes: this.rows,
      times: this.times, series: this.series, smallpond: this.smallpond,
    }
  }

  /** One round: mgmtd's routing, then every known node's metrics. */
  async refresh(): Promise<void> {
    const timeoutMs = Math.max(1_000, this.settings.refreshIntervalMs)
    try {
      this.mgmtd ??= await this.runtime.lookupRemote<MgmtdMsg>(this.settings.mgmtdNode, 'mgmtd', timeoutMs)
      this.routing = await this.mgmtd.ask({ type: 'get-routing-info' }, { timeoutMs })
      this.routingError = this.routing === null ? 'mgmtd has no routing info yet (is it primary?)' : null
    } catch (error) {
      this.mgmtd = null
      this.routingError = `mgmtd of node ${this.settings.mgmtdNode}: ${toT3fsError(error).message}`
    }
    const nodes = new Set<number>([this.runtime.system.node])
    for (const n of this.routing?.nodes ?? []) if (n.status !== 'HEARTBEAT_FAILED' && n.status !== 'DISABLED') nodes.add(n.nodeId)
    const ids = [...nodes].sort((a, b) => a - b).slice(0, metricNodesMax)
    const results = await Promise.all(ids.map((node) => this.nodeMetrics(node, timeoutMs)))
    this.record(ids, results)
  }

  private async nodeMetrics(node: number, timeoutMs: number): Promise<NodeTotals | string> {
    try {
      const families = node === this.runtime.system.node
        ? await this.runtime.metricFamilies()
        : await this.runtime.system.refFor<MetricsMsg>(metricsAddress(node)).ask({ type: 'families' }, { timeoutMs })
      return nodeTotals(families)
    } catch (error) {
      return toT3fsError(error).message
    }
  }

  private record(ids: readonly number[], results: readonly (NodeTotals | string)[]): void {
    const nowMs = Date.now()
    const rows: NodeRow[] = []
    const current: NodeTotals[] = []
    const before: NodeTotals[] = []
    let seconds = 0
    ids.forEach((node, i) => {
      const r = results[i]
      if (typeof r === 'string') return void rows.push({ node, error: r })
      const previous = this.previous.get(node)
      this.previous.set(node, { totals: r, atMs: nowMs })
      const rates = previous === undefined ? {} : nodeRates(previous.totals, r, (nowMs - previous.atMs) / 1000)
      rows.push({ node, error: null, ...rates, actors: r.actors, mailboxDepth: r.mailboxDepth, poolSlotsInUse: r.poolSlotsInUse, poolSlots: r.poolSlots })
      if (previous === undefined) return
      current.push(r)
      before.push(previous.totals)
      seconds = Math.max(seconds, (nowMs - previous.atMs) / 1000)
    })
    for (const node of [...this.previous.keys()]) if (!ids.includes(node)) this.previous.delete(node)
    this.rows = rows
    this.updatedMs = nowMs
    const now = sumTotals(current)
    const was = sumTotals(before)
    this.smallpond = { tasks: now.smallpondTasks, running: now.smallpondRunning }
    if (current.length === 0) return
    const rates = nodeRates(was, now, seconds)
    const values: Record<SeriesName, number | null> = {
      ...rates,
      diskP50Ms: quantileMs(was.diskLatency, now.diskLatency, 0.5),
      diskP99Ms: quantileMs(was.diskLatency, now.diskLatency, 0.99),
      storageP99Ms: quantileMs(was.storageLatency, now.storageLatency, 0.99),
      metaP99Ms: quantileMs(was.metaLatency, now.metaLatency, 0.99),
    }
    this.times.push(nowMs)
    for (const name of seriesNames) this.series[name].push(values[name])
    if (this.times.length > this.samplesMax) {
      this.times.shift()
      for (const name of seriesNames) this.series[name].shift()
    }
  }
}
