/**
 * The chunk engine: one storage target's chunks on `ctx.disk` (reference/3fs.md §3.1, §3.3 step 6,
 * §4). A library object, not an actor: the target actor opens one with its context and calls it
 * from its handlers, many operations in flight at once (hand the promises to `ctx.pipeToSelf`).
 *
 * What it guarantees:
 * - Copy-on-write: an update writes the new version into a new block; a commit points the chunk at
 *   it. A crash leaves the old version or the new one, never a mix.
 * - Every read is checked against the CRC32C kept in the index (per checksum segment; the whole
 *   chunk's CRC is their combination): bytes that fail are ERR_CHUNK_CORRUPT, never data.
 * - A commit resolves once it is durable (group commit: many commits share one fsync); reads see a
 *   committed version only from then on. Pending versions become durable with the next commit or
 *   `sync()`; after a crash a pending version is either still pending (whole) or gone.
 * - Operations on one chunk are serialized (a lock per chunk); different chunks proceed in parallel.
 *
 * Version rules (3FS §3.3 step 6), for an update of a chunk whose committed version is c:
 * - head (`updateVersion` absent or 0): the new pending version is c + 1;
 * - a replica given v: v ≤ c → ERR_CHUNK_COMMITTED_UPDATE (already applied: a success for the
 *   caller); v > c + 1 → ERR_CHUNK_MISSING_UPDATE; v = c + 1 → applied, unless the same request
 *   (same tag) is already pending at v → ERR_CHUNK_STALE_UPDATE (nothing to do);
 * - `syncing`: the given version is taken whatever c is;
 * - any update whose `chainVersion` is older than the committed version's → ERR_CHAIN_VERSION_MISMATCH.
 * A new pending version replaces an older pending one (the head re-deciding a failed update).
 * A remove of a chunk this target does not hold accepts any given version.
 */
import type { ActorBuffers } from '../../../runtime/actor-buffers.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { Clock } from '../../../runtime/clock.ts'
import type { Disk, DiskBuffer } from '../../../runtime/disk/disk.ts'
import type { Logger } from '../../../runtime/logger.ts'
import type { ChunkId } from '../chunk-id.ts'
import type { ChunkMeta, UpdateTag } from './chunk-meta.ts'
import { openEngine } from './chunk-engine.ts'

export type { ChunkId } from '../chunk-id.ts'
export type { ChunkMeta, ChunkVersionMeta, UpdateTag } from './chunk-meta.ts'

/** What the engine needs from its actor's context (an ActorContext with a disk and a pool fits). */
export interface ChunkEngineEnv {
  readonly disk: Disk
  readonly buffers: ActorBuffers
  readonly clock: Clock
  /** Fault sites only the simulator turns on (ctx.buggify). */
  buggify(site: string): boolean
  readonly log?: Logger
}

/** Fixed when the engine is created (stored on disk; later opens use the stored values). */
export interface ChunkEngineFormat {
  /** Bytes per checksum segment: a power of two from 4 KiB to 1 MiB, ≥ the disk's alignment. Default 64 KiB. */
  readonly checksumSegmentBytes: number
  /** A group (one fallocate, one punch-hole) spans at most this many bytes and 256 blocks. Default 64 MiB. */
  readonly groupBytesMax: number
  /** Group files per block size (1 to 256). Default 16. */
  readonly filesPerClass: number
}

/** Deliberate bugs for the simulation suites to catch (never set outside tests). */
export type ChunkEngineMutant =
  /** Updates overwrite the committed block in place instead of writing a new one. */
  | 'reuse-block-in-place'
  /** Reads return what the disk gave without checking the CRC32C. */
  | 'skip-crc-check'
  /** A commit becomes visible (and resolves) before its index record is synced. */
  | 'commit-before-sync'
  /** Index records are written without first syncing the blocks they point at. */
  | 'skip-data-sync'

export const chunkEngineMutants: readonly ChunkEngineMutant[] = ['reuse-block-in-place', 'skip-crc-check', 'commit-before-sync', 'skip-data-sync']

export interface ChunkEngineOptions {
  /** The engine's directory on the disk ('' = the disk's root), e.g. 'targets/101'. */
  readonly root: string
  /** Create the engine when `root` holds none. Default false (ERR_CHUNK_ENGINE_NOT_FOUND). */
  readonly create?: boolean
  /** Only at creation; when given for an existing engine it must match (ERR_CHUNK_ENGINE_FORMAT_MISMATCH). */
  readonly format?: Partial<ChunkEngineFormat>
  /** Index records per group commit at most. Default 4096. */
  readonly commitBatchMax?: number
  /** A log segment past this many bytes is folded into a snapshot. Default 64 MiB. */
  readonly logSegmentBytes?: number
  /** Operations waiting for one chunk at most (ERR_CHUNK_BUSY past it). Default 256. */
  readonly lockWaitersMax?: number
  /** How long an operation waits for a pool slot (ERR_POOL_EXHAUSTED after). Default 5000 ms. */
  readonly bufferWaitMs?: number
  readonly mutant?: ChunkEngineMutant
}

export type ChunkUpdateKind = 'write' | 'truncate' | 'extend' | 'remove'

/** An update: it produces a pending version (see the version rules above). */
export interface ChunkUpdate {
  readonly chainId: number
  readonly chunkId: ChunkId
  /**
   * write: `data` at `offset` (a gap before it reads as zeros); truncate: the length becomes
   * `lengthBytes` (cut, or zero-filled when longer); extend: the length becomes at least
   * `lengthBytes` (zero-filled); remove: the chunk goes at commit.
   */
  readonly kind: ChunkUpdateKind
  /** write: where the data goes in the chunk. */
  readonly offset?: number
  /**
   * write: the bytes, one buffer or several read as one (pool slots are written without a copy when
   * aligned). The engine neither keeps nor releases them: they are the caller's again once the
   * update settles.
   */
  readonly data?: DiskBuffer | readonly DiskBuffer[]
  /** write: CRC32C of `data` as the sender computed it; checked before anything is written. */
  readonly checksum?: number
  /** truncate, extend: the new length. */
  readonly lengthBytes?: number
  /** The version the head assigned (replicas); absent or 0 at the head. */
  readonly updateVersion?: number
  /** The chain version the request carries (u32). */
  readonly chainVersion: number
  /** A write from the sync of a returning target: its version is taken as given. */
  readonly syncing?: boolean
  readonly tag: UpdateTag
}

export interface UpdateResult {
  /** The pending version's number (3FS updateVer). */
  readonly version: number
  /** The committed version at the time (3FS commitVer; 0 when none). */
  readonly committedVersion: number
  readonly chainVersion: number
  /** The pending version's chunk length. */
  readonly lengthBytes: number
  /** CRC32C of the pending version's whole chunk (what the successor's must equal). */
  readonly crc32c: number
  /** The update replaced an older pending version. */
  readonly replacedPending: boolean
}

export interface CommitRequest {
  readonly chainId: number
  readonly chunkId: ChunkId
  /** The pending version to commit. */
  readonly version: number
  /** The chain version to record with it (3FS commitChainVer); default the update's. */
  readonly chainVersion?: number
}

export interface CommitResult {
  readonly chainId: number
  readonly chunkId: ChunkId
  readonly version: number
  readonly chainVersion: number
  /** The committed length (0 for a removal). */
  readonly lengthBytes: number
  readonly crc32c: number
  /** The commit removed the chunk. */
  readonly removed: boolean
}

export interface ReadRequest {
  readonly chainId: number
  readonly chunkId: ChunkId
  readonly offset: number
  /** Bytes wanted; fewer come back past the chunk's end. */
  readonly length: number
  /** Read the pending version when there is one (sync forwards it whole). Default false. */
  readonly uncommitted?: boolean
  /** Fail with ERR_CHUNK_VERSION_CHANGED unless the version read is this one (a read in several parts). */
  readonly expectedVersion?: number
}

export interface ReadResult {
  /**
   * A pool slot holding the bytes, now the caller's (release it), or null when no byte was read.
   * The bytes start at `dataOffset`: the engine reads whole checksum segments straight into the
   * slot (O_DIRECT, no copy) and checks them there, so the slot may begin before the range asked for.
   */
  readonly buffer: PooledBuffer | null
  readonly dataOffset: number
  readonly lengthBytes: number
  readonly version: number
  readonly committed: boolean
  readonly chainVersion: number
  /** The whole chunk's length and CRC32C in the version read. */
  readonly chunkLengthBytes: number
  readonly crc32c: number
}

/** Bounds of a range query; `begin` inclusive, `end` exclusive, `after` exclusive (for paging). */
export interface ChunkRange {
  readonly begin?: ChunkId
  readonly end?: ChunkId
  readonly after?: ChunkId
  /** Results at most (default and maximum 1 000 000). */
  readonly limit?: number
}

export interface ChainSpace {
  readonly chainId: number
  /** Chunks with a committed or pending version. */
  readonly chunks: number
  /** Bytes of the blocks the chain's chunks hold (committed and pending). */
  readonly usedBytes: number
}

export interface EngineSpace {
  /** Bytes of blocks in use (the sum over chunks of their blocks, each block counted once). */
  readonly usedBytes: number
  /** Bytes reserved on disk: groups fallocated (used blocks and free ones in partly used groups). */
  readonly reservedBytes: number
  /** What the disk reports. */
  readonly diskTotalBytes: number
  readonly diskFreeBytes: number
  readonly chains: readonly ChainSpace[]
}

export interface ChunkEngineStats {
  readonly commits: number
  /** Group commits (index syncs) done; commits / syncs is the batching achieved. */
  readonly indexSyncs: number
  readonly updates: number
  readonly reads: number
  /** Reads whose bytes failed their checksum once and passed on a second read. */
  readonly readRetries: number
  readonly corruptReads: number
  readonly snapshots: number
  readonly groupsPunched: number
}

export type ChunkEngineState = 'open' | 'failed' | 'closed'

/** Hears of every read of an engine (ChunkEngine.observeReads); called on the engine's thread, never throws. */
export interface ReadObserver {
  /** A read starts; what it returns comes back to readDone. */
  readStarted(): number
  readDone(started: number, lengthBytes: number): void
  /** A read failed (before or after it reached the disk). */
  readFailed(error: unknown): void
}

export interface ChunkEngine {
  readonly root: string
  readonly format: ChunkEngineFormat
  /** 'failed' after a sync or index write failed: updates and commits refused (ERR_CHUNK_ENGINE_FAILED), reads go on. */
  readonly state: ChunkEngineState
  /** Why the engine failed, when it did. */
  readonly failure: Error | null

  /** Writes a pending version (see the version rules). */
  update(update: ChunkUpdate): Promise<UpdateResult>
  /** Makes the pending version `version` the committed one; resolves once durable. */
  commit(request: CommitRequest): Promise<CommitResult>
  /** Many commits sharing syncs; each settles on its own (a result or the error for that one). */
  commitBatch(requests: readonly CommitRequest[]): Promise<Array<CommitResult | Error>>
  /** Reads the committed version (or the pending one on request), checked against its CRC32C. */
  read(request: ReadRequest): Promise<ReadResult>
  /**
   * Optional: tells `observer` of every read as it starts and settles (the metered engine counts
   * reads so, rather than with a promise hop of its own per read). One observer; a second replaces it.
   */
  observeReads?(observer: ReadObserver): void

  /** One chunk's meta, or null when the engine holds nothing for it. */
  getChunk(chainId: number, chunkId: ChunkId): ChunkMeta | null
  /** The chain's chunks in id order (committed and pending), within `range`. All of a chain: no bounds. */
  queryChunks(chainId: number, range?: ChunkRange): ChunkMeta[]
  /** The greatest chunk id in [begin, end) with a committed version (a file's last chunk: fileChunkRange). */
  lastChunk(chainId: number, begin: ChunkId, end: ChunkId): ChunkMeta | null
  /** Chains that hold chunks. */
  chainIds(): number[]

  /** Chunks with a pending version (of one chain, or all). */
  listPending(chainId?: number): ChunkMeta[]
  /** Drops a chunk's pending version; false when it had none. Durable before it resolves. */
  dropPending(chainId: number, chunkId: ChunkId): Promise<boolean>
  /** Commits every pending version of the chain at `chainVersion` (a LASTSRV target returning): how many. */
  commitAllPending(chainId: number, chainVersion: number): Promise<number>
  /** Removes every chunk of the chain here, durably, without versions (a target leaving its chain): how many. */
  removeChain(chainId: number): Promise<number>

  space(): Promise<EngineSpace>
  /** What space() says of the engine's own use, without asking the disk (no system call). */
  usage(): Pick<EngineSpace, 'usedBytes' | 'reservedBytes' | 'chains'>
  stats(): ChunkEngineStats
  /** Makes every pending version written so far durable. */
  sync(): Promise<void>
  /** Waits for operations under way, then closes the files. Further calls: ERR_CHUNK_ENGINE_CLOSED. */
  close(): Promise<void>
}

/**
 * Opens (or with `create`, creates) the engine at `options.root` on `env.disk`: reads the newest
 * snapshot of the chunk index, replays the log after it (a torn tail is cut off), rebuilds the
 * block allocator from the chunks found and punches groups no chunk uses.
 */
export function openChunkEngine(env: ChunkEngineEnv, options: ChunkEngineOptions): Promise<ChunkEngine> {
  return openEngine(env, options)
}
