/**
 * Writing a new version, copy-on-write: the whole new content goes into a freshly allocated block
 * (sized for the new length), never into the block of the committed version, so until the commit
 * record is durable the old version is intact on disk, and after it the new one is whole.
 *
 * The new content = the base version's bytes (checked against their CRC32C as they are read, so a
 * corrupt byte is never laundered into a new checksum) with the update's data laid over them, a gap
 * before the data and the tail past the new length reading as zeros. It is written in pieces of at
 * most one pool slot, a few in flight; a piece made only of the update's data in a pool slot at an
 * aligned offset is written straight from that slot (no copy).
 */
import type { ActorBuffers } from '../../../runtime/actor-buffers.ts'
import type { DiskBuffer } from '../../../runtime/disk/disk.ts'
import { crc32cCombine, crc32cSegments } from '../../../runtime/checksum.ts'
import type { BlockAllocator } from './block-allocator.ts'
import type { BlockRefs } from './block-refs.ts'
import type { ByteSource } from './byte-source.ts'
import { corrupt, withChunk, type Where } from './chunk-reader.ts'
import type { ChunkEngineMutant } from './engine.ts'
import { piecesInFlightMax, readRetriesMax } from './limits.ts'
import { alignUp, firstBadSegment } from './segments.ts'
import { blockClass, classBytes, classFor, noBlock, segmentCount, type StoredVersion } from './stored-version.ts'

export interface WriterEnv {
  readonly allocator: BlockAllocator
  readonly refs: BlockRefs
  readonly buffers: ActorBuffers
  readonly bufferWaitMs: number
  readonly alignment: number
  readonly segmentShift: number
  /** Bytes per piece: a multiple of the segment size, at most one pool slot. */
  readonly pieceBytes: number
  readonly verify: boolean
  readonly mutant: ChunkEngineMutant | undefined
  buggify(site: string): boolean
}

export interface WritePlan {
  readonly where: Where
  readonly base: StoredVersion | null
  readonly newLength: number
  /** Where the data goes (ignored when `data` is empty). */
  readonly dataOffset: number
  readonly data: ByteSource
}

/** Where the new content went: a block held for the caller (refs.hold), its segment CRCs and the chunk's CRC. */
export interface WrittenContent {
  readonly block: number
  readonly segmentShift: number
  readonly segmentCrcs: Uint32Array
  readonly crc32c: number
}

export async function writeContent(env: WriterEnv, plan: WritePlan): Promise<WrittenContent> {
  const shift = env.segmentShift
  if (plan.newLength === 0) return { block: noBlock, segmentShift: shift, segmentCrcs: new Uint32Array(0), crc32c: 0 }
  const block = await takeBlock(env, plan)
  try {
    const segmentCrcs = new Uint32Array(segmentCount(plan.newLength, shift))
    const pieceBytes = env.buggify('chunk-engine:small-pieces') ? 2 ** shift : env.pieceBytes
    const pieces = Math.ceil(plan.newLength / pieceBytes)
    // Each piece's CRC32C (its segments' combined): the chunk's is theirs combined, in order.
    const pieceCrcs = new Uint32Array(pieces)
    let next = 0
    let failure: { error: unknown } | null = null
    const lane = async (): Promise<void> => {
      while (next < pieces && failure === null) {
        try {
          const piece = next++
          pieceCrcs[piece] = await writePiece(env, plan, block, piece * pieceBytes, pieceBytes, segmentCrcs)
        } catch (error) {
          failure ??= { error }
        }
      }
    }
    // Every lane is waited for, failed or not: the block goes back only once no write to it is under way.
    await Promise.all(Array.from({ length: Math.min(piecesInFlightMax, pieces) }, lane))
    if (failure !== null) throw (failure as { error: unknown }).error
    let crc = pieceCrcs[0]
    for (let p = 1; p < pieces; p++) crc = crc32cCombine(crc, pieceCrcs[p], Math.min(pieceBytes, plan.newLength - p * pieceBytes))
    return { block, segmentShift: shift, segmentCrcs, crc32c: crc }
  } catch (error) {
    env.refs.drop(block)
    throw withChunk(error, plan.where)
  }
}

/** A new block for the new length, held for the writer (the mutant reuses the committed one when it fits). */
async function takeBlock(env: WriterEnv, plan: WritePlan): Promise<number> {
  const base = plan.base
  if (env.mutant === 'reuse-block-in-place' && base !== null && base.block !== noBlock && classBytes(blockClass(base.block)) >= plan.newLength) {
    env.refs.hold(base.block, plan.where.chainId)
    return base.block
  }
  const block = await env.allocator.allocate(classFor(plan.newLength))
  env.refs.hold(block, plan.where.chainId)
  return block
}

/** Piece [a, a + pieceBytes) of the new content: composed (or taken from the data as is) and written; its CRC32C. */
async function writePiece(env: WriterEnv, plan: WritePlan, block: number, a: number, pieceBytes: number, crcs: Uint32Array): Promise<number> {
  const contentEnd = Math.min(a + pieceBytes, plan.newLength)
  const b = alignUp(contentEnd, env.alignment)
  const { file, position } = await env.allocator.locate(block)
  const dataStart = plan.dataOffset
  const dataEnd = dataStart + plan.data.length
  if (plan.data.length > 0 && dataStart <= a && b <= dataEnd) {
    const direct = plan.data.directSlice(a - dataStart, b - a, env.alignment)
    if (direct !== null) {
      const crc = pieceOfWholeData(plan, a, contentEnd, env.segmentShift, crcs) ?? segmentCrcsOf(plan.data.view(a - dataStart, contentEnd - a)!, a, env.segmentShift, crcs)
      await file.write(direct.buffer, position + a, b - a, direct.bufferOffset)
      env.allocator.markDirty(file)
      return crc
    }
  }
  const baseLength = plan.base?.lengthBytes ?? 0
  const readEnd = Math.min(a + pieceBytes, alignUp(baseLength, env.alignment))
  const scratch = await env.buffers.allocate(Math.max(b, readEnd) - a, { timeoutMs: env.bufferWaitMs })
  try {
    const bytes = scratch.bytes
    const keptEnd = Math.min(contentEnd, baseLength)
    const oldSurvives = a < keptEnd && !(plan.data.length > 0 && dataStart <= a && keptEnd <= dataEnd)
    const zeroFrom = oldSurvives ? keptEnd : a
    if (oldSurvives) await readBase(env, plan, a, readEnd, scratch)
    bytes.fill(0, zeroFrom - a, b - a)
    const copyStart = Math.max(a, dataStart)
    const copyEnd = Math.min(contentEnd, dataEnd)
    if (copyStart < copyEnd) plan.data.copyTo(bytes, copyStart - a, copyStart - dataStart, copyEnd - copyStart)
    const crc = segmentCrcsOf(bytes.subarray(0, contentEnd - a), a, env.segmentShift, crcs)
    await file.write(scratch, position + a, b - a)
    env.allocator.markDirty(file)
    return crc
  } finally {
    scratch.release()
  }
}

/** Reads the base version's [a, readEnd) into `into` and checks every base segment in it. */
async function readBase(env: WriterEnv, plan: WritePlan, a: number, readEnd: number, into: DiskBuffer): Promise<void> {
  const base = plan.base!
  const { file, position } = await env.allocator.locate(base.block)
  const bytes = into instanceof Uint8Array ? into : into.bytes
  const checkedEnd = Math.min(readEnd, base.lengthBytes)
  const segmentBytes = 2 ** base.segmentShift
  const first = Math.floor(a / segmentBytes)
  const last = Math.ceil(checkedEnd / segmentBytes) - 1
  for (let attempt = 0; ; attempt++) {
    const got = await file.read(into, position + a, readEnd - a)
    const bad = got < checkedEnd - a ? first : env.verify ? firstBadSegment(bytes, a, base.segmentCrcs, base.segmentShift, base.lengthBytes, first, last) : -1
    if (bad < 0) return
    if (attempt >= readRetriesMax) throw corrupt(plan.where, base, bad, 'its CRC32C does not match while copying it into a new version')
  }
}

/**
 * A piece that is the whole of the data, starting on a segment boundary: its segments' CRCs are the
 * data's, computed when its checksum was checked (no second pass over the bytes). Null otherwise.
 */
function pieceOfWholeData(plan: WritePlan, a: number, contentEnd: number, shift: number, crcs: Uint32Array): number | null {
  const segments = plan.data.wholeSegmentCrcs()
  if (segments === null || a !== plan.dataOffset || contentEnd - a !== plan.data.length || a % 2 ** shift !== 0) return null
  if (segments.length !== Math.ceil(plan.data.length / 2 ** shift)) return null
  crcs.set(segments, a / 2 ** shift)
  return plan.data.crc32c()
}

/**
 * CRC32C of each segment of `bytes` (the new content from chunk byte `start`, a segment boundary;
 * it ends at a segment boundary or at the new length) into `crcs`; the CRC32C of all of `bytes`.
 */
function segmentCrcsOf(bytes: Uint8Array, start: number, shift: number, crcs: Uint32Array): number {
  return crc32cSegments(bytes, 2 ** shift, crcs, start / 2 ** shift)
}
