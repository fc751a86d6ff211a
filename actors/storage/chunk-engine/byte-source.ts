/**
 * An update's data: one or several buffers read as one run of bytes. The writer asks it for a
 * range either as a pool slot it can hand to the disk as is (no copy: O_DIRECT straight from the
 * slot) or copied into a scratch buffer.
 *
 * Its CRC32C is computed once, segment by segment when it is one buffer: the writer then takes the
 * segments' CRCs of a piece made of the whole data as they are, instead of a second pass.
 */
import { crc32c, crc32cCombine, crc32cSegments } from '../../../runtime/checksum.ts'
import { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { DiskBuffer } from '../../../runtime/disk/disk.ts'

interface Piece {
  readonly start: number
  readonly bytes: Uint8Array
  readonly pooled: PooledBuffer | null
}

export class ByteSource {
  private readonly pieces: Piece[] = []
  readonly length: number
  private crc: number | null = null
  /** Per-segment CRC32Cs of the data (one buffer only), once crc32c() ran. */
  private segments: Uint32Array | null = null

  /** `segmentBytes`: the checksum segment size the writer will need CRCs for. */
  constructor(buffers: readonly DiskBuffer[], private readonly segmentBytes = 0) {
    let start = 0
    for (const buffer of buffers) {
      const bytes = buffer instanceof PooledBuffer ? buffer.bytes : buffer
      if (bytes.length === 0) continue
      this.pieces.push({ start, bytes, pooled: buffer instanceof PooledBuffer ? buffer : null })
      start += bytes.length
    }
    this.length = start
  }

  /** CRC32C of all the bytes (computed once). */
  crc32c(): number {
    if (this.crc !== null) return this.crc
    if (this.pieces.length === 1 && this.segmentBytes > 0) {
      const bytes = this.pieces[0].bytes
      this.segments = new Uint32Array(Math.ceil(bytes.length / this.segmentBytes))
      return (this.crc = crc32cSegments(bytes, this.segmentBytes, this.segments, 0))
    }
    let crc = 0
    for (const piece of this.pieces) crc = piece.start === 0 ? crc32c(piece.bytes) : crc32cCombine(crc, crc32c(piece.bytes), piece.bytes.length)
    return (this.crc = crc)
  }

  /** The segments' CRC32Cs of all the data, when crc32c() kept them (one buffer); else null. */
  wholeSegmentCrcs(): Uint32Array | null {
    return this.segments
  }

  /** Copies [from, from + length) of the source into `target` at `targetOffset`. */
  copyTo(target: Uint8Array, targetOffset: number, from: number, length: number): void {
    let at = from
    const end = from + length
    for (const piece of this.pieces) {
      const pieceEnd = piece.start + piece.bytes.length
      if (pieceEnd <= at) continue
      if (piece.start >= end) break
      const take = Math.min(end, pieceEnd) - at
      target.set(piece.bytes.subarray(at - piece.start, at - piece.start + take), targetOffset + (at - from))
      at += take
    }
  }

  /** The view of [from, from + length) when it lies in one piece. */
  view(from: number, length: number): Uint8Array | null {
    const piece = this.pieceAt(from)
    if (piece === null || from + length > piece.start + piece.bytes.length) return null
    return piece.bytes.subarray(from - piece.start, from - piece.start + length)
  }

  /** The pool slot holding [from, from + length) at an aligned offset, for a write without a copy. */
  directSlice(from: number, length: number, alignment: number): { readonly buffer: PooledBuffer; readonly bufferOffset: number } | null {
    const piece = this.pieceAt(from)
    if (piece === null || piece.pooled === null || from + length > piece.start + piece.bytes.length) return null
    const bufferOffset = from - piece.start
    return bufferOffset % alignment === 0 && length % alignment === 0 ? { buffer: piece.pooled, bufferOffset } : null
  }

  private pieceAt(at: number): Piece | null {
    for (const piece of this.pieces) if (at >= piece.start && at < piece.start + piece.bytes.length) return piece
    return null
  }
}
