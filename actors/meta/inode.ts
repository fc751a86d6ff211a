/**
 * Inodes (reference/3fs.md §2.3 InodeData): a file (length, truncateVer, layout, dynStripe), a
 * directory (parent, name, layout, chain allocation counter, creation lock) or a symlink (target),
 * with an ACL (uid, gid, mode bits incl. setuid/setgid/sticky, iflags), a link count and times.
 * Directories count one link (their one dentry), as in 3FS: creating a subdirectory does not
 * rewrite the parent. An inode with nlink 0 is deleted but kept, referenced from the GC tree,
 * until its last write session closes and its chunks are removed.
 */
import type { Layout } from './layout.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

export type InodeId = number

export const ROOT_INODE: InodeId = 0
/** The hidden tree of removed files and directories waiting for GC. */
export const GC_ROOT_INODE: InodeId = 1
/** Ids handed out by the allocator start here. */
export const FIRST_ALLOCATED_INODE: InodeId = 4096

export type InodeType = 'file' | 'directory' | 'symlink'

export const S_ISUID = 0o4000
export const S_ISGID = 0o2000
export const S_ISVTX = 0o1000
export const PERM_MASK = 0o7777

/** iflags (FS_IOC_GETFLAGS values). */
export const FS_IMMUTABLE_FL = 0x10
/** Directory keeps its own chain allocation counter (3FS FS_CHAIN_ALLOCATION_FL). */
export const FS_CHAIN_ALLOCATION_FL = 0x0080_0000
export const SETTABLE_IFLAGS = FS_IMMUTABLE_FL | FS_CHAIN_ALLOCATION_FL
/** Flags a new entry inherits from its directory. */
export const INHERITED_IFLAGS = FS_CHAIN_ALLOCATION_FL

export interface Acl {
  readonly uid: number
  readonly gid: number
  /** Mode bits 0o7777 (permissions, setuid, setgid, sticky). */
  readonly perm: number
  readonly iflags: number
}

export interface FileData {
  readonly length: number
  readonly truncateVer: number
  readonly layout: Layout
  /** Active stripe width (0 = the whole stripe). */
  readonly dynStripe: number
}

export interface DirectoryData {
  readonly parent: InodeId
  readonly name: string
  readonly layout: Layout
  readonly chainAllocCounter: number
  /** The creation lock (lockDirectory), owned by one client. */
  readonly lock: { readonly clientId: string } | null
}

interface InodeCommon {
  readonly id: InodeId
  readonly acl: Acl
  readonly nlink: number
  readonly atimeMs: number
  readonly ctimeMs: number
  readonly mtimeMs: number
}

export type FileInode = InodeCommon & { readonly type: 'file'; readonly file: FileData }
export type DirectoryInode = InodeCommon & { readonly type: 'directory'; readonly dir: DirectoryData }
export type SymlinkInode = InodeCommon & { readonly type: 'symlink'; readonly symlink: { readonly target: string } }
export type Inode = FileInode | DirectoryInode | SymlinkInode

/** The stored form omits the id (it is the key). */
export function encodeInode(inode: Inode): Buffer {
  const { id: _id, ...rest } = inode
  return encodeValue(rest)
}

export function decodeInode(id: InodeId, bytes: Uint8Array): Inode {
  const inode = decodeValue<{ id: InodeId }>(bytes, 'inode')
  inode.id = id
  return inode as unknown as Inode
}

export function isImmutable(inode: Inode): boolean {
  return (inode.acl.iflags & FS_IMMUTABLE_FL) !== 0
}

/** POSIX st_mode type bits with the permission bits. */
export function modeOf(inode: Inode): number {
  const type = inode.type === 'file' ? 0o100000 : inode.type === 'directory' ? 0o040000 : 0o120000
  return type | inode.acl.perm
}
