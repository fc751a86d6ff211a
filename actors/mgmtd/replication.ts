/**
 * Automatic re-replication (3FS has none, reference/3fs.md §3.5 last point, issue #335): when a
 * chain's target stays publicly OFFLINE past a configured delay, mgmtd adds a spare target — one a
 * storage node reports that belongs to no chain, on a node holding no other target of the chain —
 * at the chain's tail. The chain updater then walks it through SYNCING to SERVING like any
 * returning target; once it serves, the dead target leaves the chain. Disk replacement becomes:
 * plug in (the node reports the new disk's target as a spare), wait.
 *
 * Pure functions over ClusterData, like operations.ts: they mutate the view and return what must be
 * persisted. One replacement per chain at a time, recorded in the KV so a new primary finishes it.
 */
import type { ClusterData, LiveTarget } from './cluster-data.ts'
import type { ChainInfo, OrphanTarget, Replacement } from './protocol.ts'
import type { ChainWrite } from './store.ts'

export interface ReplicationStep {
  chains: ChainWrite[]
  /** Spares that joined a chain (persisted as targets of that chain). */
  targets: LiveTarget[]
  removeTargets: number[]
  replacements: Replacement[]
  removeReplacements: number[]
  /** One line per decision, for the log. */
  notes: string[]
}

/** Notes since when each chain target is publicly OFFLINE (memory only: a new primary starts counting anew). */
export function trackOffline(data: ClusterData, nowMs: number): void {
  const offline = new Set<number>()
  for (const chain of data.chains.values()) for (const t of chain.targets) if (t.publicState === 'OFFLINE') offline.add(t.targetId)
  for (const id of data.offlineSinceMs.keys()) if (!offline.has(id)) data.offlineSinceMs.delete(id)
  for (const id of offline) if (!data.offlineSinceMs.has(id)) data.offlineSinceMs.set(id, nowMs)
}

/** One pass over every chain: finish replacements whose spare serves, start new ones where a target is dead too long. */
export function planReplication(data: ClusterData, nowMs: number, delayMs: number, frozen: (chainId: number) => boolean): ReplicationStep {
  const step: ReplicationStep = { chains: [], targets: [], removeTargets: [], replacements: [], removeReplacements: [], notes: [] }
  const usedSpares = new Set<number>()
  for (const chain of [...data.chains.values()]) {
    if (frozen(chain.chainId)) continue
    const running = data.replacements.get(chain.chainId)
    if (running !== undefined) finish(data, chain, running, step)
    else start(data, chain, nowMs, delayMs, usedSpares, step)
  }
  return step
}

function finish(data: ClusterData, chain: ChainInfo, r: Replacement, step: ReplicationStep): void {
  const spare = chain.targets.find((t) => t.targetId === r.spareTargetId)
  const dead = chain.targets.find((t) => t.targetId === r.deadTargetId)
  const drop = (note: string): void => {
    data.replacements.delete(chain.chainId)
    step.removeReplacements.push(chain.chainId)
    step.notes.push(note)
  }
  if (spare === undefined) return drop(`chain ${chain.chainId}: spare ${r.spareTargetId} left the chain; replacement of ${r.deadTargetId} abandoned`)
  if (dead === undefined) return drop(`chain ${chain.chainId}: ${r.deadTargetId} already left the chain; replacement done`)
  if (spare.publicState !== 'SERVING') return
  if (dead.publicState !== 'OFFLINE' || chain.targets.length === 1) {
    return drop(`chain ${chain.chainId}: spare ${r.spareTargetId} serves but ${r.deadTargetId} came back (${dead.publicState}); both stay`)
  }
  const next: ChainInfo = { ...chain, chainVersion: chain.chainVersion + 1, targets: chain.targets.filter((t) => t.targetId !== r.deadTargetId) }
  data.chains.set(chain.chainId, next)
  data.targets.delete(r.deadTargetId)
  data.offlineSinceMs.delete(r.deadTargetId)
  step.chains.push({ chain: next, expectedVersion: chain.chainVersion })
  step.removeTargets.push(r.deadTargetId)
  drop(`chain ${chain.chainId}: spare ${r.spareTargetId} serves; dead target ${r.deadTargetId} removed (chain v${next.chainVersion})`)
}

function start(data: ClusterData, chain: ChainInfo, nowMs: number, delayMs: number, usedSpares: Set<number>, step: ReplicationStep): void {
  // A sync needs a SERVING predecessor; a chain without one waits for its LASTSRV.
  if (!chain.targets.some((t) => t.publicState === 'SERVING')) return
  const dead = chain.targets.find((t) => {
    const since = data.offlineSinceMs.get(t.targetId)
    return t.publicState === 'OFFLINE' && data.targets.get(t.targetId)?.localState === 'OFFLINE' && since !== undefined && nowMs - since >= delayMs
  })
  if (dead === undefined) return
  const spare = pickSpare(data, chain, usedSpares)
  if (spare === null) return
  usedSpares.add(spare.targetId)
  data.orphanTargets.delete(spare.targetId)
  const target: LiveTarget = {
    targetId: spare.targetId, chainId: chain.chainId, localState: spare.localState, nodeId: spare.nodeId, diskIndex: spare.diskIndex,
    usedSizeBytes: spare.usedSizeBytes, adminOfflineIncarnation: null, address: spare.address, lastUpdateMs: nowMs, syncProgress: null,
  }
  data.targets.set(target.targetId, target)
  const next: ChainInfo = { ...chain, chainVersion: chain.chainVersion + 1, targets: [...chain.targets, { targetId: spare.targetId, publicState: 'OFFLINE' }] }
  data.chains.set(chain.chainId, next)
  const replacement: Replacement = { chainId: chain.chainId, deadTargetId: dead.targetId, spareTargetId: spare.targetId, startedMs: nowMs }
  data.replacements.set(chain.chainId, replacement)
  step.chains.push({ chain: next, expectedVersion: chain.chainVersion })
  step.targets.push(target)
  step.replacements.push(replacement)
  step.notes.push(`chain ${chain.chainId}: target ${dead.targetId} OFFLINE for ${Math.round(nowMs - data.offlineSinceMs.get(dead.targetId)!)} ms; spare ${spare.targetId} on node ${spare.nodeId} joins (chain v${next.chainVersion})`)
}

/** A live spare on a node that holds no target of this chain; the least loaded node first. */
function pickSpare(data: ClusterData, chain: ChainInfo, usedSpares: Set<number>): OrphanTarget | null {
  const chainNodes = new Set(chain.targets.map((t) => data.targets.get(t.targetId)?.nodeId).filter((n) => n !== null && n !== undefined))
  const load = new Map<number, number>()
  for (const t of data.targets.values()) if (t.nodeId !== null) load.set(t.nodeId, (load.get(t.nodeId) ?? 0) + 1)
  const candidates = [...data.orphanTargets.values()].filter((o) => {
    const node = data.nodes.get(o.nodeId)
    return !usedSpares.has(o.targetId) && node !== undefined && !node.failed && !node.disabled && (o.localState === 'ONLINE' || o.localState === 'UPTODATE') && !chainNodes.has(o.nodeId)
  })
  candidates.sort((a, b) => (load.get(a.nodeId) ?? 0) - (load.get(b.nodeId) ?? 0) || a.targetId - b.targetId)
  return candidates[0] ?? null
}
