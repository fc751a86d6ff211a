/**
 * The chunk index's records, as the log and the snapshots store them. Each record is framed as
 *
 *   [body length u32][CRC32C of the body u32][body]
 *
 * so that replay can tell a whole record from a torn or decayed one. Little-endian throughout.
 * Bodies: a type byte, then for chunk records the chain (u32) and the chunk id (16 bytes), then for
 * version records (commit, pending) the version itself (see encodeVersion).
 */
import { crc32c } from '../../../runtime/checksum.ts'
import { chunkIdBytes, readChunkIdBytes, writeChunkIdBytes, type ChunkId } from '../chunk-id.ts'
import { recordBytesMax } from './limits.ts'
import { blockClass, blockGroup, blockIndex, blockKey, noBlock, segmentCount, type StoredVersion } from './stored-version.ts'

export type IndexRecord =
  /** The chunk's committed version is now this one (and it has no pending version). */
  | { readonly type: 'commit'; readonly chainId: number; readonly chunkId: ChunkId; readonly version: StoredVersion }
  /** The chunk's pending version is now this one. */
  | { readonly type: 'pending'; readonly chainId: number; readonly chunkId: ChunkId; readonly version: StoredVersion }
  /** The chunk is gone (committed removal; pending dropped too). */
  | { readonly type: 'remove'; readonly chainId: number; readonly chunkId: ChunkId }
  /** The chunk's pending version is dropped. */
  | { readonly type: 'drop'; readonly chainId: number; readonly chunkId: ChunkId }
  /** First record of a snapshot: it holds the state after every log segment ≤ coversSeq. */
  | { readonly type: 'snapshot-begin'; readonly coversSeq: number }
  /** Last record of a snapshot: how many chunk records came before it. */
  | { readonly type: 'snapshot-end'; readonly records: number }

const typeCode = { commit: 1, pending: 2, remove: 3, drop: 4, 'snapshot-begin': 5, 'snapshot-end': 6 } as const
const typeOf = ['', 'commit', 'pending', 'remove', 'drop', 'snapshot-begin', 'snapshot-end'] as const
export const frameBytes = 8
const chunkHeadBytes = 1 + 4 + chunkIdBytes
/** version, chainVersion, length, crc, flags, class, group, index, shift, requestId, clientId length. */
const versionFixedBytes = 4 + 4 + 4 + 4 + 1 + 1 + 4 + 1 + 1 + 8 + 1
const noClass = 255
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/** Bytes the record takes, frame included. */
export function encodedSize(record: IndexRecord): number {
  switch (record.type) {
    case 'commit':
    case 'pending': {
      const v = record.version
      return frameBytes + chunkHeadBytes + versionFixedBytes + utf8.encode(v.lastRequest.clientId).length + 4 * v.segmentCrcs.length
    }
    case 'remove':
    case 'drop': return frameBytes + chunkHeadBytes
    case 'snapshot-begin':
    case 'snapshot-end': return frameBytes + 1 + 8
  }
}

/** Writes the framed record at `offset` of `out` (which has room: encodedSize); returns the end. */
export function encodeRecord(record: IndexRecord, out: Uint8Array, offset: number): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  let at = offset + frameBytes
  out[at++] = typeCode[record.type]
  if (record.type === 'snapshot-begin' || record.type === 'snapshot-end') {
    view.setFloat64(at, record.type === 'snapshot-begin' ? record.coversSeq : record.records, true)
    at += 8
  } else {
    view.setUint32(at, record.chainId, true)
    writeChunkIdBytes(record.chunkId, out, at + 4)
    at += 4 + chunkIdBytes
    if (record.type === 'commit' || record.type === 'pending') at = encodeVersion(record.version, out, view, at)
  }
  const bodyLength = at - offset - frameBytes
  if (bodyLength > recordBytesMax) throw new RangeError(`an index record of ${bodyLength} bytes exceeds ${recordBytesMax}`)
  view.setUint32(offset, bodyLength, true)
  view.setUint32(offset + 4, crc32c(out.subarray(offset + frameBytes, at)), true)
  return at
}

function encodeVersion(v: StoredVersion, out: Uint8Array, view: DataView, start: number): number {
  let at = start
  view.setUint32(at, v.version, true)
  view.setUint32(at + 4, v.chainVersion, true)
  view.setUint32(at + 8, v.lengthBytes, true)
  view.setUint32(at + 12, v.crc32c, true)
  out[at + 16] = v.removed ? 1 : 0
  out[at + 17] = v.block === noBlock ? noClass : blockClass(v.block)
  view.setUint32(at + 18, v.block === noBlock ? 0 : blockGroup(v.block), true)
  out[at + 22] = v.block === noBlock ? 0 : blockIndex(v.block)
  out[at + 23] = v.segmentShift
  view.setFloat64(at + 24, v.lastRequest.requestId, true)
  const client = utf8.encode(v.lastRequest.clientId)
  out[at + 32] = client.length
  out.set(client, at + 33)
  at += versionFixedBytes + client.length
  for (const crc of v.segmentCrcs) {
    view.setUint32(at, crc, true)
    at += 4
  }
  return at
}

export type DecodeResult =
  | { readonly kind: 'record'; readonly record: IndexRecord; readonly next: number }
  /** No byte left: a clean end. */
  | { readonly kind: 'end' }
  /** A record cut short or failing its CRC: a torn tail (or damage). */
  | { readonly kind: 'bad'; readonly reason: string }

/** The record at `offset` of `bytes`. */
export function decodeRecord(bytes: Uint8Array, offset: number): DecodeResult {
  if (offset === bytes.length) return { kind: 'end' }
  if (offset + frameBytes > bytes.length) return { kind: 'bad', reason: 'a frame cut short' }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const bodyLength = view.getUint32(offset, true)
  if (bodyLength < 1 || bodyLength > recordBytesMax) return { kind: 'bad', reason: `a body length of ${bodyLength}` }
  const start = offset + frameBytes
  const end = start + bodyLength
  if (end > bytes.length) return { kind: 'bad', reason: 'a body cut short' }
  if (crc32c(bytes.subarray(start, end)) !== view.getUint32(offset + 4, true)) return { kind: 'bad', reason: 'a CRC32C mismatch' }
  const record = decodeBody(bytes, view, start, end)
  return record === null ? { kind: 'bad', reason: 'a malformed body' } : { kind: 'record', record, next: end }
}

function decodeBody(bytes: Uint8Array, view: DataView, start: number, end: number): IndexRecord | null {
  const type = typeOf[bytes[start]]
  if (type === undefined || type === '') return null
  if (type === 'snapshot-begin' || type === 'snapshot-end') {
    if (end - start !== 9) return null
    const value = view.getFloat64(start + 1, true)
    return type === 'snapshot-begin' ? { type, coversSeq: value } : { type, records: value }
  }
  if (end - start < chunkHeadBytes) return null
  const chainId = view.getUint32(start + 1, true)
  const chunkId = readChunkIdBytes(bytes, start + 5)
  if (type === 'remove' || type === 'drop') return end - start === chunkHeadBytes ? { type, chainId, chunkId } : null
  const version = decodeVersion(bytes, view, start + chunkHeadBytes, end)
  return version === null ? null : { type, chainId, chunkId, version }
}

function decodeVersion(bytes: Uint8Array, view: DataView, at: number, end: number): StoredVersion | null {
  if (end - at < versionFixedBytes) return null
  const lengthBytes = view.getUint32(at + 8, true)
  const classIndex = bytes[at + 17]
  const segmentShift = bytes[at + 23]
  const clientLength = bytes[at + 32]
  const segments = segmentCount(lengthBytes, segmentShift)
  if (segmentShift > 30 || end - at !== versionFixedBytes + clientLength + 4 * segments) return null
  const crcsAt = at + versionFixedBytes + clientLength
  const segmentCrcs = new Uint32Array(segments)
  for (let i = 0; i < segments; i++) segmentCrcs[i] = view.getUint32(crcsAt + 4 * i, true)
  return {
    version: view.getUint32(at, true),
    chainVersion: view.getUint32(at + 4, true),
    lengthBytes,
    crc32c: view.getUint32(at + 12, true),
    removed: bytes[at + 16] === 1,
    block: classIndex === noClass ? noBlock : blockKey(classIndex, view.getUint32(at + 18, true), bytes[at + 22]),
    segmentShift,
    lastRequest: { clientId: fromUtf8.decode(bytes.subarray(at + 33, at + 33 + clientLength)), requestId: view.getFloat64(at + 24, true) },
    segmentCrcs,
  }
}
