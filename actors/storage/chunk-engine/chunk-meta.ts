/**
 * What the chunk engine knows about one chunk of one chain (reference/3fs.md §3.1).
 *
 * A chunk has at most one committed version (what reads see) and at most one pending version
 * (written by an update, not yet committed; readable only on request). In 3FS's words:
 * `commitVer` = `committed.version` (0 when there is none), `updateVer` = `pending.version` when a
 * pending version exists, else `commitVer`. The pending version is normally `commitVer + 1`; a
 * syncing write may give any version (it takes the version of the copy it mirrors).
 */
import type { ChunkId } from '../chunk-id.ts'

/** Who asked for an update (3FS's MessageTag minus the channel): kept for exactly-once bookkeeping. */
export interface UpdateTag {
  /** The client's id (a UUID in practice), at most `clientIdBytesMax` bytes of UTF-8. */
  readonly clientId: string
  /** The client's request id: an integer from 0 to 2^53 − 1. */
  readonly requestId: number
}

/** One version of a chunk: its content's length and checksum and the versions it carries. */
export interface ChunkVersionMeta {
  /** The chunk version (u32): 1 for a chunk's first version, then +1 per committed update. */
  readonly version: number
  /** The chain version (u32) of the update that made this version (or the one its commit gave). */
  readonly chainVersion: number
  /** The chunk's length in bytes in this version (0 to `chunkBytesMax`). */
  readonly lengthBytes: number
  /** CRC32C of the whole chunk's content (`lengthBytes` bytes): replicas compare it. */
  readonly crc32c: number
  /** This version removes the chunk (only ever a pending version: a committed removal is no chunk). */
  readonly removed: boolean
  /** The update that made this version. */
  readonly lastRequest: UpdateTag
  /** The block holding the bytes, in bytes (a power of two from 64 KiB to 64 MiB; 0 for an empty chunk). */
  readonly blockBytes: number
}

/** A chunk as the engine holds it. At least one of `committed` and `pending` is not null. */
export interface ChunkMeta {
  readonly chainId: number
  readonly chunkId: ChunkId
  /** What reads see; null when the chunk exists only as a pending creation. */
  readonly committed: ChunkVersionMeta | null
  /** The version an update wrote and no commit has made the committed one yet. */
  readonly pending: ChunkVersionMeta | null
}

/** 3FS's `commitVer`: the committed version, or 0. */
export function commitVersionOf(meta: ChunkMeta): number {
  return meta.committed?.version ?? 0
}

/** 3FS's `updateVer`: the pending version when there is one, else the committed one (or 0). */
export function updateVersionOf(meta: ChunkMeta): number {
  return meta.pending?.version ?? commitVersionOf(meta)
}
