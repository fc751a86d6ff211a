/** Builds the RoutingInfo that mgmtd hands out (3FS's RoutingInfo, §1.2). */
import type { ClusterData } from './cluster-data.ts'
import { nodeStatus, publicStateOf } from './cluster-data.ts'
import type { NodeInfo, RoutingInfo } from './protocol.ts'

export function buildRoutingInfo(data: ClusterData, self: { nodeId: number; hostname: string }, nowMs: number, heartbeatFailIntervalMs: number): RoutingInfo {
  const nodes: NodeInfo[] = [...data.nodes.values()]
    .map((n) => ({ nodeId: n.nodeId, type: n.type, status: n.type === 'MGMTD' ? (n.nodeId === self.nodeId ? 'PRIMARY_MGMTD' : 'STANDBY_MGMTD') : nodeStatus(n), hostname: n.hostname, lastHeartbeatMs: n.lastHeartbeatMs }) satisfies NodeInfo)
    .sort((a, b) => a.nodeId - b.nodeId)
  return {
    routingInfoVersion: data.routingVersion,
    bootstrapping: nowMs - data.takeoverMs < heartbeatFailIntervalMs,
    nodes,
    chainTables: data.tables.map((t) => ({ ...t, chains: [...t.chains] })),
    chains: [...data.chains.values()].sort((a, b) => a.chainId - b.chainId).map((c) => ({ ...c, targets: c.targets.map((t) => ({ ...t })) })),
    targets: [...data.targets.values()]
      .sort((a, b) => a.targetId - b.targetId)
      .map((t) => ({ targetId: t.targetId, chainId: t.chainId, publicState: publicStateOf(data, t.targetId, t.chainId), localState: t.localState, nodeId: t.nodeId, diskIndex: t.diskIndex, usedSizeBytes: t.usedSizeBytes })),
  }
}
