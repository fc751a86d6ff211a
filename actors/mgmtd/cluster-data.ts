/**
 * The primary's in-memory view of the cluster: what it loaded from the KV at takeover plus what it
 * only keeps in memory (heartbeat times, incarnations). The KV stays the source of truth: after a
 * failed write the primary throws this away and loads it again.
 */
import type { ChainInfo, ChainTable, ClientSession, ClusterInfo, NodeInfo, NodeStatus, OrphanTarget, PublicState, Replacement, SyncProgress, TargetInfo } from './protocol.ts'
import type { PersistedNode, PersistedTarget, Snapshot } from './store.ts'

export interface LiveNode extends PersistedNode {
  lastHeartbeatMs: number
  incarnation: number
  hbVersion: number
  failed: boolean
}

export interface LiveTarget extends PersistedTarget {
  lastUpdateMs: number
  /** Memory only: the latest sync progress its predecessor reported, while it syncs. */
  syncProgress: SyncProgress | null
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
  /** Targets reported by storage nodes that belong to no chain (memory only: heartbeats refill it). */
  orphanTargets: Map<number, OrphanTarget>
  /** Re-replications under way, by chain. */
  replacements: Map<number, Replacement>
  /** Memory only: since when this primary has seen each target publicly OFFLINE. */
  offlineSinceMs: Map<number, number>
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
    targets: new Map(snapshot.targets.map((t) => [t.targetId, { ...t, address: t.address ?? null, lastUpdateMs: nowMs, syncProgress: null }])),
    sessions: new Map(snapshot.sessions.map((s) => [s.clientId, s])),
    orphanTargets: new Map(),
    replacements: new Map(snapshot.replacements.map((r) => [r.chainId, r])),
    offlineSinceMs: new Map(),
  }
}

export function persistedNode(node: LiveNode): PersistedNode {
  return { nodeId: node.nodeId, type: node.type, hostname: node.hostname, disabled: node.disabled, endpoint: node.endpoint ?? null, services: node.services ?? {} }
}

export function persistedTarget(target: LiveTarget): PersistedTarget {
  const { lastUpdateMs: _ignored, syncProgress: _memoryOnly, ...rest } = target
  void _ignored
  void _memoryOnly
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

/** A node as routing info and replies show it. */
export function nodeInfoOf(node: LiveNode, status: NodeStatus = nodeStatus(node)): NodeInfo {
  return { nodeId: node.nodeId, type: node.type, status, hostname: node.hostname, lastHeartbeatMs: node.lastHeartbeatMs, endpoint: node.endpoint ?? null, services: { ...(node.services ?? {}) } }
}

/** A target as routing info and replies show it. */
export function targetInfoOf(data: ClusterData, t: LiveTarget): TargetInfo {
  const publicState = publicStateOf(data, t.targetId, t.chainId)
  return {
    targetId: t.targetId,
    chainId: t.chainId,
    publicState,
    localState: t.localState,
    nodeId: t.nodeId,
    diskIndex: t.diskIndex,
    usedSizeBytes: t.usedSizeBytes,
    address: t.address ?? null,
    syncProgress: publicState === 'SYNCING' ? t.syncProgress : null,
  }
}
