/**
 * Reads (3FS batchRead, reference/3fs.md §3.4): any UPTODATE SERVING replica answers, from the
 * chunk's committed version — a pending version is never read, so a replica with a write in
 * flight answers with the version before it. The bytes are pushed into the reader's registered
 * buffer (one-sided write, 3FS's RDMA WRITE) or carried back in the answer. Each read is checked
 * against its CRC32C by the chunk engine; a chunk that fails (or EIO) is never returned, and the
 * target reports itself failed so that it rejoins through a sync.
 *
 * Two ways in: the replica's own `batch-read` (answers carry their bytes), and its node's batch
 * reads through the read gate (read-gate.ts: the bytes are copied into the node's reply buffer).
 */
import { toT3fsError } from '../../../runtime/errors.ts'
import { ChunkEngineErrorCode, isTargetFault, type ChunkId, type ReadResult as EngineRead } from '../chunk-engine/index.ts'
import { StorageErrorCode, type ReadIO, type ReadResult } from '../protocol.ts'
import type { ReadInto } from './read-gate.ts'
import { checkServing, type ReplicaCtx, type ReplicaState } from './replica-state.ts'
import { reportFailed } from './report.ts'

/** The replica's `batch-read` (every answer with its bytes in it), or the node's through the gate (`into`). */
export function batchRead(rs: ReplicaState, ctx: ReplicaCtx, ios: readonly ReadIO[], into?: ReadInto): Promise<ReadResult[]> {
  return Promise.all(ios.map((io, i) => readOne(rs, ctx, io, into, i).catch((error: unknown): ReadResult => {
    const e = toT3fsError(error)
    if (isTargetFault(e)) reportFailed(rs, ctx, `read of chunk ${io.key.chunkId} failed: ${e.message}`)
    // A life fenced by its crash (its node still holds its read gate) no longer serves: a state the client retries elsewhere.
    const code = e.code === ChunkEngineErrorCode.chunkNotFound ? StorageErrorCode.CHUNK_NOT_FOUND : e.code === 'ERR_ACTOR_FENCED' ? StorageErrorCode.TARGET_STATE : e.code
    return { ok: false, code, message: e.message }
  })))
}

async function readOne(rs: ReplicaState, ctx: ReplicaCtx, io: ReadIO, into: ReadInto | undefined, index: number): Promise<ReadResult> {
  checkServing(rs, io.key.chainId, io.key.chainVersion, ctx.clock.now())
  const r = await rs.engine.read({ chainId: io.key.chainId, chunkId: io.key.chunkId as ChunkId, offset: io.offset, length: io.length })
  try {
    const base = { ok: true as const, lengthBytes: r.lengthBytes, commitVersion: r.version, chunkChecksum: r.crc32c }
    if (r.buffer === null || r.lengthBytes === 0) return base
    if (io.into.kind === 'region') {
      await ctx.regions!.write(io.into.region, io.into.offset, r.buffer, r.lengthBytes, r.dataOffset)
      return base
    }
    if (into === undefined) return { ...base, data: r.buffer.bytes.slice(r.dataOffset, r.dataOffset + r.lengthBytes) }
    return { ...base, at: copyInto(r, into, index, io.length) }
  } finally {
    r.buffer?.release()
  }
}

/** Copies a read's bytes to their place in the node's buffer (never past the room it left for them). */
function copyInto(r: EngineRead, into: ReadInto, index: number, roomBytes: number): number {
  const at = into.at[index]
  if (r.lengthBytes > roomBytes || at + r.lengthBytes > into.bytes.length) throw new Error(`read ${index}: ${r.lengthBytes} bytes do not fit the ${roomBytes} left for it at ${at}`)
  into.bytes.set(r.buffer!.bytes.subarray(r.dataOffset, r.dataOffset + r.lengthBytes), at)
  return at
}
