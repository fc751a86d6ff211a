/**
 * Reads (3FS batchRead, reference/3fs.md §3.4): any UPTODATE SERVING replica answers, from the
 * chunk's committed version — a pending version is never read, so a replica with a write in
 * flight answers with the version before it. The bytes are pushed into the reader's registered
 * buffer (one-sided write, 3FS's RDMA WRITE) or carried back in the answer. Each read is checked
 * against its CRC32C by the chunk engine; a chunk that fails (or EIO) is never returned, and the
 * target reports itself failed so that it rejoins through a sync.
 */
import { toT3fsError } from '../../../runtime/errors.ts'
import { ChunkEngineErrorCode, isTargetFault, type ChunkId } from '../chunk-engine/index.ts'
import { StorageErrorCode, type ReadIO, type ReadResult } from '../protocol.ts'
import { checkServing, type ReplicaCtx, type ReplicaState } from './replica-state.ts'
import { reportFailed } from './report.ts'

export async function batchRead(rs: ReplicaState, ctx: ReplicaCtx, ios: readonly ReadIO[]): Promise<ReadResult[]> {
  return Promise.all(ios.map((io) => readOne(rs, ctx, io).catch((error: unknown): ReadResult => {
    const e = toT3fsError(error)
    if (isTargetFault(e)) reportFailed(rs, ctx, `read of chunk ${io.key.chunkId} failed: ${e.message}`)
    const code = e.code === ChunkEngineErrorCode.chunkNotFound ? StorageErrorCode.CHUNK_NOT_FOUND : e.code
    return { ok: false, code, message: e.message }
  })))
}

async function readOne(rs: ReplicaState, ctx: ReplicaCtx, io: ReadIO): Promise<ReadResult> {
  checkServing(rs, io.key.chainId, io.key.chainVersion, ctx.clock.now())
  const r = await rs.engine.read({ chainId: io.key.chainId, chunkId: io.key.chunkId as ChunkId, offset: io.offset, length: io.length })
  try {
    const base = { ok: true as const, lengthBytes: r.lengthBytes, commitVersion: r.version, chunkChecksum: r.crc32c }
    if (r.buffer === null || r.lengthBytes === 0) return base
    if (io.into.kind === 'region') {
      await ctx.regions!.write(io.into.region, io.into.offset, r.buffer, r.lengthBytes, r.dataOffset)
      return base
    }
    return { ...base, data: r.buffer.bytes.slice(r.dataOffset, r.dataOffset + r.lengthBytes) }
  } finally {
    r.buffer?.release()
  }
}
