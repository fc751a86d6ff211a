/**
 * A chunk version as the engine stores it: the public meta plus where its bytes are (a block) and
 * the CRC32C of each checksum segment (the whole chunk's CRC is their combination). Immutable once
 * made: a new version is a new object, so a reader holding one sees a consistent whole.
 */
import type { ChunkId } from '../chunk-id.ts'
import type { ChunkMeta, ChunkVersionMeta, UpdateTag } from './chunk-meta.ts'
import { blockBytesMin, sizeClassCount } from './limits.ts'

export interface StoredVersion {
  readonly version: number
  readonly chainVersion: number
  readonly lengthBytes: number
  readonly crc32c: number
  readonly removed: boolean
  readonly lastRequest: UpdateTag
  /** The block (see blockKey), or noBlock for an empty chunk or a removal. */
  readonly block: number
  /** log2 of the checksum segment size this version was written with. */
  readonly segmentShift: number
  /** CRC32C of each segment: segment i covers [i << shift, min((i + 1) << shift, lengthBytes)). */
  readonly segmentCrcs: Uint32Array
}

/** One chunk's state in memory. */
export interface ChunkState {
  readonly chainId: number
  readonly chunkId: ChunkId
  /** What reads see; always durable (a commit is applied once its record is synced). */
  committed: StoredVersion | null
  /** The pending version in memory (its record may not be written yet). */
  pending: StoredVersion | null
  /** The pending version as the durable index knows it (what a crash now would bring back). */
  loggedPending: StoredVersion | null
}

export const noBlock = -1
/** Blocks per group ≤ 256 (index < 2^8), groups < 2^32, 11 classes: a block key is a safe integer. */
const indexBits = 2 ** 8
const groupSpan = 2 ** 32 * indexBits

/** A block's number: (size class, group, index in group) packed into one safe integer. */
export function blockKey(classIndex: number, group: number, index: number): number {
  return classIndex * groupSpan + group * indexBits + index
}

export function blockClass(key: number): number {
  return Math.floor(key / groupSpan)
}

export function blockGroup(key: number): number {
  return Math.floor((key % groupSpan) / indexBits)
}

export function blockIndex(key: number): number {
  return key % indexBits
}

export function classBytes(classIndex: number): number {
  return blockBytesMin * 2 ** classIndex
}

/** The smallest size class whose blocks hold `lengthBytes` (−1 for an empty chunk). */
export function classFor(lengthBytes: number): number {
  if (lengthBytes === 0) return -1
  for (let c = 0; c < sizeClassCount; c++) if (classBytes(c) >= lengthBytes) return c
  throw new RangeError(`no block class holds ${lengthBytes} bytes`)
}

export function segmentCount(lengthBytes: number, segmentShift: number): number {
  return Math.ceil(lengthBytes / 2 ** segmentShift)
}

export function versionMeta(v: StoredVersion): ChunkVersionMeta {
  return {
    version: v.version, chainVersion: v.chainVersion, lengthBytes: v.lengthBytes, crc32c: v.crc32c, removed: v.removed,
    lastRequest: v.lastRequest, blockBytes: v.block === noBlock ? 0 : classBytes(blockClass(v.block)),
  }
}

export function chunkMeta(state: ChunkState): ChunkMeta {
  return {
    chainId: state.chainId, chunkId: state.chunkId,
    committed: state.committed === null ? null : versionMeta(state.committed),
    pending: state.pending === null ? null : versionMeta(state.pending),
  }
}
