/**
 * Owner routing (reference/3fs.md §1.3, Distributor): the owner of an inode among the live meta
 * servers is the one with the highest weight hash(server, inode) — rendezvous hashing, so a
 * server joining or leaving moves only the inodes it wins or held. The hash is a fixed 32-bit
 * mix (murmur3's finalizer over both ids); it must never change while servers of two versions run.
 */
import type { InodeId } from './inode.ts'

function mix32(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

export function weight(serverId: number, inode: InodeId): number {
  const lo = inode % 0x1_0000_0000
  const hi = Math.floor(inode / 0x1_0000_0000)
  return mix32(mix32(serverId ^ 0x9e3779b9) ^ mix32(lo) ^ mix32(hi + 0x7f4a7c15))
}

/** The owning server of an inode, or null when there is none. */
export function ownerOf(servers: readonly number[], inode: InodeId): number | null {
  let best: number | null = null
  let bestWeight = -1
  for (const s of servers) {
    const w = weight(s, inode)
    if (w > bestWeight || (w === bestWeight && best !== null && s < best)) {
      best = s
      bestWeight = w
    }
  }
  return best
}
