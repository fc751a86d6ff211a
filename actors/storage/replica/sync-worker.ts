/**
 * Recovery of a returning target, predecessor side (3FS ResyncWorker, reference/3fs.md §3.6): the
 * last SERVING target of a chain whose successor is SYNCING asks the successor for its chunk list
 * (syncStart), compares it with its own chunk by chunk under each chunk's lock (sync-plan.ts), and
 * copies only the chunks that differ as full-chunk writes that keep their versions (or removes
 * what the successor holds and it does not), then sends syncDone. Writes go on meanwhile: the
 * forward path already sends every new update to the SYNCING successor as a full-chunk replace.
 * A sync that fails (the chain changed, a timeout) stops and starts again after syncRetryMs.
 */
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { sleep } from '../../../runtime/clock.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import type { ChunkId, ChunkMeta as EngineMeta } from '../chunk-engine/index.ts'
import type { ChunkMeta, IOResult, ReplicaMsg, UpdateIO } from '../protocol.ts'
import { StorageErrorCode } from '../protocol.ts'
import { stage } from './data-transfer.ts'
import { stateError, stillServing, type ReplicaCtx, type ReplicaState, type SyncRun } from './replica-state.ts'
import { reportProgress } from './report.ts'
import { syncAction } from './sync-plan.ts'
import { chunkKey } from './update-pipeline.ts'

/** Progress goes to the node (and on to mgmtd) every this many chunks. */
const progressEveryChunks = 64

/** The sync this target should run now, if any: it serves, and its successor is SYNCING. */
export function syncWanted(rs: ReplicaState, nowMs: number): SyncRun | null {
  const view = rs.view
  const chain = view?.chain ?? null
  if (rs.failed || view === null || chain === null || view.localState !== 'UPTODATE' || chain.publicState !== 'SERVING') return null
  const successor = chain.successor
  if (successor === null || successor.publicState !== 'SYNCING' || successor.address === null || nowMs < rs.syncNotBeforeMs) return null
  return { chainVersion: chain.chainVersion, successorId: successor.targetId, doneChunks: 0, totalChunks: 0, copiedChunks: 0, copiedBytes: 0 }
}

export async function runSync(rs: ReplicaState, ctx: ReplicaCtx, run: SyncRun): Promise<void> {
  const epoch = rs.serviceEpoch
  const chainId = rs.view!.chain!.chainId
  const successor = ctx.refFor<ReplicaMsg>(rs.view!.chain!.successor!.address!)
  const still = (): void => {
    const chain = rs.view?.chain
    if (!stillServing(rs, epoch) || chain?.chainVersion !== run.chainVersion || chain.successor?.targetId !== run.successorId) throw stateError(rs, `stopped syncing target ${run.successorId}: the chain moved on`)
  }
  const remote = await ctx.ask(successor, { type: 'sync-start', chainId, chainVersion: run.chainVersion }, { timeoutMs: rs.config.forwardTimeoutMs * 4 }) as ChunkMeta[]
  still()
  const remoteById = new Map(remote.map((m) => [m.chunkId, m]))
  const ids: ChunkId[] = [...new Set<ChunkId>([...rs.engine.queryChunks(chainId).map((m) => m.chunkId), ...remoteById.keys()])].sort()
  run.totalChunks = ids.length
  reportProgress(rs, ctx)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++]
      still()
      await syncChunk(rs, ctx, successor, chainId, id, remoteById.get(id), run, still)
      if (++run.doneChunks % progressEveryChunks === 0) reportProgress(rs, ctx)
    }
  }
  await Promise.all(Array.from({ length: rs.config.syncConcurrency }, worker))
  still()
  await ctx.ask(successor, { type: 'sync-done', chainId, chainVersion: run.chainVersion }, { timeoutMs: rs.config.forwardTimeoutMs * 4 })
  reportProgress(rs, ctx)
}

async function syncChunk(rs: ReplicaState, ctx: ReplicaCtx, successor: ReturnType<ReplicaCtx['refFor']>, chainId: number, chunkId: ChunkId, remote: ChunkMeta | undefined, run: SyncRun, still: () => void): Promise<void> {
  const release = await rs.locks.acquire(chunkKey(chainId, chunkId))
  try {
    still()
    const local = rs.engine.getChunk(chainId, chunkId)
    const action = syncAction(local, remote, rs.mutants.has('sync-skips-uncommitted'))
    if (remote?.pending != null && remote.commitVersion === local?.committed?.version) {
      ctx.log.debug({ evt: 'SyncRemotePending', targetId: rs.targetId, chunkId, action }, 'the returning target holds a pending version over the same committed one')
    }
    ctx.log.debug({ evt: 'SyncChunk', targetId: rs.targetId, chunkId, action, local: local?.committed?.version ?? null, remote: remote?.commitVersion ?? null })
    if (action === 'skip') return
    const request = action === 'remove' ? removeRequest(chainId, chunkId, remote!, run) : null
    if (request !== null) await sendWithRetry(rs, ctx, successor, request, null, still)
    else await copyChunk(rs, ctx, successor, chainId, local!, run, still)
    run.copiedChunks++
  } finally {
    release()
  }
}

function removeRequest(chainId: number, chunkId: ChunkId, remote: ChunkMeta, run: SyncRun): Extract<ReplicaMsg, { type: 'update' }> {
  const io: UpdateIO = { key: { chainId, chainVersion: run.chainVersion, chunkId }, type: 'remove', offset: 0, length: 0, chunkSizeBytes: 1, data: { kind: 'none' }, checksum: 0, updateVersion: remote.updateVersion + 1 }
  return { type: 'update', io, options: { fromClient: false, isSyncing: true, commitChainVersion: run.chainVersion } }
}

/** Sends the local committed version whole, keeping its version and commit chain version. */
async function copyChunk(rs: ReplicaState, ctx: ReplicaCtx, successor: ReturnType<ReplicaCtx['refFor']>, chainId: number, local: EngineMeta, run: SyncRun, still: () => void): Promise<void> {
  const committed = local.committed!
  const r = await rs.engine.read({ chainId, chunkId: local.chunkId, offset: 0, length: committed.lengthBytes, expectedVersion: committed.version })
  let buffer: PooledBuffer | null = r.buffer
  try {
    const staged = await stage(ctx, buffer, r.dataOffset, r.lengthBytes, rs.config.forwardData)
    try {
      const io: UpdateIO = {
        key: { chainId, chainVersion: run.chainVersion, chunkId: local.chunkId }, type: 'write', offset: 0, length: r.lengthBytes,
        chunkSizeBytes: Math.max(committed.blockBytes, r.lengthBytes, 1), data: staged.ref, checksum: committed.crc32c, updateVersion: committed.version,
      }
      await sendWithRetry(rs, ctx, successor, { type: 'update', io, options: { fromClient: false, isSyncing: true, commitChainVersion: committed.chainVersion } }, committed, still)
      run.copiedBytes += r.lengthBytes
    } finally {
      await staged.done()
    }
  } finally {
    buffer?.release()
    buffer = null
  }
}

/** Sends one sync update until it lands, with one tag for every attempt (the successor orders a late one behind a retry). */
async function sendWithRetry(rs: ReplicaState, ctx: ReplicaCtx, successor: ReturnType<ReplicaCtx['refFor']>, untagged: Extract<ReplicaMsg, { type: 'update' }>, expected: EngineMeta['committed'], still: () => void): Promise<void> {
  const tag = rs.channels.acquire()
  let failed = true
  try {
    await sendLoop(rs, ctx, successor, { ...untagged, tag }, expected, still)
    failed = false
  } finally {
    rs.channels.release(tag, failed)
  }
}

async function sendLoop(rs: ReplicaState, ctx: ReplicaCtx, successor: ReturnType<ReplicaCtx['refFor']>, request: Extract<ReplicaMsg, { type: 'update' }>, expected: EngineMeta['committed'], still: () => void): Promise<void> {
  let backoffMs = rs.config.forwardBackoffMinMs
  const deadline = ctx.clock.now() + rs.config.forwardBudgetMs
  for (;;) {
    try {
      const result = await ctx.ask(successor, request, { timeoutMs: rs.config.forwardTimeoutMs }) as IOResult
      if (expected !== null && (result.commitVersion !== expected.version || result.checksum !== expected.crc32c)) {
        throw new T3fsError(StorageErrorCode.CHECKSUM_MISMATCH, `sync copy of chunk ${request.io.key.chunkId} came back as version ${result.commitVersion} checksum ${result.checksum}, sent version ${expected.version} checksum ${expected.crc32c}`, {})
      }
      return
    } catch (error) {
      still()
      if (ctx.clock.now() >= deadline) throw error
      await sleep(ctx.clock, backoffMs)
      backoffMs = Math.min(rs.config.forwardBackoffMaxMs, backoffMs * 2)
    }
  }
}
