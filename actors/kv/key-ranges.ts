/**
 * Half-open key ranges [begin, end) and the two operations conflict detection needs: normalising a
 * list (sort + merge overlapping/adjacent ranges) and testing two normalised lists for overlap.
 * Also a compact binary codec, because the lmdb backend stores committed write ranges on disk.
 */
import { kvError, KvErrorCode } from './errors.ts'

export interface KeyRange {
  readonly begin: Buffer
  readonly end: Buffer
}

/** Sorts by begin and merges ranges that overlap or touch; drops empty ranges. */
export function normaliseRanges(ranges: readonly KeyRange[]): KeyRange[] {
  const sorted = ranges.filter((r) => Buffer.compare(r.begin, r.end) < 0).sort((a, b) => Buffer.compare(a.begin, b.begin))
  const out: KeyRange[] = []
  for (const r of sorted) {
    const last = out[out.length - 1]
    if (last !== undefined && Buffer.compare(r.begin, last.end) <= 0) {
      if (Buffer.compare(r.end, last.end) > 0) out[out.length - 1] = { begin: last.begin, end: r.end }
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
    if (Buffer.compare(x.end, y.begin) <= 0) i++
    else if (Buffer.compare(y.end, x.begin) <= 0) j++
    else return true
  }
  return false
}

export function rangesBytes(ranges: readonly KeyRange[]): number {
  let n = 0
  for (const r of ranges) n += r.begin.length + r.end.length
  return n
}

/** [u32 count] then per range [u32 len][begin][u32 len][end]. */
export function encodeRanges(ranges: readonly KeyRange[]): Buffer {
  const out = Buffer.allocUnsafe(4 + ranges.length * 8 + rangesBytes(ranges))
  let pos = out.writeUInt32BE(ranges.length, 0)
  for (const r of ranges) {
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
  const take = (): Buffer => {
    if (pos + 4 > buf.length) throw fail()
    const len = buf.readUInt32BE(pos)
    pos += 4
    if (pos + len > buf.length) throw fail()
    const b = Buffer.from(buf.subarray(pos, pos + len))
    pos += len
    return b
  }
  for (let i = 0; i < count; i++) out.push({ begin: take(), end: take() })
  return out
}
