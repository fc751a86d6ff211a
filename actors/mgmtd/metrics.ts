/**
 * mgmtd's view of the cluster as metrics (through ctx.metrics): targets per public state, each
 * target's state, chains fully serving or degraded, nodes per status, sync progress of SYNCING
 * targets and re-replications under way. Refreshed on every status check, from the routing info
 * mgmtd would push; a standby reports only that it is not primary.
 */
import type { Metrics } from '../../runtime/index.ts'
import { PUBLIC_STATES, type RoutingInfo } from './protocol.ts'

/** Metrics are refreshed at most this often (a status check may run far more often, in the simulator). */
export const routingMetricsIntervalMs = 1_000
const lastRecordedMs = new WeakMap<Metrics, number>()

/** Records mgmtd's view when the last record is older than routingMetricsIntervalMs; `info` is built only then. */
export function maybeRecordRoutingMetrics(metrics: Metrics, nowMs: number, info: () => RoutingInfo | null): void {
  const last = lastRecordedMs.get(metrics)
  if (last !== undefined && nowMs - last < routingMetricsIntervalMs && nowMs >= last) return
  lastRecordedMs.set(metrics, nowMs)
  recordRoutingMetrics(metrics, info())
}

export function recordRoutingMetrics(metrics: Metrics, info: RoutingInfo | null): void {
  metrics.gauge('t3fs_mgmtd_primary', { help: '1 while this mgmtd is the primary' }).set(undefined, info === null ? 0 : 1)
  if (info === null) return
  metrics.gauge('t3fs_mgmtd_routing_version', { help: 'routing info version' }).set(undefined, info.routingInfoVersion)
  const byState = metrics.gauge('t3fs_mgmtd_targets', { help: 'targets in chains, per public state', labels: ['state'] })
  for (const state of PUBLIC_STATES) byState.set({ state }, info.targets.filter((t) => t.publicState === state).length)
  const each = metrics.gauge('t3fs_mgmtd_target_state', { help: '1 for each target in its current public state', labels: ['target', 'chain', 'state'] })
  each.reset()
  for (const t of info.targets) each.set({ target: t.targetId, chain: t.chainId, state: t.publicState }, 1)
  const chains = metrics.gauge('t3fs_mgmtd_chains', { help: 'chains whose every target is SERVING (serving) or not (degraded)', labels: ['health'] })
  const serving = info.chains.filter((c) => c.targets.every((t) => t.publicState === 'SERVING')).length
  chains.set({ health: 'serving' }, serving)
  chains.set({ health: 'degraded' }, info.chains.length - serving)
  const nodes = metrics.gauge('t3fs_mgmtd_nodes', { help: 'nodes known to mgmtd, per status', labels: ['status'] })
  nodes.reset()
  for (const n of info.nodes) nodes.inc({ status: n.status })
  const done = metrics.gauge('t3fs_mgmtd_sync_done_chunks', { help: 'chunks compared so far by the sync of a SYNCING target', labels: ['target'] })
  const total = metrics.gauge('t3fs_mgmtd_sync_total_chunks', { help: 'chunks to compare in the sync of a SYNCING target', labels: ['target'] })
  done.reset()
  total.reset()
  for (const t of info.targets) {
    if (t.syncProgress === null) continue
    done.set({ target: t.targetId }, t.syncProgress.doneChunks)
    total.set({ target: t.targetId }, t.syncProgress.totalChunks)
  }
  metrics.gauge('t3fs_mgmtd_replacements', { help: 're-replications under way (a spare filling in for a target OFFLINE too long)' }).set(undefined, info.replacements.length)
}
