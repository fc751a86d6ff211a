/**
 * The FUSE kernel protocol (linux/fuse.h, ABI 7.x): struct layouts, opcodes and the decoding of
 * every request a POSIX file system answers. Pure functions over byte buffers, no I/O: the FUSE
 * mount actor (and its tests) read a request from /dev/fuse, `decodeRequest` it, and write back
 * what an `encode*` reply function (kernel-replies.ts) put in a reused buffer.
 *
 * Every request starts with fuse_in_header (40 bytes); every reply with fuse_out_header (16 bytes)
 * whose `error` is 0 or a negated errno. FORGET and BATCH_FORGET get no reply. All little-endian.
 * Names arrive NUL-terminated; one that is not UTF-8 is refused with EINVAL (meta's names are
 * strings), never mangled into another name.
 */
export * from './kernel-replies.ts'
import { FuseProtocolError, IN_HEADER_BYTES } from './kernel-replies.ts'

/** /dev/fuse refuses reads into buffers smaller than this (FUSE_MIN_READ_BUFFER). */
export const MIN_READ_BUFFER_BYTES = 8192
/** Room the kernel needs beyond max_write in a read buffer (fuse_in_header + fuse_write_in, rounded up). */
export const REQUEST_HEADROOM_BYTES = 4096

export const Opcode = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10,
  RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20,
  SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28,
  RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32, SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36,
  BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40, NOTIFY_REPLY: 41, BATCH_FORGET: 42, FALLOCATE: 43,
  READDIRPLUS: 44, RENAME2: 45, LSEEK: 46, COPY_FILE_RANGE: 47, SETUPMAPPING: 48, REMOVEMAPPING: 49,
  SYNCFS: 50, TMPFILE: 51, STATX: 52,
} as const
export type OpcodeName = keyof typeof Opcode
const opcodeNames = new Map<number, OpcodeName>(Object.entries(Opcode).map(([k, v]) => [v, k as OpcodeName]))
export function opcodeName(opcode: number): OpcodeName | undefined { return opcodeNames.get(opcode) }

/** INIT flags (the 64-bit value is flags | flags2 << 32). */
export const InitFlag = {
  ASYNC_READ: 1n << 0n, POSIX_LOCKS: 1n << 1n, FILE_OPS: 1n << 2n, ATOMIC_O_TRUNC: 1n << 3n, EXPORT_SUPPORT: 1n << 4n,
  BIG_WRITES: 1n << 5n, DONT_MASK: 1n << 6n, SPLICE_WRITE: 1n << 7n, SPLICE_MOVE: 1n << 8n, SPLICE_READ: 1n << 9n,
  FLOCK_LOCKS: 1n << 10n, HAS_IOCTL_DIR: 1n << 11n, AUTO_INVAL_DATA: 1n << 12n, DO_READDIRPLUS: 1n << 13n,
  READDIRPLUS_AUTO: 1n << 14n, ASYNC_DIO: 1n << 15n, WRITEBACK_CACHE: 1n << 16n, NO_OPEN_SUPPORT: 1n << 17n,
  PARALLEL_DIROPS: 1n << 18n, HANDLE_KILLPRIV: 1n << 19n, POSIX_ACL: 1n << 20n, ABORT_ERROR: 1n << 21n,
  MAX_PAGES: 1n << 22n, CACHE_SYMLINKS: 1n << 23n, NO_OPENDIR_SUPPORT: 1n << 24n, EXPLICIT_INVAL_DATA: 1n << 25n,
  MAP_ALIGNMENT: 1n << 26n, SUBMOUNTS: 1n << 27n, HANDLE_KILLPRIV_V2: 1n << 28n, SETXATTR_EXT: 1n << 29n,
  INIT_EXT: 1n << 30n, INIT_RESERVED: 1n << 31n, SECURITY_CTX: 1n << 32n, HAS_INODE_DAX: 1n << 33n,
  CREATE_SUPP_GROUP: 1n << 34n, HAS_EXPIRE_ONLY: 1n << 35n, DIRECT_IO_ALLOW_MMAP: 1n << 36n,
  PASSTHROUGH: 1n << 37n, NO_EXPORT_SUPPORT: 1n << 38n, HAS_RESEND: 1n << 39n, ALLOW_IDMAP: 1n << 40n,
  OVER_IO_URING: 1n << 41n,
} as const

/** fuse_open_out.open_flags */
export const OpenFlag = { DIRECT_IO: 1, KEEP_CACHE: 2, NONSEEKABLE: 4, CACHE_DIR: 8, STREAM: 16, NOFLUSH: 32 } as const
/** fuse_setattr_in.valid */
export const SetattrValid = {
  MODE: 1, UID: 2, GID: 4, SIZE: 8, ATIME: 16, MTIME: 32, FH: 64, ATIME_NOW: 128, MTIME_NOW: 256, LOCKOWNER: 512, CTIME: 1024, KILL_SUIDGID: 2048,
} as const
/** fuse_getattr_in.getattr_flags: `fh` is set */
export const GETATTR_FH = 1
/** fuse_release_in.release_flags */
export const ReleaseFlag = { FLUSH: 1, FLOCK_UNLOCK: 2 } as const
/** fuse_lk_in.lk_flags: a BSD flock (else a POSIX fcntl lock) */
export const LK_FLOCK = 1
/** struct flock l_type */
export const LockType = { RDLCK: 0, WRLCK: 1, UNLCK: 2 } as const
/** renameat2 flags */
export const RenameFlag = { NOREPLACE: 1, EXCHANGE: 2, WHITEOUT: 4 } as const
/** fuse_write_in.write_flags */
export const WriteFlag = { CACHE: 1, LOCKOWNER: 2, KILL_SUIDGID: 4 } as const
/** d_type values for READDIR entries */
export const DirentType = { UNKNOWN: 0, FIFO: 1, CHR: 2, DIR: 4, BLK: 6, REG: 8, LNK: 10, SOCK: 12 } as const
export const S_IFMT = 0o170000
export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000
export const S_IFLNK = 0o120000
export const ROOT_ID = 1n

export interface InHeader {
  len: number; opcode: number; unique: bigint; nodeid: bigint; uid: number; gid: number; pid: number; totalExtlen: number
}

type H = { header: InHeader }
/** One member per kind (so Extract<Request, { kind: K }> finds each). */
type Each<K extends string, T> = K extends unknown ? { kind: K } & T : never
export type Request = H & (
  | { kind: 'INIT'; major: number; minor: number; maxReadahead: number; flags: bigint }
  | Each<'LOOKUP' | 'UNLINK' | 'RMDIR' | 'REMOVEXATTR', { name: string }>
  | { kind: 'FORGET'; nlookup: bigint }
  | { kind: 'BATCH_FORGET'; items: Array<{ nodeid: bigint; nlookup: bigint }> }
  | { kind: 'GETATTR'; getattrFlags: number; fh: bigint }
  | { kind: 'SETATTR'; valid: number; fh: bigint; size: bigint; lockOwner: bigint; atimeSec: bigint; mtimeSec: bigint; ctimeSec: bigint;
      atimeNsec: number; mtimeNsec: number; ctimeNsec: number; mode: number; uid: number; gid: number }
  | Each<'READLINK' | 'STATFS' | 'DESTROY' | 'SYNCFS', object>
  | { kind: 'SYMLINK'; name: string; target: string }
  | { kind: 'MKNOD'; name: string; mode: number; rdev: number; umask: number }
  | { kind: 'MKDIR'; name: string; mode: number; umask: number }
  | { kind: 'RENAME'; newDir: bigint; name: string; newName: string; flags: number }
  | { kind: 'LINK'; oldNodeid: bigint; name: string }
  | Each<'OPEN' | 'OPENDIR', { flags: number; openFlags: number }>
  | { kind: 'CREATE'; name: string; flags: number; mode: number; umask: number; openFlags: number }
  | Each<'READ' | 'READDIR' | 'READDIRPLUS', { fh: bigint; offset: bigint; size: number; readFlags: number; lockOwner: bigint; flags: number }>
  | { kind: 'WRITE'; fh: bigint; offset: bigint; size: number; writeFlags: number; lockOwner: bigint; flags: number; data: Uint8Array }
  | Each<'RELEASE' | 'RELEASEDIR', { fh: bigint; flags: number; releaseFlags: number; lockOwner: bigint }>
  | { kind: 'FLUSH'; fh: bigint; lockOwner: bigint }
  | Each<'FSYNC' | 'FSYNCDIR', { fh: bigint; datasync: boolean }>
  | { kind: 'SETXATTR'; name: string; value: Uint8Array; flags: number }
  | { kind: 'GETXATTR'; name: string; size: number }
  | { kind: 'LISTXATTR'; size: number }
  | Each<'GETLK' | 'SETLK' | 'SETLKW', { fh: bigint; owner: bigint; start: bigint; end: bigint; lockType: number; pid: number; flock: boolean }>
  | { kind: 'ACCESS'; mask: number }
  | { kind: 'FALLOCATE'; fh: bigint; offset: bigint; length: bigint; mode: number }
  | { kind: 'LSEEK'; fh: bigint; offset: bigint; whence: number }
  | { kind: 'INTERRUPT'; interruptedUnique: bigint }
  | { kind: 'OTHER'; name: OpcodeName | undefined; body: Uint8Array }
)
export type RequestKind = Request['kind']
export type RequestOf<K extends RequestKind> = Extract<Request, { kind: K }>

/** Requests that must not be answered. */
export function expectsReply(request: Request): boolean {
  return request.kind !== 'FORGET' && request.kind !== 'BATCH_FORGET'
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength)
const utf8 = new TextDecoder('utf-8', { fatal: true })

export function decodeInHeader(bytes: Uint8Array): InHeader {
  if (bytes.byteLength < IN_HEADER_BYTES) throw new FuseProtocolError(`request of ${bytes.byteLength} bytes is shorter than fuse_in_header`)
  const v = view(bytes)
  return {
    len: v.getUint32(0, true), opcode: v.getUint32(4, true), unique: v.getBigUint64(8, true), nodeid: v.getBigUint64(16, true),
    uid: v.getUint32(24, true), gid: v.getUint32(28, true), pid: v.getUint32(32, true), totalExtlen: v.getUint16(36, true),
  }
}

/** A cursor over a request body: fixed fields, then NUL-terminated names, then the rest. */
class Body {
  readonly v: DataView
  at = 0
  constructor(readonly kind: string, readonly raw: Uint8Array) { this.v = view(raw) }
  need(bytes: number): this {
    if (this.raw.byteLength < bytes) throw new FuseProtocolError(`${this.kind} body is ${this.raw.byteLength} bytes, needs ${bytes}`)
    this.at = bytes
    return this
  }
  u32(o: number): number { return this.v.getUint32(o, true) }
  u64(o: number): bigint { return this.v.getBigUint64(o, true) }
  /** The next NUL-terminated name. */
  name(): string {
    const end = this.raw.indexOf(0, this.at)
    if (end < 0) throw new FuseProtocolError(`${this.kind}: a name is not NUL-terminated`)
    const bytes = this.raw.subarray(this.at, end)
    this.at = end + 1
    try {
      return utf8.decode(bytes)
    } catch {
      throw new FuseProtocolError(`${this.kind}: a name is not UTF-8`, 'EINVAL')
    }
  }
  rest(): Uint8Array { return this.raw.subarray(this.at) }
}

/** Decodes one request exactly as read from /dev/fuse (one read returns one request). */
export function decodeRequest(bytes: Uint8Array): Request {
  const header = decodeInHeader(bytes)
  if (header.len > bytes.byteLength) throw new FuseProtocolError(`header says ${header.len} bytes, got ${bytes.byteLength}`)
  if (header.len < IN_HEADER_BYTES + header.totalExtlen * 8) throw new FuseProtocolError(`header says ${header.len} bytes, less than its own extensions`)
  const name = opcodeName(header.opcode)
  // Extension headers (security context, supplementary group) trail the body; none is negotiated.
  const b = new Body(name ?? `opcode ${header.opcode}`, bytes.subarray(IN_HEADER_BYTES, header.len - header.totalExtlen * 8))
  return decodeNamespaceOp(header, b) ?? decodeFileOp(header, b) ?? decodeOtherOp(header, b, name)
}

/** Requests about names and inodes. */
function decodeNamespaceOp(header: InHeader, b: Body): Request | null {
  switch (header.opcode) {
    case Opcode.LOOKUP: return { kind: 'LOOKUP', header, name: b.name() }
    case Opcode.UNLINK: return { kind: 'UNLINK', header, name: b.name() }
    case Opcode.RMDIR: return { kind: 'RMDIR', header, name: b.name() }
    case Opcode.FORGET: return { kind: 'FORGET', header, nlookup: b.need(8).u64(0) }
    case Opcode.BATCH_FORGET: {
      const count = b.need(8).u32(0)
      b.need(8 + count * 16)
      return { kind: 'BATCH_FORGET', header, items: Array.from({ length: count }, (_, i) => ({ nodeid: b.u64(8 + i * 16), nlookup: b.u64(16 + i * 16) })) }
    }
    case Opcode.GETATTR:
      if (b.raw.byteLength < 16) return { kind: 'GETATTR', header, getattrFlags: 0, fh: 0n } // ABI < 7.9
      return { kind: 'GETATTR', header, getattrFlags: b.u32(0), fh: b.u64(8) }
    case Opcode.SETATTR:
      b.need(88)
      return { kind: 'SETATTR', header, valid: b.u32(0), fh: b.u64(8), size: b.u64(16), lockOwner: b.u64(24), atimeSec: b.u64(32), mtimeSec: b.u64(40),
        ctimeSec: b.u64(48), atimeNsec: b.u32(56), mtimeNsec: b.u32(60), ctimeNsec: b.u32(64), mode: b.u32(68), uid: b.u32(76), gid: b.u32(80) }
    case Opcode.READLINK: return { kind: 'READLINK', header }
    case Opcode.SYMLINK: return { kind: 'SYMLINK', header, name: b.name(), target: b.name() }
    case Opcode.MKNOD: b.need(16); return { kind: 'MKNOD', header, mode: b.u32(0), rdev: b.u32(4), umask: b.u32(8), name: b.name() }
    case Opcode.MKDIR: b.need(8); return { kind: 'MKDIR', header, mode: b.u32(0), umask: b.u32(4), name: b.name() }
    case Opcode.RENAME: b.need(8); return { kind: 'RENAME', header, newDir: b.u64(0), flags: 0, name: b.name(), newName: b.name() }
    case Opcode.RENAME2: b.need(16); return { kind: 'RENAME', header, newDir: b.u64(0), flags: b.u32(8), name: b.name(), newName: b.name() }
    case Opcode.LINK: b.need(8); return { kind: 'LINK', header, oldNodeid: b.u64(0), name: b.name() }
    case Opcode.CREATE:
      b.need(16)
      return { kind: 'CREATE', header, flags: b.u32(0), mode: b.u32(4), umask: b.u32(8), openFlags: b.u32(12), name: b.name() }
    case Opcode.SETXATTR: b.need(8); return { kind: 'SETXATTR', header, flags: b.u32(4), name: b.name(), value: valueOf(b, b.u32(0)) }
    case Opcode.GETXATTR: b.need(8); return { kind: 'GETXATTR', header, size: b.u32(0), name: b.name() }
    case Opcode.LISTXATTR: return { kind: 'LISTXATTR', header, size: b.need(8).u32(0) }
    case Opcode.REMOVEXATTR: return { kind: 'REMOVEXATTR', header, name: b.name() }
    case Opcode.ACCESS: return { kind: 'ACCESS', header, mask: b.need(8).u32(0) }
    case Opcode.STATFS: return { kind: 'STATFS', header }
    default: return null
  }
}

function valueOf(b: Body, size: number): Uint8Array {
  const rest = b.rest()
  if (rest.byteLength < size) throw new FuseProtocolError(`SETXATTR value is ${rest.byteLength} bytes, header says ${size}`)
  return rest.subarray(0, size)
}

/** Requests about open files and directories. */
function decodeFileOp(header: InHeader, b: Body): Request | null {
  switch (header.opcode) {
    case Opcode.OPEN:
    case Opcode.OPENDIR:
      b.need(8)
      return { kind: header.opcode === Opcode.OPEN ? 'OPEN' : 'OPENDIR', header, flags: b.u32(0), openFlags: b.u32(4) }
    case Opcode.READ:
    case Opcode.READDIR:
    case Opcode.READDIRPLUS:
      b.need(24)
      return { kind: header.opcode === Opcode.READ ? 'READ' : header.opcode === Opcode.READDIR ? 'READDIR' : 'READDIRPLUS', header, fh: b.u64(0),
        offset: b.u64(8), size: b.u32(16), readFlags: b.u32(20), lockOwner: b.raw.byteLength >= 32 ? b.u64(24) : 0n, flags: b.raw.byteLength >= 36 ? b.u32(32) : 0 }
    case Opcode.WRITE: {
      b.need(40)
      const size = b.u32(16)
      if (b.raw.byteLength - 40 < size) throw new FuseProtocolError(`WRITE carries ${b.raw.byteLength - 40} bytes, header says ${size}`)
      return { kind: 'WRITE', header, fh: b.u64(0), offset: b.u64(8), size, writeFlags: b.u32(20), lockOwner: b.u64(24), flags: b.u32(32),
        data: b.raw.subarray(40, 40 + size) }
    }
    case Opcode.RELEASE:
    case Opcode.RELEASEDIR:
      b.need(16)
      return { kind: header.opcode === Opcode.RELEASE ? 'RELEASE' : 'RELEASEDIR', header, fh: b.u64(0), flags: b.u32(8), releaseFlags: b.u32(12),
        lockOwner: b.raw.byteLength >= 24 ? b.u64(16) : 0n }
    case Opcode.FLUSH: b.need(24); return { kind: 'FLUSH', header, fh: b.u64(0), lockOwner: b.u64(16) }
    case Opcode.FSYNC:
    case Opcode.FSYNCDIR:
      b.need(16)
      return { kind: header.opcode === Opcode.FSYNC ? 'FSYNC' : 'FSYNCDIR', header, fh: b.u64(0), datasync: (b.u32(8) & 1) !== 0 }
    case Opcode.GETLK:
    case Opcode.SETLK:
    case Opcode.SETLKW:
      b.need(48)
      return { kind: header.opcode === Opcode.GETLK ? 'GETLK' : header.opcode === Opcode.SETLK ? 'SETLK' : 'SETLKW', header, fh: b.u64(0),
        owner: b.u64(8), start: b.u64(16), end: b.u64(24), lockType: b.u32(32), pid: b.u32(36), flock: (b.u32(40) & LK_FLOCK) !== 0 }
    case Opcode.FALLOCATE: b.need(32); return { kind: 'FALLOCATE', header, fh: b.u64(0), offset: b.u64(8), length: b.u64(16), mode: b.u32(24) }
    case Opcode.LSEEK: b.need(24); return { kind: 'LSEEK', header, fh: b.u64(0), offset: b.u64(8), whence: b.u32(16) }
    default: return null
  }
}

function decodeOtherOp(header: InHeader, b: Body, name: OpcodeName | undefined): Request {
  switch (header.opcode) {
    case Opcode.INIT: {
      b.need(16)
      const flags2 = b.raw.byteLength >= 20 ? BigInt(b.u32(16)) : 0n
      return { kind: 'INIT', header, major: b.u32(0), minor: b.u32(4), maxReadahead: b.u32(8), flags: BigInt(b.u32(12)) | (flags2 << 32n) }
    }
    case Opcode.DESTROY: return { kind: 'DESTROY', header }
    case Opcode.SYNCFS: return { kind: 'SYNCFS', header }
    case Opcode.INTERRUPT: return { kind: 'INTERRUPT', header, interruptedUnique: b.need(8).u64(0) }
    default: return { kind: 'OTHER', header, name, body: b.raw }
  }
}

// ---- requests as the kernel writes them (tests) ----------------------------------------------

/** Encodes a request the way the kernel would (header + body); returns its length. */
export function encodeRequest(out: Uint8Array, h: Omit<InHeader, 'len' | 'totalExtlen'>, body: Uint8Array): number {
  const len = IN_HEADER_BYTES + body.byteLength
  if (out.byteLength < len) throw new FuseProtocolError(`request of ${len} bytes does not fit`)
  const v = view(out)
  v.setUint32(0, len, true)
  v.setUint32(4, h.opcode, true)
  v.setBigUint64(8, h.unique, true)
  v.setBigUint64(16, h.nodeid, true)
  v.setUint32(24, h.uid, true)
  v.setUint32(28, h.gid, true)
  v.setUint32(32, h.pid, true)
  v.setUint32(36, 0, true)
  out.set(body, IN_HEADER_BYTES)
  return len
}
