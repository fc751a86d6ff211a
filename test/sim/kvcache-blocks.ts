/**
 * Blocks the KVCache simulation puts: every byte follows from (key, version), so a reader can tell
 * a whole block from a torn or mixed one, and which put it came from. Layout: a 16-byte header
 * (magic, version, length, CRC32C of the key), the key's bytes, then a body whose byte i is a
 * function of the key, the version and i (two versions differ in almost every byte).
 */
import { crc32c } from '../../runtime/index.ts'

const MAGIC = 0x4b565342 // "KVSB"
const HEADER_BYTES = 16

const keyHash = (key: string): number => crc32c(Buffer.from(key, 'utf8')) >>> 0

const bodyByte = (seed: number, i: number): number => (seed + i * 7 + (i >>> 8) * 13) & 0xff

/** The smallest block of `key` (header and key). */
export const minBlockBytes = (key: string): number => HEADER_BYTES + Buffer.byteLength(key, 'utf8')

/** The block of `key` at `version`, `sizeBytes` long (at least minBlockBytes). */
export function makeBlock(key: string, version: number, sizeBytes: number): Buffer {
  const out = Buffer.alloc(sizeBytes)
  out.writeUInt32LE(MAGIC, 0)
  out.writeUInt32LE(version, 4)
  out.writeUInt32LE(sizeBytes, 8)
  out.writeUInt32LE(keyHash(key), 12)
  const start = HEADER_BYTES + out.write(key, HEADER_BYTES, 'utf8')
  const seed = (keyHash(key) + version * 131) >>> 0
  for (let i = start; i < sizeBytes; i++) out[i] = bodyByte(seed, i)
  return out
}

/** The version of a whole block of `key`, or why the bytes are not one (torn, mixed, another key's). */
export function readBlock(key: string, bytes: Uint8Array): { ok: true; version: number } | { ok: false; why: string } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  if (b.length < minBlockBytes(key)) return { ok: false, why: `${b.length} bytes, shorter than a header` }
  if (b.readUInt32LE(0) !== MAGIC) return { ok: false, why: `no block header (first word ${b.readUInt32LE(0).toString(16)})` }
  const version = b.readUInt32LE(4)
  const length = b.readUInt32LE(8)
  if (length !== b.length) return { ok: false, why: `the header of version ${version} says ${length} bytes; ${b.length} were read` }
  const keyEnd = minBlockBytes(key)
  if (b.readUInt32LE(12) !== keyHash(key) || b.toString('utf8', HEADER_BYTES, keyEnd) !== key) return { ok: false, why: `another key's block (version ${version})` }
  const seed = (keyHash(key) + version * 131) >>> 0
  for (let i = keyEnd; i < b.length; i++) {
    if (b[i] !== bodyByte(seed, i)) return { ok: false, why: `version ${version} of ${length} bytes differs at byte ${i} (${b[i]}, written as ${bodyByte(seed, i)})` }
  }
  return { ok: true, version }
}
