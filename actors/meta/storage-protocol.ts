/**
 * What meta asks of the storage service (reference/3fs.md §1.4, §2.5, §2.6), after 3FS's
 * queryLastChunk / truncateChunks / removeChunks / spaceInfo:
 * - the exact length of a file on close and fsync: the last chunk of the file's range on each of
 *   its active chains (length = max over chains of lastChunkIndex·chunkSize + lastChunkLen);
 * - truncate: remove the chunks past the new end, then cut (or extend) the last one;
 * - GC: remove every chunk of a deleted file, in bounded batches, until none remain;
 * - statFs: capacity and free space.
 *
 * Meta reaches storage only through the `StorageService` interface below, which the meta actor is
 * given or builds: `ChainStorage` (chain-storage.ts) sends the ops to the chains of mgmtd's routing
 * info through the storage client; `unavailableStorage` is what a meta server without mgmtd uses:
 * every call fails with ERR_META_STORAGE_UNAVAILABLE, which meta turns into EIO for the caller
 * (close/fsync without a usable hint, truncate, statFs) or into a retry later (GC).
 */
import type { Returns } from '../../runtime/actor.ts'
import { T3fsError } from '../../runtime/errors.ts'
import type { RoutingInfo } from '../mgmtd/protocol.ts'

/** A chain as a request names it: the id, and the chain version meta saw (a stale one is refused by storage). */
export interface VersionedChainId {
  readonly chainId: number
  readonly chainVersion: number
}

/** Chunk ids are 16 bytes (layout.ts chunkId); a range is [begin, end). */
export interface ChunkIdRange {
  readonly begin: Uint8Array
  readonly end: Uint8Array
  /** Upper bound of chunks one call processes (removeChunks batches of 32, as 3FS). */
  readonly maxNumChunkIdsToProcess: number
}

export interface QueryLastChunkOp {
  readonly chain: VersionedChainId
  readonly range: ChunkIdRange
}

export interface QueryLastChunkResult {
  /** The last chunk of the range on that chain, null when the chain holds none of it. */
  readonly lastChunkId: Uint8Array | null
  readonly lastChunkLenBytes: number
  readonly totalChunkLenBytes: number
  readonly totalNumChunks: number
  readonly moreChunksInRange: boolean
}

export interface RemoveChunksOp {
  readonly chain: VersionedChainId
  readonly range: ChunkIdRange
}

export interface RemoveChunksResult {
  readonly numChunksRemoved: number
  /** Chunks are left in the range: call again. */
  readonly moreChunksInRange: boolean
}

export interface TruncateChunkOp {
  readonly chain: VersionedChainId
  readonly chunkId: Uint8Array
  /** The chunk's new length (≤ chunkSize). */
  readonly chunkLenBytes: number
  readonly chunkSizeBytes: number
  /** Only grow the chunk (EXTEND, zero-filled), never cut it. */
  readonly onlyExtendChunk: boolean
}

export interface TruncateChunkResult {
  readonly lengthBytes: number
}

export interface SpaceInfo {
  readonly capacityBytes: number
  readonly freeBytes: number
}

/** 3FS's batched request shapes for these calls (meta sends them one op per chain through the storage client). */
export type StorageMetaMsg =
  | ({ type: 'query-last-chunk'; ops: QueryLastChunkOp[] } & Returns<QueryLastChunkResult[]>)
  | ({ type: 'remove-chunks'; ops: RemoveChunksOp[] } & Returns<RemoveChunksResult[]>)
  | ({ type: 'truncate-chunks'; ops: TruncateChunkOp[] } & Returns<TruncateChunkResult[]>)
  | ({ type: 'space-info' } & Returns<SpaceInfo>)

/** The one interface the meta actors use for everything storage does for them. */
export interface StorageService {
  queryLastChunk(ops: readonly QueryLastChunkOp[]): Promise<QueryLastChunkResult[]>
  removeChunks(ops: readonly RemoveChunksOp[]): Promise<RemoveChunksResult[]>
  truncateChunks(ops: readonly TruncateChunkOp[]): Promise<TruncateChunkResult[]>
  spaceInfo(): Promise<SpaceInfo>
  /** A routing info meta fetched from mgmtd (an implementation that routes by chain keeps it). */
  noteRouting?(info: RoutingInfo): void
}

export const STORAGE_UNAVAILABLE = 'ERR_META_STORAGE_UNAVAILABLE'

/** Storage when there is none to reach: every call fails, saying why. */
export function unavailableStorage(why = 'this meta server has no mgmtd to find storage through (set mgmtd_node)'): StorageService {
  const fail = async (call: string): Promise<never> => {
    throw new T3fsError(STORAGE_UNAVAILABLE, `storage ${call} is unavailable: ${why}`, { call })
  }
  return {
    queryLastChunk: () => fail('queryLastChunk'),
    removeChunks: () => fail('removeChunks'),
    truncateChunks: () => fail('truncateChunks'),
    spaceInfo: () => fail('spaceInfo'),
  }
}

/** Chunks removed per removeChunks call (3FS's batch of 32). */
export const REMOVE_CHUNKS_BATCH = 32
