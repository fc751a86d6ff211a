/**
 * What a sync does with one chunk (3FS ResyncWorker, reference/3fs.md §3.6 step 3), decided under
 * the chunk's lock on the predecessor — so no update of that chunk is in flight and the local
 * committed version is the chain's. The predecessor is the chain's authority: whatever the
 * returning target holds that differs is replaced. 3FS instead declares some mismatches fatal and
 * forces the returning target OFFLINE — among them a tail that committed and crashed before its
 * acknowledgement travelled back (3FS issue #345, targets stuck OFFLINE). A SYNCING target serves
 * no reads, so overwriting it with the serving chain's committed state is always safe.
 *
 * - only the returning target holds the chunk → remove it there;
 * - only the predecessor holds it → copy it (full chunk);
 * - the returning target has a pending version (a write it took before it crashed) → copy: the
 *   copy replaces the pending version, which must not survive to be committed later;
 * - same committed version, length and checksum → nothing to do;
 * - anything else → copy.
 */
import type { ChunkMeta as EngineMeta } from '../chunk-engine/index.ts'
import type { ChunkMeta } from '../protocol.ts'

export type SyncAction = 'skip' | 'copy' | 'remove'

export function syncAction(local: EngineMeta | null, remote: ChunkMeta | undefined, mutantSkipsUncommitted = false): SyncAction {
  const committed = local?.committed ?? null
  if (committed === null) return remote === undefined ? 'skip' : 'remove'
  if (remote === undefined) return 'copy'
  if (remote.pending !== null && !mutantSkipsUncommitted) return 'copy'
  const same = remote.commitVersion === committed.version && remote.lengthBytes === committed.lengthBytes && remote.checksum === committed.crc32c
  return same ? 'skip' : 'copy'
}
