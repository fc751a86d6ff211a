/**
 * Order-preserving tuple encoding for composite keys, after FoundationDB's tuple layer:
 * comparing two encodings as bytes gives the same answer as comparing the tuples element by element
 * (type first: null < bytes < string < nested tuple < integer < false < true; then value).
 *
 * Type codes (FDB's): 0x00 null, 0x01 bytes, 0x02 UTF-8 string, 0x05 nested tuple, 0x0b/0x1d
 * negative/positive integers longer than 8 bytes, 0x0c..0x1c integers of 0..8 bytes around 0x14
 * (zero), 0x26 false, 0x27 true. Bytes and strings escape 0x00 as 0x00 0xff and end with 0x00;
 * inside a nested tuple null is 0x00 0xff. Integers decode to `number` when they are safe
 * integers and to `bigint` otherwise.
 */
import { kvError, KvErrorCode } from './errors.ts'
import { prefixEnd } from './bytes.ts'

export type TupleItem = null | Uint8Array | string | number | bigint | boolean | readonly TupleItem[]
export type Tuple = readonly TupleItem[]

const NULL = 0x00
const BYTES = 0x01
const STRING = 0x02
const NESTED = 0x05
const NEG_LONG = 0x0b
const INT_ZERO = 0x14
const POS_LONG = 0x1d
const FALSE = 0x26
const TRUE = 0x27
/** Longest integer magnitude the 0x0b/0x1d forms carry (one length byte). */
const MAX_INT_BYTES = 255
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

class Writer {
  private buf = Buffer.allocUnsafe(64)
  length = 0
  byte(b: number): void {
    this.reserve(1)
    this.buf[this.length++] = b
  }
  bytes(src: Uint8Array): void {
    this.reserve(src.length)
    this.buf.set(src, this.length)
    this.length += src.length
  }
  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length))
  }
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n))
    this.buf.copy(next, 0, 0, this.length)
    this.buf = next
  }
}

/** Encodes a tuple as ordered bytes. */
export function pack(tuple: Tuple): Buffer {
  if (!Array.isArray(tuple)) throw invalid(`pack expects an array of tuple items, got ${typeof tuple}`)
  const w = new Writer()
  for (const item of tuple) encodeItem(w, item, false, 0)
  return w.result()
}

/** Decodes bytes made by `pack`; throws ERR_TUPLE_INVALID on anything else. */
export function unpack(bytes: Uint8Array): TupleItem[] {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: TupleItem[] = []
  let pos = 0
  while (pos < buf.length) {
    const [item, next] = decodeItem(buf, pos, false)
    out.push(item)
    pos = next
  }
  return out
}

/** The key range holding every tuple that starts with `prefix` (FDB's `Tuple.range`): [p+0x00, p+0xff). */
export function tupleRange(prefix: Tuple): { begin: Buffer; end: Buffer } {
  const p = pack(prefix)
  return { begin: Buffer.concat([p, Buffer.from([0x00])]), end: Buffer.concat([p, Buffer.from([0xff])]) }
}

/** The key range of every key starting with the bytes `prefix`: [prefix, strinc(prefix)). */
export function prefixRange(prefix: Uint8Array): { begin: Buffer; end: Buffer } {
  return { begin: Buffer.from(prefix), end: prefixEnd(prefix) }
}

const MAX_NESTING_DEPTH = 64

function encodeItem(w: Writer, item: TupleItem, nested: boolean, depth: number): void {
  if (item === null) {
    w.byte(NULL)
    if (nested) w.byte(0xff)
  } else if (item instanceof Uint8Array) {
    w.byte(BYTES)
    writeEscaped(w, item)
  } else if (typeof item === 'string') {
    if (LONE_SURROGATE.test(item)) throw invalid('a tuple string must be well-formed UTF-16 (it holds a lone surrogate)')
    w.byte(STRING)
    writeEscaped(w, Buffer.from(item, 'utf8'))
  } else if (typeof item === 'number') {
    if (!Number.isSafeInteger(item)) throw invalid(`a tuple number must be a safe integer (use bigint beyond 2^53), got ${item}`)
    encodeInt(w, BigInt(item))
  } else if (typeof item === 'bigint') {
    encodeInt(w, item)
  } else if (typeof item === 'boolean') {
    w.byte(item ? TRUE : FALSE)
  } else if (Array.isArray(item)) {
    if (depth >= MAX_NESTING_DEPTH) throw invalid(`tuples nest at most ${MAX_NESTING_DEPTH} deep`)
    w.byte(NESTED)
    for (const inner of item as readonly TupleItem[]) encodeItem(w, inner, true, depth + 1)
    w.byte(0x00)
  } else {
    throw invalid(`a tuple item must be null, Uint8Array, string, integer, bigint, boolean or array; got ${typeof item}`)
  }
}

function writeEscaped(w: Writer, src: Uint8Array): void {
  let start = 0
  for (let i = 0; i < src.length; i++) {
    if (src[i] !== 0x00) continue
    w.bytes(src.subarray(start, i + 1))
    w.byte(0xff)
    start = i + 1
  }
  w.bytes(src.subarray(start))
  w.byte(0x00)
}

function magnitudeBytes(n: bigint): Buffer {
  let hex = n.toString(16)
  if (hex.length % 2) hex = '0' + hex
  return n === 0n ? Buffer.alloc(0) : Buffer.from(hex, 'hex')
}

function encodeInt(w: Writer, n: bigint): void {
  if (n === 0n) return w.byte(INT_ZERO)
  const mag = magnitudeBytes(n < 0n ? -n : n)
  if (mag.length > MAX_INT_BYTES) throw invalid(`a tuple integer holds at most ${MAX_INT_BYTES} bytes`)
  if (n > 0n) {
    if (mag.length <= 8) w.byte(INT_ZERO + mag.length)
    else {
      w.byte(POS_LONG)
      w.byte(mag.length)
    }
    return w.bytes(mag)
  }
  // Negative: one's complement of the magnitude, so a larger magnitude sorts first.
  for (let i = 0; i < mag.length; i++) mag[i] ^= 0xff
  if (mag.length <= 8) w.byte(INT_ZERO - mag.length)
  else {
    w.byte(NEG_LONG)
    w.byte(mag.length ^ 0xff)
  }
  w.bytes(mag)
}

function decodeItem(buf: Buffer, pos: number, nested: boolean): [TupleItem, number] {
  const code = buf[pos]
  if (code === NULL) return [null, nested ? pos + 2 : pos + 1]
  if (code === BYTES) {
    const [raw, next] = readEscaped(buf, pos + 1)
    return [raw, next]
  }
  if (code === STRING) {
    const [raw, next] = readEscaped(buf, pos + 1)
    return [raw.toString('utf8'), next]
  }
  if (code === NESTED) return decodeNested(buf, pos + 1)
  if (code >= NEG_LONG && code <= POS_LONG) return decodeInt(buf, pos, code)
  if (code === FALSE) return [false, pos + 1]
  if (code === TRUE) return [true, pos + 1]
  throw invalid(`unknown tuple type code 0x${code.toString(16).padStart(2, '0')} at byte ${pos}`)
}

function decodeNested(buf: Buffer, start: number): [TupleItem, number] {
  const items: TupleItem[] = []
  let pos = start
  for (;;) {
    if (pos >= buf.length) throw invalid('a nested tuple is not terminated')
    if (buf[pos] === 0x00) {
      if (buf[pos + 1] === 0xff) {
        items.push(null)
        pos += 2
        continue
      }
      return [items, pos + 1]
    }
    const [item, next] = decodeItem(buf, pos, true)
    items.push(item)
    pos = next
  }
}

function readEscaped(buf: Buffer, start: number): [Buffer, number] {
  const parts: Buffer[] = []
  let from = start
  for (let i = start; i < buf.length; i++) {
    if (buf[i] !== 0x00) continue
    if (buf[i + 1] === 0xff) {
      parts.push(buf.subarray(from, i + 1))
      from = i + 2
      i++
      continue
    }
    parts.push(buf.subarray(from, i))
    return [Buffer.concat(parts), i + 1]
  }
  throw invalid('a tuple byte string or string is not terminated')
}

function decodeInt(buf: Buffer, pos: number, code: number): [TupleItem, number] {
  let negative: boolean
  let length: number
  let start = pos + 1
  if (code === POS_LONG || code === NEG_LONG) {
    if (start >= buf.length) throw invalid('a long tuple integer lacks its length byte')
    negative = code === NEG_LONG
    length = negative ? buf[start] ^ 0xff : buf[start]
    start++
  } else {
    negative = code < INT_ZERO
    length = Math.abs(code - INT_ZERO)
  }
  if (start + length > buf.length) throw invalid('a tuple integer is truncated')
  const mag = Buffer.from(buf.subarray(start, start + length))
  if (negative) for (let i = 0; i < mag.length; i++) mag[i] ^= 0xff
  let n = length === 0 ? 0n : BigInt('0x' + mag.toString('hex'))
  if (negative) n = -n
  const asNumber = n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
  return [asNumber ? Number(n) : n, start + length]
}

function invalid(message: string) {
  return kvError(KvErrorCode.TUPLE_INVALID, message)
}

/**
 * The order the encoding preserves, as a comparator on tuples (used by tests and by code that
 * must sort decoded keys without re-encoding them).
 */
export function compareTuples(a: Tuple, b: Tuple): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const c = compareItems(a[i], b[i])
    if (c !== 0) return c
  }
  return Math.sign(a.length - b.length)
}

function typeRank(item: TupleItem): number {
  if (item === null) return 0
  if (item instanceof Uint8Array) return 1
  if (typeof item === 'string') return 2
  if (Array.isArray(item)) return 3
  if (typeof item === 'number' || typeof item === 'bigint') return 4
  return item === false ? 5 : 6
}

function compareItems(a: TupleItem, b: TupleItem): number {
  const ra = typeRank(a)
  const rb = typeRank(b)
  if (ra !== rb) return Math.sign(ra - rb)
  switch (ra) {
    case 1:
      return Buffer.compare(a as Uint8Array, b as Uint8Array)
    case 2:
      return Buffer.compare(Buffer.from(a as string, 'utf8'), Buffer.from(b as string, 'utf8'))
    case 3:
      return compareTuples(a as Tuple, b as Tuple)
    case 4: {
      const x = BigInt(a as number | bigint)
      const y = BigInt(b as number | bigint)
      return x < y ? -1 : x > y ? 1 : 0
    }
    default:
      return 0
  }
}
