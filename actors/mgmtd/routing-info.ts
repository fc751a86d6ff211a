/** Builds the RoutingInfo that mgmtd hands out (3FS's RoutingInfo, §1.2). */
import type { ClusterData } from './cluster-data.ts'
import { nodeInfoOf, targetInfoOf } from './cluster-data.ts'
import type { NodeInfo, RoutingInfo } from './protocol.ts'

export function buildRoutingInfo(data: ClusterData, self: { nodeId: number; hostname: string }, nowMs: number, heartbeatFailIntervalMs: number): RoutingInfo {
  const nodes: NodeInfo[] = [...data.nodes.values()]
    .map((n) => nodeInfoOf(n, n.type === 'MGMTD' ? (n.nodeId === self.nodeId ? 'PRIMARY_MGMTD' : 'STANDBY_MGMTD') : undefined))
    .sort((a, b) => a.nodeId - b.nodeId)
  return {
    routingInfoVersion: data.routingVersion,
    bootstrapping: nowMs - data.takeoverMs < heartbeatFailIntervalMs,
    nodes,
    chainTables: data.tables.map((t) => ({ ...t, chains: [...t.chains] })),
    chains: [...data.chains.values()].sort((a, b) => a.chainId - b.chainId).map((c) => ({ ...c, targets: c.targets.map((t) => ({ ...t })) })),
    targets: [...data.targets.values()].sort((a, b) => a.targetId - b.targetId).map((t) => targetInfoOf(data, t)),
    orphanTargets: [...data.orphanTargets.values()].sort((a, b) => a.targetId - b.targetId).map((o) => ({ ...o })),
    replacements: [...data.replacements.values()].sort((a, b) => a.chainId - b.chainId).map((r) => ({ ...r })),
  }
}
