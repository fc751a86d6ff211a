/**
 * What meta needs from storage for file lengths and GC (3FS queryLastChunk and removeChunks,
 * reference/3fs.md §1.4, §2.5, §2.6): the last chunk of a file's range with the range's totals,
 * and the removal of a range's chunks — each removal a replicated update through the chain.
 */
import { T3fsError } from '../../../runtime/errors.ts'
import type { ChunkId } from '../chunk-engine/index.ts'
import { StorageErrorCode, type ChunkIdRange, type LastChunk, type MessageTag } from '../protocol.ts'
import { checkServing, type ReplicaCtx, type ReplicaState } from './replica-state.ts'
import { runUpdate } from './update-pipeline.ts'

/** Chunks a query or a removal looks at per request, by default and at most. */
export const queryChunksDefault = 1_000
export const queryChunksMax = 100_000
export const removeChunksDefault = 32
export const removeChunksMax = 1_024

export function queryLastChunk(rs: ReplicaState, ctx: ReplicaCtx, chainId: number, chainVersion: number, range: ChunkIdRange, maxChunks: number | undefined): LastChunk {
  checkServing(rs, chainId, chainVersion, ctx.clock.now())
  const limit = Math.min(maxChunks ?? queryChunksDefault, queryChunksMax)
  const chunks = rs.engine.queryChunks(chainId, { begin: range.begin as ChunkId, end: range.end as ChunkId, limit: limit + 1 }).filter((m) => m.committed !== null)
  const counted = chunks.slice(0, limit)
  const last = rs.engine.lastChunk(chainId, range.begin as ChunkId, range.end as ChunkId)
  return {
    lastChunkId: last?.chunkId ?? null,
    lastChunkLengthBytes: last?.committed?.lengthBytes ?? 0,
    totalLengthBytes: counted.reduce((n, m) => n + (m.committed?.lengthBytes ?? 0), 0),
    chunkCount: counted.length,
    more: chunks.length > limit,
  }
}

/** Removes up to `maxChunks` chunks of the range, each through the whole chain; `more` when the range holds more. */
export async function removeChunks(rs: ReplicaState, ctx: ReplicaCtx, chainId: number, chainVersion: number, range: ChunkIdRange, maxChunks: number | undefined, tag: MessageTag): Promise<{ removed: number; more: boolean }> {
  const chain = checkServing(rs, chainId, chainVersion, ctx.clock.now())
  if (!chain.isHead) throw new T3fsError(StorageErrorCode.NOT_HEAD, `target ${rs.targetId} is not the head of chain ${chainId}; removals go to the head`, { chainId })
  const limit = Math.min(maxChunks ?? removeChunksDefault, removeChunksMax)
  const found = rs.engine.queryChunks(chainId, { begin: range.begin as ChunkId, end: range.end as ChunkId, limit: limit + 1 }).filter((m) => m.committed !== null)
  const victims = found.slice(0, limit)
  await Promise.all(victims.map((meta) => runUpdate(rs, ctx, {
    io: { key: { chainId, chainVersion, chunkId: meta.chunkId }, type: 'remove', offset: 0, length: 0, chunkSizeBytes: Math.max(meta.committed?.blockBytes ?? 0, 1), data: { kind: 'none' }, checksum: 0, updateVersion: 0 },
    options: { fromClient: true, isSyncing: false, commitChainVersion: 0 },
    tag: undefined,
    engineTag: { clientId: tag.clientId, requestId: tag.requestId },
    atHead: true,
  })))
  return { removed: victims.length, more: found.length > limit }
}
