/**
 * Inode id allocation (reference/3fs.md §2.1 InodeIdAllocator): a counter sharded over 32 KV keys;
 * a server takes the next value v of a random shard in one small transaction and hands out the
 * 4096 ids (v·32 + shard + 1)·4096 ... +4095 locally, fetching the next range before this one runs
 * out. Ids are unique and roughly increasing, not ordered across servers; a crashed server's
 * unused ids are simply never used. Ids stay below 2^53 (safe integers) for 2^36 ranges.
 */
import { readInt64le, int64le, type Kv } from '../kv/index.ts'
import { metaError } from './errors.ts'
import { FIRST_ALLOCATED_INODE, type InodeId } from './inode.ts'
import { ALLOC_SHARDS, allocShardKey } from './keys.ts'

export const IDS_PER_RANGE = 4096
/** Fetch the next range when fewer than this many ids are left. */
export const PREFETCH_BELOW = 1024
const MAX_RANGE_VALUE = 2 ** 53 / IDS_PER_RANGE - 2

export async function fetchIdRange(kv: Kv, shard: number, timeoutMs: number): Promise<{ first: InodeId; count: number }> {
  const value = await kv.transact(
    async (tx) => {
      const key = allocShardKey(shard)
      const next = readInt64le(await tx.get(key))
      tx.set(key, int64le(next + 1n))
      return Number(next) * ALLOC_SHARDS + shard
    },
    { timeoutMs },
  )
  if (value > MAX_RANGE_VALUE) throw metaError('ENOSPC', 'the inode id space is exhausted')
  return { first: (value + 1) * IDS_PER_RANGE, count: IDS_PER_RANGE }
}

/** The ids a server holds: the current range and the prefetched next one. */
export class InodeIdPool {
  private ranges: { next: InodeId; end: InodeId }[] = []

  get available(): number {
    return this.ranges.reduce((n, r) => n + (r.end - r.next), 0)
  }

  add(range: { first: InodeId; count: number }): void {
    if (range.first < FIRST_ALLOCATED_INODE) throw new Error(`inode range ${range.first} below the first allocatable id`)
    this.ranges.push({ next: range.first, end: range.first + range.count })
  }

  /** An id, or null when the pool is empty (the caller fetches a range first). */
  take(): InodeId | null {
    while (this.ranges.length > 0) {
      const r = this.ranges[0]
      if (r.next < r.end) return r.next++
      this.ranges.shift()
    }
    return null
  }
}
