/**
 * A batch-read to a node's service, packed (protocol.ts StorageNodeMsg 'batch-read'): one 24-byte
 * record per read and the reads' chunk ids in one string, instead of an object per read (with a
 * key object and a DataRef in it) that the client encoded key by key and the node decoded and
 * validated field by field, for every 4 KiB read.
 *
 *   record i (little-endian u32s): targetId, chainId, chainVersion, offset, length, region
 *   region = 0xffffffff: the bytes come back in the answer; else an index into `regions`, where
 *            the replica pushes them (reads larger than the client's inline bound)
 *   chunkIds: the reads' chunk ids (32 hex digits each), one after another
 */
import type { RegionHandle } from '../../runtime/regions-actor.ts'
import type { ChunkId } from './chunk-id.ts'
import { StorageErrorCode, type ReadIO, type StorageNodeMsg } from './protocol.ts'
import { T3fsError } from '../../runtime/errors.ts'

export const batchReadRecordBytes = 24
/** Reads one batch may carry (the replica's own batch-read accepts as many). */
export const batchReadsMax = 4096
const chunkIdChars = 32
const inAnswer = 0xffffffff
const u32Max = 0xffffffff

export type BatchReadMsg = Extract<StorageNodeMsg, { type: 'batch-read' }>

/** The message for reads `ios` of targets `targetIds`; ids, versions, offsets and lengths must be below 2^32 (every storage id is). */
export function packBatchRead(targetIds: readonly number[], ios: readonly ReadIO[], slotReplyBytesMax?: number): BatchReadMsg {
  if (targetIds.length !== ios.length || ios.length > batchReadsMax) throw new T3fsError(StorageErrorCode.BAD_REQUEST, `a batch-read of ${ios.length} reads with ${targetIds.length} target ids; accepted: one target id per read, at most ${batchReadsMax} reads`, {})
  const reads = new Uint8Array(ios.length * batchReadRecordBytes)
  const view = new DataView(reads.buffer)
  const regions: { region: RegionHandle; offset: number }[] = []
  let chunkIds = ''
  for (let i = 0; i < ios.length; i++) {
    const io = ios[i]
    if (!(targetIds[i] <= u32Max && io.key.chainId <= u32Max && io.key.chainVersion <= u32Max && io.offset <= u32Max && io.length <= u32Max)) {
      throw new T3fsError(StorageErrorCode.BAD_REQUEST, `read ${i} of a batch (target ${targetIds[i]}, chain ${io.key.chainId} v${io.key.chainVersion}, ${io.length} bytes at ${io.offset}) has a number of 2^32 or more; accepted: ids, versions, offsets and lengths below 2^32`, {})
    }
    const o = i * batchReadRecordBytes
    view.setUint32(o, targetIds[i], true)
    view.setUint32(o + 4, io.key.chainId, true)
    view.setUint32(o + 8, io.key.chainVersion, true)
    view.setUint32(o + 12, io.offset, true)
    view.setUint32(o + 16, io.length, true)
    if (io.into.kind === 'region') {
      view.setUint32(o + 20, regions.length, true)
      regions.push({ region: io.into.region, offset: io.into.offset })
    } else {
      view.setUint32(o + 20, inAnswer, true)
    }
    chunkIds += io.key.chunkId
  }
  return { type: 'batch-read', reads, chunkIds, regions, ...(slotReplyBytesMax === undefined ? {} : { slotReplyBytesMax }) }
}

/** Why a packed batch-read is malformed (naming the field and what is accepted), or null. */
export function checkBatchRead(msg: { reads?: unknown; chunkIds?: unknown; regions?: unknown }): string | null {
  const { reads, chunkIds, regions } = msg
  if (!(reads instanceof Uint8Array) || reads.length % batchReadRecordBytes !== 0 || reads.length / batchReadRecordBytes > batchReadsMax) {
    return `batch-read.reads is not accepted; accepted: ${batchReadRecordBytes} bytes per read, at most ${batchReadsMax} reads`
  }
  const count = reads.length / batchReadRecordBytes
  if (typeof chunkIds !== 'string' || chunkIds.length !== count * chunkIdChars || !/^[0-9a-f]*$/.test(chunkIds)) {
    return `batch-read.chunkIds is not accepted; accepted: ${count} chunk ids of 32 lowercase hex digits, one after another`
  }
  if (!Array.isArray(regions) || regions.length > count || !regions.every(isRegionRef)) {
    return 'batch-read.regions is not accepted; accepted: an array of { region: { node, incarnation, regionId, length }, offset }, at most one per read'
  }
  const view = new DataView(reads.buffer, reads.byteOffset, reads.byteLength)
  for (let i = 0; i < count; i++) {
    const region = view.getUint32(i * batchReadRecordBytes + 20, true)
    if (region !== inAnswer && region >= regions.length) return `batch-read.reads: read ${i} names region ${region}; accepted: one of the ${regions.length} regions, or 0xffffffff`
  }
  return null
}

/** The reads of a packed batch-read (checked by checkBatchRead where it entered). */
export function unpackBatchRead(msg: BatchReadMsg): { targetIds: number[]; ios: ReadIO[] } {
  const count = msg.reads.length / batchReadRecordBytes
  const view = new DataView(msg.reads.buffer, msg.reads.byteOffset, msg.reads.byteLength)
  const targetIds = new Array<number>(count)
  const ios = new Array<ReadIO>(count)
  for (let i = 0; i < count; i++) {
    const o = i * batchReadRecordBytes
    targetIds[i] = view.getUint32(o, true)
    const region = view.getUint32(o + 20, true)
    const into = region === inAnswer ? none : { kind: 'region' as const, region: msg.regions[region].region, offset: msg.regions[region].offset }
    const chunkId = msg.chunkIds.slice(i * chunkIdChars, (i + 1) * chunkIdChars) as ChunkId
    ios[i] = { key: { chainId: view.getUint32(o + 4, true), chainVersion: view.getUint32(o + 8, true), chunkId }, offset: view.getUint32(o + 12, true), length: view.getUint32(o + 16, true), into }
  }
  return { targetIds, ios }
}

const none = { kind: 'none' } as const

function isRegionRef(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false
  const { region, offset } = v as { region?: unknown; offset?: unknown }
  const isId = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
  return isId(offset) && typeof region === 'object' && region !== null && ['node', 'incarnation', 'regionId', 'length'].every((k) => isId((region as Record<string, unknown>)[k]))
}
