/**
 * Replies and notifications of the FUSE kernel protocol (linux/fuse.h): each `encode*` writes one
 * message into a caller's reused buffer and returns its length. The decoders of replies are for
 * tests. See kernel-protocol.ts for the requests.
 */
import { constants as osConstants } from 'node:os'

export const IN_HEADER_BYTES = 40
export const OUT_HEADER_BYTES = 16
/** The protocol version this codec speaks (replies carry min(kernel minor, this)). */
export const FUSE_KERNEL_VERSION = 7
export const FUSE_KERNEL_MINOR_VERSION = 38

export class FuseProtocolError extends Error {
  readonly code = 'ERR_FUSE_PROTOCOL'
  /** The errno to answer the request with, when its header could be read. */
  readonly errno: string
  constructor(message: string, errno = 'EIO') {
    super(message)
    this.name = 'FuseProtocolError'
    this.errno = errno
  }
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength)
const utf8 = new TextDecoder('utf-8', { fatal: false })
const utf8Encoder = new TextEncoder()

/** The errno number of a name ('ENOENT' → 2); undefined for an unknown name. */
export function errnoNumber(name: string): number | undefined {
  return (osConstants.errno as Record<string, number | undefined>)[name]
}


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
  const n = typeof errno === 'number' ? errno : errnoNumber(errno)
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

/** fuse_entry_out: nodeid 0 with entryValidSec > 0 is a negative entry (ENOENT cached). */
export interface EntryReply { nodeid: bigint; generation?: bigint; entryValidSec: number; attrValidSec: number; attr: Attr }

function writeEntry(v: DataView, o: number, e: EntryReply): void {
  const [es, ens] = splitSeconds(e.entryValidSec)
  const [as, ans] = splitSeconds(e.attrValidSec)
  v.setBigUint64(o, e.nodeid, true)
  v.setBigUint64(o + 8, e.generation ?? 0n, true)
  v.setBigUint64(o + 16, es, true)
  v.setBigUint64(o + 24, as, true)
  v.setUint32(o + 32, ens, true)
  v.setUint32(o + 36, ans, true)
  writeAttr(v, o + 40, e.attr)
}

/** LOOKUP, MKNOD, MKDIR, SYMLINK and LINK reply (fuse_entry_out). */
export function encodeEntry(out: Uint8Array, unique: bigint, e: EntryReply): number {
  const len = outHeader(out, OUT_HEADER_BYTES + ENTRY_OUT_BYTES, unique, 0)
  writeEntry(view(out), OUT_HEADER_BYTES, e)
  return len
}

export const ATTR_OUT_BYTES = 16 + ATTR_BYTES
/** GETATTR and SETATTR reply (fuse_attr_out). */
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

/**
 * READDIR reply: entries[startIndex..] packed as fuse_dirent (8-byte aligned) until `maxBytes`
 * (the request's size) is reached. Each entry's `off` is offsetBase + its index + 1, so the next
 * READDIR's offset is the stream index to resume from. Returns the reply length and how many entries fitted.
 */
export function encodeDirents(out: Uint8Array, unique: bigint, entries: readonly Dirent[], startIndex: number, maxBytes: number, offsetBase = 0): { length: number; count: number } {
  const v = view(out)
  let o = OUT_HEADER_BYTES
  let count = 0
  for (let i = startIndex; i < entries.length; i++) {
    const e = entries[i]!
    const name = utf8Encoder.encode(e.name)
    const recBytes = (DIRENT_HEADER_BYTES + name.length + 7) & ~7
    if (o - OUT_HEADER_BYTES + recBytes > maxBytes || o + recBytes > out.byteLength) break
    v.setBigUint64(o, e.ino, true)
    v.setBigUint64(o + 8, BigInt(offsetBase + i + 1), true)
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

/** WRITE reply (fuse_write_out): how many bytes were taken. */
export function encodeWrite(out: Uint8Array, unique: bigint, size: number): number {
  const len = outHeader(out, OUT_HEADER_BYTES + 8, unique, 0)
  const v = view(out)
  v.setUint32(OUT_HEADER_BYTES, size, true)
  v.setUint32(OUT_HEADER_BYTES + 4, 0, true)
  return len
}

/** CREATE reply: fuse_entry_out then fuse_open_out. */
export function encodeCreate(out: Uint8Array, unique: bigint, e: EntryReply, o: { fh: bigint; openFlags?: number }): number {
  const len = outHeader(out, OUT_HEADER_BYTES + ENTRY_OUT_BYTES + 16, unique, 0)
  writeEntry(view(out), OUT_HEADER_BYTES, e)
  const v = view(out)
  const at = OUT_HEADER_BYTES + ENTRY_OUT_BYTES
  v.setBigUint64(at, o.fh, true)
  v.setUint32(at + 8, o.openFlags ?? 0, true)
  v.setInt32(at + 12, 0, true)
  return len
}

/** GETXATTR/LISTXATTR asked with size 0: only the size the value needs (fuse_getxattr_out). */
export function encodeXattrSize(out: Uint8Array, unique: bigint, size: number): number {
  const len = outHeader(out, OUT_HEADER_BYTES + 8, unique, 0)
  const v = view(out)
  v.setUint32(OUT_HEADER_BYTES, size, true)
  v.setUint32(OUT_HEADER_BYTES + 4, 0, true)
  return len
}

/** GETLK reply (fuse_lk_out): the conflicting lock, or type F_UNLCK when none. */
export function encodeLock(out: Uint8Array, unique: bigint, lk: { start: bigint; end: bigint; type: number; pid: number }): number {
  const len = outHeader(out, OUT_HEADER_BYTES + 24, unique, 0)
  const v = view(out)
  v.setBigUint64(OUT_HEADER_BYTES, lk.start, true)
  v.setBigUint64(OUT_HEADER_BYTES + 8, lk.end, true)
  v.setUint32(OUT_HEADER_BYTES + 16, lk.type, true)
  v.setUint32(OUT_HEADER_BYTES + 20, lk.pid, true)
  return len
}

/** LSEEK reply (fuse_lseek_out). */
export function encodeLseek(out: Uint8Array, unique: bigint, offset: bigint): number {
  const len = outHeader(out, OUT_HEADER_BYTES + 8, unique, 0)
  view(out).setBigUint64(OUT_HEADER_BYTES, offset, true)
  return len
}

export interface DirentPlus extends Dirent { entry: EntryReply | null }

/**
 * READDIRPLUS reply: entries[startIndex..] as fuse_direntplus (an entry_out, which counts as a
 * LOOKUP of the child when its nodeid is not 0, then the dirent), with `off` = index + 1.
 */
export function encodeDirentsPlus(out: Uint8Array, unique: bigint, entries: readonly DirentPlus[], startIndex: number, maxBytes: number, offsetBase = 0): { length: number; count: number } {
  const v = view(out)
  let o = OUT_HEADER_BYTES
  let count = 0
  for (let i = startIndex; i < entries.length; i++) {
    const e = entries[i]!
    const name = utf8Encoder.encode(e.name)
    const recBytes = (ENTRY_OUT_BYTES + DIRENT_HEADER_BYTES + name.length + 7) & ~7
    if (o - OUT_HEADER_BYTES + recBytes > maxBytes || o + recBytes > out.byteLength) break
    if (e.entry === null) out.fill(0, o, o + ENTRY_OUT_BYTES)
    else writeEntry(v, o, e.entry)
    const d = o + ENTRY_OUT_BYTES
    v.setBigUint64(d, e.ino, true)
    v.setBigUint64(d + 8, BigInt(offsetBase + i + 1), true)
    v.setUint32(d + 16, name.length, true)
    v.setUint32(d + 20, e.type, true)
    out.set(name, d + DIRENT_HEADER_BYTES)
    out.fill(0, d + DIRENT_HEADER_BYTES + name.length, o + recBytes)
    o += recBytes
    count++
  }
  return { length: outHeader(out, o, unique, 0), count }
}

// ---- notifications (server → kernel, unique 0, `error` = the notify code) --------------------

export const NotifyCode = { POLL: 1, INVAL_INODE: 2, INVAL_ENTRY: 3, STORE: 4, RETRIEVE: 5, DELETE: 6 } as const

/** Drops the kernel's cached attributes of `ino` and its page cache in [offset, offset+length) (length 0: all; offset -1: attributes only). */
export function encodeInvalInode(out: Uint8Array, ino: bigint, offset = 0n, length = 0n): number {
  const len = outHeader(out, OUT_HEADER_BYTES + 24, 0n, NotifyCode.INVAL_INODE)
  const v = view(out)
  v.setBigUint64(OUT_HEADER_BYTES, ino, true)
  v.setBigInt64(OUT_HEADER_BYTES + 8, offset, true)
  v.setBigInt64(OUT_HEADER_BYTES + 16, length, true)
  return len
}

/** Drops the kernel's cached entry `name` in directory `parent` (a later access looks it up again). */
export function encodeInvalEntry(out: Uint8Array, parent: bigint, name: string): number {
  const bytes = utf8Encoder.encode(name)
  const len = outHeader(out, OUT_HEADER_BYTES + 16 + bytes.length + 1, 0n, NotifyCode.INVAL_ENTRY)
  const v = view(out)
  v.setBigUint64(OUT_HEADER_BYTES, parent, true)
  v.setUint32(OUT_HEADER_BYTES + 8, bytes.length, true)
  v.setUint32(OUT_HEADER_BYTES + 12, 0, true)
  out.set(bytes, OUT_HEADER_BYTES + 16)
  out[OUT_HEADER_BYTES + 16 + bytes.length] = 0
  return len
}

/** Tells the kernel entry `name` of `parent`, pointing at `child`, was removed (like an unlink seen locally). */
export function encodeDeleteEntry(out: Uint8Array, parent: bigint, child: bigint, name: string): number {
  const bytes = utf8Encoder.encode(name)
  const len = outHeader(out, OUT_HEADER_BYTES + 24 + bytes.length + 1, 0n, NotifyCode.DELETE)
  const v = view(out)
  v.setBigUint64(OUT_HEADER_BYTES, parent, true)
  v.setBigUint64(OUT_HEADER_BYTES + 8, child, true)
  v.setUint32(OUT_HEADER_BYTES + 16, bytes.length, true)
  v.setUint32(OUT_HEADER_BYTES + 20, 0, true)
  out.set(bytes, OUT_HEADER_BYTES + 24)
  out[OUT_HEADER_BYTES + 24 + bytes.length] = 0
  return len
}
