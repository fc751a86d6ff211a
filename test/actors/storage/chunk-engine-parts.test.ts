/**
 * The chunk engine's pure parts: 3FS chunk ids (layout, order, parsing, errors), the sorted key
 * set behind range queries (against a sorted array, fast-check), and the index record codec (every
 * record round-trips; any cut or flipped byte is refused, never misread).
 */
import t from 'tap'
import fc from 'fast-check'
import {
  chunkIdParts, fileChunkRange, formatChunkId, isChunkId, makeChunkId, parseChunkId, readChunkIdBytes, writeChunkIdBytes,
} from '../../../actors/storage/chunk-id.ts'
import { SortedKeys } from '../../../actors/storage/chunk-engine/sorted-keys.ts'
import { decodeRecord, encodedSize, encodeRecord, type IndexRecord } from '../../../actors/storage/chunk-engine/record-codec.ts'
import { blockKey, noBlock, type StoredVersion } from '../../../actors/storage/chunk-engine/stored-version.ts'

t.test('chunk ids: 3FS layout, big-endian order, a file is one range', async (t) => {
  const id = makeChunkId(0x0100_0000_0000_002an, 7)
  t.equal(id, '0000010000000000002a000000000007', 'tenant, reserved, inode u64, track u16, index u32, big-endian hex')
  t.same(chunkIdParts(id), { tenant: 0, inodeId: 0x0100_0000_0000_002an, track: 0, chunkIndex: 7 }, 'parts back')
  t.equal(formatChunkId(id), '00000100-00000000-002a0000-00000007', "3FS's display form")
  t.equal(parseChunkId('00000100-00000000-002A0000-00000007'), id, 'parsed from the display form, any case')
  t.ok(makeChunkId(5n, 0xffff_ffff) < makeChunkId(6n, 0), 'ids order by inode, then index')
  t.ok(makeChunkId(5n, 9) < makeChunkId(5n, 10), 'and by index numerically')
  const range = fileChunkRange(5n)
  t.ok(range.begin <= makeChunkId(5n, 0) && makeChunkId(5n, 0xffff_ffff) < range.end && makeChunkId(6n, 0) >= range.end, 'a file is [begin, end)')
  const bytes = new Uint8Array(20)
  writeChunkIdBytes(id, bytes, 2)
  t.equal(readChunkIdBytes(bytes, 2), id, '16 bytes round trip')
  t.throws(() => parseChunkId('xyz'), { code: 'ERR_INVALID_CHUNK_ID', message: /32 lowercase hex digits/ }, 'bad text')
  t.throws(() => makeChunkId(-1n, 0), { code: 'ERR_INVALID_CHUNK_ID', message: /inodeId/ }, 'negative inode')
  t.throws(() => makeChunkId(1n, 2 ** 32), { code: 'ERR_INVALID_CHUNK_ID', message: /chunkIndex/ }, 'index past u32')
  t.notOk(isChunkId(id.toUpperCase()), 'the canonical form is lowercase')
})

t.test('sorted keys agree with a sorted array under random inserts, deletes and range scans', async (t) => {
  const key = fc.integer({ min: 0, max: 3000 }).map((n) => n.toString(16).padStart(4, '0'))
  fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), key), { maxLength: 3000 }), key, key, (ops, a, b) => {
    const set = new SortedKeys()
    const model = new Set<string>()
    for (const [insert, k] of ops) {
      if (insert) {
        if (set.insert(k) !== !model.has(k)) return false
        model.add(k)
      } else {
        if (set.delete(k) !== model.has(k)) return false
        model.delete(k)
      }
    }
    const sorted = [...model].sort()
    const [lo, hi] = a < b ? [a, b] : [b, a]
    const same = (x: string[], y: string[]) => x.length === y.length && x.every((v, i) => v === y[i])
    return set.size === model.size &&
      same([...set.ascending()], sorted) &&
      same([...set.ascending(lo, hi)], sorted.filter((k) => k >= lo && k < hi)) &&
      same([...set.ascending(lo, hi, true)], sorted.filter((k) => k > lo && k < hi)) &&
      same([...set.descending(lo, hi)], sorted.filter((k) => k >= lo && k < hi).reverse()) &&
      same([...set.descending(undefined, hi)], sorted.filter((k) => k < hi).reverse())
  }), { numRuns: 200 })
  t.pass('200 random histories')
})

function version(length: number, segments: number[], clientId = 'client-1'): StoredVersion {
  return {
    version: 7, chainVersion: 3, lengthBytes: length, crc32c: 0xdeadbeef, removed: false, lastRequest: { clientId, requestId: 2 ** 40 + 5 },
    block: length === 0 ? noBlock : blockKey(4, 123_456, 200), segmentShift: 12, segmentCrcs: Uint32Array.from(segments),
  }
}

t.test('index records round-trip; a cut or flipped byte is refused', async (t) => {
  const id = makeChunkId(9n, 1)
  const records: IndexRecord[] = [
    { type: 'commit', chainId: 42, chunkId: id, version: version(10_000, [1, 2, 3]) },
    { type: 'pending', chainId: 0xffff_ffff, chunkId: id, version: version(0, [], 'ü-client') },
    { type: 'remove', chainId: 1, chunkId: id },
    { type: 'drop', chainId: 1, chunkId: id },
    { type: 'snapshot-begin', coversSeq: 17 },
    { type: 'snapshot-end', records: 3 },
  ]
  const size = records.reduce((sum, r) => sum + encodedSize(r), 0)
  const bytes = new Uint8Array(size)
  let at = 0
  for (const record of records) at = encodeRecord(record, bytes, at)
  t.equal(at, size, 'encodedSize is exact')
  const back: IndexRecord[] = []
  for (let offset = 0; ;) {
    const result = decodeRecord(bytes, offset)
    if (result.kind !== 'record') {
      t.equal(result.kind, 'end', 'a clean end')
      break
    }
    back.push(result.record)
    offset = result.next
  }
  t.same(back, records, 'every record decodes to what was encoded')
  let refused = 0
  for (let i = 0; i < encodedSize(records[0]); i++) {
    const damaged = bytes.slice(0, encodedSize(records[0]))
    damaged[i] ^= 1 << (i % 8)
    if (decodeRecord(damaged, 0).kind === 'bad') refused++
  }
  t.equal(refused, encodedSize(records[0]), 'a flipped bit anywhere in a record is refused')
  for (let cut = 1; cut < encodedSize(records[0]); cut += 7) t.equal(decodeRecord(bytes.subarray(0, cut), 0).kind, 'bad', `a record cut at ${cut} bytes is refused`)
})
