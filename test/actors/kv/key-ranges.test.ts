import t from 'tap'
import fc from 'fast-check'
import { decodeRanges, encodeRanges, normaliseRanges, rangesIntersect, type KeyRange } from '../../../actors/kv/key-ranges.ts'

const key = fc.uint8Array({ maxLength: 3 }).map((a) => Buffer.from(a.map((x) => x % 4)))
const range: fc.Arbitrary<KeyRange> = fc.tuple(key, key).map(([x, y]) => (Buffer.compare(x, y) <= 0 ? { begin: x, end: y } : { begin: y, end: x }))
const universe = (() => {
  const keys: Buffer[] = []
  const walk = (prefix: number[]) => {
    keys.push(Buffer.from(prefix))
    if (prefix.length < 4) for (let i = 0; i < 4; i++) walk([...prefix, i])
  }
  walk([])
  return keys
})()
const contains = (rs: readonly KeyRange[], k: Buffer) => rs.some((r) => Buffer.compare(r.begin, k) <= 0 && Buffer.compare(k, r.end) < 0)

t.test('normaliseRanges covers exactly the same keys, sorted and disjoint', async (t) => {
  fc.assert(fc.property(fc.array(range, { maxLength: 6 }), (rs) => {
    const n = normaliseRanges(rs)
    for (let i = 1; i < n.length; i++) if (Buffer.compare(n[i - 1].end, n[i].begin) >= 0) return false
    return universe.every((k) => contains(rs, k) === contains(n, k))
  }), { numRuns: 500 })
  t.pass()
})

t.test('rangesIntersect agrees with brute force over a small key universe', async (t) => {
  fc.assert(fc.property(fc.array(range, { maxLength: 5 }), fc.array(range, { maxLength: 5 }), (a, b) => {
    const na = normaliseRanges(a)
    const nb = normaliseRanges(b)
    return rangesIntersect(na, nb) === universe.some((k) => contains(na, k) && contains(nb, k))
  }), { numRuns: 1000 })
  t.pass()
})

t.test('range lists round-trip through their binary form', async (t) => {
  fc.assert(fc.property(fc.array(range, { maxLength: 5 }), (rs) => {
    const back = decodeRanges(encodeRanges(rs))
    return back.length === rs.length && back.every((r, i) => r.begin.equals(rs[i].begin) && r.end.equals(rs[i].end))
  }))
  t.throws(() => decodeRanges(Buffer.from([0, 0, 0, 1, 0, 0, 0, 9])), { code: 'ERR_KV_CORRUPT' })
})

/** The list form written before point ranges were packed: every range as [u32 len][begin][u32 len][end]. */
function encodeLongForm(rs: readonly KeyRange[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0, 0, 0, 0])]
  parts[0].writeUInt32BE(rs.length)
  for (const r of rs) {
    for (const b of [r.begin, r.end]) {
      const len = Buffer.alloc(4)
      len.writeUInt32BE(b.length)
      parts.push(len, b)
    }
  }
  return Buffer.concat(parts)
}

const point: fc.Arbitrary<KeyRange> = key.map((k) => ({ begin: k, end: Buffer.concat([k, Buffer.from([0])]) }))

t.test('a point range is stored as its key alone, and lists in the long form still decode', async (t) => {
  fc.assert(fc.property(fc.array(fc.oneof(range, point), { maxLength: 6 }), (rs) => {
    const encoded = encodeRanges(rs)
    const points = rs.filter((r) => r.end.length === r.begin.length + 1 && r.end[r.begin.length] === 0 && r.end.subarray(0, r.begin.length).equals(r.begin))
    const expectedBytes = 4 + rs.reduce((n, r) => n + (points.includes(r) ? 4 + r.begin.length : 8 + r.begin.length + r.end.length), 0)
    const same = (back: KeyRange[]) => back.length === rs.length && back.every((r, i) => r.begin.equals(rs[i].begin) && r.end.equals(rs[i].end))
    return encoded.length === expectedBytes && same(decodeRanges(encoded)) && same(decodeRanges(encodeLongForm(rs)))
  }), { numRuns: 500 })
  const one = encodeRanges([{ begin: Buffer.from('abc'), end: Buffer.from('abc\u0000') }])
  t.equal(one.length, 4 + 4 + 3, 'one point range of a 3-byte key takes 11 bytes')
  t.throws(() => decodeRanges(Buffer.from([0, 0, 0, 1, 0x80, 0, 0, 4, 1, 2])), { code: 'ERR_KV_CORRUPT' }, 'a truncated point range is corrupt')
})
