/**
 * Reads of one version: the checksum segments that cover the range go from the disk straight into
 * one pool slot (O_DIRECT, aligned by construction: blocks and segments start on multiples of the
 * alignment), are checked there against their CRC32C, and the slot goes to the caller with the
 * offset where the asked bytes start. Bytes that fail are read once more (a bit flipped on the way
 * is not a bad disk); failing again they are ERR_CHUNK_CORRUPT, and the slot is released unread.
 */
import type { ActorBuffers } from '../../../runtime/actor-buffers.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { invalidOption, T3fsError } from '../../../runtime/errors.ts'
import { formatChunkId, type ChunkId } from '../chunk-id.ts'
import type { BlockAllocator } from './block-allocator.ts'
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'
import { readRetriesMax } from './limits.ts'
import { alignUp, firstBadSegment } from './segments.ts'
import type { StoredVersion } from './stored-version.ts'

export interface ReaderEnv {
  readonly allocator: BlockAllocator
  readonly buffers: ActorBuffers
  readonly bufferWaitMs: number
  readonly alignment: number
  /** False only under the mutant 'skip-crc-check'. */
  readonly verify: boolean
  onRetry(): void
  onCorrupt(): void
}

export interface Where {
  readonly chainId: number
  readonly chunkId: ChunkId
}

export interface VersionRead {
  readonly buffer: PooledBuffer | null
  readonly dataOffset: number
  readonly lengthBytes: number
}

export async function readVersion(env: ReaderEnv, where: Where, v: StoredVersion, offset: number, length: number): Promise<VersionRead> {
  const end = Math.min(offset + length, v.lengthBytes)
  if (offset >= end) return { buffer: null, dataOffset: 0, lengthBytes: 0 }
  const segmentBytes = 1 << v.segmentShift // shift ≤ 30 (record-codec.ts); `2 **` a variable calls pow, once per read
  const first = Math.floor(offset / segmentBytes)
  const last = Math.ceil(end / segmentBytes) - 1
  const readStart = first * segmentBytes
  const contentEnd = Math.min((last + 1) * segmentBytes, v.lengthBytes)
  const ioBytes = alignUp(contentEnd, env.alignment) - readStart
  if (ioBytes > env.buffers.largestBytes) {
    throw invalidOption('length', length, `at most what one pool slot holds with the checksum segments around it: ${env.buffers.largestBytes - 2 * segmentBytes} bytes (read larger ranges in parts, with expectedVersion)`)
  }
  // The common case waits only for the disk: a free slot and an open group file are taken at once.
  const buffer = env.buffers.tryAllocate(ioBytes) ?? await env.buffers.allocate(ioBytes, { timeoutMs: env.bufferWaitMs })
  try {
    const { file, position } = env.allocator.locateNow(v.block) ?? await env.allocator.locate(v.block)
    for (let attempt = 0; ; attempt++) {
      const got = await file.read(buffer, position + readStart, ioBytes)
      const bad = got < contentEnd - readStart ? first
        : env.verify ? firstBadSegment(buffer.bytes, readStart, v.segmentCrcs, v.segmentShift, v.lengthBytes, first, last) : -1
      if (bad < 0) return { buffer, dataOffset: offset - readStart, lengthBytes: end - offset }
      if (attempt >= readRetriesMax) {
        env.onCorrupt()
        throw corrupt(where, v, bad, got < contentEnd - readStart ? `the block read short (${got} of ${contentEnd - readStart} bytes)` : 'its CRC32C does not match')
      }
      env.onRetry()
    }
  } catch (error) {
    buffer.release()
    throw withChunk(error, where)
  }
}

export function corrupt(where: Where, v: StoredVersion, segment: number, why: string): T3fsError {
  return chunkEngineError(ChunkEngineErrorCode.chunkCorrupt,
    `chunk ${formatChunkId(where.chunkId)} of chain ${where.chainId}, version ${v.version}: segment ${segment} is corrupt (${why}); this target should report itself bad`,
    { ...where, version: v.version, segment, errno: 'EIO' })
}

/** A disk error with the chunk it happened to added to its details (the code stays: EIO is EIO). */
export function withChunk(error: unknown, where: Where): unknown {
  if (!(error instanceof T3fsError) || 'chunkId' in error.details) return error
  return new T3fsError(error.code, `${error.message} (chunk ${formatChunkId(where.chunkId)} of chain ${where.chainId})`, { ...error.details, ...where }, { cause: error })
}
