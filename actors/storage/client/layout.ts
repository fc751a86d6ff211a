/**
 * File layout math for the storage client (reference/3fs.md §2.2): offset → (chunk index, offset
 * in the chunk) → stripe slot → chain index → chain id in the layout's chain table version → chunk
 * id. The shuffle is the one meta specifies (actors/meta layout.ts on the meta branch) and must
 * never change: Fisher-Yates from the last slot down, j = next() mod (i + 1), over splitmix32
 * seeded with the layout's u32 seed.
 */
import { T3fsError } from '../../../runtime/errors.ts'
import type { RoutingInfo } from '../../mgmtd/protocol.ts'
import { makeChunkId, type ChunkId } from '../chunk-id.ts'

export type ChainSpec =
  | { readonly kind: 'range'; readonly baseIndex: number; readonly shuffle: boolean; readonly seed: number }
  | { readonly kind: 'list'; readonly chainIndexes: readonly number[] }

export interface FileLayout {
  readonly tableId: number
  readonly tableVersion: number
  readonly chunkSizeBytes: number
  readonly stripeSize: number
  readonly chains: ChainSpec
}

/** Where one byte range of a file lives: a piece within one chunk. */
export interface ChunkPiece {
  chunkIndex: number
  chunkId: ChunkId
  chainId: number
  /** Offset within the chunk, and within the caller's buffer. */
  chunkOffset: number
  bufferOffset: number
  length: number
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) | 0
    let z = state
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    return (z ^ (z >>> 16)) >>> 0
  }
}

/**
 * The 1-based chain indexes of a range layout's stripe slots: baseIndex.. in order, or shuffled by
 * a Fisher–Yates walk over splitmix32(seed). Fixed forever for a seed: meta places files with it
 * and every client finds their chunks with it, so there is one copy of it.
 */
export function rangeChainIndexes(baseIndex: number, stripeSize: number, shuffle: boolean, seed: number): number[] {
  const list = Array.from({ length: stripeSize }, (_, i) => baseIndex + i)
  if (!shuffle) return list
  const next = splitmix32(seed)
  for (let i = list.length - 1; i > 0; i--) {
    const j = next() % (i + 1)
    const t = list[i]
    list[i] = list[j]
    list[j] = t
  }
  return list
}

/** The 1-based chain indexes of the stripe slots, in slot order. */
export function chainIndexList(layout: FileLayout): number[] {
  const chains = layout.chains
  if (chains.kind === 'list') return [...chains.chainIndexes]
  return rangeChainIndexes(chains.baseIndex, layout.stripeSize, chains.shuffle, chains.seed)
}

/** The chain ids of the layout's table version, in table order. */
export function tableChains(routing: RoutingInfo, layout: FileLayout): readonly number[] {
  const table = routing.chainTables.find((t) => t.tableId === layout.tableId && t.version === layout.tableVersion)
  if (table === undefined || table.chains.length === 0) {
    throw new T3fsError('ERR_STORAGE_NO_CHAIN_TABLE', `chain table ${layout.tableId} version ${layout.tableVersion} is not in the routing info (tables: ${routing.chainTables.map((t) => `${t.tableId}v${t.version}`).join(', ') || 'none'})`, { tableId: layout.tableId })
  }
  return table.chains
}

/** Splits [offset, offset + length) of inode `inodeId` into per-chunk pieces with their chains. */
export function piecesOf(routing: RoutingInfo, layout: FileLayout, inodeId: bigint, offset: number, length: number): ChunkPiece[] {
  const table = tableChains(routing, layout)
  const slots = chainIndexList(layout)
  const pieces: ChunkPiece[] = []
  for (let done = 0; done < length;) {
    const at = offset + done
    const chunkIndex = Math.floor(at / layout.chunkSizeBytes)
    const chunkOffset = at % layout.chunkSizeBytes
    const n = Math.min(length - done, layout.chunkSizeBytes - chunkOffset)
    const chainIndex = slots[chunkIndex % slots.length]
    pieces.push({ chunkIndex, chunkId: makeChunkId(inodeId, chunkIndex), chainId: table[(chainIndex - 1) % table.length], chunkOffset, bufferOffset: done, length: n })
    done += n
  }
  return pieces
}
