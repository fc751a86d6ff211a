/**
 * The storage client the future FileClient stands on (3FS StorageClient, reference/3fs.md §3.3
 * steps 1–6, §3.4): used from inside an actor (it needs the actor's context for one-sided
 * transfers, time and randomness). It keeps mgmtd's routing info, sends writes to the chain's head
 * (the first SERVING target) with an exactly-once tag on one of its update channels, reads from a
 * random SERVING target, and retries what can be retried — refreshing the routing first when the
 * chain moved — with exponential backoff, the same tag, until its retry budget runs out.
 *
 * Bytes move one-sidedly: the caller's buffer is a registered region the head pulls from (writes)
 * or the replica pushes into (reads); or they ride inline in the messages (`dataMode: 'inline'`).
 */
import type { ActorContext, ActorRef, Message } from '../../../runtime/actor.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { crc32c } from '../../../runtime/checksum.ts'
import { sleep } from '../../../runtime/clock.ts'
import { T3fsError, toT3fsError } from '../../../runtime/errors.ts'
import type { RegionHandle } from '../../../runtime/regions-actor.ts'
import type { ChainInfo, MgmtdMsg, RoutingInfo } from '../../mgmtd/protocol.ts'
import type { ChunkId } from '../chunk-id.ts'
import { RETRYABLE_CODES, StorageErrorCode, type BatchReadReply, type ChunkIdRange, type DataRef, type IOResult, type LastChunk, type ReadIO, type ReadResult, type ReplicaMsg, type StorageNodeMsg, type UpdateIO } from '../protocol.ts'
import { checkBatchReply } from '../batch-reply.ts'
import { packBatchRead } from '../batch-request.ts'
import { ReadBatcher, type BatchAnswer, type ReadInto, type ReadWaiter } from './read-batcher.ts'
import { RoutingIndex, type IndexedChain } from './routing-index.ts'
import { UpdateChannels } from './update-channels.ts'

export interface StorageClientOptions {
  clientId: string
  mgmtds: ActorRef<MgmtdMsg>[]
  /** Per request (3FS: 10 s). */
  requestTimeoutMs?: number
  /** A request that keeps failing this long fails for good (3FS: 60 s). */
  retryBudgetMs?: number
  backoffMinMs?: number
  backoffMaxMs?: number
  dataMode?: 'region' | 'inline'
  /** Mutant (tests only): pushed reads go straight into the caller's region, with no window to fence a late push. */
  unfencedPushes?: boolean
}

/**
 * A caller's buffer: a pool slot (or other memory, such as a USRBIO region), registered as a region
 * for one-sided transfers (null in inline mode); `buffer.bytes` is that region from its first byte.
 */
export interface ClientBuffer {
  buffer: { readonly bytes: Uint8Array }
  region: RegionHandle | null
}

export interface ChunkWrite {
  chainId: number
  chunkId: ChunkId
  offset: number
  length: number
  chunkSizeBytes: number
  /** The bytes are `from.buffer.bytes[fromOffset, fromOffset + length)`. */
  from: ClientBuffer
  fromOffset: number
  /** This write's own retry budget (default the client's). */
  retryBudgetMs?: number
}

export interface ChunkRead {
  chainId: number
  chunkId: ChunkId
  offset: number
  length: number
  /** Region mode: the bytes land in `into.buffer` at `intoOffset`; inline mode: they come back in `data`. */
  into: ClientBuffer | null
  intoOffset: number
}

export interface ChunkReadResult {
  /** Bytes read (0: the chunk does not exist — a hole, which reads as zeros). */
  lengthBytes: number
  commitVersion: number
  /** Which target answered. */
  targetId: number
  data?: Uint8Array
}

/**
 * Reads up to this size come back inline in the answer; larger ones are pushed into the caller's
 * region. Measured with bench:storage: 4 KiB random reads inline reach about twice the IOPS of
 * pushed ones (the push is one more round trip through the owner's regions actor).
 */
export const inlineReadBytesMax = 64 * 1024

/** Where a read's bytes go when they come back in the answer (one object for every such read). */
const noData: DataRef = { kind: 'none' }

export class StorageClient {
  routing: RoutingInfo | null = null
  readonly channels: UpdateChannels
  private readonly requestTimeoutMs: number
  private readonly retryBudgetMs: number
  private readonly backoffMinMs: number
  private readonly backoffMaxMs: number
  readonly dataMode: 'region' | 'inline'
  /** Counters for tests and benchmarks. */
  readonly counters = { requests: 0, retries: 0, routingRefreshes: 0 }

  readonly reads: ReadBatcher
  private indexed: RoutingIndex | null = null

  constructor(private readonly ctx: ActorContext<Message>, private readonly options: StorageClientOptions) {
    this.reads = new ReadBatcher((destination, targetIds, ios) => (destination.kind === 'node'
      ? this.batchReadFromNode(destination.node, targetIds, ios)
      : this.ctx.ask(destination.replica, { type: 'batch-read', ios }, { timeoutMs: this.requestTimeoutMs }).then((results) => ({ kind: 'results', results: results as ReadResult[] }))))
    this.channels = new UpdateChannels(options.clientId)
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000
    this.retryBudgetMs = options.retryBudgetMs ?? 60_000
    this.backoffMinMs = options.backoffMinMs ?? 50
    this.backoffMaxMs = options.backoffMaxMs ?? 2_000
    this.dataMode = options.dataMode ?? 'region'
  }

  /**
   * One batch to a node's service. Its bytes may come back in a pool slot of this node (no memory
   * allocated per batch); when none is free the reply is refused here (ERR_POOL_EXHAUSTED) and
   * the batch is asked again for plain bytes.
   */
  private async batchReadFromNode(node: ActorRef<StorageNodeMsg>, targetIds: number[], ios: ReadIO[]): Promise<BatchAnswer> {
    const slotReplyBytesMax = this.ctx.buffers?.largestBytes ?? 0
    let reply: BatchReadReply
    try {
      reply = await this.ctx.ask(node, packBatchRead(targetIds, ios, slotReplyBytesMax), { timeoutMs: this.requestTimeoutMs }) as BatchReadReply
    } catch (error) {
      if (slotReplyBytesMax === 0 || toT3fsError(error).code !== 'ERR_POOL_EXHAUSTED') throw error
      reply = await this.ctx.ask(node, packBatchRead(targetIds, ios), { timeoutMs: this.requestTimeoutMs }) as BatchReadReply
    }
    try {
      checkBatchReply(reply, ios.length)
    } catch (error) {
      if (reply.data !== null && !(reply.data instanceof Uint8Array)) reply.data.release()
      throw error
    }
    return { kind: 'packed', reply }
  }

  /** Takes a pushed or fetched routing info when it is newer. */
  noteRouting(info: RoutingInfo): void {
    if (this.routing === null || info.routingInfoVersion > this.routing.routingInfoVersion) this.routing = info
  }

  async refreshRouting(): Promise<RoutingInfo> {
    this.counters.routingRefreshes++
    let last: unknown = new T3fsError('ERR_STORAGE_NO_MGMTD', 'no mgmtd configured', {})
    for (const m of this.options.mgmtds) {
      try {
        const info = await this.ctx.ask(m, { type: 'get-routing-info' }, { timeoutMs: this.requestTimeoutMs }) as RoutingInfo | null
        if (info !== null) this.noteRouting(info)
        return this.routing!
      } catch (error) {
        last = error
      }
    }
    throw last
  }

  /** Writes one piece of one chunk through the chain; resolves once the tail committed and the head acknowledged. */
  async write(w: ChunkWrite): Promise<IOResult> {
    const bytes = w.from.buffer.bytes.subarray(w.fromOffset, w.fromOffset + w.length)
    const checksum = crc32c(bytes)
    const tag = this.channels.acquire()
    let failed = true
    try {
      const result = await this.retrying(`write of chunk ${w.chunkId}`, w.retryBudgetMs, async () => {
        const chain = this.chainOf(w.chainId)
        const head = chain.targets[0]
        if (head === undefined || head.publicState !== 'SERVING') throw new T3fsError(StorageErrorCode.TARGET_STATE, `chain ${w.chainId} has no SERVING head (v${chain.chainVersion})`, { chainId: w.chainId })
        const io: UpdateIO = { key: { chainId: w.chainId, chainVersion: chain.chainVersion, chunkId: w.chunkId }, type: 'write', offset: w.offset, length: w.length, chunkSizeBytes: w.chunkSizeBytes, data: this.dataOf(w.from, w.fromOffset, bytes), checksum, updateVersion: 0 }
        return await this.ctx.ask(this.replica(head.targetId), { type: 'write', io, tag }, { timeoutMs: this.requestTimeoutMs }) as IOResult
      })
      failed = false
      return result
    } finally {
      this.channels.release(tag, failed)
    }
  }

  /** Truncates (or with `extend`, only grows) a chunk to `lengthBytes`. */
  async truncate(chainId: number, chunkId: ChunkId, lengthBytes: number, chunkSizeBytes: number, extend = false): Promise<IOResult> {
    const tag = this.channels.acquire()
    let failed = true
    try {
      const result = await this.retrying(`truncate of chunk ${chunkId}`, undefined, async () => {
        const chain = this.chainOf(chainId)
        const io: UpdateIO = { key: { chainId, chainVersion: chain.chainVersion, chunkId }, type: extend ? 'extend' : 'truncate', offset: 0, length: lengthBytes, chunkSizeBytes, data: { kind: 'none' }, checksum: 0, updateVersion: 0 }
        return await this.ctx.ask(this.replica(chain.targets[0]?.targetId ?? 0), { type: 'write', io, tag }, { timeoutMs: this.requestTimeoutMs }) as IOResult
      })
      failed = false
      return result
    } finally {
      this.channels.release(tag, failed)
    }
  }

  /**
   * Reads from a SERVING replica (another one on each retry); a missing chunk reads as a hole.
   * The first attempt runs without the retry loop: one object per read hears its answer from the
   * batcher and settles the read's promise (the loop, its closures and their awaits cost a good
   * part of a 4 KiB read); a failure it may retry goes on in the loop, from the same start.
   *
   * A read the replica pushes (over `inlineReadBytesMax`, into a region) lends each attempt a
   * window of the caller's region (a region of its own, just the read's bytes) and unregisters it
   * before the read returns or tries again. A replica that pushes after the attempt timed out then
   * finds no region: its bytes can never land in a buffer the caller has had back (and filled with
   * something else) since.
   */
  read(r: ChunkRead, prefer?: number): Promise<ChunkReadResult> {
    if (this.routing === null) return this.readRetrying(r, prefer, [], null)
    return new Promise((resolve, reject) => {
      this.counters.requests++
      const startedMs = this.ctx.clock.now()
      const tried: number[] = []
      let attempt: ReadAttempt
      try {
        attempt = this.readAttempt(r, prefer, tried)
      } catch (error) {
        this.readRetrying(r, prefer, tried, { error, startedMs }).then(resolve, reject)
        return
      }
      const first = (window: RegionHandle | null): void => this.reads.enqueue(attempt.destination, new FirstRead(this, r, prefer, tried, startedMs, attempt, window, resolve, reject))
      if (attempt.io.into.kind !== 'region') first(null)
      else this.lendWindow(attempt).then(first, (error: unknown) => { this.readRetrying(r, prefer, tried, { error, startedMs }).then(resolve, reject) })
    })
  }

  /** Takes a window back (awaited: once it resolves, no push into it can land any more). */
  returnWindow(window: RegionHandle): Promise<void> {
    return this.ctx.regions!.unregister(window)
  }

  /** The retry loop of a read, after a first attempt that failed with `first.error` (or from the start); read()'s own way on, not for callers. */
  readRetrying(r: ChunkRead, prefer: number | undefined, tried: number[], first: { error: unknown; startedMs: number } | null): Promise<ChunkReadResult> {
    return this.retrying(() => `read of chunk ${r.chunkId}`, undefined, async () => {
      const attempt = this.readAttempt(r, prefer, tried)
      const window = await this.lendWindow(attempt)
      let res: Awaited<ReturnType<ReadBatcher['read']>>
      try {
        res = await this.reads.read(attempt.destination, attempt.targetId, attempt.io, attempt.copyTo)
      } finally {
        // Before the caller gets its buffer back, or the next attempt its own window.
        if (window !== null) await this.returnWindow(window)
      }
      const targetId = attempt.targetId
      if (!res.ok) {
        if (res.code === StorageErrorCode.CHUNK_NOT_FOUND) return { lengthBytes: 0, commitVersion: 0, targetId }
        throw new T3fsError(res.code, res.message, { targetId })
      }
      const data = res.data === undefined ? undefined : res.data instanceof Uint8Array ? res.data : res.data.bytes
      return data === undefined ? { lengthBytes: res.lengthBytes, commitVersion: res.commitVersion, targetId } : { lengthBytes: res.lengthBytes, commitVersion: res.commitVersion, targetId, data }
    }, first)
  }

  /** Whether the replica pushes `r`'s bytes into the caller's region (rather than answering with them). */
  private pushes(r: ChunkRead): boolean {
    return this.dataMode === 'region' && r.into?.region != null && r.length > inlineReadBytesMax
  }

  /** A pushed attempt's window: its io then names that instead of the caller's region (null: nothing pushed, or the mutant). */
  private async lendWindow(attempt: ReadAttempt): Promise<RegionHandle | null> {
    const into = attempt.io.into
    if (into.kind !== 'region' || this.options.unfencedPushes === true || this.ctx.regions === null) return null
    const window = await this.ctx.regions.registerWindow(into.region, into.offset, attempt.io.length)
    attempt.io = { ...attempt.io, into: { kind: 'region', region: window, offset: 0 } }
    return window
  }

  /** Picks the replica of one attempt (not one of `tried` while others serve; added to them) and what to ask it. */
  private readAttempt(r: ChunkRead, prefer: number | undefined, tried: number[]): ReadAttempt {
    const chain = this.indexedChain(r.chainId)
    const serving = chain.serving
    if (serving.length === 0) throw new T3fsError(StorageErrorCode.TARGET_STATE, `chain ${r.chainId} has no SERVING target`, { chainId: r.chainId })
    const fresh = tried.length === 0 ? serving : serving.filter((id) => !tried.includes(id))
    const pool = fresh.length > 0 ? fresh : serving
    const targetId = prefer !== undefined && pool.includes(prefer) ? prefer : pool[this.ctx.random.int(pool.length)]
    tried.push(targetId)
    // Small reads come back in the answer: a one-sided write costs a round trip of its own.
    const pushed = this.pushes(r)
    const into: DataRef = pushed ? { kind: 'region', region: r.into!.region!, offset: r.intoOffset } : noData
    // Bytes that come back in the answer are copied straight into the caller's buffer.
    const copyTo = pushed || r.into === null ? null : { bytes: r.into.buffer.bytes, offset: r.intoOffset }
    const destination = this.index()!.readDestination(targetId)
    if (destination === null) throw new T3fsError(StorageErrorCode.TARGET_STATE, `target ${targetId} has no known address yet`, { targetId })
    return { targetId, destination, copyTo, io: { key: { chainId: r.chainId, chainVersion: chain.info.chainVersion, chunkId: r.chunkId }, offset: r.offset, length: r.length, into } }
  }

  async queryLastChunk(chainId: number, range: ChunkIdRange): Promise<LastChunk> {
    return this.retrying(`query-last-chunk on chain ${chainId}`, undefined, async () => {
      const chain = this.chainOf(chainId)
      return await this.ctx.ask(this.replica(chain.targets[0]?.targetId ?? 0), { type: 'query-last-chunk', chainId, chainVersion: chain.chainVersion, range }, { timeoutMs: this.requestTimeoutMs }) as LastChunk
    })
  }

  async removeChunks(chainId: number, range: ChunkIdRange, maxChunks?: number): Promise<{ removed: number; more: boolean }> {
    const tag = this.channels.acquire()
    let failed = true
    try {
      const result = await this.retrying(`remove-chunks on chain ${chainId}`, undefined, async () => {
        const chain = this.chainOf(chainId)
        return await this.ctx.ask(this.replica(chain.targets[0]?.targetId ?? 0), { type: 'remove-chunks', chainId, chainVersion: chain.chainVersion, range, tag, ...(maxChunks === undefined ? {} : { maxChunks }) }, { timeoutMs: this.requestTimeoutMs }) as { removed: number; more: boolean }
      })
      failed = false
      return result
    } finally {
      this.channels.release(tag, failed)
    }
  }

  private dataOf(from: ClientBuffer, fromOffset: number, bytes: Uint8Array): DataRef {
    if (this.dataMode === 'region' && from.region !== null) return { kind: 'region', region: from.region, offset: fromOffset }
    return { kind: 'inline', bytes: bytes.slice() }
  }

  /** The lookups into the current routing info (rebuilt when it changes; null while there is none). */
  private index(): RoutingIndex | null {
    if (this.routing === null) return null
    if (this.indexed === null || this.indexed.info !== this.routing) this.indexed = new RoutingIndex(this.routing, (address) => this.ctx.refFor(address))
    return this.indexed
  }

  private indexedChain(chainId: number): IndexedChain {
    const chain = this.index()?.chain(chainId)
    if (chain === undefined) throw new T3fsError('ERR_STORAGE_NO_ROUTING', `chain ${chainId} is not in the client's routing info${this.routing === null ? ' (none yet)' : ''}`, { chainId })
    return chain
  }

  private chainOf(chainId: number): ChainInfo {
    return this.indexedChain(chainId).info
  }

  private replica(targetId: number): ActorRef<ReplicaMsg> {
    const ref = this.index()?.replica(targetId) ?? null
    if (ref === null) throw new T3fsError(StorageErrorCode.TARGET_STATE, `target ${targetId} has no known address yet`, { targetId })
    return ref
  }

  /**
   * Runs `attempt` until it succeeds, fails for good, or the budget runs out (then the last error);
   * `what` names it in that error. `first`: an attempt made before the loop (started at
   * `startedMs`) failed with `error`, which the loop takes as its own first failure.
   */
  private async retrying<T>(what: string | (() => string), budgetMs: number | undefined, attempt: () => Promise<T>, first: { error: unknown; startedMs: number } | null = null): Promise<T> {
    const deadline = (first?.startedMs ?? this.ctx.clock.now()) + (budgetMs ?? this.retryBudgetMs)
    let backoffMs = this.backoffMinMs
    let failed = first
    for (;;) {
      let error: unknown
      if (failed !== null) {
        error = failed.error
        failed = null
      } else {
        this.counters.requests++
        try {
          if (this.routing === null) await this.refreshRouting()
          return await attempt()
        } catch (e) {
          error = e
        }
      }
      const e = toT3fsError(error)
      if (!retryable(e) || this.ctx.clock.now() + backoffMs >= deadline) {
        const name = typeof what === 'string' ? what : what()
        throw new T3fsError(e.code, `${name} failed: ${e.message}`, { ...e.details, what: name })
      }
      this.counters.retries++
      await sleep(this.ctx.clock, backoffMs * (0.5 + this.ctx.random.next()))
      backoffMs = Math.min(this.backoffMaxMs, backoffMs * 2)
      await this.refreshRouting().catch(() => {})
    }
  }
}

/** One attempt of a read: the replica picked, where its batch goes, and the read as asked. */
interface ReadAttempt {
  targetId: number
  destination: NonNullable<ReturnType<RoutingIndex['readDestination']>>
  io: ReadIO
  copyTo: ReadInto | null
}

/** A read's first attempt, answered by the batcher: it settles the read, or hands it to the retry loop. */
class FirstRead implements ReadWaiter {
  readonly targetId: number
  readonly io: ReadIO
  readonly into: ReadInto | null

  constructor(private readonly client: StorageClient, private readonly r: ChunkRead, private readonly prefer: number | undefined, private readonly tried: number[],
    private readonly startedMs: number, attempt: ReadAttempt, private readonly window: RegionHandle | null,
    private readonly resolve: (result: ChunkReadResult) => void, private readonly reject: (error: unknown) => void) {
    this.targetId = attempt.targetId
    this.io = attempt.io
    this.into = attempt.copyTo
  }

  ok(lengthBytes: number, commitVersion: number, _chunkChecksum: number, data: Uint8Array | undefined): void {
    this.settle(data === undefined ? { lengthBytes, commitVersion, targetId: this.targetId } : { lengthBytes, commitVersion, targetId: this.targetId, data })
  }

  failed(code: string, message: string): void {
    if (code === StorageErrorCode.CHUNK_NOT_FOUND) this.settle({ lengthBytes: 0, commitVersion: 0, targetId: this.targetId })
    else this.error(new T3fsError(code, message, { targetId: this.targetId }))
  }

  error(error: unknown): void {
    const retry = (): void => { this.client.readRetrying(this.r, this.prefer, this.tried, { error, startedMs: this.startedMs }).then(this.resolve, this.reject) }
    if (this.window === null) retry()
    else this.client.returnWindow(this.window).then(retry, this.reject)
  }

  /** Answers the read, once its window (if it had one) is taken back. */
  private settle(result: ChunkReadResult): void {
    if (this.window === null) this.resolve(result)
    else this.client.returnWindow(this.window).then(() => this.resolve(result), this.reject)
  }
}

function retryable(e: T3fsError): boolean {
  return RETRYABLE_CODES.has(e.code) || e.code === 'ERR_STORAGE_NO_ROUTING' || e.code === 'ERR_MGMTD_NOT_PRIMARY'
}
