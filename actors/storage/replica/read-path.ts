/**
 * Reads (3FS batchRead, reference/3fs.md §3.4): any UPTODATE SERVING replica answers, from the
 * chunk's committed version — a pending version is never read, so a replica with a write in
 * flight answers with the version before it. The bytes are pushed into the reader's registered
 * buffer (one-sided write, 3FS's RDMA WRITE) or carried back in the answer. Each read is checked
 * against its CRC32C by the chunk engine; a chunk that fails (or EIO) is never returned, and the
 * target reports itself failed so that it rejoins through a sync.
 *
 * Two ways in: the replica's own `batch-read` (answers carry their bytes), and its node's batch
 * reads through the read gate (read-gate.ts: answers point into the replica's pool slots, which
 * the node copies into its one reply buffer and releases).
 */
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { toT3fsError } from '../../../runtime/errors.ts'
import { ChunkEngineErrorCode, isTargetFault, type ChunkId } from '../chunk-engine/index.ts'
import { StorageErrorCode, type ReadIO, type ReadResult } from '../protocol.ts'
import type { LocalRead } from './read-gate.ts'
import { checkServing, type ReplicaCtx, type ReplicaState } from './replica-state.ts'
import { reportFailed } from './report.ts'

/** The replica's `batch-read`: every answer with its bytes in it. */
export async function batchRead(rs: ReplicaState, ctx: ReplicaCtx, ios: readonly ReadIO[]): Promise<ReadResult[]> {
  const reads = await readLocal(rs, ctx, ios)
  return reads.map(({ result, buffer, dataOffset }) => {
    if (buffer === null || !result.ok) return result
    try {
      return { ...result, data: buffer.bytes.slice(dataOffset, dataOffset + result.lengthBytes) }
    } finally {
      buffer.release()
    }
  })
}

/** Reads `ios`; each answer's bytes (unless pushed to a region) stay in a pool slot the caller releases. */
export function readLocal(rs: ReplicaState, ctx: ReplicaCtx, ios: readonly ReadIO[]): Promise<LocalRead[]> {
  return Promise.all(ios.map((io) => readOne(rs, ctx, io).catch((error: unknown): LocalRead => {
    const e = toT3fsError(error)
    if (isTargetFault(e)) reportFailed(rs, ctx, `read of chunk ${io.key.chunkId} failed: ${e.message}`)
    // A life fenced by its crash (its node still holds its read gate) no longer serves: a state the client retries elsewhere.
    const code = e.code === ChunkEngineErrorCode.chunkNotFound ? StorageErrorCode.CHUNK_NOT_FOUND : e.code === 'ERR_ACTOR_FENCED' ? StorageErrorCode.TARGET_STATE : e.code
    return { result: { ok: false, code, message: e.message }, buffer: null, dataOffset: 0 }
  })))
}

async function readOne(rs: ReplicaState, ctx: ReplicaCtx, io: ReadIO): Promise<LocalRead> {
  checkServing(rs, io.key.chainId, io.key.chainVersion, ctx.clock.now())
  const r = await rs.engine.read({ chainId: io.key.chainId, chunkId: io.key.chunkId as ChunkId, offset: io.offset, length: io.length })
  const result: ReadResult = { ok: true, lengthBytes: r.lengthBytes, commitVersion: r.version, chunkChecksum: r.crc32c }
  if (r.buffer === null || r.lengthBytes === 0) {
    r.buffer?.release()
    return { result, buffer: null, dataOffset: 0 }
  }
  if (io.into.kind !== 'region') return { result, buffer: r.buffer, dataOffset: r.dataOffset }
  try {
    await ctx.regions!.write(io.into.region, io.into.offset, r.buffer, r.lengthBytes, r.dataOffset)
    return { result, buffer: null, dataOffset: 0 }
  } finally {
    (r.buffer as PooledBuffer).release()
  }
}
