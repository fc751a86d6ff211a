/**
 * A file's byte ranges as chunk I/O (reference/3fs.md §2.2, §3.3, §3.4): a range splits into
 * pieces, one per chunk (and per I/O buffer), each sent to its chain through the storage client
 * (head for writes, any SERVING replica for reads, retries and failover inside it); all pieces of
 * a range run in parallel, bounded by the client's limiter and its I/O buffers.
 *
 * Reads: a piece up to 64 KiB comes back inline and is copied straight to the caller; a larger
 * one is pushed by the replica into an I/O buffer (one-sided), then copied to the caller, or, when
 * the caller's memory is a region of its own (USRBIO's shared regions), pushed straight into it. A short
 * or missing chunk leaves zeros (a hole); the caller learns the furthest byte any piece returned,
 * to tell a hole from the end of the file.
 */
import { T3fsError, toT3fsError } from '../../runtime/errors.ts'
import type { RoutingInfo } from '../mgmtd/protocol.ts'
import type { Layout } from '../meta/index.ts'
import { piecesOf, type ChunkPiece, type FileLayout } from '../storage/client/layout.ts'
import { inlineReadBytesMax, type ClientBuffer, type StorageClient } from '../storage/client/storage-client.ts'
import type { RegionHandle } from '../../runtime/regions-actor.ts'
import type { IoBuffer, IoBuffers } from './io-buffers.ts'
import type { Limiter } from './limiter.ts'

export interface FileGeometry {
  readonly inodeId: number
  readonly layout: Layout
}

export interface ChunkIoCounters {
  chunkWrites: number
  chunkReads: number
  bytesWritten: number
  /** Of bytesWritten, those sent from where a caller lent them (lent-bytes.ts), uncopied. */
  lentBytesWritten: number
  bytesRead: number
}

export class ChunkIo {
  constructor(
    private readonly storage: StorageClient,
    private readonly buffers: IoBuffers,
    private readonly limiter: Limiter,
    readonly counters: ChunkIoCounters,
  ) {}

  /** Writes the `length` bytes already in `from` (at `fromOffset`) to [position, position + length). */
  async writeFrom(file: FileGeometry, position: number, length: number, from: ClientBuffer, fromOffset: number): Promise<void> {
    const pieces = await this.pieces(file, position, length)
    await settleAll(pieces.map((p) => this.limiter.run(() => this.writePiece(file, p, from, fromOffset + p.bufferOffset))))
  }

  /** Writes caller bytes: each piece is staged in an I/O buffer of its own (one copy), all in parallel. */
  async writeBytes(file: FileGeometry, position: number, data: Uint8Array): Promise<void> {
    const pieces = await this.pieces(file, position, data.length)
    await settleAll(pieces.map(async (p) => {
      const io = await this.buffers.acquire()
      try {
        io.buffer.bytes.set(data.subarray(p.bufferOffset, p.bufferOffset + p.length), 0)
        await this.limiter.run(() => this.writePiece(file, p, io, 0))
      } finally {
        this.buffers.release(io)
      }
    }))
  }

  /**
   * Reads [position, position + length) into `into` at `intoOffset`, zeros where storage has
   * nothing; resolves with the end (relative to `position`) of the furthest bytes storage had.
   */
  async readInto(file: FileGeometry, position: number, length: number, into: Uint8Array, intoOffset: number, region: RegionHandle | null = null): Promise<number> {
    const pieces = await this.pieces(file, position, length)
    const target = region === null || this.storage.dataMode === 'inline' ? null : { buffer: { bytes: into }, region }
    const ends = await settleAll(pieces.map((p) => (target !== null && p.length > inlineReadBytesMax ? this.readPushed(file, p, target, intoOffset + p.bufferOffset) : this.readPiece(file, p, into, intoOffset + p.bufferOffset))))
    return ends.reduce((a, b) => Math.max(a, b), 0)
  }

  /** Reads into an I/O buffer the caller holds (read-ahead); same answer as readInto. */
  async readIntoBuffer(file: FileGeometry, position: number, length: number, io: IoBuffer): Promise<number> {
    const pieces = await this.pieces(file, position, length)
    const ends = await settleAll(pieces.map((p) => this.limiter.run(async () => {
      const r = await this.storageRead(file, p, io, p.bufferOffset)
      if (r < p.length) io.buffer.bytes.fill(0, p.bufferOffset + r, p.bufferOffset + p.length)
      return r === 0 ? 0 : p.bufferOffset + r
    })))
    return ends.reduce((a, b) => Math.max(a, b), 0)
  }

  /** A piece the replica pushes straight into the caller's own registered region (no I/O buffer, no copy). */
  private async readPushed(file: FileGeometry, p: ChunkPiece, target: ClientBuffer, at: number): Promise<number> {
    const n = await this.limiter.run(() => this.storageRead(file, p, target, at))
    if (n < p.length) target.buffer.bytes.fill(0, at + n, at + p.length)
    return n === 0 ? 0 : p.bufferOffset + n
  }

  private async readPiece(file: FileGeometry, p: ChunkPiece, into: Uint8Array, at: number): Promise<number> {
    const direct = p.length <= inlineReadBytesMax || this.storage.dataMode === 'inline'
    const io = direct ? null : await this.buffers.acquire()
    try {
      const n = await this.limiter.run(async () => {
        if (io === null) return this.storageRead(file, p, null, 0, into, at)
        const r = await this.storageRead(file, p, io, 0)
        into.set(io.buffer.bytes.subarray(0, r), at)
        return r
      })
      if (n < p.length) into.fill(0, at + n, at + p.length)
      return n === 0 ? 0 : p.bufferOffset + n
    } finally {
      if (io !== null) this.buffers.release(io)
    }
  }

  /** One storage read; bytes land in `io` at `ioOffset`, or (io null: inline) in `into` at `at`. */
  private async storageRead(file: FileGeometry, p: ChunkPiece, io: ClientBuffer | null, ioOffset: number, into?: Uint8Array, at = 0): Promise<number> {
    try {
      const r = await this.storage.read({ chainId: p.chainId, chunkId: p.chunkId, offset: p.chunkOffset, length: p.length, into: io, intoOffset: ioOffset })
      if (io === null && r.data !== undefined && into !== undefined) into.set(r.data.subarray(0, r.lengthBytes), at)
      this.counters.chunkReads++
      this.counters.bytesRead += r.lengthBytes
      return r.lengthBytes
    } catch (error) {
      throw ioError('read', file, p, error)
    }
  }

  private async writePiece(file: FileGeometry, p: ChunkPiece, from: ClientBuffer, fromOffset: number): Promise<void> {
    try {
      await this.storage.write({ chainId: p.chainId, chunkId: p.chunkId, offset: p.chunkOffset, length: p.length, chunkSizeBytes: file.layout.chunkSizeBytes, from, fromOffset })
      this.counters.chunkWrites++
      this.counters.bytesWritten += p.length
    } catch (error) {
      throw ioError('write', file, p, error)
    }
  }

  /** Pieces per chunk, each at most one I/O buffer long. */
  private async pieces(file: FileGeometry, position: number, length: number): Promise<ChunkPiece[]> {
    if (file.layout.chains.kind === 'empty') throw new T3fsError('EIO', `EIO: inode ${file.inodeId} has no concrete layout (chains "empty")`, { errno: 5, inode: file.inodeId })
    const routing = await this.routing()
    let chunkPieces: ChunkPiece[]
    try {
      chunkPieces = piecesOf(routing, file.layout as FileLayout, BigInt(file.inodeId), position, length)
    } catch (error) {
      const e = toT3fsError(error)
      throw new T3fsError('EIO', `EIO: inode ${file.inodeId}: ${e.message}`, { errno: 5, inode: file.inodeId, cause: e.code })
    }
    const max = this.buffers.sizeBytes
    const out: ChunkPiece[] = []
    for (const p of chunkPieces) {
      for (let done = 0; done < p.length; done += max) {
        const n = Math.min(max, p.length - done)
        out.push({ ...p, chunkOffset: p.chunkOffset + done, bufferOffset: p.bufferOffset + done, length: n })
      }
    }
    return out
  }

  private async routing(): Promise<RoutingInfo> {
    if (this.storage.routing !== null) return this.storage.routing
    try {
      return await this.storage.refreshRouting()
    } catch (error) {
      const e = toT3fsError(error)
      throw new T3fsError('EIO', `EIO: no routing info from mgmtd: ${e.message}`, { errno: 5, cause: e.code })
    }
  }
}

/** Waits for every promise (so no piece is still running when the caller reuses its buffers), then throws the first failure. */
async function settleAll<T>(work: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(work)
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed !== undefined) throw failed.reason
  return results.map((r) => (r as PromiseFulfilledResult<T>).value)
}

function ioError(op: 'read' | 'write', file: FileGeometry, p: ChunkPiece, error: unknown): T3fsError {
  const e = toT3fsError(error)
  if (e.code === 'ERR_CLIENT_CLOSED' || e.code === 'EIO' || e.code === 'ENOSPC') return e
  return new T3fsError('EIO', `EIO: ${op} of inode ${file.inodeId} chunk ${p.chunkIndex} on chain ${p.chainId} failed: ${e.message}`, { errno: 5, inode: file.inodeId, chainId: p.chainId, cause: e.code })
}
