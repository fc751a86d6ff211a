/**
 * The storage calls meta makes for a file (reference/3fs.md §2.5, §2.6), over the StorageService
 * interface (storage-protocol.ts): the exact length from queryLastChunk on the file's active
 * chains; removal of chunks from an index on, in batches of 32, until none remain; truncate as
 * removal past the new end plus truncateChunks on the new last chunk. The layout's chain indexes
 * become chain ids through the chain table version the layout records.
 */
import { metaError } from './errors.ts'
import type { FileInode } from './inode.ts'
import type { Mutant } from './op-context.ts'
import { activeChains, chainIndexList, chainOfChunk, chunkId, fileChunkRange } from './layout.ts'
import type { RoutingView } from './routing-view.ts'
import { REMOVE_CHUNKS_BATCH, type StorageService, type VersionedChainId } from './storage-protocol.ts'

const NO_MUTANTS: ReadonlySet<Mutant> = new Set()

/** Rounds of removeChunks per chain before giving up for now (GC retries later). */
const MAX_REMOVE_ROUNDS = 1 << 20

function tableOf(routing: RoutingView, inode: FileInode): readonly number[] {
  const layout = inode.file.layout
  const table = routing.tableChains(layout.tableId, layout.tableVersion)
  if (table === null || table.length === 0) {
    throw metaError('EIO', `chain table ${layout.tableId} version ${layout.tableVersion} of inode ${inode.id} is not known (mgmtd not reached?)`, { inode: inode.id })
  }
  return table
}

function versioned(routing: RoutingView, table: readonly number[], index: number): VersionedChainId {
  const chainId = table[(index - 1) % table.length]
  return { chainId, chainVersion: routing.chainVersion(chainId) }
}

/** The chains a file's chunks may be on: the first min(dynStripe, stripe) of its stripe. */
export function fileChains(routing: RoutingView, inode: FileInode): VersionedChainId[] {
  const table = tableOf(routing, inode)
  return activeChains(inode.file.layout, inode.file.dynStripe).map((index) => versioned(routing, table, index))
}

/** The chain holding one chunk of the file. */
export function chunkChain(routing: RoutingView, inode: FileInode, chunkIndex: number): VersionedChainId {
  return versioned(routing, tableOf(routing, inode), chainOfChunk(chainIndexList(inode.file.layout), chunkIndex))
}

/** Exact length: max over the active chains of lastChunkIndex·chunkSize + lastChunkLen. */
export async function queryFileLength(storage: StorageService, routing: RoutingView, inode: FileInode, mutants: ReadonlySet<Mutant> = NO_MUTANTS): Promise<number> {
  const range = fileChunkRange(inode.id)
  const all = fileChains(routing, inode)
  const chains = mutants.has('length-first-chain-only') ? all.slice(0, 1) : all
  const results = await storage.queryLastChunk(chains.map((chain) => ({ chain, range: { ...range, maxNumChunkIdsToProcess: 1 } })))
  let length = 0
  for (const r of results) {
    if (r.lastChunkId === null) continue
    const index = Buffer.from(r.lastChunkId).readUInt32BE(12)
    length = Math.max(length, index * inode.file.layout.chunkSizeBytes + r.lastChunkLenBytes)
  }
  return length
}

/**
 * Removes every chunk with index ≥ fromChunk on every active chain, batch by batch (GC passes
 * `firstChainOnly` only under its mutant).
 */
export async function removeFileChunks(storage: StorageService, routing: RoutingView, inode: FileInode, fromChunk: number, firstChainOnly = false): Promise<number> {
  let pending = fileChains(routing, inode).slice(0, firstChainOnly ? 1 : undefined)
  const range = { ...fileChunkRange(inode.id, fromChunk), maxNumChunkIdsToProcess: REMOVE_CHUNKS_BATCH }
  let removed = 0
  for (let round = 0; pending.length > 0; round++) {
    if (round >= MAX_REMOVE_ROUNDS) throw metaError('EIO', `removing the chunks of inode ${inode.id} did not finish in ${MAX_REMOVE_ROUNDS} rounds`, { inode: inode.id })
    const results = await storage.removeChunks(pending.map((chain) => ({ chain, range })))
    removed += results.reduce((n, r) => n + r.numChunksRemoved, 0)
    pending = pending.filter((_, i) => results[i].moreChunksInRange)
  }
  return removed
}

/**
 * Truncate (or extend) a file to `length` through storage; meta then syncs with truncated = true.
 * The new last chunk always gets a TRUNCATE to its new length, never an EXTEND (which 3FS sends
 * when the file grows): meta's recorded length may lag behind what storage holds (writes not yet
 * synced), and an EXTEND would leave those bytes past the new end, so the file would not be
 * `length` long afterwards. A TRUNCATE to a longer length zero-fills, as EXTEND does.
 */
export async function truncateFileChunks(storage: StorageService, routing: RoutingView, inode: FileInode, length: number): Promise<void> {
  const chunkSize = inode.file.layout.chunkSizeBytes
  const keep = Math.ceil(length / chunkSize)
  await removeFileChunks(storage, routing, inode, keep)
  if (length === 0) return
  const last = keep - 1
  const chain = chunkChain(routing, inode, last)
  const chunkLenBytes = length - last * chunkSize
  await storage.truncateChunks([{ chain, chunkId: chunkId(inode.id, last), chunkLenBytes, chunkSizeBytes: chunkSize, onlyExtendChunk: false }])
}
