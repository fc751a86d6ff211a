/**
 * 3FS chunk ids (reference/3fs.md §2.1): 16 bytes, big-endian so that they sort,
 *
 *   [tenant u8 = 0][reserved u8 = 0][inodeId u64][track u16 = 0][chunkIndex u32]
 *
 * All chunks of one file lie in [ChunkId(inode, track 0, index 0), ChunkId(inode, track 1, index 0)),
 * so a file's chunks are one contiguous range and its last chunk is the greatest id in it.
 *
 * Here a chunk id is the 32 lowercase hex digits of those bytes, as a branded string: it is a Map
 * key as is, it crosses the router as a plain string, and two ids compare with `<` exactly as their
 * bytes do (every id has the same width). Storage treats it as opaque; meta and the client build it
 * from (inode, index).
 */
import { T3fsError } from '../../runtime/errors.ts'

export type ChunkId = string & { readonly __brand: 'ChunkId' }

export const chunkIdBytes = 16
export const inodeIdMax = (1n << 64n) - 1n
export const chunkIndexMax = 0xffff_ffff
export const trackMax = 0xffff

export interface ChunkIdParts {
  readonly tenant: number
  readonly inodeId: bigint
  readonly track: number
  readonly chunkIndex: number
}

const hexId = /^[0-9a-f]{32}$/

/** The id of chunk `chunkIndex` of inode `inodeId` (tenant and track 0 unless given). */
export function makeChunkId(inodeId: bigint, chunkIndex: number, options: { readonly track?: number; readonly tenant?: number } = {}): ChunkId {
  const track = options.track ?? 0
  const tenant = options.tenant ?? 0
  if (typeof inodeId !== 'bigint' || inodeId < 0n || inodeId > inodeIdMax) throw badPart('inodeId', inodeId, `a bigint from 0 to ${inodeIdMax}`)
  if (!Number.isInteger(chunkIndex) || chunkIndex < 0 || chunkIndex > chunkIndexMax) throw badPart('chunkIndex', chunkIndex, `an integer from 0 to ${chunkIndexMax}`)
  if (!Number.isInteger(track) || track < 0 || track > trackMax) throw badPart('track', track, `an integer from 0 to ${trackMax}`)
  if (!Number.isInteger(tenant) || tenant < 0 || tenant > 0xff) throw badPart('tenant', tenant, 'an integer from 0 to 255')
  return (hex(tenant, 2) + '00' + inodeId.toString(16).padStart(16, '0') + hex(track, 4) + hex(chunkIndex, 8)) as ChunkId
}

/** The parts of a chunk id. */
export function chunkIdParts(id: ChunkId): ChunkIdParts {
  return {
    tenant: parseInt(id.slice(0, 2), 16),
    inodeId: BigInt(`0x${id.slice(4, 20)}`),
    track: parseInt(id.slice(20, 24), 16),
    chunkIndex: parseInt(id.slice(24, 32), 16),
  }
}

/** [begin, end): every chunk id of inode `inodeId` (track 0), as 3FS bounds a file's chunks. */
export function fileChunkRange(inodeId: bigint): { readonly begin: ChunkId; readonly end: ChunkId } {
  return { begin: makeChunkId(inodeId, 0), end: makeChunkId(inodeId, 0, { track: 1 }) }
}

/** Whether `value` is a chunk id (32 lowercase hex digits). */
export function isChunkId(value: unknown): value is ChunkId {
  return typeof value === 'string' && hexId.test(value)
}

/**
 * A chunk id from text: 32 hex digits, any case, with or without the dashes of 3FS's display form
 * (`XXXXXXXX-XXXXXXXX-XXXXXXXX-XXXXXXXX`). ERR_INVALID_CHUNK_ID names the field and what is accepted.
 */
export function parseChunkId(text: unknown, field = 'chunkId'): ChunkId {
  const normalized = typeof text === 'string' ? text.replaceAll('-', '').toLowerCase() : ''
  if (!hexId.test(normalized)) {
    throw new T3fsError('ERR_INVALID_CHUNK_ID', `${field} is ${JSON.stringify(text)}; accepted: ${chunkIdAccepted}`, { field, value: String(text), accepted: chunkIdAccepted })
  }
  return normalized as ChunkId
}

/** Checks that `value` is already a chunk id (no normalization): what validators at a boundary call. */
export function checkChunkId(value: unknown, field = 'chunkId'): ChunkId {
  if (isChunkId(value)) return value
  throw new T3fsError('ERR_INVALID_CHUNK_ID', `${field} is ${JSON.stringify(value)}; accepted: ${chunkIdAccepted}`, { field, value: String(value), accepted: chunkIdAccepted })
}

export const chunkIdAccepted = '32 lowercase hex digits (16 bytes: tenant, reserved, inode u64, track u16, chunk index u32, big-endian), e.g. from makeChunkId'

/** 3FS's display form: four dash-separated groups of 8 hex digits. */
export function formatChunkId(id: ChunkId): string {
  return `${id.slice(0, 8)}-${id.slice(8, 16)}-${id.slice(16, 24)}-${id.slice(24, 32)}`
}

/** The 16 bytes of a chunk id, written into `into` at `offset`. */
export function writeChunkIdBytes(id: ChunkId, into: Uint8Array, offset: number): void {
  for (let i = 0; i < chunkIdBytes; i++) into[offset + i] = parseInt(id.slice(i * 2, i * 2 + 2), 16)
}

/** The chunk id stored as 16 bytes at `offset` of `from`. */
export function readChunkIdBytes(from: Uint8Array, offset: number): ChunkId {
  let text = ''
  for (let i = 0; i < chunkIdBytes; i++) text += hexByte[from[offset + i]]
  return text as ChunkId
}

const hexByte = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0')
}

function badPart(field: string, value: unknown, accepted: string): T3fsError {
  return new T3fsError('ERR_INVALID_CHUNK_ID', `${field} is ${String(value)}; accepted: ${accepted}`, { field, value: String(value), accepted })
}
