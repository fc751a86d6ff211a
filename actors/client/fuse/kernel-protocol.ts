/**
 * The FUSE kernel protocol (linux/fuse.h, ABI 7.x): struct layouts, opcodes and the encode/decode
 * of the requests a read-only-capable file system answers. Pure functions over byte buffers, no
 * I/O: the FUSE mount actor (and its tests, and the simulator) read a request from /dev/fuse,
 * `decodeRequest` it, and write back what an `encode*` reply function put in a reused buffer.
 *
 * Every request starts with fuse_in_header (40 bytes); every reply with fuse_out_header (16 bytes)
 * whose `error` is 0 or a negated errno. FORGET and BATCH_FORGET get no reply. All little-endian.
 */
import { constants as osConstants } from 'node:os'

/** The protocol version this codec speaks (replies carry min(kernel minor, this)). */
export const FUSE_KERNEL_VERSION = 7
export const FUSE_KERNEL_MINOR_VERSION = 38
export const IN_HEADER_BYTES = 40
export const OUT_HEADER_BYTES = 16
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
/** d_type values for READDIR entries */
export const DirentType = { UNKNOWN: 0, FIFO: 1, CHR: 2, DIR: 4, BLK: 6, REG: 8, LNK: 10, SOCK: 12 } as const
export const S_IFDIR = 0o040000
export const S_IFREG = 0o100000
export const S_IFLNK = 0o120000
export const ROOT_ID = 1n

export interface InHeader {
  len: number; opcode: number; unique: bigint; nodeid: bigint; uid: number; gid: number; pid: number; totalExtlen: number
}

export type Request =
  | { kind: 'INIT'; header: InHeader; major: number; minor: number; maxReadahead: number; flags: bigint }
  | { kind: 'LOOKUP'; header: InHeader; name: string }
  | { kind: 'FORGET'; header: InHeader; nlookup: bigint }
  | { kind: 'BATCH_FORGET'; header: InHeader; items: Array<{ nodeid: bigint; nlookup: bigint }> }
  | { kind: 'GETATTR'; header: InHeader; getattrFlags: number; fh: bigint }
  | { kind: 'OPEN' | 'OPENDIR'; header: InHeader; flags: number; openFlags: number }
  | { kind: 'READ' | 'READDIR' | 'READDIRPLUS'; header: InHeader; fh: bigint; offset: bigint; size: number; readFlags: number; lockOwner: bigint; flags: number }
  | { kind: 'RELEASE' | 'RELEASEDIR'; header: InHeader; fh: bigint; flags: number; releaseFlags: number; lockOwner: bigint }
  | { kind: 'FLUSH'; header: InHeader; fh: bigint; lockOwner: bigint }
  | { kind: 'STATFS' | 'DESTROY'; header: InHeader }
  | { kind: 'INTERRUPT'; header: InHeader; interruptedUnique: bigint }
  | { kind: 'OTHER'; header: InHeader; name: OpcodeName | undefined; body: Uint8Array }

/** Requests that must not be answered. */
export function expectsReply(request: Request): boolean {
  return request.kind !== 'FORGET' && request.kind !== 'BATCH_FORGET'
}

export class FuseProtocolError extends Error {
  readonly code = 'ERR_FUSE_PROTOCOL'
  constructor(message: string) { super(message); this.name = 'FuseProtocolError' }
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength)
const utf8 = new TextDecoder('utf-8', { fatal: false })

export function decodeInHeader(bytes: Uint8Array): InHeader {
  if (bytes.byteLength < IN_HEADER_BYTES) throw new FuseProtocolError(`request of ${bytes.byteLength} bytes is shorter than fuse_in_header`)
  const v = view(bytes)
  return {
    len: v.getUint32(0, true), opcode: v.getUint32(4, true), unique: v.getBigUint64(8, true), nodeid: v.getBigUint64(16, true),
    uid: v.getUint32(24, true), gid: v.getUint32(28, true), pid: v.getUint32(32, true), totalExtlen: v.getUint16(36, true),
  }
}

function need(kind: string, body: DataView, bytes: number): void {
  if (body.byteLength < bytes) throw new FuseProtocolError(`${kind} body is ${body.byteLength} bytes, needs ${bytes}`)
}

/** Decodes one request exactly as read from /dev/fuse (one read returns one request). */
export function decodeRequest(bytes: Uint8Array): Request {
  const header = decodeInHeader(bytes)
  if (header.len > bytes.byteLength) throw new FuseProtocolError(`header says ${header.len} bytes, got ${bytes.byteLength}`)
  const raw = bytes.subarray(IN_HEADER_BYTES, header.len)
  const b = view(raw)
  const name = opcodeName(header.opcode)
  switch (header.opcode) {
    case Opcode.INIT: {
      need('INIT', b, 16)
      const flags2 = b.byteLength >= 20 ? BigInt(b.getUint32(16, true)) : 0n
      return { kind: 'INIT', header, major: b.getUint32(0, true), minor: b.getUint32(4, true), maxReadahead: b.getUint32(8, true),
        flags: BigInt(b.getUint32(12, true)) | (flags2 << 32n) }
    }
    case Opcode.LOOKUP: {
      const end = raw.indexOf(0)
      return { kind: 'LOOKUP', header, name: utf8.decode(raw.subarray(0, end < 0 ? raw.length : end)) }
    }
    case Opcode.FORGET: need('FORGET', b, 8); return { kind: 'FORGET', header, nlookup: b.getBigUint64(0, true) }
    case Opcode.BATCH_FORGET: {
      need('BATCH_FORGET', b, 8)
      const count = b.getUint32(0, true)
      need('BATCH_FORGET', b, 8 + count * 16)
      const items = Array.from({ length: count }, (_, i) => ({ nodeid: b.getBigUint64(8 + i * 16, true), nlookup: b.getBigUint64(16 + i * 16, true) }))
      return { kind: 'BATCH_FORGET', header, items }
    }
    case Opcode.GETATTR:
      if (b.byteLength < 16) return { kind: 'GETATTR', header, getattrFlags: 0, fh: 0n } // ABI < 7.9
      return { kind: 'GETATTR', header, getattrFlags: b.getUint32(0, true), fh: b.getBigUint64(8, true) }
    case Opcode.OPEN:
    case Opcode.OPENDIR:
      need(name ?? 'OPEN', b, 8)
      return { kind: header.opcode === Opcode.OPEN ? 'OPEN' : 'OPENDIR', header, flags: b.getUint32(0, true), openFlags: b.getUint32(4, true) }
    case Opcode.READ:
    case Opcode.READDIR:
    case Opcode.READDIRPLUS:
      need(name ?? 'READ', b, 24)
      return { kind: name as 'READ' | 'READDIR' | 'READDIRPLUS', header, fh: b.getBigUint64(0, true), offset: b.getBigUint64(8, true),
        size: b.getUint32(16, true), readFlags: b.getUint32(20, true),
        lockOwner: b.byteLength >= 32 ? b.getBigUint64(24, true) : 0n, flags: b.byteLength >= 36 ? b.getUint32(32, true) : 0 }
    case Opcode.RELEASE:
    case Opcode.RELEASEDIR:
      need(name ?? 'RELEASE', b, 16)
      return { kind: header.opcode === Opcode.RELEASE ? 'RELEASE' : 'RELEASEDIR', header, fh: b.getBigUint64(0, true),
        flags: b.getUint32(8, true), releaseFlags: b.getUint32(12, true), lockOwner: b.byteLength >= 24 ? b.getBigUint64(16, true) : 0n }
    case Opcode.FLUSH:
      need('FLUSH', b, 24)
      return { kind: 'FLUSH', header, fh: b.getBigUint64(0, true), lockOwner: b.getBigUint64(16, true) }
    case Opcode.STATFS: return { kind: 'STATFS', header }
    case Opcode.DESTROY: return { kind: 'DESTROY', header }
    case Opcode.INTERRUPT: need('INTERRUPT', b, 8); return { kind: 'INTERRUPT', header, interruptedUnique: b.getBigUint64(0, true) }
    default: return { kind: 'OTHER', header, name, body: raw }
  }
}

// ---- replies ----------------------------------------------------------------------------------

function outHeader(out: Uint8Array, len: number, unique: bigint, error: number): number {
  if (out.byteLength < len) throw new FuseProtocolError(`reply of ${len} bytes does not fit the ${out.byteLength}-byte buffer`)
  const v = view(out)
  v.setUint32(0, len, true)
  v.setInt32(4, error, true)
  v.setBigUint64(8, unique, true)
  return len
}

/** An error reply: `errno` is a positive number or a name ('ENOENT'). Returns the reply length. */
export function encodeError(out: Uint8Array, unique: bigint, errno: number | string): number {
  const n = typeof errno === 'number' ? errno : (osConstants.errno as Record<string, number | undefined>)[errno]
  if (n === undefined || n <= 0) throw new FuseProtocolError(`unknown errno ${String(errno)}`)
  return outHeader(out, OUT_HEADER_BYTES, unique, -n)
}

/** A reply with no body (RELEASE, RELEASEDIR, FLUSH, DESTROY, ...). */
export function encodeEmpty(out: Uint8Array, unique: bigint): number { return outHeader(out, OUT_HEADER_BYTES, unique, 0) }

export interface InitReply {
  /** the kernel's minor from the INIT request: the reply carries min(it, FUSE_KERNEL_MINOR_VERSION) */
  kernelMinor: number
  maxReadahead: number
  flags: bigint
  maxBackground?: number
  congestionThreshold?: number
  maxWrite: number
  timeGranNs?: number
  maxPages?: number
}

export const INIT_OUT_BYTES = 64
export function encodeInit(out: Uint8Array, unique: bigint, r: InitReply): number {
  const len = outHeader(out, OUT_HEADER_BYTES + INIT_OUT_BYTES, unique, 0)
  out.fill(0, OUT_HEADER_BYTES, len)
  const v = view(out)
  const o = OUT_HEADER_BYTES
  v.setUint32(o, FUSE_KERNEL_VERSION, true)
  v.setUint32(o + 4, Math.min(r.kernelMinor, FUSE_KERNEL_MINOR_VERSION), true)
  v.setUint32(o + 8, r.maxReadahead, true)
  v.setUint32(o + 12, Number(r.flags & 0xffffffffn), true)
  v.setUint16(o + 16, r.maxBackground ?? 16, true)
  v.setUint16(o + 18, r.congestionThreshold ?? 12, true)
  v.setUint32(o + 20, r.maxWrite, true)
  v.setUint32(o + 24, r.timeGranNs ?? 1, true)
  v.setUint16(o + 28, r.maxPages ?? Math.ceil(r.maxWrite / 4096), true)
  v.setUint16(o + 30, 0, true) // map_alignment
  v.setUint32(o + 32, Number((r.flags >> 32n) & 0xffffffffn), true)
  return len
}

export interface Attr {
  ino: bigint; size: bigint | number; blocks?: bigint | number; atimeSec?: number; mtimeSec?: number; ctimeSec?: number
  atimeNsec?: number; mtimeNsec?: number; ctimeNsec?: number; mode: number; nlink: number; uid: number; gid: number
  rdev?: number; blksize?: number; flags?: number
}
export const ATTR_BYTES = 88

function writeAttr(v: DataView, o: number, a: Attr): void {
  const size = BigInt(a.size)
  v.setBigUint64(o, a.ino, true)
  v.setBigUint64(o + 8, size, true)
  v.setBigUint64(o + 16, a.blocks === undefined ? (size + 511n) / 512n : BigInt(a.blocks), true)
  v.setBigUint64(o + 24, BigInt(a.atimeSec ?? 0), true)
  v.setBigUint64(o + 32, BigInt(a.mtimeSec ?? 0), true)
  v.setBigUint64(o + 40, BigInt(a.ctimeSec ?? 0), true)
  v.setUint32(o + 48, a.atimeNsec ?? 0, true)
  v.setUint32(o + 52, a.mtimeNsec ?? 0, true)
  v.setUint32(o + 56, a.ctimeNsec ?? 0, true)
  v.setUint32(o + 60, a.mode, true)
  v.setUint32(o + 64, a.nlink, true)
  v.setUint32(o + 68, a.uid, true)
  v.setUint32(o + 72, a.gid, true)
  v.setUint32(o + 76, a.rdev ?? 0, true)
  v.setUint32(o + 80, a.blksize ?? 4096, true)
  v.setUint32(o + 84, a.flags ?? 0, true)
}

export function decodeAttr(bytes: Uint8Array): Attr {
  const v = view(bytes)
  return {
    ino: v.getBigUint64(0, true), size: v.getBigUint64(8, true), blocks: v.getBigUint64(16, true),
    atimeSec: Number(v.getBigUint64(24, true)), mtimeSec: Number(v.getBigUint64(32, true)), ctimeSec: Number(v.getBigUint64(40, true)),
    atimeNsec: v.getUint32(48, true), mtimeNsec: v.getUint32(52, true), ctimeNsec: v.getUint32(56, true),
    mode: v.getUint32(60, true), nlink: v.getUint32(64, true), uid: v.getUint32(68, true), gid: v.getUint32(72, true),
    rdev: v.getUint32(76, true), blksize: v.getUint32(80, true), flags: v.getUint32(84, true),
  }
}

function splitSeconds(s: number): [bigint, number] {
  const whole = Math.floor(s)
  return [BigInt(whole), Math.round((s - whole) * 1e9)]
}

export const ENTRY_OUT_BYTES = 40 + ATTR_BYTES
/** LOOKUP reply (fuse_entry_out). nodeid 0 with ENOENT semantics = negative entry caching. */
export function encodeEntry(out: Uint8Array, unique: bigint,
  e: { nodeid: bigint; generation?: bigint; entryValidSec: number; attrValidSec: number; attr: Attr }): number {
  const len = outHeader(out, OUT_HEADER_BYTES + ENTRY_OUT_BYTES, unique, 0)
  const v = view(out)
  const o = OUT_HEADER_BYTES
  const [es, ens] = splitSeconds(e.entryValidSec)
  const [as, ans] = splitSeconds(e.attrValidSec)
  v.setBigUint64(o, e.nodeid, true)
  v.setBigUint64(o + 8, e.generation ?? 0n, true)
  v.setBigUint64(o + 16, es, true)
  v.setBigUint64(o + 24, as, true)
  v.setUint32(o + 32, ens, true)
  v.setUint32(o + 36, ans, true)
  writeAttr(v, o + 40, e.attr)
  return len
}

export const ATTR_OUT_BYTES = 16 + ATTR_BYTES
/** GETATTR reply (fuse_attr_out). */
export function encodeAttr(out: Uint8Array, unique: bigint, a: { attrValidSec: number; attr: Attr }): number {
  const len = outHeader(out, OUT_HEADER_BYTES + ATTR_OUT_BYTES, unique, 0)
  const v = view(out)
  const [s, ns] = splitSeconds(a.attrValidSec)
  v.setBigUint64(OUT_HEADER_BYTES, s, true)
  v.setUint32(OUT_HEADER_BYTES + 8, ns, true)
  v.setUint32(OUT_HEADER_BYTES + 12, 0, true)
  writeAttr(v, OUT_HEADER_BYTES + 16, a.attr)
  return len
}

/** OPEN/OPENDIR reply (fuse_open_out). */
export function encodeOpen(out: Uint8Array, unique: bigint, o: { fh: bigint; openFlags?: number }): number {
  const len = outHeader(out, OUT_HEADER_BYTES + 16, unique, 0)
  const v = view(out)
  v.setBigUint64(OUT_HEADER_BYTES, o.fh, true)
  v.setUint32(OUT_HEADER_BYTES + 8, o.openFlags ?? 0, true)
  v.setInt32(OUT_HEADER_BYTES + 12, 0, true) // backing_id
  return len
}

/** READ reply: the header followed by `data` (copied into `out`). */
export function encodeData(out: Uint8Array, unique: bigint, data: Uint8Array): number {
  const len = outHeader(out, OUT_HEADER_BYTES + data.byteLength, unique, 0)
  out.set(data, OUT_HEADER_BYTES)
  return len
}

export interface Statfs { blocks: bigint; bfree: bigint; bavail: bigint; files: bigint; ffree: bigint; bsize: number; namelen: number; frsize: number }
/** STATFS reply (fuse_statfs_out = fuse_kstatfs, 80 bytes). */
export function encodeStatfs(out: Uint8Array, unique: bigint, s: Statfs): number {
  const len = outHeader(out, OUT_HEADER_BYTES + 80, unique, 0)
  out.fill(0, OUT_HEADER_BYTES, len)
  const v = view(out)
  const o = OUT_HEADER_BYTES
  v.setBigUint64(o, s.blocks, true)
  v.setBigUint64(o + 8, s.bfree, true)
  v.setBigUint64(o + 16, s.bavail, true)
  v.setBigUint64(o + 24, s.files, true)
  v.setBigUint64(o + 32, s.ffree, true)
  v.setUint32(o + 40, s.bsize, true)
  v.setUint32(o + 44, s.namelen, true)
  v.setUint32(o + 48, s.frsize, true)
  return len
}

export interface Dirent { ino: bigint; name: string; type: number }
const DIRENT_HEADER_BYTES = 24
const utf8Encoder = new TextEncoder()

/**
 * READDIR reply: entries[startIndex..] packed as fuse_dirent (8-byte aligned) until `maxBytes`
 * (the request's size) is reached. Each entry's `off` is its index + 1, so the next READDIR's
 * offset is the index to resume from. Returns the reply length and how many entries fitted.
 */
export function encodeDirents(out: Uint8Array, unique: bigint, entries: readonly Dirent[], startIndex: number, maxBytes: number): { length: number; count: number } {
  const v = view(out)
  let o = OUT_HEADER_BYTES
  let count = 0
  for (let i = startIndex; i < entries.length; i++) {
    const e = entries[i]!
    const name = utf8Encoder.encode(e.name)
    const recBytes = (DIRENT_HEADER_BYTES + name.length + 7) & ~7
    if (o - OUT_HEADER_BYTES + recBytes > maxBytes || o + recBytes > out.byteLength) break
    v.setBigUint64(o, e.ino, true)
    v.setBigUint64(o + 8, BigInt(i + 1), true)
    v.setUint32(o + 16, name.length, true)
    v.setUint32(o + 20, e.type, true)
    out.set(name, o + DIRENT_HEADER_BYTES)
    out.fill(0, o + DIRENT_HEADER_BYTES + name.length, o + recBytes)
    o += recBytes
    count++
  }
  return { length: outHeader(out, o, unique, 0), count }
}

export function decodeDirents(bytes: Uint8Array): Array<Dirent & { off: bigint }> {
  const v = view(bytes)
  const out: Array<Dirent & { off: bigint }> = []
  let o = 0
  while (o + DIRENT_HEADER_BYTES <= bytes.byteLength) {
    const namelen = v.getUint32(o + 16, true)
    out.push({ ino: v.getBigUint64(o, true), off: v.getBigUint64(o + 8, true), type: v.getUint32(o + 20, true),
      name: utf8.decode(bytes.subarray(o + DIRENT_HEADER_BYTES, o + DIRENT_HEADER_BYTES + namelen)) })
    o += (DIRENT_HEADER_BYTES + namelen + 7) & ~7
  }
  return out
}

export interface OutHeader { len: number; error: number; unique: bigint }
export function decodeOutHeader(bytes: Uint8Array): OutHeader {
  const v = view(bytes)
  return { len: v.getUint32(0, true), error: v.getInt32(4, true), unique: v.getBigUint64(8, true) }
}

// ---- requests (what the kernel sends; used by tests and by an in-memory kernel in simulation) --

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
