/**
 * Typed reads and writes of inodes and directory entries inside one KV transaction. Reads go
 * through a ReadView: the transaction itself (adds read conflicts) or its snapshot (adds none),
 * as each operation chooses (reference/3fs.md §2.3, §2.4).
 */
import type { ReadView, Transaction } from '../kv/index.ts'
import { keyAfter } from '../kv/bytes.ts'
import { decodeDirEntry, encodeDirEntry, type DirEntry } from './dir-entry.ts'
import { metaError } from './errors.ts'
import { decodeInode, encodeInode, type DirectoryInode, type Inode, type InodeId } from './inode.ts'
import { dentryKey, dentryRange, inodeKey, parseDentryKey } from './keys.ts'

export async function getInode(reads: ReadView, id: InodeId): Promise<Inode | null> {
  const bytes = await reads.get(inodeKey(id))
  return bytes === undefined ? null : decodeInode(id, bytes)
}

/** The inode, or ENOENT naming it. */
export async function mustGetInode(reads: ReadView, id: InodeId, what = `inode ${id}`): Promise<Inode> {
  const inode = await getInode(reads, id)
  if (inode === null) throw metaError('ENOENT', `${what} does not exist`, { inode: id })
  return inode
}

export async function mustGetDirectory(reads: ReadView, id: InodeId, what = `inode ${id}`): Promise<DirectoryInode> {
  const inode = await mustGetInode(reads, id, what)
  if (inode.type !== 'directory') throw metaError('ENOTDIR', `${what} is not a directory`, { inode: id })
  return inode
}

export async function getEntry(reads: ReadView, parent: InodeId, name: string): Promise<DirEntry | null> {
  const bytes = await reads.get(dentryKey(parent, name))
  return bytes === undefined ? null : decodeDirEntry(parent, name, bytes)
}

export function putInode(tx: Transaction, inode: Inode): void {
  tx.set(inodeKey(inode.id), encodeInode(inode))
}

export function clearInode(tx: Transaction, id: InodeId): void {
  tx.clear(inodeKey(id))
}

export function putEntry(tx: Transaction, entry: DirEntry): void {
  tx.set(dentryKey(entry.parent, entry.name), encodeDirEntry(entry))
}

export function clearEntry(tx: Transaction, parent: InodeId, name: string): void {
  tx.clear(dentryKey(parent, name))
}

/** Entries of a directory after `after` (exclusive; from the first when undefined), by name. */
export async function listEntries(reads: ReadView, parent: InodeId, after: string | undefined, limit: number): Promise<DirEntry[]> {
  const range = dentryRange(parent)
  const begin = after === undefined ? range.begin : keyAfter(dentryKey(parent, after))
  const rows = await reads.getRange(begin, range.end, { limit })
  return rows.map((kv) => {
    const { name } = parseDentryKey(kv.key)
    return decodeDirEntry(parent, name, kv.value)
  })
}

/** True when the directory has no entries; reads (with the view's conflicts) at most one key. */
export async function isEmptyDirectory(reads: ReadView, id: InodeId): Promise<boolean> {
  const range = dentryRange(id)
  return (await reads.getRange(range.begin, range.end, { limit: 1 })).length === 0
}
