/**
 * struct statx (include/uapi/linux/stat.h) as the ring's statx operation leaves it in a 256-byte
 * buffer, decoded; and the open(2) flags the ring's open takes.
 */

export const STATX_BUFFER_BYTES = 256

export const STATX_TYPE = 0x1
export const STATX_MODE = 0x2
export const STATX_MTIME = 0x40
export const STATX_SIZE = 0x200
export const STATX_BLOCKS = 0x400
/** Direct-I/O alignment (Linux 6.1+; reported for regular files on file systems that support it). */
export const STATX_DIOALIGN = 0x2000

export const AT_FDCWD = -100
export const AT_SYMLINK_NOFOLLOW = 0x100
export const AT_EMPTY_PATH = 0x1000

export const O_RDWR = 0o2
export const O_CREAT = 0o100
export const O_EXCL = 0o200
export const O_TRUNC = 0o1000
export const O_DSYNC = 0o10000
export const O_DIRECT = 0o40000
export const O_DIRECTORY = 0o200000
export const O_NOFOLLOW = 0o400000
export const O_PATH = 0o10000000
/** O_TMPFILE includes O_DIRECTORY, as the kernel defines it. */
export const O_TMPFILE = 0o20000000 | O_DIRECTORY

/** openat2's RESOLVE_BENEATH: the path may not leave the directory fd (no '..', no absolute symlinks out). */
export const RESOLVE_BENEATH = 0x08

export const FALLOC_FL_KEEP_SIZE = 0x1
export const FALLOC_FL_PUNCH_HOLE = 0x2

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFDIR = 0o040000
const S_IFLNK = 0o120000

export type StatxKind = 'file' | 'directory' | 'symlink' | 'other'

export interface Statx {
  readonly kind: StatxKind
  /** st_mode: type and permission bits. */
  readonly mode: number
  readonly sizeBytes: number
  /** st_blocks × 512: what the file occupies on the device (less than its size when sparse). */
  readonly allocatedBytes: number
  readonly mtimeMs: number
  /** st_blksize: the preferred I/O size. */
  readonly blockSizeBytes: number
  readonly deviceMajor: number
  readonly deviceMinor: number
  /** What O_DIRECT requires of buffer addresses, or null when the kernel did not report it. */
  readonly dioMemAlign: number | null
  /** What O_DIRECT requires of file positions and lengths, or null when not reported. */
  readonly dioOffsetAlign: number | null
}

export function decodeStatx(buffer: Uint8Array): Statx {
  const view = new DataView(buffer.buffer, buffer.byteOffset, STATX_BUFFER_BYTES)
  const mask = view.getUint32(0, true)
  const mode = view.getUint16(28, true)
  const type = mode & S_IFMT
  const dio = (mask & STATX_DIOALIGN) !== 0 && view.getUint32(156, true) !== 0
  return {
    kind: type === S_IFREG ? 'file' : type === S_IFDIR ? 'directory' : type === S_IFLNK ? 'symlink' : 'other',
    mode,
    sizeBytes: Number(view.getBigUint64(40, true)),
    allocatedBytes: Number(view.getBigUint64(48, true)) * 512,
    mtimeMs: Number(view.getBigInt64(112, true)) * 1000 + view.getUint32(120, true) / 1e6,
    blockSizeBytes: view.getUint32(4, true),
    deviceMajor: view.getUint32(136, true),
    deviceMinor: view.getUint32(140, true),
    dioMemAlign: dio ? view.getUint32(152, true) : null,
    dioOffsetAlign: dio ? view.getUint32(156, true) : null,
  }
}
