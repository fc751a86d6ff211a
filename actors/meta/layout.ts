/**
 * File layouts (reference/3fs.md §2.2): a chain table, its version, the chunk size, the stripe,
 * and which chains of the table a file's chunks go to. Directories hold a layout (usually
 * `empty`: table, chunk size and stripe only) that new files inherit; at create time meta turns it
 * into a concrete `range` layout (round robin base index + a seeded shuffle).
 *
 * The shuffle is specified here once and must never change (3FS had to pin libstdc++'s): a
 * Fisher-Yates pass from the last slot down, j = next() mod (i + 1), over splitmix32 seeded with
 * the layout's u32 seed.
 */
import { rangeChainIndexes } from '../storage/client/layout.ts'
import { metaError } from './errors.ts'

export type ChainSpec =
  | { readonly kind: 'empty' }
  /** Chains baseIndex .. baseIndex+stripe-1 of the table (1-based, wrapping), shuffled by seed when `shuffle`. */
  | { readonly kind: 'range'; readonly baseIndex: number; readonly shuffle: boolean; readonly seed: number }
  | { readonly kind: 'list'; readonly chainIndexes: readonly number[] }

export interface Layout {
  readonly tableId: number
  readonly tableVersion: number
  readonly chunkSizeBytes: number
  readonly stripeSize: number
  readonly chains: ChainSpec
}

/** What meta needs of a chain table to place a file: its latest version and number of chains. */
export interface ChainTableView {
  readonly version: number
  readonly chainCount: number
}

export const MIN_CHUNK_SIZE_BYTES = 64 * 1024
export const MAX_CHUNK_SIZE_BYTES = 64 * 1024 * 1024
export const MAX_STRIPE_SIZE = 4096
/** A file holds at most 2^32 chunks (chunk ids carry a u32 index). */
export const MAX_CHUNKS_PER_FILE = 2 ** 32
/** New files start with this many active chains when dynamic stripe is on (3FS: min(16, stripe)). */
export const INITIAL_DYN_STRIPE = 16

const isPow2 = (n: number): boolean => Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0

/** Checks a layout a user gave (mkdir, setAttr, create): EINVAL naming the field and the range. */
export function checkLayout(value: unknown, what = 'layout'): Layout {
  const bad = (field: string, v: unknown, accepted: string) => metaError('EINVAL', `${what}.${field} is ${JSON.stringify(v)}; accepted: ${accepted}`, { field: `${what}.${field}` })
  if (typeof value !== 'object' || value === null) throw bad('', value, 'an object { tableId, tableVersion, chunkSizeBytes, stripeSize, chains }')
  const l = value as Record<string, unknown>
  const int = (field: string, min: number, max: number) => {
    const v = l[field]
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw bad(field, v, `an integer from ${min} to ${max}`)
    return v
  }
  const tableId = int('tableId', 1, 0xffffffff)
  const tableVersion = int('tableVersion', 0, 0xffffffff)
  const chunkSizeBytes = l.chunkSizeBytes as number
  if (!isPow2(chunkSizeBytes) || chunkSizeBytes < MIN_CHUNK_SIZE_BYTES || chunkSizeBytes > MAX_CHUNK_SIZE_BYTES) {
    throw bad('chunkSizeBytes', chunkSizeBytes, `a power of 2 from ${MIN_CHUNK_SIZE_BYTES} to ${MAX_CHUNK_SIZE_BYTES}`)
  }
  const stripeSize = int('stripeSize', 1, MAX_STRIPE_SIZE)
  return { tableId, tableVersion, chunkSizeBytes, stripeSize, chains: checkChains(l.chains, stripeSize, bad) }
}

function checkChains(value: unknown, stripeSize: number, bad: (f: string, v: unknown, a: string) => Error): ChainSpec {
  const c = (value ?? { kind: 'empty' }) as Record<string, unknown>
  switch (c.kind) {
    case 'empty':
      return { kind: 'empty' }
    case 'range': {
      const { baseIndex, seed, shuffle } = c
      if (typeof baseIndex !== 'number' || !Number.isSafeInteger(baseIndex) || baseIndex < 1) throw bad('chains.baseIndex', baseIndex, 'a positive integer (1-based chain index)')
      if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) throw bad('chains.seed', seed, 'a u32')
      return { kind: 'range', baseIndex, seed, shuffle: shuffle === true }
    }
    case 'list': {
      const list = c.chainIndexes
      if (!Array.isArray(list) || list.length !== stripeSize || list.some((i) => typeof i !== 'number' || !Number.isSafeInteger(i) || i < 1)) {
        throw bad('chains.chainIndexes', list, `${stripeSize} positive chain indexes (one per stripe slot)`)
      }
      return { kind: 'list', chainIndexes: [...list] }
    }
    default:
      throw bad('chains.kind', c.kind, '"empty" | "range" | "list"')
  }
}

/**
 * A file's concrete layout from its directory's (ChainAllocator): the table's latest version,
 * baseIndex = counter mod chainCount + 1, and a seed for the shuffle. The caller advances its
 * counter by the stripe.
 */
export function concretize(dirLayout: Layout, table: ChainTableView, counter: number, seed: number): Layout {
  if (dirLayout.chains.kind !== 'empty') return dirLayout
  if (table.chainCount < dirLayout.stripeSize) {
    throw metaError('EINVAL', `chain table ${dirLayout.tableId} has ${table.chainCount} chains, fewer than the stripe size ${dirLayout.stripeSize}`, { tableId: dirLayout.tableId })
  }
  return { ...dirLayout, tableVersion: table.version, chains: { kind: 'range', baseIndex: (counter % table.chainCount) + 1, shuffle: true, seed: seed >>> 0 } }
}

/** The 1-based chain indexes of the stripe slots, in slot order (fixed forever for a seed). */
export function chainIndexList(layout: Layout): number[] {
  const chains = layout.chains
  if (chains.kind === 'list') return [...chains.chainIndexes]
  if (chains.kind === 'empty') throw metaError('EINVAL', 'an empty layout has no chains (only a file\'s concrete layout does)')
  return rangeChainIndexes(chains.baseIndex, layout.stripeSize, chains.shuffle, chains.seed)
}

/** The chain index (1-based, into the chain table) of a chunk: slot = chunkIndex mod stripe. */
export function chainOfChunk(list: readonly number[], chunkIndex: number): number {
  return list[chunkIndex % list.length]
}

/** The chains a file's chunks can be on so far: the first min(dynStripe, stripe) slots (0 = all). */
export function activeChains(layout: Layout, dynStripe: number): number[] {
  const list = chainIndexList(layout)
  return dynStripe > 0 ? list.slice(0, Math.min(dynStripe, list.length)) : list
}

/**
 * ChunkId, 16 bytes big-endian so they sort: [tenant u8 0][reserved u8 0][inode u64][track u16][chunk u32].
 * All chunks of a file lie in [chunkId(inode, 0), chunkId(inode, 0, 1)).
 */
export function chunkId(inode: number, chunkIndex: number, track = 0): Buffer {
  const out = Buffer.alloc(16)
  out.writeBigUInt64BE(BigInt(inode), 2)
  out.writeUInt16BE(track, 10)
  out.writeUInt32BE(chunkIndex, 12)
  return out
}

export function fileChunkRange(inode: number, fromChunk = 0): { begin: Buffer; end: Buffer } {
  return { begin: chunkId(inode, fromChunk), end: chunkId(inode, 0, 1) }
}
