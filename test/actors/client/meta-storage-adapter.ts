/**
 * Test support: meta's StorageService over the real storage client (queryLastChunk at each chain's
 * head, truncate/extend of the last chunk, removeChunks in batches), so meta in a test cluster
 * answers exact lengths and truncates through storage. (Until meta gets this from its own branch:
 * a launched meta answers those with EIO.) The storage client lives on a small actor of its own,
 * whose context it uses.
 */
import type { StorageService } from '../../../actors/meta/storage-protocol.ts'
import type { MgmtdMsg } from '../../../actors/mgmtd/protocol.ts'
import type { ChunkId } from '../../../actors/storage/chunk-id.ts'
import { StorageClient } from '../../../actors/storage/client/storage-client.ts'
import { defineActor, type ActorContext, type ActorRef, type Message } from '../../../runtime/actor.ts'
import type { ActorSystem } from '../../../runtime/actor-system.ts'

const hostActor = defineActor<null, { type: 'noop' }, { started: (ctx: ActorContext<Message>) => void }>({
  kind: 'meta-storage-adapter',
  init(ctx, args) {
    args.started(ctx as unknown as ActorContext<Message>)
    return null
  },
  handle() {},
})

const hex = (bytes: Uint8Array): ChunkId => Buffer.from(bytes).toString('hex') as ChunkId

export async function metaStorageAdapter(system: ActorSystem, mgmtds: ActorRef<MgmtdMsg>[], options: { requestTimeoutMs?: number; retryBudgetMs?: number } = {}): Promise<StorageService> {
  let started!: (ctx: ActorContext<Message>) => void
  const ready = new Promise<ActorContext<Message>>((resolve) => { started = resolve })
  system.spawn(hostActor, { started })
  const ctx = await ready
  const client = new StorageClient(ctx, { clientId: `meta-storage-${system.node}-${ctx.random.int(1 << 30)}`, mgmtds, dataMode: 'inline', requestTimeoutMs: options.requestTimeoutMs ?? 2_000, retryBudgetMs: options.retryBudgetMs ?? 10_000, backoffMinMs: 10, backoffMaxMs: 200 })
  const fresh = async (): Promise<void> => { await client.refreshRouting().catch(() => {}) }
  return {
    async queryLastChunk(ops) {
      await fresh()
      return Promise.all(ops.map(async (op) => {
        const r = await client.queryLastChunk(op.chain.chainId, { begin: hex(op.range.begin), end: hex(op.range.end) })
        return { lastChunkId: r.lastChunkId === null ? null : Buffer.from(r.lastChunkId, 'hex'), lastChunkLenBytes: r.lastChunkLengthBytes, totalChunkLenBytes: r.totalLengthBytes, totalNumChunks: r.chunkCount, moreChunksInRange: r.more }
      }))
    },
    async removeChunks(ops) {
      await fresh()
      return Promise.all(ops.map(async (op) => {
        const r = await client.removeChunks(op.chain.chainId, { begin: hex(op.range.begin), end: hex(op.range.end) }, op.range.maxNumChunkIdsToProcess)
        return { numChunksRemoved: r.removed, moreChunksInRange: r.more }
      }))
    },
    async truncateChunks(ops) {
      await fresh()
      return Promise.all(ops.map(async (op) => {
        const r = await client.truncate(op.chain.chainId, hex(op.chunkId), op.chunkLenBytes, op.chunkSizeBytes, op.onlyExtendChunk)
        return { lengthBytes: r.lengthBytes }
      }))
    },
    async spaceInfo() {
      return { capacityBytes: 1 << 40, freeBytes: 1 << 40 }
    },
  }
}
