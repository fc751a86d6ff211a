/**
 * CRC32C for components (chunk checksums in storage, payload checks in the client): the native
 * addon's hardware implementation, reached through the runtime so that actors/ never imports
 * native/ (see ARCHITECTURE.md: actors → runtime → native). Pure functions: the simulator uses
 * them as production does.
 */
import { crc32c as nativeCrc32c, crc32cCombine as nativeCombine, crc32cSegments as nativeSegments } from '../native/index.ts'

/** CRC32C of `data`, continuing from `initial` (a finished CRC; 0 to start). */
export function crc32c(data: ArrayBufferView, initial = 0): number {
  return nativeCrc32c(data, initial)
}

/** CRC32C of A‖B from crc(A), crc(B) and the length of B in bytes. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return nativeCombine(crcA, crcB, lengthB)
}

/**
 * CRC32C of each `segmentBytes` piece of `data` (the last may be shorter) into `out` from
 * `outIndex`; returns the CRC32C of all of `data`. One native call for all the segments.
 */
export function crc32cSegments(data: ArrayBufferView, segmentBytes: number, out: Uint32Array, outIndex = 0): number {
  return nativeSegments(data, segmentBytes, out, outIndex)
}
