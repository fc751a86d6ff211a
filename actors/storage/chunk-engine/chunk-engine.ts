/**
 * The chunk engine's implementation (the interface and its guarantees are in engine.ts).
 *
 * Why a log on ctx.disk and not LMDB for the chunk index: the index must be exactly as crashable
 * as the data it points at. LMDB would write through its own mmap and fsync, beside ctx.disk, so
 * the simulator's SimDisk could neither tear nor lose its writes and no seed could ever exercise a
 * crash between a block write and its index update; a log of CRC-framed records on ctx.disk goes
 * through the same Disk as the blocks, in production (io_uring) and in the simulator alike. It is
 * also what a commit needs: one sequential append and one fsync per group of commits, no B-tree
 * pages rewritten. The state lives in memory (the log is replayed at open, bounded by snapshots),
 * which a storage target's index affords: ~200 bytes per chunk.
 *
 * Order of events for one chunk, and why a crash at any point is safe:
 *   update: new block allocated → content written (not synced) → pending version in memory, its
 *           record queued (no wait).
 *   commit: record queued → [group commit: group files synced → records appended → log synced]
 *           → committed := pending (now visible to reads) → the old block's reference dropped.
 * A crash before the log sync leaves the old committed version, whose block nothing touched. A
 * record is never durable before the data it points at. A block is reused only once no durable
 * record can reach it (BlockRefs), so a replayed version always finds its own bytes.
 */
import type { ActorBuffers } from '../../../runtime/actor-buffers.ts'
import { invalidOption, isT3fsError } from '../../../runtime/errors.ts'
import { checkChunkId, formatChunkId, type ChunkId } from '../chunk-id.ts'
import { BlockAllocator } from './block-allocator.ts'
import { BlockRefs, type Pin } from './block-refs.ts'
import { ByteSource } from './byte-source.ts'
import { readVersion, type ReadFinish, type ReaderEnv, type VersionRead, type Where } from './chunk-reader.ts'
import { ChunkTable } from './chunk-table.ts'
import { writeContent, type WriterEnv } from './chunk-writer.ts'
import { checkEnv, checkOptions, pieceBytesFor, type ResolvedOptions } from './engine-options.ts'
import type {
  ChunkEngine, ChunkEngineEnv, ChunkEngineFormat, ChunkEngineOptions, ChunkEngineState, ChunkEngineStats, ChunkRange,
  ChunkUpdate, CommitRequest, CommitResult, EngineSpace, ReadObserver, ReadRequest, ReadResult, UpdateResult,
} from './engine.ts'
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'
import { join, loadOrCreateFormat } from './format.ts'
import { IndexLog } from './index-log.ts'
import type { IndexRecord } from './record-codec.ts'
import { chunkKey, recoverIndex, type Recovered } from './recovery.ts'
import { writeSnapshot } from './snapshot.ts'
import { chunkMeta, noBlock, type StoredVersion } from './stored-version.ts'
import { checkCommit, checkRange, checkRead, checkU32, checkUpdate } from './validate.ts'
import { decideVersion } from './version-rules.ts'
import { LockTable } from './lock-table.ts'
import type { ChunkMeta } from './chunk-meta.ts'

export async function openEngine(env: ChunkEngineEnv, options: ChunkEngineOptions): Promise<ChunkEngine> {
  checkEnv(env)
  const resolved = checkOptions(options)
  const format = await loadOrCreateFormat(env.disk, resolved.root, resolved.create, options.format)
  const pieceBytes = pieceBytesFor(env.buffers.largestBytes, format.checksumSegmentBytes)
  const recovered = await recoverIndex(env.disk, join(resolved.root, 'index'), env.log)
  const engine = new Engine(env, resolved, format, pieceBytes)
  await engine.start(recovered)
  return engine
}

interface Counters {
  commits: number
  updates: number
  reads: number
  readRetries: number
  corruptReads: number
  snapshots: number
}

export class Engine implements ChunkEngine {
  readonly root: string
  private readonly allocator: BlockAllocator
  private readonly refs: BlockRefs
  private readonly table: ChunkTable
  private readonly locks: LockTable
  private log!: IndexLog
  private readonly writer: WriterEnv
  private readonly reader: ReaderEnv
  private readonly indexDir: string
  private readonly counters: Counters = { commits: 0, updates: 0, reads: 0, readRetries: 0, corruptReads: 0, snapshots: 0 }
  private readonly inFlight = new Set<Promise<unknown>>()
  private readObserver: ReadObserver | null = null
  /** Reads under way (they skip the inFlight set): close() waits for them too. */
  private readsInFlight = 0
  private readsDrained: (() => void) | null = null
  private snapshotting: Promise<void> | null = null
  private closed = false
  private failedWith: Error | null = null

  constructor(private readonly env: ChunkEngineEnv, private readonly options: ResolvedOptions, readonly format: ChunkEngineFormat, pieceBytes: number) {
    this.root = options.root
    this.indexDir = join(options.root, 'index')
    this.allocator = new BlockAllocator(env, options.root, format)
    this.refs = new BlockRefs(this.allocator)
    this.table = new ChunkTable(this.refs)
    this.locks = new LockTable(options.lockWaitersMax)
    const verify = options.mutant !== 'skip-crc-check'
    const buffers: ActorBuffers = env.buffers
    this.writer = {
      allocator: this.allocator, refs: this.refs, buffers, bufferWaitMs: options.bufferWaitMs, alignment: env.disk.alignment,
      segmentShift: Math.log2(format.checksumSegmentBytes), pieceBytes, verify, mutant: options.mutant, buggify: (site) => env.buggify(site),
    }
    this.reader = {
      allocator: this.allocator, buffers, bufferWaitMs: options.bufferWaitMs, alignment: env.disk.alignment, verify,
      onRetry: () => { this.counters.readRetries++ },
      onCorrupt: () => { this.counters.corruptReads++ },
    }
  }

  /** Installs what recovery found, rebuilds the allocator, punches unused groups, starts a log segment. */
  async start(recovered: Recovered): Promise<void> {
    for (const chunk of recovered.chunks.values()) {
      for (const v of [chunk.committed, chunk.pending]) if (v !== null && v.block !== noBlock) this.allocator.markUsed(v.block)
      this.table.set(chunk.chainId, chunk.chunkId, 'committed', chunk.committed)
      this.table.set(chunk.chainId, chunk.chunkId, 'pending', chunk.pending)
      this.table.set(chunk.chainId, chunk.chunkId, 'loggedPending', chunk.pending)
    }
    await this.allocator.punchUnused()
    this.log = await IndexLog.start({
      disk: this.env.disk, buffers: this.env.buffers, bufferWaitMs: this.options.bufferWaitMs, clock: this.env.clock, buggify: (site) => this.env.buggify(site),
      takeDataSyncs: () => this.takeDataSyncs(),
      afterBatch: () => this.afterBatch(),
      onFailure: (error) => { this.failedWith = error },
    }, this.indexDir, recovered.nextSeq, this.options.commitBatchMax)
  }

  get state(): ChunkEngineState {
    return this.closed ? 'closed' : this.failedWith !== null ? 'failed' : 'open'
  }

  get failure(): Error | null {
    return this.failedWith
  }

  update(update: ChunkUpdate): Promise<UpdateResult> {
    return this.run(async () => {
      const data = checkUpdate(update)
      this.checkWritable()
      const where = { chainId: update.chainId, chunkId: update.chunkId }
      const release = await this.locks.acquire(chunkKey(where.chainId, where.chunkId), () => where)
      try {
        this.checkWritable()
        return await this.updateLocked(update, where, new ByteSource(data, this.format.checksumSegmentBytes))
      } finally {
        release()
      }
    })
  }

  private async updateLocked(update: ChunkUpdate, where: Where, data: ByteSource): Promise<UpdateResult> {
    const state = this.table.get(where.chainId, where.chunkId) ?? null
    const version = decideVersion(state, update)
    if (update.kind === 'write' && data.crc32c() !== update.checksum) {
      throw chunkEngineError(ChunkEngineErrorCode.checksumMismatch, `the data for chunk ${formatChunkId(where.chunkId)} of chain ${where.chainId} has CRC32C ${data.crc32c()}, not the ${update.checksum} it came with; nothing was written`, {
        ...where, expected: update.checksum, actual: data.crc32c(),
      })
    }
    const base = update.syncing === true && update.kind === 'write' ? null : state?.committed ?? null
    const baseLength = base?.lengthBytes ?? 0
    const newLength = update.kind === 'write' ? (data.length > 0 ? Math.max(baseLength, update.offset! + data.length) : baseLength)
      : update.kind === 'truncate' ? update.lengthBytes! : update.kind === 'extend' ? Math.max(baseLength, update.lengthBytes!) : 0
    const content = update.kind === 'remove'
      ? { block: noBlock, segmentShift: this.writer.segmentShift, segmentCrcs: new Uint32Array(0), crc32c: 0 }
      : await writeContent(this.writer, { where, base, newLength, dataOffset: update.offset ?? 0, data })
    const v: StoredVersion = {
      version, chainVersion: update.chainVersion, lengthBytes: update.kind === 'remove' ? 0 : newLength, crc32c: content.crc32c,
      removed: update.kind === 'remove', lastRequest: { clientId: update.tag.clientId, requestId: update.tag.requestId },
      block: content.block, segmentShift: content.segmentShift, segmentCrcs: content.segmentCrcs,
    }
    if (this.failedWith !== null) {
      this.refs.drop(v.block)
      throw this.writableError()
    }
    const replacedPending = state?.pending != null
    this.table.set(where.chainId, where.chunkId, 'pending', v)
    this.refs.drop(v.block) // the writer's hold: the pending slot holds it now
    this.logPending(where, v)
    this.counters.updates++
    return {
      version, committedVersion: state?.committed?.version ?? 0, chainVersion: v.chainVersion, lengthBytes: v.lengthBytes, crc32c: v.crc32c, replacedPending,
    }
  }

  /**
   * Queues the pending version's record (it rides with the next flush). The record holds the block
   * from now until it is durable (then the loggedPending slot holds it) or replaced unwritten: a
   * block must not be reused while a record on its way to the disk points at it, even if the
   * pending version itself is replaced or dropped meanwhile.
   */
  private logPending(where: Where, v: StoredVersion): void {
    this.refs.hold(v.block, where.chainId)
    const record: IndexRecord = { type: 'pending', ...where, version: v }
    this.log.enqueue(chunkKey(where.chainId, where.chunkId), record, () => this.table.set(where.chainId, where.chunkId, 'loggedPending', v), true)
      .then(() => this.refs.drop(v.block), () => {}) // failed: the engine is failed, the block stays held
  }

  commit(request: CommitRequest): Promise<CommitResult> {
    return this.run(async () => {
      checkCommit(request)
      this.checkWritable()
      const where = { chainId: request.chainId, chunkId: request.chunkId }
      const release = await this.locks.acquire(chunkKey(where.chainId, where.chunkId), () => where)
      try {
        this.checkWritable()
        return await this.commitLocked(request, where)
      } finally {
        release()
      }
    })
  }

  private async commitLocked(request: CommitRequest, where: Where): Promise<CommitResult> {
    const state = this.table.get(where.chainId, where.chunkId)
    const pending = state?.pending ?? null
    if (pending === null || pending.version !== request.version) throw this.commitRefusal(where, request.version, state?.committed ?? null, pending)
    const final = request.chainVersion === undefined || request.chainVersion === pending.chainVersion ? pending : { ...pending, chainVersion: request.chainVersion }
    const record: IndexRecord = final.removed ? { type: 'remove', ...where } : { type: 'commit', ...where, version: final }
    await this.durably(where, record, () => {
      this.table.set(where.chainId, where.chunkId, 'committed', final.removed ? null : final)
      this.table.set(where.chainId, where.chunkId, 'pending', null)
      this.table.set(where.chainId, where.chunkId, 'loggedPending', null)
    })
    this.counters.commits++
    return { ...where, version: final.version, chainVersion: final.chainVersion, lengthBytes: final.lengthBytes, crc32c: final.crc32c, removed: final.removed }
  }

  private commitRefusal(where: Where, version: number, committed: StoredVersion | null, pending: StoredVersion | null): Error {
    const name = `chunk ${formatChunkId(where.chunkId)} of chain ${where.chainId}`
    if (committed !== null && version <= committed.version && (pending === null || version < pending.version)) {
      return chunkEngineError(ChunkEngineErrorCode.staleCommit, `${name}: version ${version} is already committed (committed version ${committed.version})`, {
        ...where, version, committedVersion: committed.version, chainVersion: committed.chainVersion, crc32c: committed.crc32c, lengthBytes: committed.lengthBytes,
      })
    }
    return chunkEngineError(ChunkEngineErrorCode.noPending, `${name}: no pending version ${version} to commit (${pending === null ? 'none pending' : `pending version ${pending.version}`}, committed version ${committed?.version ?? 0})`, {
      ...where, version, pendingVersion: pending?.version ?? null, committedVersion: committed?.version ?? 0,
    })
  }

  /** Queues `record` and applies `effect` once it is durable (the mutant applies it at once). */
  private async durably(where: Where, record: IndexRecord, effect: () => void): Promise<void> {
    const key = chunkKey(where.chainId, where.chunkId)
    if (this.options.mutant === 'commit-before-sync' && record.type !== 'drop') {
      effect()
      this.log.enqueue(key, record, null).catch(() => {})
      return
    }
    await this.log.enqueue(key, record, effect)
  }

  async commitBatch(requests: readonly CommitRequest[]): Promise<Array<CommitResult | Error>> {
    if (!Array.isArray(requests)) throw invalidOption('requests', requests, 'an array of commit requests')
    return Promise.all(requests.map((r) => this.commit(r).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))))))
  }

  /**
   * Reads run without the generic run() wrapper (a set entry and two closures per operation): the
   * lookups are synchronous, the only wait is the disk's, and close() waits on a counter.
   */
  read(request: ReadRequest): Promise<ReadResult> {
    let v: StoredVersion
    let usePending: boolean
    try {
      checkRead(request)
      this.checkOpen()
      const state = this.table.get(request.chainId, request.chunkId)
      usePending = request.uncommitted === true && state?.pending != null
      const found = usePending ? state!.pending! : state?.committed ?? null
      if (found === null || found.removed) throw chunkEngineError(ChunkEngineErrorCode.chunkNotFound, `chunk ${formatChunkId(request.chunkId)} of chain ${request.chainId} has no ${request.uncommitted === true ? '' : 'committed '}version here`, { chainId: request.chainId, chunkId: request.chunkId })
      if (request.expectedVersion !== undefined && request.expectedVersion !== found.version) {
        throw chunkEngineError(ChunkEngineErrorCode.versionChanged, `chunk ${formatChunkId(request.chunkId)} of chain ${request.chainId} is at version ${found.version}, not ${request.expectedVersion}`, { chainId: request.chainId, chunkId: request.chunkId, version: found.version, expectedVersion: request.expectedVersion })
      }
      v = found
    } catch (error) {
      this.readObserver?.readFailed(error)
      return Promise.reject(error)
    }
    const pin = this.refs.pin(v.block)
    this.readsInFlight++
    const observer = this.readObserver
    const read = new EngineRead(this, v, pin, !usePending, observer, observer === null ? 0 : observer.readStarted())
    return readVersion(this.reader, { chainId: request.chainId, chunkId: request.chunkId }, v, request.offset, request.length, read)
  }

  observeReads(observer: ReadObserver): void {
    this.readObserver = observer
  }

  /** A read of `v` settled (EngineRead): its pin goes, and close() may go on once none is left. */
  readDone(v: StoredVersion, pin: Pin, ok: boolean): void {
    if (ok) this.counters.reads++
    this.refs.unpin(v.block, pin)
    if (--this.readsInFlight === 0 && this.readsDrained !== null) {
      this.readsDrained()
      this.readsDrained = null
    }
  }

  getChunk(chainId: number, chunkId: ChunkId): ChunkMeta | null {
    const state = this.table.get(checkU32('chainId', chainId), checkChunkId(chunkId))
    return state === undefined || (state.committed === null && state.pending === null) ? null : chunkMeta(state)
  }

  queryChunks(chainId: number, range?: ChunkRange): ChunkMeta[] {
    checkU32('chainId', chainId)
    const limit = checkRange(range)
    const out: ChunkMeta[] = []
    // `after` (exclusive) wins over `begin` (inclusive) when it starts later.
    const exclusive = range?.after !== undefined && (range.begin === undefined || range.after >= range.begin)
    for (const state of this.table.ascending(chainId, exclusive ? range!.after : range?.begin, range?.end, exclusive)) {
      if (out.length >= limit) break
      out.push(chunkMeta(state))
    }
    return out
  }

  lastChunk(chainId: number, begin: ChunkId, end: ChunkId): ChunkMeta | null {
    checkU32('chainId', chainId)
    checkRange({ begin, end })
    for (const state of this.table.descending(chainId, begin, end)) if (state.committed !== null) return chunkMeta(state)
    return null
  }

  chainIds(): number[] {
    return this.table.chainIds().filter((chainId) => this.table.liveCount(chainId) > 0)
  }

  listPending(chainId?: number): ChunkMeta[] {
    const chains = chainId === undefined ? this.table.chainIds() : [checkU32('chainId', chainId)]
    const out: ChunkMeta[] = []
    for (const chain of chains) for (const state of this.table.ascending(chain)) if (state.pending !== null) out.push(chunkMeta(state))
    return out
  }

  dropPending(chainId: number, chunkId: ChunkId): Promise<boolean> {
    return this.locked(chainId, chunkId, async (where) => {
      if (this.table.get(chainId, chunkId)?.pending == null) return false
      this.table.set(chainId, chunkId, 'pending', null)
      await this.durably(where, { type: 'drop', ...where }, () => this.table.set(chainId, chunkId, 'loggedPending', null))
      return true
    })
  }

  async commitAllPending(chainId: number, chainVersion: number): Promise<number> {
    checkU32('chainVersion', chainVersion)
    const pending = this.listPending(chainId)
    const results = await this.commitBatch(pending.map((meta) => ({ chainId, chunkId: meta.chunkId, version: meta.pending!.version, chainVersion })))
    for (const result of results) {
      if (result instanceof Error && !isT3fsError(result, ChunkEngineErrorCode.noPending) && !isT3fsError(result, ChunkEngineErrorCode.staleCommit)) throw result
    }
    return results.filter((r) => !(r instanceof Error)).length
  }

  async removeChain(chainId: number): Promise<number> {
    checkU32('chainId', chainId)
    const ids = [...this.table.ascending(chainId)].map((state) => state.chunkId)
    const removed = await Promise.all(ids.map((chunkId) => this.locked(chainId, chunkId, async (where) => {
      if (this.table.get(chainId, chunkId) === undefined) return 0
      await this.durably(where, { type: 'remove', ...where }, () => {
        for (const slot of ['committed', 'pending', 'loggedPending'] as const) this.table.set(chainId, chunkId, slot, null)
      })
      return 1
    })))
    return removed.reduce<number>((sum, n) => sum + n, 0)
  }

  /** Runs `work` under the chunk's lock, refused when the engine cannot write. */
  private locked<T>(chainId: number, chunkId: ChunkId, work: (where: Where) => Promise<T>): Promise<T> {
    return this.run(async () => {
      checkU32('chainId', chainId)
      checkChunkId(chunkId)
      this.checkWritable()
      const where = { chainId, chunkId }
      const release = await this.locks.acquire(chunkKey(chainId, chunkId), () => where)
      try {
        this.checkWritable()
        return await work(where)
      } finally {
        release()
      }
    })
  }

  async space(): Promise<EngineSpace> {
    this.checkOpen()
    const capacity = await this.env.disk.capacity()
    return { ...this.usage(), diskTotalBytes: capacity.totalBytes, diskFreeBytes: capacity.freeBytes }
  }

  usage(): Pick<EngineSpace, 'usedBytes' | 'reservedBytes' | 'chains'> {
    this.checkOpen()
    const chains = this.table.chainIds().map((chainId) => ({
      chainId, chunks: this.table.liveCount(chainId), usedBytes: this.refs.chainUsedBytes(chainId),
    }))
    return { usedBytes: this.allocator.usedBytes, reservedBytes: this.allocator.reservedBytes, chains }
  }

  stats(): ChunkEngineStats {
    return { ...this.counters, indexSyncs: this.log.syncs, groupsPunched: this.allocator.groupsPunched }
  }

  sync(): Promise<void> {
    return this.run(async () => {
      this.checkWritable()
      await this.log.barrier()
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
    if (this.readsInFlight > 0) await new Promise<void>((resolve) => { this.readsDrained = resolve })
    await this.log.close()
    if (this.snapshotting !== null) await this.snapshotting
    await this.allocator.close()
  }

  /** For tests: blocks in use per the allocator and per the references, which must agree. */
  blockAccounting(): { readonly allocatorUsedBytes: number; readonly liveBlocks: number } {
    return { allocatorUsedBytes: this.allocator.usedBytes, liveBlocks: this.refs.liveBlocks }
  }

  /** For tests: waits for background work (punches, a snapshot) to finish. */
  async settle(): Promise<void> {
    if (this.snapshotting !== null) await this.snapshotting
    await this.allocator.settle()
  }

  private run<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(chunkEngineError(ChunkEngineErrorCode.engineClosed, `the chunk engine at ${JSON.stringify(this.root)} is closed`, { root: this.root }))
    const promise = work()
    this.inFlight.add(promise)
    void promise.then(() => this.inFlight.delete(promise), () => this.inFlight.delete(promise))
    return promise
  }

  private checkOpen(): void {
    if (this.closed) throw chunkEngineError(ChunkEngineErrorCode.engineClosed, `the chunk engine at ${JSON.stringify(this.root)} is closed`, { root: this.root })
  }

  private checkWritable(): void {
    this.checkOpen()
    if (this.failedWith !== null) throw this.writableError()
  }

  private writableError(): Error {
    return chunkEngineError(ChunkEngineErrorCode.engineFailed, `the chunk engine at ${JSON.stringify(this.root)} failed (${this.failedWith?.message}); reopen it`, { root: this.root }, this.failedWith)
  }

  /** The group files written since the last batch: synced before the batch's records are written. */
  private takeDataSyncs(): () => Promise<void> {
    const files = this.allocator.takeDirty()
    if (this.options.mutant === 'skip-data-sync') return () => Promise.resolve()
    return async () => { await Promise.all(files.map((file) => file.sync({ dataOnly: true }))) }
  }

  /** Between batches: a segment grown past logSegmentBytes is sealed and folded into a snapshot. */
  private async afterBatch(): Promise<void> {
    if (this.snapshotting !== null || this.closed) return
    if (this.log.segmentBytes < this.options.logSegmentBytes && !(this.log.segmentBytes > 0 && this.env.buggify('chunk-engine:compact-now'))) return
    const records = this.durableRecords()
    const sealed = await this.log.seal()
    this.snapshotting = this.snapshot(sealed, records).finally(() => { this.snapshotting = null })
  }

  /** What a crash now would bring back (taken between batches: every applied commit is durable). */
  private durableRecords(): IndexRecord[] {
    const records: IndexRecord[] = []
    for (const state of this.table.all()) {
      const where = { chainId: state.chainId, chunkId: state.chunkId }
      if (state.committed !== null) records.push({ type: 'commit', ...where, version: state.committed })
      if (state.loggedPending !== null) records.push({ type: 'pending', ...where, version: state.loggedPending })
    }
    return records
  }

  private async snapshot(sealed: number, records: IndexRecord[]): Promise<void> {
    try {
      await writeSnapshot(this.env.disk, this.indexDir, sealed, records)
      this.counters.snapshots++
      for (const entry of await this.env.disk.list(this.indexDir)) {
        const match = /^(log|snapshot)-([0-9a-f]{12})$/.exec(entry.name)
        if (match === null) continue
        const seq = parseInt(match[2], 16)
        if ((match[1] === 'log' && seq <= sealed) || (match[1] === 'snapshot' && seq < sealed)) await this.env.disk.unlink(`${this.indexDir}/${entry.name}`)
      }
    } catch (error) {
      // The sealed segments stay; the next seal tries again.
      this.env.log?.warn({ evt: 'chunk-engine.snapshot-failed', root: this.root, sealed, error: String(error) })
    }
  }
}

/** How one read of the engine answers (chunk-reader.ts ReadFinish): its result, or its error, after the engine's bookkeeping. */
class EngineRead implements ReadFinish<ReadResult> {
  constructor(private readonly engine: Engine, private readonly v: StoredVersion, private readonly pin: Pin, private readonly committed: boolean,
    private readonly observer: ReadObserver | null, private readonly started: number) {}

  ok(got: VersionRead): ReadResult {
    const v = this.v
    this.engine.readDone(v, this.pin, true)
    this.observer?.readDone(this.started, got.lengthBytes)
    return { buffer: got.buffer, dataOffset: got.dataOffset, lengthBytes: got.lengthBytes, version: v.version, committed: this.committed, chainVersion: v.chainVersion, chunkLengthBytes: v.lengthBytes, crc32c: v.crc32c }
  }

  failed(error: unknown): never {
    this.engine.readDone(this.v, this.pin, false)
    this.observer?.readFailed(error)
    throw error
  }
}
