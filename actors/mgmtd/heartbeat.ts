/**
 * Heartbeats and the heartbeat checker (3FS's HeartbeatOperation and MgmtdHeartbeatChecker, §3.5),
 * as pure functions over ClusterData. They mutate the in-memory view and return what must be
 * persisted; the actor writes it and reloads from the KV if the write fails.
 */
import { T3fsError } from '../../runtime/errors.ts'
import type { ClusterData, LiveNode, LiveTarget } from './cluster-data.ts'
import type { MgmtdConfig } from './config.ts'
import type { ActorAddress } from '../../runtime/address.ts'
import { MgmtdErrorCode, type HeartbeatInfo, type LocalTargetInfo, type OrphanTarget } from './protocol.ts'

export interface HeartbeatEffects {
  /** A node registered by this heartbeat (or whose hostname changed): persist it. */
  node: LiveNode | null
  /** Targets whose persisted fields changed. */
  targets: LiveTarget[]
  /** The node came back from HEARTBEAT_FAILED or was new: routing info changed. */
  routingChanged: boolean
}

/** Applies one heartbeat, or throws the coded reason it is rejected. */
export function applyHeartbeat(data: ClusterData, info: HeartbeatInfo, nowMs: number, config: MgmtdConfig, selfNodeId: number): HeartbeatEffects {
  if (info.nodeId === 0 || info.nodeId === selfNodeId) {
    throw new T3fsError(MgmtdErrorCode.BAD_REQUEST, `heartbeat from node id ${info.nodeId} refused: ${info.nodeId === 0 ? '0 is not a node id' : 'it is the id of this mgmtd (duplicated node id)'}`, { nodeId: info.nodeId })
  }
  const seen = new Set<number>()
  for (const t of info.targets ?? []) {
    if (seen.has(t.targetId)) throw new T3fsError(MgmtdErrorCode.BAD_REQUEST, `heartbeat of node ${info.nodeId} lists target ${t.targetId} twice; each target once`, { nodeId: info.nodeId, targetId: t.targetId })
    seen.add(t.targetId)
  }
  if (Math.abs(info.timestampMs - nowMs) > config.heartbeatTimestampValidWindowMs) {
    throw new T3fsError(MgmtdErrorCode.CLOCK_SKEW, `heartbeat of node ${info.nodeId} carries timestamp ${info.timestampMs}, ${Math.round(info.timestampMs - nowMs)} ms from mgmtd's clock; accepted: within ±${config.heartbeatTimestampValidWindowMs} ms`, { nodeId: info.nodeId })
  }
  let node = data.nodes.get(info.nodeId)
  let created = false
  if (node === undefined) {
    if (!config.allowHeartbeatFromUnregistered) {
      throw new T3fsError(MgmtdErrorCode.NODE_NOT_FOUND, `node ${info.nodeId} is not registered and heartbeats from unregistered nodes are not allowed; register it first (t3fs admin register-node ${info.nodeId} ${info.type})`, { nodeId: info.nodeId })
    }
    node = { nodeId: info.nodeId, type: info.type, hostname: info.hostname ?? '', disabled: false, lastHeartbeatMs: 0, incarnation: -1, hbVersion: -1, failed: false }
    created = true
  }
  if (node.disabled) throw new T3fsError(MgmtdErrorCode.NODE_DISABLED, `node ${info.nodeId} is disabled; enable it (t3fs admin enable-node ${info.nodeId}) before it can heartbeat`, { nodeId: info.nodeId })
  if (node.type !== info.type) {
    throw new T3fsError(MgmtdErrorCode.NODE_TYPE_MISMATCH, `node ${info.nodeId} is registered as ${node.type} but heartbeats as ${info.type}`, { nodeId: info.nodeId })
  }
  if (info.incarnation < node.incarnation || (info.incarnation === node.incarnation && info.hbVersion <= node.hbVersion)) {
    throw new T3fsError(MgmtdErrorCode.STALE_HEARTBEAT, `stale heartbeat from node ${info.nodeId}: (incarnation ${info.incarnation}, hbVersion ${info.hbVersion}) is not newer than (${node.incarnation}, ${node.hbVersion})`, { nodeId: info.nodeId })
  }
  if (created) data.nodes.set(node.nodeId, node)
  const hostnameChanged = info.hostname !== undefined && info.hostname !== node.hostname
  if (hostnameChanged) node.hostname = info.hostname ?? ''
  const servicesChanged = noteServices(node, info)
  const routingChanged = created || node.failed || hostnameChanged || servicesChanged
  node.failed = false
  node.lastHeartbeatMs = nowMs
  node.incarnation = info.incarnation
  node.hbVersion = info.hbVersion
  const targets: LiveTarget[] = []
  for (const reported of info.targets ?? []) {
    const target = data.targets.get(reported.targetId)
    if (target === undefined) {
      data.orphanTargets.set(reported.targetId, orphanOf(reported, info.nodeId, nowMs))
      continue
    }
    data.orphanTargets.delete(reported.targetId)
    const chain = data.chains.get(target.chainId)
    if (chain !== undefined && reported.chainVersion !== undefined && reported.chainVersion < chain.chainVersion) continue // stale target entry
    target.lastUpdateMs = nowMs
    noteSyncProgress(data, target, reported)
    if (target.adminOfflineIncarnation !== null && info.incarnation <= target.adminOfflineIncarnation) continue // offlined by an admin until restart
    const local = reported.localState
    const address = reported.address ?? target.address ?? null
    const changed = target.localState !== local || target.nodeId !== info.nodeId || target.diskIndex !== (reported.diskIndex ?? target.diskIndex) || target.adminOfflineIncarnation !== null || !sameAddress(target.address ?? null, address)
    target.usedSizeBytes = reported.usedSizeBytes ?? target.usedSizeBytes
    if (!changed) continue
    target.localState = local
    target.nodeId = info.nodeId
    target.diskIndex = reported.diskIndex ?? target.diskIndex
    target.adminOfflineIncarnation = null
    target.address = address
    targets.push(target)
  }
  return { node: created || hostnameChanged || servicesChanged ? node : null, targets, routingChanged }
}

/** Takes the node's reported endpoint and service addresses; true when they changed. */
function noteServices(node: LiveNode, info: HeartbeatInfo): boolean {
  let changed = false
  if (info.endpoint !== undefined && info.endpoint !== (node.endpoint ?? null)) {
    node.endpoint = info.endpoint
    changed = true
  }
  if (info.services !== undefined) {
    const before = node.services ?? {}
    const names = new Set([...Object.keys(before), ...Object.keys(info.services)])
    if ([...names].some((n) => before[n] === undefined || info.services![n] === undefined || !sameAddress(before[n], info.services![n]))) {
      node.services = { ...info.services }
      changed = true
    }
  }
  return changed
}

function sameAddress(a: ActorAddress | null, b: ActorAddress | null): boolean {
  if (a === null || b === null) return a === b
  return a.node === b.node && a.host === b.host && a.id === b.id && a.incarnation === b.incarnation
}

function orphanOf(reported: LocalTargetInfo, nodeId: number, nowMs: number): OrphanTarget {
  return { targetId: reported.targetId, nodeId, diskIndex: reported.diskIndex ?? null, localState: reported.localState, usedSizeBytes: reported.usedSizeBytes ?? 0, address: reported.address ?? null, lastSeenMs: nowMs }
}

/** A target syncing its successor reports the progress; it is shown on the successor. */
function noteSyncProgress(data: ClusterData, target: LiveTarget, reported: LocalTargetInfo): void {
  const sync = reported.sync
  if (sync === undefined) return
  const successor = data.targets.get(sync.targetId)
  if (successor !== undefined && successor.chainId === target.chainId) successor.syncProgress = { ...sync }
}

export interface CheckEffects {
  failedNodes: LiveNode[]
  offlinedTargets: LiveTarget[]
  expiredSessions: string[]
}

/** The periodic check: silent nodes fail, targets not heard of go OFFLINE, old sessions expire. */
export function checkHeartbeats(data: ClusterData, nowMs: number, config: MgmtdConfig): CheckEffects {
  const since = (ms: number): number => nowMs - Math.max(ms, data.takeoverMs)
  const failedNodes: LiveNode[] = []
  for (const node of data.nodes.values()) {
    if (node.type === 'MGMTD' || node.failed || node.disabled) continue
    if (since(node.lastHeartbeatMs) > config.heartbeatFailIntervalMs) {
      node.failed = true
      failedNodes.push(node)
    }
  }
  const offlinedTargets: LiveTarget[] = []
  for (const target of data.targets.values()) {
    if (target.localState !== 'OFFLINE' && since(target.lastUpdateMs) > config.heartbeatFailIntervalMs) {
      target.localState = 'OFFLINE'
      offlinedTargets.push(target)
    }
  }
  const expiredSessions: string[] = []
  for (const session of data.sessions.values()) {
    if (since(session.lastExtendMs) > config.clientSessionTimeoutMs) expiredSessions.push(session.clientId)
  }
  for (const id of expiredSessions) data.sessions.delete(id)
  // A spare not heard of for a fail interval is no spare (its node went away).
  for (const [id, orphan] of data.orphanTargets) if (since(orphan.lastSeenMs) > config.heartbeatFailIntervalMs) data.orphanTargets.delete(id)
  return { failedNodes, offlinedTargets, expiredSessions }
}
