/**
 * Checksum segments: a chunk's bytes are cut into segments of 2^shift bytes, each with its own
 * CRC32C in the index, so a read checks exactly the segments it touches (a 4 KiB read of a 64 MiB
 * chunk does not read 64 MiB), and the whole chunk's CRC32C (what replicas compare) is their
 * combination.
 */
import { crc32cSegments } from '../../../runtime/checksum.ts'

/** Reused by firstBadSegment (one thread runs one check at a time): grows to the most segments checked at once. */
let scratch = new Uint32Array(256)

/**
 * Checks segments [first, last] against `crcs`; `bytes[0]` is the chunk's byte `bytesStart` (a
 * segment boundary). Returns the first segment that fails, or −1. One native call for them all.
 */
export function firstBadSegment(bytes: Uint8Array, bytesStart: number, crcs: Uint32Array, shift: number, lengthBytes: number, first: number, last: number): number {
  // Once per read: the bounds inline (no object per segment) and the segment size as a shift
  // (shift ≤ 30, checked where versions are decoded; `2 **` with a variable is a call to pow).
  const segmentBytes = 1 << shift
  const from = first * segmentBytes
  const to = Math.min((last + 1) * segmentBytes, lengthBytes)
  const count = last - first + 1
  if (scratch.length < count) scratch = new Uint32Array(count)
  // The common 4 KiB read checks its whole slot: no view of it made per read.
  const whole = from === bytesStart && to - bytesStart === bytes.length
  crc32cSegments(whole ? bytes : bytes.subarray(from - bytesStart, to - bytesStart), segmentBytes, scratch, 0)
  for (let i = 0; i < count; i++) if (scratch[i] !== crcs[first + i]) return first + i
  return -1
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment
}
