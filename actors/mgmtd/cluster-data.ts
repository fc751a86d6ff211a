/**
 * The primary's in-memory view of the cluster: what it loaded from the KV at takeover plus what it
 * only keeps in memory (heartbeat times, incarnations). The KV stays the source of truth: after a
 * failed write the primary throws this away and loads it again.
 */
import type { ChainInfo, ChainTable, ClientSession, ClusterInfo, NodeStatus, PublicState } from './protocol.ts'
import type { PersistedNode, PersistedTarget, Snapshot } from './store.ts'

export interface LiveNode extends PersistedNode {
  lastHeartbeatMs: number
  incarnation: number
  hbVersion: number
  failed: boolean
}

export interface LiveTarget extends PersistedTarget {
  lastUpdateMs: number
}

export interface ClusterData {
  cluster: ClusterInfo | null
  routingVersion: number
  takeoverMs: number
  nodes: Map<number, LiveNode>
  chains: Map<number, ChainInfo>
  /** When each chain was created or loaded: it is frozen for newChainBootstrapIntervalMs after. */
  chainBornMs: Map<number, number>
  tables: ChainTable[]
  targets: Map<number, LiveTarget>
  sessions: Map<string, ClientSession>
  /** Targets reported by storage nodes that belong to no chain. */
  orphanTargets: Set<number>
}

export function fromSnapshot(snapshot: Snapshot, nowMs: number): ClusterData {
  return {
    cluster: snapshot.cluster,
    routingVersion: snapshot.routingVersion,
    takeoverMs: nowMs,
    nodes: new Map(snapshot.nodes.map((n) => [n.nodeId, { ...n, lastHeartbeatMs: 0, incarnation: -1, hbVersion: -1, failed: false }])),
    chains: new Map(snapshot.chains.map((c) => [c.chainId, c])),
    chainBornMs: new Map(snapshot.chains.map((c) => [c.chainId, nowMs])),
    tables: [...snapshot.tables].sort((a, b) => a.tableId - b.tableId || a.version - b.version),
    targets: new Map(snapshot.targets.map((t) => [t.targetId, { ...t, lastUpdateMs: nowMs }])),
    sessions: new Map(snapshot.sessions.map((s) => [s.clientId, s])),
    orphanTargets: new Set(),
  }
}

export function persistedNode(node: LiveNode): PersistedNode {
  return { nodeId: node.nodeId, type: node.type, hostname: node.hostname, disabled: node.disabled }
}

export function persistedTarget(target: LiveTarget): PersistedTarget {
  const { lastUpdateMs: _ignored, ...rest } = target
  void _ignored
  return rest
}

export function nodeStatus(node: LiveNode): NodeStatus {
  if (node.disabled) return 'DISABLED'
  return node.failed ? 'HEARTBEAT_FAILED' : 'HEARTBEAT_CONNECTED'
}

export function publicStateOf(data: ClusterData, targetId: number, chainId: number): PublicState {
  return data.chains.get(chainId)?.targets.find((t) => t.targetId === targetId)?.publicState ?? 'OFFLINE'
}

export function latestTable(data: ClusterData, tableId: number): ChainTable | undefined {
  let latest: ChainTable | undefined
  for (const table of data.tables) if (table.tableId === tableId && (latest === undefined || table.version > latest.version)) latest = table
  return latest
}
