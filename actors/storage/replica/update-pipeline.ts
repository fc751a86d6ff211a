/**
 * One update through one replica (3FS StorageOperator::handleUpdate/doUpdate/doCommit,
 * reference/3fs.md §3.3 steps 4–9): take the chunk's lock, re-check the chain version, pull the
 * bytes, write them as the chunk's pending version (copy-on-write, in the chunk engine), forward to
 * the successor (forward.ts) — or, at the tail, go straight on — then commit locally and answer.
 * The tail commits first and the head last; the client is answered by the head after its commit.
 *
 * From the moment the local pending version exists until the local commit, the update is *in
 * doubt* here: the successor may have committed it. If that stretch fails while the target still
 * serves, the target reports itself failed and rejoins through a full sync, instead of leaving a
 * pending version that a later update of the same chunk could contradict (3FS then wedges the
 * chunk with checksum mismatches).
 */
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { crc32c } from '../../../runtime/checksum.ts'
import { sleep } from '../../../runtime/clock.ts'
import { isT3fsError, T3fsError } from '../../../runtime/errors.ts'
import { ChunkEngineErrorCode, type ChunkId, type UpdateResult, type UpdateTag } from '../chunk-engine/index.ts'
import { StorageErrorCode, type IOResult, type MessageTag, type UpdateIO, type UpdateOptions } from '../protocol.ts'
import { pullData } from './data-transfer.ts'
import { forwardOrTail } from './forward.ts'
import { checkForwarded, checkServing, stillServing, type ReplicaCtx, type ReplicaState } from './replica-state.ts'
import { reportFailed } from './report.ts'

export interface UpdateJob {
  io: UpdateIO
  options: UpdateOptions
  /** The client's tag, forwarded with the update (each replica dedups on it). */
  tag: MessageTag | undefined
  /** Who the chunk engine records as the update's author (its stale-update check compares it). */
  engineTag: UpdateTag
  /** The head's client write (the head assigns the version). */
  atHead: boolean
  /** ack-before-commit mutant: answer the client as soon as the local pending version exists. */
  early?: (result: IOResult) => void
}

/** What the local update produced: the pending version to forward and commit. */
export interface Applied {
  version: number
  lengthBytes: number
  crc32c: number
}

export const chunkKey = (chainId: number, chunkId: string): string => `${chainId}/${chunkId}`

/** An op failing with this code crashes the replica (a buggify site: the process dies mid-update). */
export const BUGGIFY_CRASH = 'ERR_BUGGIFY_CRASH'

export async function runUpdate(rs: ReplicaState, ctx: ReplicaCtx, job: UpdateJob): Promise<IOResult> {
  const { io } = job
  const epoch = rs.serviceEpoch
  // A slow replica: the sender's attempt times out and it retries while this one is still on its way.
  if (ctx.buggify('replica:delay-before-lock')) await sleep(ctx.clock, 20 + ctx.random.int(150))
  const release = await rs.locks.acquire(chunkKey(io.key.chainId, io.key.chunkId))
  let data: PooledBuffer | null = null
  try {
    // The chain may have changed while the update waited for the chunk (3FS re-checks after the lock).
    if (job.atHead) checkServing(rs, io.key.chainId, io.key.chainVersion, ctx.clock.now())
    else checkForwarded(rs, io.key.chainId, io.key.chainVersion, job.options.isSyncing)
    data = await pullData(ctx, io.data, io.type === 'write' ? io.length : 0)
    const local = await applyLocal(rs, job, data)
    // No sync of the pending version of its own: its record rides with the next group commit, and
    // the commit syncs the data with its record. A sync here would add a group commit per write on
    // every replica before the tail (an fsync of the data and one of the log each) for no safety:
    // a pending version lost in a crash is an update never acknowledged, which the sync replaces.
    if (local.kind === 'committed') return local.result
    checkNotAhead(rs, ctx, io)
    // A head that dies between its local write and the forward: only it holds the pending version.
    if (job.atHead && ctx.buggify('replica:crash-after-apply')) throw new T3fsError(BUGGIFY_CRASH, `buggify: target ${rs.targetId} crashes after its local write`, {})
    return await completeInDoubt(rs, ctx, job, local.applied, data, epoch)
  } finally {
    data?.release()
    release()
  }
}

async function completeInDoubt(rs: ReplicaState, ctx: ReplicaCtx, job: UpdateJob, applied: Applied, data: PooledBuffer | null, epoch: number): Promise<IOResult> {
  const { io } = job
  try {
    job.early?.({ lengthBytes: applied.lengthBytes, commitVersion: applied.version, updateVersion: applied.version, checksum: applied.crc32c, commitChainVersion: io.key.chainVersion })
    const commitChainVersion = await forwardOrTail(rs, ctx, job, applied, data, epoch)
    const result = await commitLocal(rs, io.key.chainId, io.key.chunkId, applied, commitChainVersion)
    ctx.log.debug({ evt: 'Committed', targetId: rs.targetId, chunkId: io.key.chunkId, version: result.commitVersion, type: io.type, syncing: job.options.isSyncing, offset: io.offset, length: io.length })
    return result
  } catch (error) {
    if (stillServing(rs, epoch)) reportFailed(rs, ctx, `update of chunk ${io.key.chunkId} (chain ${io.key.chainId}, version ${applied.version}) failed after its local write: ${error instanceof Error ? error.message : String(error)}`)
    throw error
  }
}

/**
 * An invariant, asserted after every fresh local write: a replica never holds an update of a chain
 * version it has not reached. It accepted the update at its own chain version and views only move
 * forward, so an update from a newer version than the view means the fence was bypassed: this
 * replica may not even be where the sender's chain puts it (3FS kRoutingVersionMismatch).
 */
function checkNotAhead(rs: ReplicaState, ctx: ReplicaCtx, io: UpdateIO): void {
  const current = rs.view?.chain?.chainVersion ?? null
  if (current === null || current >= io.key.chainVersion) return
  const why = `target ${rs.targetId} wrote chunk ${io.key.chunkId} of an update at chain version ${io.key.chainVersion} while it is at chain version ${current} of chain ${io.key.chainId}`
  ctx.log.error({ evt: 'InvariantViolated', targetId: rs.targetId, chainId: io.key.chainId }, why)
  reportFailed(rs, ctx, why)
  throw new T3fsError(StorageErrorCode.ROUTING_VERSION, why, { chainId: io.key.chainId, chainVersion: current, requested: io.key.chainVersion })
}

type Local = { kind: 'applied'; applied: Applied } | { kind: 'committed'; result: IOResult }

async function applyLocal(rs: ReplicaState, job: UpdateJob, data: PooledBuffer | null): Promise<Local> {
  const { io, options } = job
  const write = io.type === 'write'
  try {
    const r: UpdateResult = await rs.engine.update({
      chainId: io.key.chainId,
      chunkId: io.key.chunkId as ChunkId,
      kind: io.type,
      ...(write ? { offset: io.offset, data: data ?? new Uint8Array(0), checksum: data === null ? crc32c(new Uint8Array(0)) : io.checksum } : {}),
      ...(io.type === 'truncate' || io.type === 'extend' ? { lengthBytes: io.length } : {}),
      updateVersion: job.atHead ? 0 : io.updateVersion,
      // The mutant stamps its own chain version instead of the request's: the engine's fence is skipped too.
      chainVersion: rs.mutants.has('skip-chain-version-check') ? (rs.view?.chain?.chainVersion ?? io.key.chainVersion) : io.key.chainVersion,
      syncing: options.isSyncing,
      tag: job.engineTag,
    })
    return { kind: 'applied', applied: { version: r.version, lengthBytes: r.lengthBytes, crc32c: r.crc32c } }
  } catch (error) {
    if (!isT3fsError(error)) throw error
    const d = error.details as Record<string, number>
    // Already applied and committed here — and so downstream, where commits happen first.
    if (error.code === ChunkEngineErrorCode.committedUpdate) {
      return { kind: 'committed', result: { lengthBytes: d.lengthBytes ?? 0, commitVersion: d.committedVersion ?? io.updateVersion, updateVersion: d.committedVersion ?? io.updateVersion, checksum: d.crc32c ?? 0, commitChainVersion: d.chainVersion ?? io.key.chainVersion } }
    }
    // The same request is already pending at this version: carry on forwarding and committing it.
    if (error.code === ChunkEngineErrorCode.staleUpdate) return { kind: 'applied', applied: { version: d.pendingVersion ?? io.updateVersion, lengthBytes: d.lengthBytes ?? 0, crc32c: d.crc32c ?? 0 } }
    throw error
  }
}

async function commitLocal(rs: ReplicaState, chainId: number, chunkId: string, applied: Applied, commitChainVersion: number): Promise<IOResult> {
  try {
    const c = await rs.engine.commit({ chainId, chunkId: chunkId as ChunkId, version: applied.version, chainVersion: commitChainVersion })
    return { lengthBytes: c.lengthBytes, commitVersion: c.version, updateVersion: c.version, checksum: c.crc32c, commitChainVersion: c.chainVersion }
  } catch (error) {
    // Committed already (an earlier attempt of the same update got here first).
    if (isT3fsError(error) && error.code === ChunkEngineErrorCode.staleCommit) {
      return { lengthBytes: applied.lengthBytes, commitVersion: applied.version, updateVersion: applied.version, checksum: applied.crc32c, commitChainVersion }
    }
    throw error
  }
}
