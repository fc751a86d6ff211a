/**
 * A ChunkEngine that reports its work through ctx.metrics: operations per kind (update by its
 * kind, commit, read, …), bytes written and read, failures by code, and a latency histogram per
 * operation on the actor's clock. The chain replica opens its engine through it.
 *
 * Reads are the hot path (a 4 KiB random read costs tens of microseconds in all, and a metric
 * update through prom-client about half of one): their operation and byte counts are summed in
 * plain numbers and handed to the counters once per turn (reads completing together, a batch,
 * share one update); each read's latency is still observed on its own, into the read series
 * bound once (a few additions per read).
 */
import { toT3fsError } from '../../../runtime/errors.ts'
import type { DiskBuffer } from '../../../runtime/disk/disk.ts'
import type { BoundHistogram, Clock, CounterMetric, HistogramMetric, Metrics } from '../../../runtime/index.ts'
import type { ChunkId } from '../chunk-id.ts'
import type { ChunkMeta } from './chunk-meta.ts'
import type {
  ChunkEngine, ChunkEngineFormat, ChunkEngineState, ChunkEngineStats, ChunkRange, ChunkUpdate, CommitRequest, CommitResult,
  EngineSpace, ReadObserver, ReadRequest, ReadResult, UpdateResult,
} from './engine.ts'

function bufferBytes(data: DiskBuffer | readonly DiskBuffer[] | undefined): number {
  if (data === undefined) return 0
  if (Array.isArray(data)) return (data as readonly DiskBuffer[]).reduce((n, d) => n + d.length, 0)
  return (data as DiskBuffer).length
}

const readLabels = { op: 'read' }

class MeteredEngine implements ChunkEngine {
  private readonly ops: CounterMetric
  private readonly failed: CounterMetric
  private readonly bytes: CounterMetric
  private readonly latency: HistogramMetric
  private readonly readLatency: BoundHistogram
  /** Reads and their bytes not yet added to the counters (they are at the end of the turn). */
  private readsUncounted = 0
  private readBytesUncounted = 0
  private countQueued = false

  constructor(private readonly engine: ChunkEngine, metrics: Metrics, private readonly clock: Clock) {
    this.ops = metrics.counter('t3fs_storage_chunk_ops_total', { help: 'chunk engine operations (update by kind, commit, read, …)', labels: ['op'] })
    this.failed = metrics.counter('t3fs_storage_chunk_errors_total', { help: 'chunk engine operations that failed, per operation and error code', labels: ['op', 'code'] })
    this.bytes = metrics.counter('t3fs_storage_chunk_bytes_total', { help: 'chunk bytes written by updates and returned by reads', labels: ['op'] })
    this.latency = metrics.histogram('t3fs_storage_chunk_op_duration_seconds', { help: 'time a chunk engine operation takes, seconds', labels: ['op'] })
    this.readLatency = this.latency.bind(readLabels)
    // An engine that reports its reads is not wrapped per read (a promise hop each); the same counts come from the reports.
    if (engine.observeReads !== undefined) {
      engine.observeReads(this.readObserver)
      this.observed = true
    }
  }

  private readonly observed: boolean = false

  private readonly readObserver: ReadObserver = {
    readStarted: () => this.clock.now(),
    readDone: (startMs, lengthBytes) => this.readCounted(startMs, lengthBytes),
    readFailed: (error) => this.failed.inc({ op: 'read', code: toT3fsError(error).code }),
  }

  /** One read done: its latency observed, its counts summed for the end of the turn. */
  private readCounted(startMs: number, lengthBytes: number): void {
    this.readLatency.observe((this.clock.now() - startMs) / 1000)
    this.readsUncounted++
    this.readBytesUncounted += lengthBytes
    if (!this.countQueued) {
      this.countQueued = true
      queueMicrotask(this.countReads)
    }
  }

  get root(): string { return this.engine.root }
  get format(): ChunkEngineFormat { return this.engine.format }
  get state(): ChunkEngineState { return this.engine.state }
  get failure(): Error | null { return this.engine.failure }

  update(u: ChunkUpdate): Promise<UpdateResult> {
    return this.timed(`update_${u.kind}`, () => this.engine.update(u), () => {
      if (u.kind === 'write') this.bytes.inc({ op: 'write' }, bufferBytes(u.data))
    })
  }

  commit(request: CommitRequest): Promise<CommitResult> { return this.timed('commit', () => this.engine.commit(request)) }
  commitBatch(requests: readonly CommitRequest[]): Promise<Array<CommitResult | Error>> { return this.timed('commit_batch', () => this.engine.commitBatch(requests)) }

  read(request: ReadRequest): Promise<ReadResult> {
    if (this.observed) return this.engine.read(request)
    const startMs = this.clock.now()
    return this.engine.read(request).then(
      (r) => {
        this.readCounted(startMs, r.lengthBytes)
        return r
      },
      (error: unknown) => {
        this.failed.inc({ op: 'read', code: toT3fsError(error).code })
        throw error
      },
    )
  }

  private readonly countReads = (): void => {
    this.countQueued = false
    this.ops.inc(readLabels, this.readsUncounted)
    this.bytes.inc(readLabels, this.readBytesUncounted)
    this.readsUncounted = 0
    this.readBytesUncounted = 0
  }

  getChunk(chainId: number, chunkId: ChunkId): ChunkMeta | null { return this.engine.getChunk(chainId, chunkId) }
  queryChunks(chainId: number, range?: ChunkRange): ChunkMeta[] { return this.engine.queryChunks(chainId, range) }
  lastChunk(chainId: number, begin: ChunkId, end: ChunkId): ChunkMeta | null { return this.engine.lastChunk(chainId, begin, end) }
  chainIds(): number[] { return this.engine.chainIds() }
  listPending(chainId?: number): ChunkMeta[] { return this.engine.listPending(chainId) }
  dropPending(chainId: number, chunkId: ChunkId): Promise<boolean> { return this.timed('drop_pending', () => this.engine.dropPending(chainId, chunkId)) }
  commitAllPending(chainId: number, chainVersion: number): Promise<number> { return this.timed('commit_all_pending', () => this.engine.commitAllPending(chainId, chainVersion)) }
  removeChain(chainId: number): Promise<number> { return this.timed('remove_chain', () => this.engine.removeChain(chainId)) }
  space(): Promise<EngineSpace> { return this.engine.space() }
  usage(): Pick<EngineSpace, 'usedBytes' | 'reservedBytes' | 'chains'> { return this.engine.usage() }
  stats(): ChunkEngineStats { return this.engine.stats() }
  sync(): Promise<void> { return this.timed('sync', () => this.engine.sync()) }
  close(): Promise<void> { return this.engine.close() }

  private timed<T>(op: string, work: () => Promise<T>, onDone?: (value: T) => void): Promise<T> {
    const startMs = this.clock.now()
    const labels = { op }
    return work().then(
      (value) => {
        this.ops.inc(labels)
        this.latency.observe(labels, (this.clock.now() - startMs) / 1000)
        onDone?.(value)
        return value
      },
      (error: unknown) => {
        this.failed.inc({ op, code: toT3fsError(error).code })
        throw error
      },
    )
  }
}

export function meteredEngine(engine: ChunkEngine, metrics: Metrics, clock: Clock): ChunkEngine {
  return new MeteredEngine(engine, metrics, clock)
}
