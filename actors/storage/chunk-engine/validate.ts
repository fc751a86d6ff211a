/**
 * Checks of everything that enters the engine: each bad field is ERR_INVALID_OPTION naming the
 * field, the value and what is accepted (ERR_INVALID_CHUNK_ID for ids, ERR_CHUNK_TOO_LARGE for an
 * update that would outgrow a chunk). Nothing is written before these pass.
 */
import { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { DiskBuffer } from '../../../runtime/disk/disk.ts'
import { invalidOption } from '../../../runtime/errors.ts'
import { checkChunkId, formatChunkId } from '../chunk-id.ts'
import type { ChunkRange, ChunkUpdate, CommitRequest, ReadRequest } from './engine.ts'
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'
import { chunkBytesMax, clientIdBytesMax, queryLimitMax, u32Max } from './limits.ts'

/** Buffers of one update's data at most. */
export const dataPiecesMax = 1024
const kinds = ['write', 'truncate', 'extend', 'remove'] as const

export function checkU32(name: string, value: unknown): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > u32Max) throw invalidOption(name, value, `an integer from 0 to ${u32Max}`)
  return value as number
}

function checkLength(name: string, value: unknown, max = chunkBytesMax): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max) throw invalidOption(name, value, `an integer from 0 to ${max}`)
  return value as number
}

/** The update's data as a list of byte views (empty for a kind without data). */
export function checkUpdate(update: ChunkUpdate): readonly DiskBuffer[] {
  if (update === null || typeof update !== 'object') throw invalidOption('update', update, 'an object { chainId, chunkId, kind, chainVersion, tag, ... }')
  checkU32('chainId', update.chainId)
  checkChunkId(update.chunkId)
  if (!kinds.includes(update.kind)) throw invalidOption('kind', update.kind, kinds.map((k) => `'${k}'`).join(', '))
  checkU32('chainVersion', update.chainVersion)
  if (update.updateVersion !== undefined) checkU32('updateVersion', update.updateVersion)
  if (update.syncing !== undefined && typeof update.syncing !== 'boolean') throw invalidOption('syncing', update.syncing, 'true or false')
  if (update.syncing === true && !((update.updateVersion ?? 0) >= 1)) throw invalidOption('updateVersion', update.updateVersion, 'an integer from 1 (a syncing write carries the version of the copy it mirrors)')
  checkTag(update.tag)
  if (update.kind === 'truncate' || update.kind === 'extend') checkLength('lengthBytes', update.lengthBytes)
  if (update.kind !== 'write') return []
  const offset = checkLength('offset', update.offset)
  const data = dataPieces(update.data)
  checkU32('checksum', update.checksum)
  const length = data.reduce((sum, piece) => sum + pieceBytes(piece), 0)
  if (offset + length > chunkBytesMax) {
    throw chunkEngineError(ChunkEngineErrorCode.chunkTooLarge, `a write of ${length} bytes at offset ${offset} to chunk ${formatChunkId(update.chunkId)} would end past ${chunkBytesMax} bytes (the largest chunk)`, {
      chainId: update.chainId, chunkId: update.chunkId, offset, length, chunkBytesMax,
    })
  }
  return data
}

function checkTag(tag: unknown): void {
  if (tag === null || typeof tag !== 'object') throw invalidOption('tag', tag, 'an object { clientId, requestId }')
  const { clientId, requestId } = tag as { clientId: unknown; requestId: unknown }
  if (typeof clientId !== 'string' || Buffer.byteLength(clientId) > clientIdBytesMax) throw invalidOption('tag.clientId', clientId, `a string of at most ${clientIdBytesMax} bytes of UTF-8`)
  if (!Number.isSafeInteger(requestId) || (requestId as number) < 0) throw invalidOption('tag.requestId', requestId, `an integer from 0 to ${Number.MAX_SAFE_INTEGER}`)
}

function dataPieces(data: unknown): readonly DiskBuffer[] {
  const pieces = Array.isArray(data) ? data : [data]
  if (pieces.length > dataPiecesMax) throw invalidOption('data', `${pieces.length} buffers`, `at most ${dataPiecesMax} buffers`)
  for (const piece of pieces) {
    if (!(piece instanceof PooledBuffer) && !(piece instanceof Uint8Array)) throw invalidOption('data', piece, 'a PooledBuffer, a Uint8Array, or an array of them')
  }
  return pieces as DiskBuffer[]
}

export function pieceBytes(piece: DiskBuffer): number {
  return piece instanceof PooledBuffer ? piece.length : piece.byteLength
}

export function checkCommit(request: CommitRequest): void {
  if (request === null || typeof request !== 'object') throw invalidOption('commit', request, 'an object { chainId, chunkId, version, chainVersion? }')
  checkU32('chainId', request.chainId)
  checkChunkId(request.chunkId)
  checkU32('version', request.version)
  if (request.chainVersion !== undefined) checkU32('chainVersion', request.chainVersion)
}

export function checkRead(request: ReadRequest): void {
  if (request === null || typeof request !== 'object') throw invalidOption('read', request, 'an object { chainId, chunkId, offset, length, uncommitted?, expectedVersion? }')
  checkU32('chainId', request.chainId)
  checkChunkId(request.chunkId)
  checkLength('offset', request.offset)
  checkLength('length', request.length)
  if (request.uncommitted !== undefined && typeof request.uncommitted !== 'boolean') throw invalidOption('uncommitted', request.uncommitted, 'true or false')
  if (request.expectedVersion !== undefined) checkU32('expectedVersion', request.expectedVersion)
}

export function checkRange(range: ChunkRange | undefined): number {
  if (range === undefined) return queryLimitMax
  if (range === null || typeof range !== 'object') throw invalidOption('range', range, 'an object { begin?, end?, after?, limit? }')
  if (range.begin !== undefined) checkChunkId(range.begin, 'range.begin')
  if (range.end !== undefined) checkChunkId(range.end, 'range.end')
  if (range.after !== undefined) checkChunkId(range.after, 'range.after')
  if (range.limit === undefined) return queryLimitMax
  if (!Number.isInteger(range.limit) || range.limit < 1 || range.limit > queryLimitMax) throw invalidOption('range.limit', range.limit, `an integer from 1 to ${queryLimitMax}`)
  return range.limit
}
