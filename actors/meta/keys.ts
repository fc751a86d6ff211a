/**
 * Meta's key layout on the KV, after 3FS's (reference/3fs.md §2.3): a 4-byte ASCII tag, then
 * - INOD + inode id (u64 little-endian, so consecutive ids spread over the key space)
 * - DENT + parent id (u64 LE) + name bytes (UTF-8): a directory's entries are one range, by name
 * - INOS + inode id (u64 LE) + session id: the write sessions of a file are one range
 * - IDEM + tuple(clientId, requestId): idempotency records; IDEX + tuple(expiresAtMs, clientId,
 *   requestId) indexes them by expiry so cleanup is a range read
 * - META + tuple(...): meta server membership (see membership.ts)
 * - USER + tuple(...): users and tokens
 * - LOCK + inode id (u64 LE) + tuple(clientId, owner): POSIX advisory locks
 * - TRNC + inode id (u64 LE): the lease of the truncate running on a file (truncate-lease.ts)
 * - SING + "inode-alloc" + shard: the inode id allocator
 * The string-composite suffixes use the project's order-preserving tuple encoding.
 */
import { prefixEnd } from '../kv/bytes.ts'
import { pack, unpack } from '../kv/tuple.ts'
import type { InodeId } from './inode.ts'

const tag = (t: string): Buffer => Buffer.from(t, 'latin1')
export const INOD = tag('INOD')
export const DENT = tag('DENT')
export const INOS = tag('INOS')
export const IDEM = tag('IDEM')
export const IDEX = tag('IDEX')
export const META = tag('META')
export const USER = tag('USER')
export const LOCK = tag('LOCK')
export const TRNC = tag('TRNC')
export const SING_INODE_ALLOC = tag('SINGinode-alloc')

/** An inode id as u64 little-endian at `at` (two u32 writes: no bigint on the hot path). */
function writeId(out: Buffer, id: InodeId, at: number): void {
  out.writeUInt32LE(id % 0x1_0000_0000, at)
  out.writeUInt32LE(Math.floor(id / 0x1_0000_0000), at + 4)
}

function readId(b: Buffer, at: number): InodeId {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 0x1_0000_0000
}

function withId(prefix: Buffer, id: InodeId, extra = 0): Buffer {
  const out = Buffer.allocUnsafe(prefix.length + 8 + extra)
  // Byte by byte: a path walk builds a key per component, and copy() is a native call per key.
  for (let i = 0; i < prefix.length; i++) out[i] = prefix[i]
  writeId(out, id, prefix.length)
  return out
}

const asBuffer = (key: Uint8Array): Buffer => (Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength))

export interface KeyRange {
  readonly begin: Buffer
  readonly end: Buffer
}

export const inodeKey = (id: InodeId): Buffer => withId(INOD, id)
export const inodeOfKey = (key: Uint8Array): InodeId => readId(asBuffer(key), 4)
export const allInodes: KeyRange = { begin: INOD, end: prefixEnd(INOD) }

/** Names up to this long that are ASCII are copied char by char (cheaper than the native UTF-8 encoder for short names). */
const ASCII_NAME_COPY_MAX = 64

export function dentryKey(parent: InodeId, name: string): Buffer {
  if (name.length <= ASCII_NAME_COPY_MAX) {
    let ascii = true
    for (let i = 0; i < name.length && ascii; i++) ascii = name.charCodeAt(i) < 0x80
    if (ascii) {
      const out = withId(DENT, parent, name.length)
      for (let i = 0; i < name.length; i++) out[12 + i] = name.charCodeAt(i)
      return out
    }
  }
  const length = Buffer.byteLength(name, 'utf8')
  const out = withId(DENT, parent, length)
  out.write(name, 12, length, 'utf8')
  return out
}

export function dentryRange(parent: InodeId): KeyRange {
  const prefix = withId(DENT, parent)
  return { begin: prefix, end: prefixEnd(prefix) }
}

export function parseDentryKey(key: Uint8Array): { parent: InodeId; name: string } {
  const b = asBuffer(key)
  return { parent: readId(b, 4), name: b.subarray(12).toString('utf8') }
}

export const allDentries: KeyRange = { begin: DENT, end: prefixEnd(DENT) }

export function sessionKey(inode: InodeId, sessionId: string): Buffer {
  const bytes = Buffer.from(sessionId, 'utf8')
  const out = withId(INOS, inode, bytes.length)
  bytes.copy(out, 12)
  return out
}

export function sessionRange(inode: InodeId): KeyRange {
  const prefix = withId(INOS, inode)
  return { begin: prefix, end: prefixEnd(prefix) }
}

export function parseSessionKey(key: Uint8Array): { inode: InodeId; sessionId: string } {
  const b = asBuffer(key)
  return { inode: readId(b, 4), sessionId: b.subarray(12).toString('utf8') }
}

export const allSessions: KeyRange = { begin: INOS, end: prefixEnd(INOS) }

/** The tuple encoding's type code of a string (kv/tuple.ts): code, UTF-8 with NUL escaped, 0x00. */
const TUPLE_STRING = 0x02
const NO_HEAD = Buffer.alloc(0)

/**
 * `prefix + head + pack([a, b])` when both strings are ASCII without NUL (the ids clients make),
 * written byte by byte: the same bytes as the tuple encoder's, without its generic path (a writer,
 * a UTF-8 buffer per string). Null when a string needs the encoder (escapes, UTF-8).
 */
function asciiPairKey(prefix: Buffer, head: Buffer, a: string, b: string): Buffer | null {
  if (!plainAscii(a) || !plainAscii(b)) return null
  const out = Buffer.allocUnsafe(prefix.length + head.length + a.length + b.length + 4)
  let at = 0
  for (let i = 0; i < prefix.length; i++) out[at++] = prefix[i]
  for (let i = 0; i < head.length; i++) out[at++] = head[i]
  writeAsciiItem(out, writeAsciiItem(out, at, a), b)
  return out
}

function writeAsciiItem(out: Buffer, at: number, s: string): number {
  out[at++] = TUPLE_STRING
  for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i)
  out[at++] = 0x00
  return at
}

function plainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 0 || c >= 0x80) return false
  }
  return true
}

/** The packed expiry of the last idempotency record (a batch's records share their millisecond). */
let lastExpiry: { ms: number; packed: Buffer } = { ms: Number.NaN, packed: NO_HEAD }

function packedExpiry(ms: number): Buffer {
  if (lastExpiry.ms !== ms) lastExpiry = { ms, packed: pack([ms]) }
  return lastExpiry.packed
}

export const idemKey = (clientId: string, requestId: string): Buffer => asciiPairKey(IDEM, NO_HEAD, clientId, requestId) ?? Buffer.concat([IDEM, pack([clientId, requestId])])
export function idemExpiryKey(expiresAtMs: number, clientId: string, requestId: string): Buffer {
  const ms = Math.floor(expiresAtMs)
  return asciiPairKey(IDEX, packedExpiry(ms), clientId, requestId) ?? Buffer.concat([IDEX, pack([ms, clientId, requestId])])
}
export const allIdem: KeyRange = { begin: IDEM, end: prefixEnd(IDEM) }

/** IDEX keys of records that expired at or before `nowMs`. */
export function expiredIdemRange(nowMs: number): KeyRange {
  return { begin: IDEX, end: Buffer.concat([IDEX, pack([Math.floor(nowMs) + 1])]) }
}

export function parseIdemExpiryKey(key: Uint8Array): { expiresAtMs: number; clientId: string; requestId: string } {
  const [expiresAtMs, clientId, requestId] = unpack(key.subarray(IDEX.length))
  return { expiresAtMs: expiresAtMs as number, clientId: clientId as string, requestId: requestId as string }
}

export function parseIdemKey(key: Uint8Array): { clientId: string; requestId: string } {
  const [clientId, requestId] = unpack(key.subarray(IDEM.length))
  return { clientId: clientId as string, requestId: requestId as string }
}

export const metaKey = (...parts: (string | number)[]): Buffer => Buffer.concat([META, pack(parts)])
export function metaRange(part: string): KeyRange {
  const p = Buffer.concat([META, pack([part])])
  return { begin: p, end: prefixEnd(p) }
}
export const parseMetaKey = (key: Uint8Array): (string | number)[] => unpack(key.subarray(META.length)) as (string | number)[]

export const userKey = (uid: number): Buffer => Buffer.concat([USER, pack(['uid', uid])])
export const tokenKey = (token: string): Buffer => Buffer.concat([USER, pack(['token', token])])
export const allUsers: KeyRange = (() => {
  const p = Buffer.concat([USER, pack(['uid'])])
  return { begin: p, end: prefixEnd(p) }
})()

export function lockKey(inode: InodeId, clientId: string, owner: string): Buffer {
  return Buffer.concat([withId(LOCK, inode), pack([clientId, owner])])
}
export function lockRange(inode: InodeId): KeyRange {
  const prefix = withId(LOCK, inode)
  return { begin: prefix, end: prefixEnd(prefix) }
}
export function parseLockKey(key: Uint8Array): { inode: InodeId; clientId: string; owner: string } {
  const b = asBuffer(key)
  const [clientId, owner] = unpack(b.subarray(12))
  return { inode: readId(b, 4), clientId: clientId as string, owner: owner as string }
}
export const allLocks: KeyRange = { begin: LOCK, end: prefixEnd(LOCK) }

export const truncateLeaseKey = (inode: InodeId): Buffer => withId(TRNC, inode)

export const ALLOC_SHARDS = 32
export const allocShardKey = (shard: number): Buffer => Buffer.concat([SING_INODE_ALLOC, Buffer.from([shard])])
