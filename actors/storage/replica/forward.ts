/**
 * Forwarding an update to the successor (3FS ReliableForwarding::forwardWithRetry, reference/3fs.md
 * §3.3 step 7). Every attempt reads the target's current view: the successor may have changed
 * (mgmtd moved a dead one out and bumped the chain version), and the update then goes to the new
 * one at the new version — or, with no successor left, this target is the tail and commits. A
 * SYNCING successor gets the whole chunk (the pending version, read back) as a full-chunk replace.
 * Failures back off from forwardBackoffMinMs to forwardBackoffMaxMs; past forwardBudgetMs the
 * update fails.
 */
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { sleep } from '../../../runtime/clock.ts'
import { T3fsError, toT3fsError } from '../../../runtime/errors.ts'
import type { ChunkId } from '../chunk-engine/index.ts'
import { StorageErrorCode, type ChainView, type IOResult, type ReplicaMsg, type UpdateIO, type UpdateOptions } from '../protocol.ts'
import { stage, type Staged } from './data-transfer.ts'
import { stateError, stillServing, type ReplicaCtx, type ReplicaState } from './replica-state.ts'
import type { Applied, UpdateJob } from './update-pipeline.ts'

/** Errors after which another attempt cannot help: the replicas disagree about the chunk. */
const DIVERGED = 'ERR_STORAGE_DIVERGED'

/** Forwards until a successor committed (→ its commit chain version) or this target is the tail (→ the version to commit at). */
export async function forwardOrTail(rs: ReplicaState, ctx: ReplicaCtx, job: UpdateJob, applied: Applied, data: PooledBuffer | null, epoch: number): Promise<number> {
  const deadline = ctx.clock.now() + rs.config.forwardBudgetMs
  let backoffMs = rs.config.forwardBackoffMinMs
  // Every attempt carries one tag: the successor runs a late attempt and a retry once, in order.
  const ownTag = job.tag === undefined ? rs.channels.acquire() : null
  const staging = new StagingCache(rs, ctx, { ...job, tag: job.tag ?? ownTag! }, applied, data)
  let failed = true
  try {
    for (let attempt = 0; ; attempt++) {
      if (!stillServing(rs, epoch)) throw stateError(rs, 'left service while forwarding an update')
      const chain = rs.view?.chain ?? null
      if (chain === null || chain.chainId !== job.io.key.chainId) throw stateError(rs, `left chain ${job.io.key.chainId} while forwarding an update`)
      const successor = chain.successor
      if (successor === null) {
        failed = false
        return job.options.isSyncing ? job.options.commitChainVersion : chain.chainVersion
      }
      let lastError: T3fsError
      if (successor.address === null) lastError = stateError(rs, `has successor ${successor.targetId} with no address yet`)
      else {
        try {
          const request = await staging.request(chain, successor.publicState === 'SYNCING')
          if (ctx.buggify('replica:delay-forward')) await sleep(ctx.clock, 10 + ctx.random.int(100))
          const result = await ctx.ask(ctx.refFor<ReplicaMsg>(successor.address), request, { timeoutMs: rs.config.forwardTimeoutMs }) as IOResult
          checkAgreement(rs, job, applied, result, successor.targetId)
          failed = false
          return result.commitChainVersion
        } catch (error) {
          lastError = toT3fsError(error)
          if (lastError.code === DIVERGED) throw lastError
        }
      }
      if (ctx.clock.now() >= deadline) {
        throw new T3fsError(StorageErrorCode.FORWARD_FAILED, `target ${rs.targetId} could not forward chunk ${job.io.key.chunkId} to target ${successor.targetId} within ${rs.config.forwardBudgetMs} ms (${attempt + 1} attempts; last: ${lastError.message})`, { targetId: rs.targetId, successor: successor.targetId })
      }
      await sleep(ctx.clock, backoffMs * (0.5 + ctx.random.next()))
      backoffMs = Math.min(rs.config.forwardBackoffMaxMs, backoffMs * 2)
    }
  } finally {
    await staging.done()
    if (ownTag !== null) rs.channels.release(ownTag, failed)
  }
}

/** The successor must have committed the same version with the same bytes (3FS compares the chunk checksums). */
function checkAgreement(rs: ReplicaState, job: UpdateJob, applied: Applied, result: IOResult, successorId: number): void {
  if (job.io.type === 'remove') return
  if (result.commitVersion === applied.version && result.checksum === applied.crc32c) return
  throw new T3fsError(DIVERGED, `target ${successorId} answered chunk ${job.io.key.chunkId} with version ${result.commitVersion} and checksum ${result.checksum}; target ${rs.targetId} holds version ${applied.version} with checksum ${applied.crc32c}`, { chunkId: job.io.key.chunkId })
}

/** The forwarded request, staged once per kind (the update's bytes, or the whole chunk for a SYNCING successor). */
class StagingCache {
  private plain: Staged | null = null
  private whole: { staged: Staged; buffer: PooledBuffer | null; lengthBytes: number } | null = null

  constructor(
    private readonly rs: ReplicaState,
    private readonly ctx: ReplicaCtx,
    private readonly job: UpdateJob,
    private readonly applied: Applied,
    private readonly data: PooledBuffer | null,
  ) {}

  async request(chain: ChainView, toSyncing: boolean): Promise<Extract<ReplicaMsg, { type: 'update' }>> {
    const { io, options, tag } = this.job
    const key = { chainId: chain.chainId, chainVersion: chain.chainVersion, chunkId: io.key.chunkId }
    const fullChunk = toSyncing && io.type !== 'remove' && !options.isSyncing
    if (!fullChunk) {
      this.plain ??= await stage(this.ctx, this.data, 0, io.type === 'write' ? io.length : 0, this.rs.config.forwardData)
      const forwarded: UpdateIO = { ...io, key, updateVersion: this.applied.version, data: this.plain.ref }
      const forwardedOptions: UpdateOptions = toSyncing ? { fromClient: false, isSyncing: true, commitChainVersion: options.isSyncing ? options.commitChainVersion : chain.chainVersion } : { ...options, fromClient: false }
      return { type: 'update', io: forwarded, options: forwardedOptions, tag: tag! }
    }
    // A SYNCING successor takes whole chunks: read back the pending version just written.
    this.whole ??= await this.readWhole()
    const forwarded: UpdateIO = {
      key, type: 'write', offset: 0, length: this.whole.lengthBytes, chunkSizeBytes: Math.max(io.chunkSizeBytes, this.whole.lengthBytes, 1),
      data: this.whole.staged.ref, checksum: this.applied.crc32c, updateVersion: this.applied.version,
    }
    return { type: 'update', io: forwarded, options: { fromClient: false, isSyncing: true, commitChainVersion: chain.chainVersion }, tag: tag! }
  }

  private async readWhole(): Promise<{ staged: Staged; buffer: PooledBuffer | null; lengthBytes: number }> {
    const { io } = this.job
    const r = await this.rs.engine.read({ chainId: io.key.chainId, chunkId: io.key.chunkId as ChunkId, offset: 0, length: this.applied.lengthBytes, uncommitted: true, expectedVersion: this.applied.version })
    try {
      const staged = await stage(this.ctx, r.buffer, r.dataOffset, r.lengthBytes, this.rs.config.forwardData)
      return { staged, buffer: r.buffer, lengthBytes: r.lengthBytes }
    } catch (error) {
      r.buffer?.release()
      throw error
    }
  }

  async done(): Promise<void> {
    await this.plain?.done()
    if (this.whole !== null) {
      await this.whole.staged.done()
      this.whole.buffer?.release()
    }
  }
}
