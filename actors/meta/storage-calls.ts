/**
 * The storage calls meta makes for a file (reference/3fs.md §2.5, §2.6), over the StorageService
 * interface (storage-protocol.ts): the exact length from queryLastChunk on the file's active
 * chains; removal of chunks from an index on, in batches of 32, until none remain; truncate as
 * removal past the new end plus truncateChunks on the new last chunk. The layout's chain indexes
 * become chain ids through the chain table version the layout records.
 */
import type { Clock } from '../../runtime/clock.ts'
import { metaError } from './errors.ts'
import type { FileInode } from './inode.ts'
import type { Mutant } from './op-context.ts'
import { activeChains, chainIndexList, chainOfChunk, chunkId, fileChunkRange } from './layout.ts'
import type { RoutingSource, RoutingView } from './routing-view.ts'
import { REMOVE_CHUNKS_BATCH, type StorageService, type VersionedChainId } from './storage-protocol.ts'

const NO_MUTANTS: ReadonlySet<Mutant> = new Set()

/** When a series of storage calls stops issuing new ones (the truncate lease must outlast them). */
export interface Deadline {
  readonly clock: Clock
  readonly atMs: number
}

function checkDeadline(deadline: Deadline | undefined, inode: FileInode): void {
  if (deadline !== undefined && deadline.clock.now() >= deadline.atMs) {
    throw metaError('EIO', `storage work on inode ${inode.id} ran out of time (no storage call is issued after ${Math.round(deadline.atMs)} ms)`, { inode: inode.id })
  }
}

/** Rounds of removeChunks per chain before giving up for now (GC retries later). */
const MAX_REMOVE_ROUNDS = 1 << 20

function tableIn(view: RoutingView, inode: FileInode): readonly number[] | null {
  const table = view.tableChains(inode.file.layout.tableId, inode.file.layout.tableVersion)
  return table === null || table.length === 0 ? null : table
}

/** The chain ids of the layout's table version (a fresh routing view is fetched once when it is missing). */
async function tableOf(routing: RoutingSource, inode: FileInode): Promise<{ view: RoutingView; table: readonly number[] }> {
  let view = routing.current()
  let table = tableIn(view, inode)
  if (table === null) {
    view = await routing.refresh()
    table = tableIn(view, inode)
  }
  if (table === null) {
    const layout = inode.file.layout
    throw metaError('EIO', `chain table ${layout.tableId} version ${layout.tableVersion} of inode ${inode.id} is not known (mgmtd not reached?)`, { inode: inode.id })
  }
  return { view, table }
}

function versioned(view: RoutingView, table: readonly number[], index: number): VersionedChainId {
  const chainId = table[(index - 1) % table.length]
  return { chainId, chainVersion: view.chainVersion(chainId) }
}

/** The chains a file's chunks may be on: the first min(dynStripe, stripe) of its stripe. */
export async function fileChains(routing: RoutingSource, inode: FileInode): Promise<VersionedChainId[]> {
  const { view, table } = await tableOf(routing, inode)
  return activeChains(inode.file.layout, inode.file.dynStripe).map((index) => versioned(view, table, index))
}

/** The chain holding one chunk of the file. */
export async function chunkChain(routing: RoutingSource, inode: FileInode, chunkIndex: number): Promise<VersionedChainId> {
  const { view, table } = await tableOf(routing, inode)
  return versioned(view, table, chainOfChunk(chainIndexList(inode.file.layout), chunkIndex))
}

/** Exact length: max over the active chains of lastChunkIndex·chunkSize + lastChunkLen. */
export async function queryFileLength(storage: StorageService, routing: RoutingSource, inode: FileInode, mutants: ReadonlySet<Mutant> = NO_MUTANTS): Promise<number> {
  const range = fileChunkRange(inode.id)
  const all = await fileChains(routing, inode)
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
export async function removeFileChunks(storage: StorageService, routing: RoutingSource, inode: FileInode, fromChunk: number, firstChainOnly = false, deadline?: Deadline): Promise<number> {
  let pending = (await fileChains(routing, inode)).slice(0, firstChainOnly ? 1 : undefined)
  const range = { ...fileChunkRange(inode.id, fromChunk), maxNumChunkIdsToProcess: REMOVE_CHUNKS_BATCH }
  let removed = 0
  for (let round = 0; pending.length > 0; round++) {
    if (round >= MAX_REMOVE_ROUNDS) throw metaError('EIO', `removing the chunks of inode ${inode.id} did not finish in ${MAX_REMOVE_ROUNDS} rounds`, { inode: inode.id })
    checkDeadline(deadline, inode)
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
 * At a chunk boundary the last chunk still gets one (to a full chunk): it may be a hole never
 * written, and the exact length (the last chunk on storage) would otherwise end before it.
 */
export async function truncateFileChunks(storage: StorageService, routing: RoutingSource, inode: FileInode, length: number, deadline?: Deadline): Promise<void> {
  const chunkSize = inode.file.layout.chunkSizeBytes
  const keep = Math.ceil(length / chunkSize)
  await removeFileChunks(storage, routing, inode, keep, false, deadline)
  if (length === 0) return
  checkDeadline(deadline, inode)
  const last = keep - 1
  const chain = await chunkChain(routing, inode, last)
  const chunkLenBytes = length - last * chunkSize
  await storage.truncateChunks([{ chain, chunkId: chunkId(inode.id, last), chunkLenBytes, chunkSizeBytes: chunkSize, onlyExtendChunk: false }])
}
