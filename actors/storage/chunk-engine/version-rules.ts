/**
 * Which version an update gets, or which coded error refuses it (reference/3fs.md §3.3 step 6; the
 * rules are restated in engine.ts). Pure: the engine calls it under the chunk's lock.
 */
import { formatChunkId } from '../chunk-id.ts'
import type { ChunkUpdate } from './engine.ts'
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'
import type { ChunkState, StoredVersion } from './stored-version.ts'

/** The version the update's pending version gets. */
export function decideVersion(state: Pick<ChunkState, 'committed' | 'pending'> | null, update: ChunkUpdate): number {
  const committed = state?.committed ?? null
  const pending = state?.pending ?? null
  const where = { chainId: update.chainId, chunkId: update.chunkId }
  if (committed !== null && update.chainVersion < committed.chainVersion) {
    throw chunkEngineError(ChunkEngineErrorCode.chainVersionMismatch,
      `chunk ${formatChunkId(update.chunkId)} of chain ${update.chainId}: the update's chain version ${update.chainVersion} is older than the committed version's ${committed.chainVersion}`,
      { ...where, requestChainVersion: update.chainVersion, chunkChainVersion: committed.chainVersion })
  }
  const c = committed?.version ?? 0
  const given = update.updateVersion ?? 0
  if (update.syncing === true) return given
  if (given === 0) return c + 1
  if (update.kind === 'remove' && committed === null) return given
  if (given <= c) {
    throw chunkEngineError(ChunkEngineErrorCode.committedUpdate,
      `chunk ${formatChunkId(update.chunkId)} of chain ${update.chainId}: update version ${given} is already committed (committed version ${c})`,
      { ...where, updateVersion: given, ...committedDetails(committed!) })
  }
  if (given > c + 1) {
    throw chunkEngineError(ChunkEngineErrorCode.missingUpdate,
      `chunk ${formatChunkId(update.chunkId)} of chain ${update.chainId}: update version ${given} skips versions after the committed ${c}`,
      { ...where, updateVersion: given, committedVersion: c })
  }
  if (pending !== null && pending.version === given && sameTag(pending, update)) {
    throw chunkEngineError(ChunkEngineErrorCode.staleUpdate,
      `chunk ${formatChunkId(update.chunkId)} of chain ${update.chainId}: request ${update.tag.requestId} of ${update.tag.clientId} is already pending at version ${given}`,
      { ...where, pendingVersion: given, crc32c: pending.crc32c, lengthBytes: pending.lengthBytes, removed: pending.removed })
  }
  return given
}

function sameTag(version: StoredVersion, update: ChunkUpdate): boolean {
  return version.lastRequest.clientId === update.tag.clientId && version.lastRequest.requestId === update.tag.requestId
}

function committedDetails(committed: StoredVersion): Record<string, unknown> {
  return { committedVersion: committed.version, chainVersion: committed.chainVersion, crc32c: committed.crc32c, lengthBytes: committed.lengthBytes }
}
