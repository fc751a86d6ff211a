/**
 * A meta inode as `stat` shows it (FileStat, the fields `struct stat` needs), with the length a
 * client knows beyond meta's (its own writes not yet recorded there).
 */
import type { Inode } from '../meta/index.ts'
import type { FileStat } from './file-client.ts'

const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

export function toFileStat(inode: Inode, localLengthBytes = 0): FileStat {
  const typeBits = inode.type === 'file' ? S_IFREG : inode.type === 'directory' ? S_IFDIR : S_IFLNK
  const sizeBytes = inode.type === 'file' ? Math.max(inode.file.length, localLengthBytes) : inode.type === 'symlink' ? Buffer.byteLength(inode.symlink.target) : 0
  return {
    inode: inode.id,
    type: inode.type,
    mode: typeBits | inode.acl.perm,
    perm: inode.acl.perm,
    uid: inode.acl.uid,
    gid: inode.acl.gid,
    nlink: inode.nlink,
    sizeBytes,
    blockSizeBytes: inode.type === 'file' ? inode.file.layout.chunkSizeBytes : 4096,
    atimeMs: inode.atimeMs,
    mtimeMs: inode.mtimeMs,
    ctimeMs: inode.ctimeMs,
    symlinkTarget: inode.type === 'symlink' ? inode.symlink.target : null,
    iflags: inode.acl.iflags,
    layout: inode.type === 'file' ? inode.file.layout : inode.type === 'directory' ? inode.dir.layout : null,
  }
}
