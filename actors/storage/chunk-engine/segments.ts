/**
 * Checksum segments: a chunk's bytes are cut into segments of 2^shift bytes, each with its own
 * CRC32C in the index, so a read checks exactly the segments it touches (a 4 KiB read of a 64 MiB
 * chunk does not read 64 MiB), and the whole chunk's CRC32C (what replicas compare) is their
 * combination.
 */
import { crc32c, crc32cCombine } from '../../../runtime/checksum.ts'

/** [start, end) of segment `index` of a chunk of `lengthBytes`. */
export function segmentBounds(index: number, shift: number, lengthBytes: number): { readonly start: number; readonly end: number } {
  const start = index * 2 ** shift
  return { start, end: Math.min(start + 2 ** shift, lengthBytes) }
}

/**
 * Checks segments [first, last] against `crcs`; `bytes[0]` is the chunk's byte `bytesStart`.
 * Returns the first segment that fails, or −1.
 */
export function firstBadSegment(bytes: Uint8Array, bytesStart: number, crcs: Uint32Array, shift: number, lengthBytes: number, first: number, last: number): number {
  for (let s = first; s <= last; s++) {
    const { start, end } = segmentBounds(s, shift, lengthBytes)
    if (crc32c(bytes.subarray(start - bytesStart, end - bytesStart)) !== crcs[s]) return s
  }
  return -1
}

/** The whole chunk's CRC32C from its segments' CRCs. */
export function combineSegments(crcs: Uint32Array, shift: number, lengthBytes: number): number {
  let crc = 0
  for (let s = 0; s < crcs.length; s++) {
    const { start, end } = segmentBounds(s, shift, lengthBytes)
    crc = s === 0 ? crcs[0] : crc32cCombine(crc, crcs[s], end - start)
  }
  return crc
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment
}
