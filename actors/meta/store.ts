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
import { DecodeCache } from './decode-cache.ts'
import type { Reading } from './reading.ts'

export async function getInode(reads: ReadView, id: InodeId): Promise<Inode | null> {
  const bytes = await reads.get(inodeKey(id))
  return bytes === undefined ? null : decodeInode(id, bytes)
}

/** The inode, or ENOENT naming it. */
export async function mustGetInode(reads: ReadView, id: InodeId, what = `inode ${id}`): Promise<Inode> {
  return mustExist(await getInode(reads, id), id, what)
}

export async function mustGetDirectory(reads: ReadView, id: InodeId, what = `inode ${id}`): Promise<DirectoryInode> {
  return mustBeDirectory(await mustGetInode(reads, id, what), what)
}

export async function getEntry(reads: ReadView, parent: InodeId, name: string): Promise<DirEntry | null> {
  const bytes = await reads.get(dentryKey(parent, name))
  return bytes === undefined ? null : decodeDirEntry(parent, name, bytes)
}

// The same reads as Readings (reading.ts): path walks and stats, run synchronously on a snapshot
// or awaited on a transaction.

/**
 * The directories a path walk passes (their inodes where a walk starts, their entries on the way),
 * decoded once per stored value (decode-cache.ts). Not the last component: mdtest-like work reads
 * each file once, and decoding into the cache would only cost.
 */
const directories = new DecodeCache<InodeId, Inode>()
const directoryEntries = new DecodeCache<string, DirEntry>()

export function* readInode(id: InodeId): Reading<Inode | null> {
  const bytes = (yield inodeKey(id)) as Buffer | undefined
  return bytes === undefined ? null : decodeInode(id, bytes)
}

/** What a refusal names: built only when there is one (a stat reads several inodes and refuses rarely). */
export type What = string | (() => string) | undefined

export function* readExistingInode(id: InodeId, what?: What): Reading<Inode> {
  return mustExist(yield* readInode(id), id, what)
}

export function* readDirectory(id: InodeId, what?: What): Reading<DirectoryInode> {
  return directoryFrom(id, (yield inodeKey(id)) as Buffer | undefined, what)
}

/** The directory inode stored as `bytes` (read by the caller), or ENOENT / ENOTDIR naming it. */
export function directoryFrom(id: InodeId, bytes: Buffer | undefined, what?: What): DirectoryInode {
  return mustBeDirectory(mustExist(bytes === undefined ? null : directories.decode(id, bytes, decodeInode), id, what), what)
}

export function* readEntry(parent: InodeId, name: string): Reading<DirEntry | null> {
  const bytes = (yield dentryKey(parent, name)) as Buffer | undefined
  return bytes === undefined ? null : decodeDirEntry(parent, name, bytes)
}

/** An entry a path walk passes through (a directory, or a symlink to follow). */
export function* readInnerEntry(parent: InodeId, name: string): Reading<DirEntry | null> {
  const bytes = (yield dentryKey(parent, name)) as Buffer | undefined
  return bytes === undefined ? null : innerEntryFrom(parent, name, bytes)
}

/** The inner entry stored as `bytes` (read by the caller). */
export function innerEntryFrom(parent: InodeId, name: string, bytes: Buffer): DirEntry {
  return directoryEntries.decode(`${parent}/${name}`, bytes, (_key, b) => decodeDirEntry(parent, name, b))
}

function mustExist(inode: Inode | null, id: InodeId, what: What): Inode {
  if (inode === null) throw metaError('ENOENT', `${named(what, id)} does not exist`, { inode: id })
  return inode
}

function mustBeDirectory(inode: Inode, what: What): DirectoryInode {
  if (inode.type !== 'directory') throw metaError('ENOTDIR', `${named(what, inode.id)} is not a directory`, { inode: inode.id })
  return inode
}

function named(what: What, id: InodeId): string {
  return what === undefined ? `inode ${id}` : typeof what === 'string' ? what : what()
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
