/**
 * mgmtd's requests as functions over the in-memory ClusterData: each checks its input against
 * the cluster, mutates the view, and returns the reply plus what must be persisted. No I/O here;
 * the actor persists (and reloads on failure).
 */
import { T3fsError } from '../../runtime/errors.ts'
import { nodeInfoOf, persistedNode, persistedTarget, latestTable, targetInfoOf, type ClusterData, type LiveTarget } from './cluster-data.ts'
import { rotateLastSrv } from './chain-state-machine.ts'
import {
  MgmtdErrorCode,
  type ChainInfo,
  type ChainTable,
  type ClientSession,
  type ClusterInfo,
  type NodeInfo,
  type NodeType,
  type TargetInfo,
  type UpdateChainMode,
} from './protocol.ts'
import type { PrimaryWrites } from './store.ts'

export interface OpResult<R> {
  reply: R
  writes: PrimaryWrites
  routingChanged: boolean
}

const bad = (message: string, details: Record<string, unknown> = {}): T3fsError => new T3fsError(MgmtdErrorCode.BAD_REQUEST, message, details)

function nodeInfo(data: ClusterData, nodeId: number): NodeInfo {
  const n = data.nodes.get(nodeId)
  if (n === undefined) throw new T3fsError(MgmtdErrorCode.NODE_NOT_FOUND, `node ${nodeId} is not registered; list-nodes shows the registered ones`, { nodeId })
  return nodeInfoOf(n)
}

export function registerNode(data: ClusterData, nodeId: number, type: NodeType, hostname: string | undefined): OpResult<NodeInfo> {
  const existing = data.nodes.get(nodeId)
  if (existing !== undefined && existing.type !== type) {
    throw new T3fsError(MgmtdErrorCode.NODE_TYPE_MISMATCH, `node ${nodeId} is already registered as ${existing.type}, not ${type}; unregister it first to change its type`, { nodeId })
  }
  if (existing !== undefined && (hostname === undefined || hostname === existing.hostname)) return { reply: nodeInfo(data, nodeId), writes: {}, routingChanged: false }
  const node = existing ?? { nodeId, type, hostname: '', disabled: false, lastHeartbeatMs: 0, incarnation: -1, hbVersion: -1, failed: false }
  node.hostname = hostname ?? node.hostname
  data.nodes.set(nodeId, node)
  return { reply: nodeInfo(data, nodeId), writes: { nodes: [persistedNode(node)] }, routingChanged: true }
}

export function unregisterNode(data: ClusterData, nodeId: number): OpResult<NodeInfo> {
  const info = nodeInfo(data, nodeId)
  data.nodes.delete(nodeId)
  return { reply: info, writes: { removeNodes: [nodeId] }, routingChanged: true }
}

export function setNodeDisabled(data: ClusterData, nodeId: number, disabled: boolean): OpResult<NodeInfo> {
  nodeInfo(data, nodeId)
  const node = data.nodes.get(nodeId)!
  if (node.disabled === disabled) return { reply: nodeInfo(data, nodeId), writes: {}, routingChanged: false }
  node.disabled = disabled
  return { reply: nodeInfo(data, nodeId), writes: { nodes: [persistedNode(node)] }, routingChanged: true }
}

function newTarget(targetId: number, chainId: number): LiveTarget {
  return { targetId, chainId, localState: 'OFFLINE', nodeId: null, diskIndex: null, usedSizeBytes: 0, adminOfflineIncarnation: null, address: null, lastUpdateMs: 0, syncProgress: null }
}

/** setChains: new chains start all SERVING at version 1; an existing chain must keep its target set. */
export function setChains(data: ClusterData, chains: { chainId: number; targets: number[] }[], nowMs: number): OpResult<ChainInfo[]> {
  if (chains.length === 0) throw bad('set-chains needs at least one chain')
  const owner = new Map<number, number>()
  for (const t of data.targets.values()) owner.set(t.targetId, t.chainId)
  const seenChains = new Set<number>()
  for (const { chainId, targets } of chains) {
    if (chainId === 0 || targets.includes(0)) throw bad(`chain ${chainId} uses id 0, which means "none" in 3FS; accepted: chain and target ids >= 1`, { chainId })
    if (seenChains.has(chainId)) throw bad(`chain ${chainId} appears twice; each chain id may appear once`, { chainId })
    seenChains.add(chainId)
    if (targets.length === 0) throw bad(`chain ${chainId} has no targets; a chain needs at least one target`, { chainId })
    if (new Set(targets).size !== targets.length) throw bad(`chain ${chainId} lists a target twice; its targets must be distinct`, { chainId })
    const existing = data.chains.get(chainId)
    if (existing !== undefined) {
      const had = existing.targets.map((t) => t.targetId).sort((a, b) => a - b).join(',')
      if (had !== [...targets].sort((a, b) => a - b).join(',')) {
        throw new T3fsError(MgmtdErrorCode.CHAIN_CONFLICT, `chain ${chainId} exists with targets [${had}]; an existing chain must keep the same target set (use update-chain to add or remove targets)`, { chainId })
      }
      continue
    }
    for (const targetId of targets) {
      const other = owner.get(targetId)
      if (other !== undefined && other !== chainId) throw new T3fsError(MgmtdErrorCode.CHAIN_CONFLICT, `target ${targetId} of chain ${chainId} already belongs to chain ${other}; a target belongs to one chain`, { chainId, targetId })
      owner.set(targetId, chainId)
    }
  }
  const writes: PrimaryWrites = { chains: [], targets: [] }
  const reply: ChainInfo[] = []
  for (const { chainId, targets } of chains) {
    const existing = data.chains.get(chainId)
    if (existing !== undefined) {
      reply.push(existing)
      continue
    }
    const chain: ChainInfo = { chainId, chainVersion: 1, targets: targets.map((targetId) => ({ targetId, publicState: 'SERVING' })) }
    data.chains.set(chainId, chain)
    data.chainBornMs.set(chainId, nowMs)
    for (const targetId of targets) {
      const target = newTarget(targetId, chainId)
      target.lastUpdateMs = nowMs
      data.targets.set(targetId, target)
      data.orphanTargets.delete(targetId)
      writes.targets!.push(persistedTarget(target))
    }
    writes.chains!.push({ chain, expectedVersion: null })
    reply.push(chain)
  }
  return { reply, writes, routingChanged: writes.chains!.length > 0 }
}

/** setChainTable: a new version of the table, unless its chain list is the latest one's. */
export function setChainTable(data: ClusterData, tableId: number, chains: number[], desc: string): OpResult<ChainTable> {
  if (chains.length === 0) throw bad(`chain table ${tableId} needs at least one chain`)
  for (const chainId of chains) {
    if (!data.chains.has(chainId)) throw new T3fsError(MgmtdErrorCode.CHAIN_NOT_FOUND, `chain ${chainId} of table ${tableId} does not exist; upload it first (upload-chains)`, { chainId, tableId })
  }
  const latest = latestTable(data, tableId)
  if (latest !== undefined && latest.chains.join(',') === chains.join(',') && latest.desc === desc) return { reply: latest, writes: {}, routingChanged: false }
  const table: ChainTable = { tableId, version: (latest?.version ?? 0) + 1, chains: [...chains], desc }
  data.tables.push(table)
  return { reply: table, writes: { tables: [table] }, routingChanged: true }
}

function chainOf(data: ClusterData, chainId: number): ChainInfo {
  const chain = data.chains.get(chainId)
  if (chain === undefined) throw new T3fsError(MgmtdErrorCode.CHAIN_NOT_FOUND, `chain ${chainId} does not exist; list-chains shows the existing ones`, { chainId })
  return chain
}

function replaceChain(data: ClusterData, old: ChainInfo, next: ChainInfo, extra: PrimaryWrites = {}): OpResult<ChainInfo> {
  data.chains.set(next.chainId, next)
  return { reply: next, writes: { ...extra, chains: [{ chain: next, expectedVersion: old.chainVersion }] }, routingChanged: true }
}

/** updateChain: add a target (joins OFFLINE at the tail) or remove an OFFLINE one; bumps the version. */
export function updateChainMembers(data: ClusterData, chainId: number, targetId: number, mode: UpdateChainMode, nowMs: number): OpResult<ChainInfo> {
  if (targetId === 0) throw bad('target id 0 means "none" in 3FS; accepted: a target id >= 1')
  const chain = chainOf(data, chainId)
  const member = chain.targets.find((t) => t.targetId === targetId)
  if (mode === 'add') {
    if (member !== undefined) throw bad(`target ${targetId} is already in chain ${chainId}`, { chainId, targetId })
    const other = data.targets.get(targetId)
    if (other !== undefined) throw new T3fsError(MgmtdErrorCode.CHAIN_CONFLICT, `target ${targetId} already belongs to chain ${other.chainId}; a target belongs to one chain`, { chainId, targetId })
    const target = newTarget(targetId, chainId)
    target.lastUpdateMs = nowMs
    data.targets.set(targetId, target)
    data.orphanTargets.delete(targetId)
    const next: ChainInfo = { ...chain, chainVersion: chain.chainVersion + 1, targets: [...chain.targets, { targetId, publicState: 'OFFLINE' }] }
    return replaceChain(data, chain, next, { targets: [persistedTarget(target)] })
  }
  if (member === undefined) throw new T3fsError(MgmtdErrorCode.TARGET_NOT_FOUND, `target ${targetId} is not in chain ${chainId} (its targets: ${chain.targets.map((t) => t.targetId).join(', ')})`, { chainId, targetId })
  if (member.publicState !== 'OFFLINE') throw new T3fsError(MgmtdErrorCode.BAD_CHAIN_STATE, `target ${targetId} of chain ${chainId} is ${member.publicState}; only an OFFLINE target can be removed (offline-target first)`, { chainId, targetId })
  if (chain.targets.length === 1) throw new T3fsError(MgmtdErrorCode.BAD_CHAIN_STATE, `target ${targetId} is the only target of chain ${chainId}; a chain keeps at least one target`, { chainId, targetId })
  data.targets.delete(targetId)
  const next: ChainInfo = { ...chain, chainVersion: chain.chainVersion + 1, targets: chain.targets.filter((t) => t.targetId !== targetId) }
  return replaceChain(data, chain, next, { removeTargets: [targetId] })
}

export function rotateLastServing(data: ClusterData, chainId: number): OpResult<ChainInfo> {
  const chain = chainOf(data, chainId)
  const next = rotateLastSrv(chain)
  if (typeof next === 'string') throw new T3fsError(MgmtdErrorCode.BAD_CHAIN_STATE, next, { chainId })
  return replaceChain(data, chain, next)
}

export function targetInfo(data: ClusterData, target: LiveTarget): TargetInfo {
  return targetInfoOf(data, target)
}

/** offlineTarget: local state OFFLINE until the target's node restarts; the chain updater does the rest. */
export function offlineTarget(data: ClusterData, targetId: number, nowMs: number): OpResult<TargetInfo> {
  const target = data.targets.get(targetId)
  if (target === undefined) throw new T3fsError(MgmtdErrorCode.TARGET_NOT_FOUND, `target ${targetId} is in no chain; list-targets shows the known targets`, { targetId })
  const incarnation = target.nodeId === null ? -1 : (data.nodes.get(target.nodeId)?.incarnation ?? -1)
  target.localState = 'OFFLINE'
  // Only a heartbeat from a later incarnation (a restart: incarnations are start times) brings it back.
  target.adminOfflineIncarnation = incarnation >= 0 ? incarnation : nowMs
  return { reply: targetInfo(data, target), writes: { targets: [persistedTarget(target)] }, routingChanged: true }
}

export function extendClientSession(data: ClusterData, clientId: string, nodeId: number | undefined, description: string | undefined, nowMs: number): OpResult<ClientSession> {
  const existing = data.sessions.get(clientId)
  const session: ClientSession = { clientId, nodeId: nodeId ?? existing?.nodeId ?? null, description: description ?? existing?.description ?? '', startMs: existing?.startMs ?? nowMs, lastExtendMs: nowMs }
  data.sessions.set(clientId, session)
  return { reply: session, writes: { sessions: [session] }, routingChanged: false }
}

export function initCluster(data: ClusterData, cluster: ClusterInfo): OpResult<ClusterInfo> {
  const { clusterId, chainTableId, chunkSizeBytes, stripeSize } = cluster
  if (typeof clusterId !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(clusterId)) throw bad(`cluster id ${JSON.stringify(clusterId)} is not accepted; accepted: 1-64 characters of A-Z a-z 0-9 . _ -`)
  if (!Number.isSafeInteger(chainTableId) || chainTableId < 1) throw bad(`chain table id ${chainTableId} is not accepted; accepted: an integer >= 1`)
  if (!Number.isSafeInteger(chunkSizeBytes) || chunkSizeBytes < 65536 || chunkSizeBytes > 67108864 || (chunkSizeBytes & (chunkSizeBytes - 1)) !== 0) {
    throw bad(`chunk size ${chunkSizeBytes} is not accepted; accepted: a power of 2 from 65536 (64 KiB) to 67108864 (64 MiB)`)
  }
  if (!Number.isSafeInteger(stripeSize) || stripeSize < 1 || stripeSize > 65536) throw bad(`stripe size ${stripeSize} is not accepted; accepted: an integer from 1 to 65536`)
  const value: ClusterInfo = { clusterId, chainTableId, chunkSizeBytes, stripeSize }
  if (data.cluster !== null) {
    if (JSON.stringify(data.cluster) === JSON.stringify(value)) return { reply: data.cluster, writes: {}, routingChanged: false }
    throw new T3fsError(MgmtdErrorCode.CLUSTER_ALREADY_INITIALIZED, `the cluster is already initialized as ${JSON.stringify(data.cluster)}; init-cluster runs once`, { cluster: data.cluster })
  }
  data.cluster = value
  return { reply: value, writes: { cluster: value }, routingChanged: false }
}
