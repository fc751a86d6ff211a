/**
 * Half-open key ranges [begin, end) and the two operations conflict detection needs: normalising a
 * list (sort + merge overlapping/adjacent ranges) and testing two normalised lists for overlap.
 * Also a compact binary codec (a point range as its key alone), because the lmdb backend stores
 * committed write ranges on disk.
 */
import { kvError, KvErrorCode } from './errors.ts'

export interface KeyRange {
  readonly begin: Buffer
  readonly end: Buffer
}

/**
 * Unsigned byte order, as Buffer.compare, in a loop the JIT compiles: keys are short and differ
 * early, and a commit sorts and compares dozens of ranges (Buffer.compare is a native call each).
 */
function compareKeys(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const d = a[i] - b[i]
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1
}

const byBegin = (a: KeyRange, b: KeyRange): number => compareKeys(a.begin, b.begin)

/** Sorts by begin and merges ranges that overlap or touch; drops empty ranges. */
export function normaliseRanges(ranges: readonly KeyRange[]): KeyRange[] {
  const sorted = ranges.filter((r) => compareKeys(r.begin, r.end) < 0).sort(byBegin)
  const out: KeyRange[] = []
  for (const r of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && compareKeys(r.begin, last.end) <= 0) {
      if (compareKeys(r.end, last.end) > 0) out[out.length - 1] = { begin: last.begin, end: r.end }
    } else {
      out.push(r)
    }
  }
  return out
}

/** True when two normalised range lists share a key. Linear merge walk. */
export function rangesIntersect(a: readonly KeyRange[], b: readonly KeyRange[]): boolean {
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    const x = a[i]
    const y = b[j]
    if (compareKeys(x.end, y.begin) <= 0) i++
    else if (compareKeys(y.end, x.begin) <= 0) j++
    else return true
  }
  return false
}

export function rangesBytes(ranges: readonly KeyRange[]): number {
  let n = 0
  for (const r of ranges) n += r.begin.length + r.end.length
  return n
}

/** A length word with this bit set stands for a point range: [key, key + 0x00), stored as the key alone. */
const POINT_FLAG = 0x8000_0000

/** True for [key, key + 0x00): the range of one key, as a read or write of it records. */
function isPoint(r: KeyRange): boolean {
  const n = r.begin.length
  if (r.end.length !== n + 1 || r.end[n] !== 0) return false
  for (let i = 0; i < n; i++) if (r.end[i] !== r.begin[i]) return false
  return true
}

/**
 * [u32 count] then per range either [u32 len | POINT_FLAG][key] (a point range: most of a
 * transaction's ranges, half the bytes) or [u32 len][begin][u32 len][end]. A length never reaches
 * the flag bit, so lists written before point ranges were packed decode the same way.
 */
export function encodeRanges(ranges: readonly KeyRange[]): Buffer {
  let bytes = 4
  for (const r of ranges) bytes += isPoint(r) ? 4 + r.begin.length : 8 + r.begin.length + r.end.length
  const out = Buffer.allocUnsafe(bytes)
  let pos = out.writeUInt32BE(ranges.length, 0)
  for (const r of ranges) {
    if (isPoint(r)) {
      pos = out.writeUInt32BE((r.begin.length | POINT_FLAG) >>> 0, pos)
      pos += r.begin.copy(out, pos)
      continue
    }
    pos = out.writeUInt32BE(r.begin.length, pos)
    pos += r.begin.copy(out, pos)
    pos = out.writeUInt32BE(r.end.length, pos)
    pos += r.end.copy(out, pos)
  }
  return out
}

export function decodeRanges(buf: Buffer, offset = 0): KeyRange[] {
  const fail = () => kvError(KvErrorCode.CORRUPT, 'a stored conflict-range list is truncated')
  if (buf.length < offset + 4) throw fail()
  const count = buf.readUInt32BE(offset)
  let pos = offset + 4
  const out: KeyRange[] = []
  const word = (): number => {
    if (pos + 4 > buf.length) throw fail()
    const w = buf.readUInt32BE(pos)
    pos += 4
    return w
  }
  const take = (len: number, extra: number): Buffer => {
    if (pos + len > buf.length) throw fail()
    const b = Buffer.allocUnsafe(len + extra)
    buf.copy(b, 0, pos, pos + len)
    pos += len
    return b
  }
  for (let i = 0; i < count; i++) {
    const first = word()
    if ((first & POINT_FLAG) !== 0) {
      const len = (first & ~POINT_FLAG) >>> 0
      const end = take(len, 1)
      end[len] = 0
      out.push({ begin: end.subarray(0, len), end })
      continue
    }
    const begin = take(first, 0)
    out.push({ begin, end: take(word(), 0) })
  }
  return out
}
