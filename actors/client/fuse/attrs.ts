/**
 * How t3fs inodes look to the kernel: FUSE node ids, `struct stat` attributes, directory entry
 * types, and errors as errnos.
 *
 * Node ids are inode ids + 1: FUSE's root is node 1 and meta's root is inode 0, and the mapping
 * needs no table (any queue, and a restarted mount, computes the same id). st_ino is the node id
 * too (an st_ino of 0 reads as "no inode" to some tools).
 */
import { constants as osConstants } from 'node:os'
import { isT3fsError } from '../../../runtime/errors.ts'
import type { FileStat, InodeId, InodeType } from '../file-client.ts'
import { DirentType, S_IFDIR, S_IFLNK, S_IFREG, type Attr } from './kernel-protocol.ts'

export const ROOT_NODEID = 1n

export function nodeidOf(inode: InodeId): bigint {
  return BigInt(inode) + 1n
}

export function inodeOf(nodeid: bigint): InodeId {
  if (nodeid < 1n || nodeid > BigInt(Number.MAX_SAFE_INTEGER)) throw Object.assign(new Error(`node id ${nodeid} is not a t3fs inode`), { code: 'ESTALE' })
  return Number(nodeid - 1n)
}

export function typeBits(type: InodeType): number {
  return type === 'file' ? S_IFREG : type === 'directory' ? S_IFDIR : S_IFLNK
}

export function direntType(type: InodeType): number {
  return type === 'file' ? DirentType.REG : type === 'directory' ? DirentType.DIR : DirentType.LNK
}

const split = (ms: number): [number, number] => {
  const sec = Math.floor(ms / 1000)
  return [sec, Math.round((ms - sec * 1000) * 1e6)]
}

export function attrOf(stat: FileStat): Attr {
  const [atimeSec, atimeNsec] = split(stat.atimeMs)
  const [mtimeSec, mtimeNsec] = split(stat.mtimeMs)
  const [ctimeSec, ctimeNsec] = split(stat.ctimeMs)
  return {
    ino: nodeidOf(stat.inode), size: stat.sizeBytes, mode: typeBits(stat.type) | (stat.perm & 0o7777), nlink: stat.nlink, uid: stat.uid, gid: stat.gid,
    atimeSec, atimeNsec, mtimeSec, mtimeNsec, ctimeSec, ctimeNsec, blksize: Math.min(stat.blockSizeBytes, 1 << 30),
  }
}

/**
 * The errno a failure answers the kernel with. POSIX refusals (code = an errno name) pass through;
 * a path the client could not take (timeouts, dead nodes, storage past its retry budget) is EIO.
 */
export function errnoOf(error: unknown): string {
  const code = isT3fsError(error) ? error.code : (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code in osConstants.errno) return code === 'ENOTSUP' ? 'EOPNOTSUPP' : code
  return 'EIO'
}

/** Whether a failure is the file system's answer (an errno) rather than a failure of the way there. */
export function isErrnoAnswer(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code in osConstants.errno
}
