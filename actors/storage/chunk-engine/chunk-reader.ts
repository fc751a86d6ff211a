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

/**
 * What the caller makes of a read, called exactly once: `ok` with the checked bytes, or `failed`
 * (which throws). The read answers through it from its own reaction on the disk's, rather than
 * through a promise of its own that the caller chains (each hop was a measurable part of a 4 KiB
 * read).
 */
export interface ReadFinish<T> {
  ok(got: VersionRead): T
  failed(error: unknown): never
}

/**
 * Reads [offset, offset + length) of version `v`. The common case — a free slot, the group file
 * open, the bytes good at the first try — is one disk read and one reaction; anything else goes
 * through readSlow.
 */
export function readVersion<T>(env: ReaderEnv, where: Where, v: StoredVersion, offset: number, length: number, finish: ReadFinish<T>): Promise<T> {
  const end = Math.min(offset + length, v.lengthBytes)
  // Nothing to read: answered outside the try below, so that `ok` and `failed` are never both called.
  if (offset >= end) return Promise.resolve().then(() => finish.ok({ buffer: null, dataOffset: 0, lengthBytes: 0 }))
  let buffer: PooledBuffer | null = null
  try {
    const segmentBytes = 1 << v.segmentShift // shift ≤ 30 (record-codec.ts); `2 **` a variable calls pow, once per read
    const first = Math.floor(offset / segmentBytes)
    const last = Math.ceil(end / segmentBytes) - 1
    const readStart = first * segmentBytes
    const contentEnd = Math.min((last + 1) * segmentBytes, v.lengthBytes)
    const ioBytes = alignUp(contentEnd, env.alignment) - readStart
    if (ioBytes > env.buffers.largestBytes) {
      throw invalidOption('length', length, `at most what one pool slot holds with the checksum segments around it: ${env.buffers.largestBytes - 2 * segmentBytes} bytes (read larger ranges in parts, with expectedVersion)`)
    }
    const span: Span = { offset, end, first, last, readStart, contentEnd, ioBytes }
    buffer = env.buffers.tryAllocate(ioBytes)
    const at = buffer === null ? null : env.allocator.locateNow(v.block)
    if (buffer === null || at === null) {
      const taken = buffer
      buffer = null // readSlow owns it now
      return readSlow(env, where, v, span, taken, 0).then((got) => finish.ok(got), (error: unknown) => finish.failed(error))
    }
    const slot = buffer
    return at.file.read(slot, at.position + readStart, ioBytes).then(
      (got) => {
        const bad = checked(env, slot, v, span, got)
        if (bad < 0) return finish.ok({ buffer: slot, dataOffset: offset - readStart, lengthBytes: end - offset })
        return readSlow(env, where, v, span, slot, 1, { segment: bad, short: got < contentEnd - readStart, got }).then((again) => finish.ok(again), (error: unknown) => finish.failed(error))
      },
      (error: unknown) => {
        slot.release()
        return finish.failed(withChunk(error, where))
      },
    )
  } catch (error) {
    buffer?.release()
    try {
      finish.failed(buffer === null ? error : withChunk(error, where))
    } catch (failed) {
      return Promise.reject(failed)
    }
  }
}

/** The range a read covers: the asked bytes [offset, end), in checksum segments [first, last], read as [readStart, readStart + ioBytes). */
interface Span {
  readonly offset: number
  readonly end: number
  readonly first: number
  readonly last: number
  readonly readStart: number
  readonly contentEnd: number
  readonly ioBytes: number
}

/** The first bad segment of what a read brought (a short read fails its first), or −1. */
function checked(env: ReaderEnv, buffer: PooledBuffer, v: StoredVersion, span: Span, got: number): number {
  if (got < span.contentEnd - span.readStart) return span.first
  return env.verify ? firstBadSegment(buffer.bytes, span.readStart, v.segmentCrcs, v.segmentShift, v.lengthBytes, span.first, span.last) : -1
}

/**
 * The read when the fast path could not finish it: waits for a slot (`buffer` null) or the group
 * file, and reads once more what failed its check (`failedBefore`: the attempt before this one).
 */
async function readSlow(env: ReaderEnv, where: Where, v: StoredVersion, span: Span, taken: PooledBuffer | null, firstAttempt: number,
  failedBefore?: { segment: number; short: boolean; got: number }): Promise<VersionRead> {
  const buffer = taken ?? await env.buffers.allocate(span.ioBytes, { timeoutMs: env.bufferWaitMs })
  try {
    if (failedBefore !== undefined) {
      if (firstAttempt > readRetriesMax) throw failedRead(env, where, v, span, failedBefore.segment, failedBefore.short, failedBefore.got)
      env.onRetry()
    }
    const { file, position } = env.allocator.locateNow(v.block) ?? await env.allocator.locate(v.block)
    for (let attempt = firstAttempt; ; attempt++) {
      const got = await file.read(buffer, position + span.readStart, span.ioBytes)
      const bad = checked(env, buffer, v, span, got)
      if (bad < 0) return { buffer, dataOffset: span.offset - span.readStart, lengthBytes: span.end - span.offset }
      if (attempt >= readRetriesMax) throw failedRead(env, where, v, span, bad, got < span.contentEnd - span.readStart, got)
      env.onRetry()
    }
  } catch (error) {
    buffer.release()
    throw withChunk(error, where)
  }
}

function failedRead(env: ReaderEnv, where: Where, v: StoredVersion, span: Span, segment: number, short: boolean, got: number): T3fsError {
  env.onCorrupt()
  return corrupt(where, v, segment, short ? `the block read short (${got} of ${span.contentEnd - span.readStart} bytes)` : 'its CRC32C does not match')
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
