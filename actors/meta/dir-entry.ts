/**
 * Directory entries (reference/3fs.md §2.3 DirEntryData): name → inode id and type; a
 * directory's entry carries its ACL (dirAcl) so a path walk checks search permission without
 * loading inodes; `uuid` is the request id of the create or rename that made it. Entries in the GC
 * tree carry gcInfo (who removed it, from where).
 */
import type { Acl, InodeId, InodeType } from './inode.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

export interface GcInfo {
  readonly uid: number
  readonly origPath: string
}

export interface DirEntry {
  readonly parent: InodeId
  readonly name: string
  readonly id: InodeId
  readonly type: InodeType
  readonly dirAcl: Acl | null
  readonly uuid: string
  readonly gcInfo: GcInfo | null
}

export const MAX_NAME_BYTES = 255
export const MAX_PATH_BYTES = 4096

export function encodeDirEntry(entry: DirEntry): Buffer {
  const { parent: _p, name: _n, ...rest } = entry
  return encodeValue(rest)
}

export function decodeDirEntry(parent: InodeId, name: string, bytes: Uint8Array): DirEntry {
  // The decoded object is fresh: complete it in place (path walks decode one per component).
  const entry = decodeValue<{ parent: InodeId; name: string }>(bytes, 'directory entry')
  entry.parent = parent
  entry.name = name
  return entry as unknown as DirEntry
}
