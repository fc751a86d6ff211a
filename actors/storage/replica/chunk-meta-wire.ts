/** The chunk engine's metadata as the storage protocol carries it (3FS ChunkMeta, §3.6). */
import type { ChunkMeta as EngineMeta } from '../chunk-engine/index.ts'
import type { ChunkMeta } from '../protocol.ts'

export function toWireMeta(meta: EngineMeta): ChunkMeta {
  const committed = meta.committed
  const pending = meta.pending
  const commitVersion = committed?.version ?? 0
  return {
    chunkId: meta.chunkId,
    commitVersion,
    updateVersion: pending?.version ?? commitVersion,
    chainVersion: committed?.chainVersion ?? 0,
    lengthBytes: committed?.lengthBytes ?? 0,
    checksum: committed?.crc32c ?? 0,
    pending: pending === null ? null : { lengthBytes: pending.lengthBytes, checksum: pending.crc32c },
  }
}
