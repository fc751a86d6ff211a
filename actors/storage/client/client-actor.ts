/**
 * The storage client as an actor, for tools, benchmarks, the chaos test and the simulator: callers
 * on its node ask it to write or read chunk ranges; it keeps the routing info fresh (pushed by
 * mgmtd, refreshed on errors and every `routingRefreshMs`), stages the bytes in its own pool slots
 * registered as regions (the head pulls them, replicas push reads into them), and keeps many
 * requests in flight (each runs outside the mailbox).
 */
import { defineActor, type ActorRef, type Returns } from '../../../runtime/actor.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import type { RegionHandle } from '../../../runtime/regions-actor.ts'
import type { MgmtdMsg, RoutingInfo, RoutingUpdate } from '../../mgmtd/protocol.ts'
import type { ChunkId } from '../chunk-id.ts'
import type { ChunkIdRange, IOResult, LastChunk } from '../protocol.ts'
import { StorageClient, type ChunkReadResult, type ClientBuffer } from './storage-client.ts'

export interface ClientActorArgs {
  clientId: string
  mgmtds: ActorRef<MgmtdMsg>[]
  dataMode?: 'region' | 'inline'
  requestTimeoutMs?: number
  retryBudgetMs?: number
  backoffMinMs?: number
  backoffMaxMs?: number
  routingRefreshMs?: number
}

export type ClientActorMsg =
  | ({ type: 'write'; chainId: number; chunkId: ChunkId; offset: number; data: Uint8Array; chunkSizeBytes: number; retryBudgetMs?: number } & Returns<IOResult>)
  | ({ type: 'read'; chainId: number; chunkId: ChunkId; offset: number; length: number; prefer?: number } & Returns<ChunkReadResult & { bytes: Uint8Array }>)
  | ({ type: 'truncate'; chainId: number; chunkId: ChunkId; lengthBytes: number; chunkSizeBytes: number } & Returns<IOResult>)
  | ({ type: 'query-last-chunk'; chainId: number; range: ChunkIdRange } & Returns<LastChunk>)
  | ({ type: 'remove-chunks'; chainId: number; range: ChunkIdRange; maxChunks?: number } & Returns<{ removed: number; more: boolean }>)
  | ({ type: 'routing' } & Returns<RoutingInfo | null>)
  | ({ type: 'stats' } & Returns<StorageClient['counters']>)
  | RoutingUpdate
  | { type: 'refresh' }

interface ClientActorState {
  client: StorageClient
  args: ClientActorArgs
}

export const storageClientActor = defineActor<ClientActorState, ClientActorMsg, ClientActorArgs>({
  kind: 'storage-client',
  mailboxMax: 65_536,
  init(ctx, args) {
    // A client id is unique per life: replicas remember channels by it (a restarted client starts its seqnums over).
    const clientId = `${args.clientId}:${Math.floor(ctx.random.next() * 2 ** 48).toString(36)}`
    const client = new StorageClient(ctx as never, { ...args, clientId })
    for (const m of args.mgmtds) {
      try {
        ctx.tell(m, { type: 'subscribe', subscriber: ctx.self as never })
      } catch {
        // Unreachable now: the refresh timer and errors fetch the routing instead.
      }
    }
    ctx.schedule(0, { type: 'refresh' })
    return { client, args }
  },
  handle(state, msg, ctx) {
    const { client } = state
    switch (msg.type) {
      case 'routing-info':
        return client.noteRouting(msg.info)
      case 'refresh':
        ctx.schedule(state.args.routingRefreshMs ?? 1_000, { type: 'refresh' })
        void client.refreshRouting().catch(() => {})
        return
      case 'routing':
        return ctx.reply(client.routing)
      case 'stats':
        return ctx.reply({ ...client.counters })
      case 'write': {
        const reply = ctx.deferReply()
        withBuffer(ctx, client, msg.data.length, async (b) => {
          b.buffer.bytes.set(msg.data)
          return client.write({ chainId: msg.chainId, chunkId: msg.chunkId, offset: msg.offset, length: msg.data.length, chunkSizeBytes: msg.chunkSizeBytes, from: b, fromOffset: 0, ...(msg.retryBudgetMs === undefined ? {} : { retryBudgetMs: msg.retryBudgetMs }) })
        }).then((r) => reply.resolve(r), (e: unknown) => reply.reject(e))
        return
      }
      case 'read': {
        const reply = ctx.deferReply()
        withBuffer(ctx, client, msg.length, async (b) => {
          const r = await client.read({ chainId: msg.chainId, chunkId: msg.chunkId, offset: msg.offset, length: msg.length, into: b, intoOffset: 0 }, msg.prefer)
          return { ...r, data: undefined, bytes: b.buffer.bytes.slice(0, r.lengthBytes) }
        }).then((r) => reply.resolve(r), (e: unknown) => reply.reject(e))
        return
      }
      case 'truncate': {
        const reply = ctx.deferReply()
        client.truncate(msg.chainId, msg.chunkId, msg.lengthBytes, msg.chunkSizeBytes).then((r) => reply.resolve(r), (e: unknown) => reply.reject(e))
        return
      }
      case 'query-last-chunk': {
        const reply = ctx.deferReply()
        client.queryLastChunk(msg.chainId, msg.range).then((r) => reply.resolve(r), (e: unknown) => reply.reject(e))
        return
      }
      case 'remove-chunks': {
        const reply = ctx.deferReply()
        client.removeChunks(msg.chainId, msg.range, msg.maxChunks).then((r) => reply.resolve(r), (e: unknown) => reply.reject(e))
        return
      }
    }
  },
})

/** A pool slot of `length` bytes (registered as a region in region mode) for the duration of `work`. */
async function withBuffer<T>(ctx: Parameters<typeof storageClientActor.init>[0], client: StorageClient, length: number, work: (b: ClientBuffer) => Promise<T>): Promise<T> {
  if (ctx.buffers === null || ctx.regions === null) throw new T3fsError('ERR_NO_BUFFER_POOL', 'the storage client needs a buffer pool (its node has none)', {})
  const buffer: PooledBuffer = await ctx.buffers.allocate(Math.max(length, 1), { timeoutMs: 10_000 })
  let region: RegionHandle | null = null
  try {
    if (client.dataMode === 'region') region = await ctx.regions.register(buffer)
    return await work({ buffer, region })
  } finally {
    if (region !== null) await ctx.regions.unregister(region).catch(() => {})
    buffer.release()
  }
}
