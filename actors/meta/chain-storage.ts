/**
 * Meta's `StorageService` over the real storage service (reference/3fs.md §1.4, §2.5, §2.6): each
 * op goes to its chain through the storage client (actors/storage/client), which sends it to the
 * chain's head with the chain version of its routing info, refreshes the routing when storage
 * says the chain moved, and retries with backoff (the same exactly-once tag for removals and
 * truncates) until the retry budget runs out.
 *
 * - queryLastChunk → `query-last-chunk` on the chain's head (committed chunks only);
 * - removeChunks → `remove-chunks` (each removal a replicated REMOVE through the chain);
 * - truncateChunks → a TRUNCATE (or EXTEND) update of the chunk through the chain;
 * - spaceInfo → `space-info` of every storage node in the routing info, summed.
 *
 * Routing comes from meta's own mgmtd link (the meta actor hands every routing info it fetches to
 * `noteRouting`, and the client fetches one itself on errors), so meta and its storage client
 * resolve a layout's chains against the same chain tables. The chain version a meta op carries is
 * not sent: the client's own (fresher or equal) version is, and storage fences a stale one.
 */
import type { ActorContext, Message } from '../../runtime/actor.ts'
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import type { RoutingInfo } from '../mgmtd/protocol.ts'
import { checkChunkId, type ChunkId } from '../storage/chunk-id.ts'
import { StorageClient } from '../storage/client/storage-client.ts'
import type { ChunkIdRange as StorageRange, SpaceInfo as NodeSpaceInfo, StorageNodeMsg } from '../storage/protocol.ts'
import type {
  ChunkIdRange, QueryLastChunkOp, QueryLastChunkResult, RemoveChunksOp, RemoveChunksResult, SpaceInfo, StorageService, TruncateChunkOp, TruncateChunkResult,
} from './storage-protocol.ts'

export interface ChainStorageOptions {
  /** Unique per life of the meta server: storage remembers update channels by it. */
  readonly clientId: string
  /** A full routing info from mgmtd (null: mgmtd has none yet). */
  readonly fetchRouting: () => Promise<RoutingInfo | null>
  /** Per request to a replica or a storage node. */
  readonly requestTimeoutMs: number
  /** A call that keeps failing this long fails for good (meta then answers EIO or GC retries later). */
  readonly retryBudgetMs: number
  readonly backoffMinMs?: number
  readonly backoffMaxMs?: number
}

/** The storage client with routing fetched through meta's mgmtd link instead of its own mgmtd refs. */
class MetaStorageClient extends StorageClient {
  constructor(ctx: ActorContext<Message>, options: ChainStorageOptions) {
    super(ctx, {
      clientId: options.clientId, mgmtds: [], requestTimeoutMs: options.requestTimeoutMs, retryBudgetMs: options.retryBudgetMs,
      ...(options.backoffMinMs === undefined ? {} : { backoffMinMs: options.backoffMinMs }),
      ...(options.backoffMaxMs === undefined ? {} : { backoffMaxMs: options.backoffMaxMs }),
    })
    this.fetch = options.fetchRouting
  }

  private readonly fetch: () => Promise<RoutingInfo | null>

  override async refreshRouting(): Promise<RoutingInfo> {
    this.counters.routingRefreshes++
    const info = await this.fetch()
    if (info !== null) this.noteRouting(info)
    if (this.routing === null) throw new T3fsError('ERR_STORAGE_NO_ROUTING', 'mgmtd has no routing info yet', {})
    return this.routing
  }
}

const hex = (bytes: Uint8Array): ChunkId => checkChunkId(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex'), 'chunkId')
const rangeOf = (range: ChunkIdRange): StorageRange => ({ begin: hex(range.begin), end: hex(range.end) })

export class ChainStorage implements StorageService {
  private readonly client: MetaStorageClient

  constructor(private readonly ctx: ActorContext<Message>, private readonly options: ChainStorageOptions) {
    this.client = new MetaStorageClient(ctx, options)
  }

  /** Counters of the storage client (requests, retries, routing refreshes). */
  get counters(): Readonly<StorageClient['counters']> {
    return this.client.counters
  }

  noteRouting(info: RoutingInfo): void {
    this.client.noteRouting(info)
  }

  queryLastChunk(ops: readonly QueryLastChunkOp[]): Promise<QueryLastChunkResult[]> {
    return Promise.all(ops.map(async (op) => {
      const last = await this.client.queryLastChunk(op.chain.chainId, rangeOf(op.range))
      return {
        lastChunkId: last.lastChunkId === null ? null : Buffer.from(last.lastChunkId, 'hex'),
        lastChunkLenBytes: last.lastChunkLengthBytes,
        totalChunkLenBytes: last.totalLengthBytes,
        totalNumChunks: last.chunkCount,
        moreChunksInRange: last.more,
      }
    }))
  }

  removeChunks(ops: readonly RemoveChunksOp[]): Promise<RemoveChunksResult[]> {
    return Promise.all(ops.map(async (op) => {
      const done = await this.client.removeChunks(op.chain.chainId, rangeOf(op.range), op.range.maxNumChunkIdsToProcess)
      return { numChunksRemoved: done.removed, moreChunksInRange: done.more }
    }))
  }

  truncateChunks(ops: readonly TruncateChunkOp[]): Promise<TruncateChunkResult[]> {
    return Promise.all(ops.map(async (op) => {
      const done = await this.client.truncate(op.chain.chainId, hex(op.chunkId), op.chunkLenBytes, op.chunkSizeBytes, op.onlyExtendChunk)
      return { lengthBytes: done.lengthBytes }
    }))
  }

  /**
   * Capacity and free space summed over the storage nodes that answer (each node reports its
   * disk). Nodes that do not answer within the request timeout are left out; none answering is an
   * error.
   */
  async spaceInfo(): Promise<SpaceInfo> {
    const routing = this.client.routing ?? (await this.client.refreshRouting())
    const nodes = routing.nodes.filter((n) => n.type === 'STORAGE' && n.services.storage !== undefined)
    if (nodes.length === 0) throw new T3fsError('ERR_STORAGE_NO_ROUTING', 'the routing info lists no storage node', {})
    const answers = await Promise.all(nodes.map((n) =>
      this.ctx.ask(this.ctx.refFor<StorageNodeMsg>(n.services.storage), { type: 'space-info' }, { timeoutMs: this.options.requestTimeoutMs })
        .then((s) => s as NodeSpaceInfo, (e: unknown) => toT3fsError(e)),
    ))
    const spaces = answers.filter((a): a is NodeSpaceInfo => !(a instanceof T3fsError))
    if (spaces.length === 0) {
      const first = answers[0] as T3fsError
      throw new T3fsError(first.code, `no storage node answered space-info (${nodes.length} asked): ${first.message}`, { nodes: nodes.length })
    }
    return { capacityBytes: spaces.reduce((n, s) => n + s.totalBytes, 0), freeBytes: spaces.reduce((n, s) => n + s.freeBytes, 0) }
  }
}

/** The storage service meta uses when mgmtd is reachable: the chains in mgmtd's routing info. */
export function chainStorage<M extends Message>(ctx: ActorContext<M>, mgmtd: { routingInfo(since: number | null): Promise<RoutingInfo | null> }, options: Omit<ChainStorageOptions, 'fetchRouting'>): ChainStorage {
  return new ChainStorage(ctx as unknown as ActorContext<Message>, { ...options, fetchRouting: () => mgmtd.routingInfo(null) })
}
