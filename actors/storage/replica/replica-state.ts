/**
 * What a chain replica keeps in memory, and the checks every request passes first: the target is
 * in the request's chain at the request's chain version (3FS kRoutingVersionMismatch otherwise),
 * in a state that serves it, within its serve lease.
 */
import type { ActorContext, DeferredReply } from '../../../runtime/actor.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import type { ChunkEngine } from '../chunk-engine/index.ts'
import type { StorageConfig } from '../config.ts'
import { StorageErrorCode, type ChainView, type IOResult, type ReplicaMsg, type StorageNodeMsg, type TargetView } from '../protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { UpdateChannels } from '../client/update-channels.ts'
import { DedupCache } from './dedup-cache.ts'
import { ChunkLockTable } from './lock-table.ts'
import type { ReadGate } from './read-gate.ts'

/** Deliberate bugs the storage simulation must catch (never set outside tests). */
export const REPLICA_MUTANTS = ['ack-before-commit', 'skip-chain-version-check', 'sync-skips-uncommitted'] as const
export type ReplicaMutant = (typeof REPLICA_MUTANTS)[number]

/** A sync this target runs to its SYNCING successor. */
export interface SyncRun {
  chainVersion: number
  successorId: number
  doneChunks: number
  totalChunks: number
  copiedChunks: number
  copiedBytes: number
}

export interface ReplicaState {
  readonly targetId: number
  readonly node: ActorRef<StorageNodeMsg>
  readonly config: StorageConfig
  readonly engine: ChunkEngine
  readonly locks: ChunkLockTable
  readonly dedup: DedupCache<IOResult>
  readonly mutants: ReadonlySet<string>
  view: TargetView | null
  /** Requests being served (updates, reads, queries): at most config.maxInFlight. */
  inFlight: number
  nextOpId: number
  /** Replies of operations under way, answered when their op-done arrives. */
  readonly replies: Map<number, OpReply>
  /** The sync to the successor under way, and when a failed one may start again. */
  sync: SyncRun | null
  syncNotBeforeMs: number
  /** The chain version at which this target last received syncDone (it is then complete). */
  syncedAtVersion: number | null
  /** The target reported itself failed: it serves nothing until its node boots it again. */
  failed: boolean
  /** Committing a returning LASTSRV's pending versions: it serves nothing until done. */
  resetting: boolean
  /** Bumped whenever the target leaves service: operations of an older epoch stop at their next step. */
  serviceEpoch: number
  /**
   * Tags for the updates this replica originates without a client's (sync copies and removals, a
   * range removal's per-chunk updates): the successor's dedup cache then orders a late attempt
   * behind a retry, as for client updates (3FS allocates sync channels). Unique per replica life.
   */
  readonly channels: UpdateChannels
  /** The node's read gate this life opened (replica/read-gate.ts), closed when it stops. */
  gate: { readonly gate: ReadGate; readonly token: number } | null
}

export interface OpReply {
  reply: DeferredReply
  finish(outcome: { ok: true; value: unknown } | { ok: false; error: T3fsError }): void
}

export type ReplicaCtx = ActorContext<ReplicaMsg>

export function newReplicaState(init: Pick<ReplicaState, 'targetId' | 'node' | 'config' | 'engine' | 'mutants'>, lifeId: string): ReplicaState {
  return {
    ...init,
    channels: new UpdateChannels(`replica:${init.targetId}:${lifeId}`),
    locks: new ChunkLockTable(init.config.maxInFlight),
    dedup: new DedupCache<IOResult>(init.config.dedupEntriesMax),
    view: null, inFlight: 0, nextOpId: 1, replies: new Map(), sync: null, syncNotBeforeMs: 0, syncedAtVersion: null, failed: false, resetting: false, serviceEpoch: 0, gate: null,
  }
}

export function stateError(rs: ReplicaState, why: string): T3fsError {
  return new T3fsError(StorageErrorCode.TARGET_STATE, `target ${rs.targetId} ${why}`, { targetId: rs.targetId })
}

/** The target's chain view if it is in chain `chainId` at `chainVersion` (the mutant skips the version). */
export function chainAt(rs: ReplicaState, chainId: number, chainVersion: number): ChainView {
  const chain = rs.view?.chain ?? null
  if (chain === null || chain.chainId !== chainId) throw stateError(rs, `is not in chain ${chainId}${chain === null ? '' : ` (it is in chain ${chain.chainId})`}`)
  if (chain.chainVersion !== chainVersion && !rs.mutants.has('skip-chain-version-check')) {
    throw new T3fsError(StorageErrorCode.ROUTING_VERSION, `chain ${chainId} is at version ${chain.chainVersion} on target ${rs.targetId}, the request carries ${chainVersion}; refresh the routing info and retry`, { chainId, chainVersion: chain.chainVersion, requested: chainVersion })
  }
  return chain
}

/** A client-facing request (write, read, query): UPTODATE, SERVING, within the lease. */
export function checkServing(rs: ReplicaState, chainId: number, chainVersion: number, nowMs: number): ChainView {
  const view = rs.view
  if (view === null || rs.failed || rs.resetting) throw stateError(rs, 'is starting, failed, or committing what it held pending')
  if (view.localState !== 'UPTODATE') throw stateError(rs, `is ${view.localState} locally; only an UPTODATE target serves`)
  if (nowMs >= view.leaseUntilMs) throw stateError(rs, 'has not heard from mgmtd within its serve lease; it serves nothing until it does')
  const chain = chainAt(rs, chainId, chainVersion)
  if (chain.publicState !== 'SERVING') throw stateError(rs, `is ${chain.publicState} in chain ${chainId}; only a SERVING target serves clients`)
  return chain
}

/** A forwarded update: a serving replica, or the SYNCING successor for syncing updates. */
export function checkForwarded(rs: ReplicaState, chainId: number, chainVersion: number, isSyncing: boolean): ChainView {
  const view = rs.view
  if (view === null || rs.failed || rs.resetting) throw stateError(rs, 'is starting, failed, or committing what it held pending')
  const chain = chainAt(rs, chainId, chainVersion)
  if (isSyncing) {
    if (view.localState === 'OFFLINE' || (chain.publicState !== 'SYNCING' && chain.publicState !== 'SERVING')) throw stateError(rs, `is ${view.localState} locally and ${chain.publicState} in chain ${chainId}; syncing updates go to the SYNCING successor`)
  } else if (view.localState !== 'UPTODATE' || chain.publicState !== 'SERVING') {
    throw stateError(rs, `is ${view.localState} locally and ${chain.publicState} in chain ${chainId}; updates go to UPTODATE SERVING replicas`)
  }
  return chain
}

/** The target still serves in the same life (no boot, failure or chain change since `epoch`). */
export function stillServing(rs: ReplicaState, epoch: number): boolean {
  return rs.serviceEpoch === epoch && !rs.failed && rs.view !== null && rs.view.localState !== 'OFFLINE'
}
