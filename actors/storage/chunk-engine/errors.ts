/**
 * The chunk engine's coded errors (T3fsError codes, stable: the chain replica and the client branch
 * on them). Bad arguments are ERR_INVALID_OPTION (runtime's invalidOption, naming the field, the
 * value and what is accepted) or ERR_INVALID_CHUNK_ID; disk errors keep their errno code ('EIO',
 * 'ENOSPC', …) with the chain and chunk added to their details where the engine knows them.
 */
import { T3fsError, type ErrorDetails } from '../../../runtime/errors.ts'

export const ChunkEngineErrorCode = {
  /** The chunk has no version a read may see (never written, removed, or only pending without `uncommitted`). */
  chunkNotFound: 'ERR_CHUNK_NOT_FOUND',
  /** Update version ≤ the committed version: this update was already applied and committed here (3FS kChunkCommittedUpdate: a success for the caller). Details: committedVersion, chainVersion, crc32c, lengthBytes. */
  committedUpdate: 'ERR_CHUNK_COMMITTED_UPDATE',
  /** The same request (same tag) is already the pending version at this version: nothing written (3FS kChunkStaleUpdate). Details: pendingVersion, crc32c, lengthBytes. */
  staleUpdate: 'ERR_CHUNK_STALE_UPDATE',
  /** Update version > committed + 1: an update in between is missing here (3FS kChunkMissingUpdate). */
  missingUpdate: 'ERR_CHUNK_MISSING_UPDATE',
  /** The update's chain version is older than the chunk's committed chain version (3FS kChainVersionMismatch): a stale replica or request. */
  chainVersionMismatch: 'ERR_CHAIN_VERSION_MISMATCH',
  /** CRC32C of the update's data differs from the checksum it came with (3FS kChecksumMismatch): nothing written. */
  checksumMismatch: 'ERR_CHECKSUM_MISMATCH',
  /** A commit found no pending version to commit at that version. */
  noPending: 'ERR_CHUNK_NO_PENDING',
  /** A commit of a version older than or equal to the committed one (3FS kChunkStaleCommit: a success for the caller). */
  staleCommit: 'ERR_CHUNK_STALE_COMMIT',
  /**
   * The stored bytes fail their CRC32C (a torn or decayed sector, a flipped bit): an EIO that the
   * engine never turns into data. The replica should report itself bad (isTargetFault).
   */
  chunkCorrupt: 'ERR_CHUNK_CORRUPT',
  /** A read asked for `expectedVersion` and the chunk is at another version now. */
  versionChanged: 'ERR_CHUNK_VERSION_CHANGED',
  /** An update would make the chunk longer than `chunkBytesMax` (64 MiB). */
  chunkTooLarge: 'ERR_CHUNK_TOO_LARGE',
  /** Too many operations already wait for this chunk (`lockWaitersMax`): back off and retry. */
  chunkBusy: 'ERR_CHUNK_BUSY',
  /**
   * A sync (fsync) or an index write failed: what it should have made durable may be lost, so the
   * engine refuses every further update and commit until it is reopened (reads still work and are
   * still checked). The replica should report itself bad (isTargetFault).
   */
  engineFailed: 'ERR_CHUNK_ENGINE_FAILED',
  /** The engine was closed. */
  engineClosed: 'ERR_CHUNK_ENGINE_CLOSED',
  /** The chunk index on disk is damaged beyond a torn tail (a snapshot or a sealed log segment fails its checksums). */
  indexCorrupt: 'ERR_CHUNK_INDEX_CORRUPT',
  /** No engine at `root` and `create` was not set. */
  engineNotFound: 'ERR_CHUNK_ENGINE_NOT_FOUND',
  /** The engine at `root` was formatted with other `format` values than the ones given. */
  formatMismatch: 'ERR_CHUNK_ENGINE_FORMAT_MISMATCH',
} as const

export type ChunkEngineErrorCode = (typeof ChunkEngineErrorCode)[keyof typeof ChunkEngineErrorCode]

export function chunkEngineError(code: ChunkEngineErrorCode, message: string, details: ErrorDetails = {}, cause?: unknown): T3fsError {
  return new T3fsError(code, message, details, cause === undefined ? undefined : { cause })
}

/**
 * Whether an error means this target's disk or engine can no longer be trusted (corrupt bytes,
 * EIO, a failed sync): the chain replica then reports the target bad instead of retrying.
 */
export function isTargetFault(error: unknown): boolean {
  if (!(error instanceof T3fsError)) return false
  return error.code === ChunkEngineErrorCode.chunkCorrupt || error.code === ChunkEngineErrorCode.engineFailed ||
    error.code === ChunkEngineErrorCode.indexCorrupt || error.code === 'EIO'
}
