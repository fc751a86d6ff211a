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
