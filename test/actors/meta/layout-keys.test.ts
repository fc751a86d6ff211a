import t from 'tap'
import { decodeInode, encodeInode, type FileInode } from '../../../actors/meta/inode.ts'
import { dentryKey, dentryRange, inodeKey, inodeOfKey, parseDentryKey, sessionKey, sessionRange, idemKey, idemExpiryKey, parseIdemKey, parseIdemExpiryKey, IDEM, IDEX } from '../../../actors/meta/keys.ts'
import { pack } from '../../../actors/kv/tuple.ts'
import fc from 'fast-check'
import { chainIndexList, checkLayout, chunkId, concretize, fileChunkRange, type Layout } from '../../../actors/meta/layout.ts'
import { ownerOf } from '../../../actors/meta/rendezvous.ts'
import { gcEntryName, parseGcEntryName } from '../../../actors/meta/gc-entry.ts'
import { resolveMetaConfig } from '../../../actors/meta/config.ts'

const layout: Layout = { tableId: 1, tableVersion: 1, chunkSizeBytes: 1 << 20, stripeSize: 8, chains: { kind: 'empty' } }

t.test('keys: INOD is the tag and the id little-endian; DENT ranges hold exactly one directory; sessions and IDEM round-trip', async (t) => {
  t.same([...inodeKey(0x0102)], [...Buffer.from('INOD'), 0x02, 0x01, 0, 0, 0, 0, 0, 0])
  t.equal(inodeOfKey(inodeKey(123456789)), 123456789)
  const k = dentryKey(7, 'naïve')
  t.same(parseDentryKey(k), { parent: 7, name: 'naïve' })
  for (const name of ['a', 'file-17.txt', 'naïve', '名前', 'x'.repeat(64), 'y'.repeat(65), `${'z'.repeat(63)}é`]) {
    const expected = Buffer.concat([Buffer.from('DENT'), Buffer.from([7, 1, 0, 0, 0, 0, 0, 0]), Buffer.from(name, 'utf8')])
    t.same([...dentryKey(263, name)], [...expected], `DENT + parent + UTF-8 name (${name.length} chars)`)
  }
  const r = dentryRange(7)
  t.ok(Buffer.compare(r.begin, k) <= 0 && Buffer.compare(k, r.end) < 0, 'the entry lies in its directory range')
  for (const other of [dentryKey(8, 'a'), dentryKey(6, 'zzz'), dentryKey(7 + 256, 'a')]) t.ok(Buffer.compare(other, r.begin) < 0 || Buffer.compare(other, r.end) >= 0, 'other directories lie outside it')
  t.ok(Buffer.compare(dentryKey(7, 'a'), dentryKey(7, 'b')) < 0, 'entries sort by name')
  const s = sessionRange(9)
  t.ok(Buffer.compare(s.begin, sessionKey(9, 'x')) <= 0 && Buffer.compare(sessionKey(9, 'x'), s.end) < 0)
  t.same(parseIdemKey(idemKey('c\u0000lient', 'r1')), { clientId: 'c\u0000lient', requestId: 'r1' }, 'tuple encoding escapes NUL')
})

t.test('keys: IDEM and IDEX keys are the tag and the tuple encoding of their parts, byte for byte, for any ids', async (t) => {
  const id = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('', 'bench-16-3', 'abc-123', 'c\u0000lient', 'naïve'))
  fc.assert(fc.property(id, id, fc.integer({ min: 0, max: 2 ** 45 }), fc.double({ min: 0, max: 2 ** 45, noNaN: true }), (clientId, requestId, ms, fractionalMs) => {
    const idem = idemKey(clientId, requestId)
    const idex = idemExpiryKey(ms, clientId, requestId)
    const fractional = idemExpiryKey(fractionalMs, clientId, requestId)
    return idem.equals(Buffer.concat([IDEM, pack([clientId, requestId])]))
      && idex.equals(Buffer.concat([IDEX, pack([ms, clientId, requestId])]))
      && fractional.equals(Buffer.concat([IDEX, pack([Math.floor(fractionalMs), clientId, requestId])]))
      && parseIdemKey(idem).requestId === requestId && parseIdemExpiryKey(idex).expiresAtMs === ms
  }), { numRuns: 1000 })
  t.pass('the same bytes as the tuple encoder, and they parse back')
})

t.test('inodes round-trip without storing their id', async (t) => {
  const inode: FileInode = { id: 42, type: 'file', acl: { uid: 1, gid: 2, perm: 0o644, iflags: 0 }, nlink: 1, atimeMs: 1, ctimeMs: 2, mtimeMs: 3, file: { length: 10, truncateVer: 0, layout, dynStripe: 0 } }
  const bytes = encodeInode(inode)
  t.same(decodeInode(42, bytes), inode)
  t.notMatch(bytes.toString('latin1'), /"id"/)
})

t.test('layouts: checked field by field with EINVAL; concrete layouts are a fixed permutation of the stripe', async (t) => {
  t.throws(() => checkLayout({ ...layout, chunkSizeBytes: 1000 }), { code: 'EINVAL', message: /chunkSizeBytes is 1000; accepted: a power of 2 from 65536 to 67108864/ })
  t.throws(() => checkLayout({ ...layout, stripeSize: 0 }), { code: 'EINVAL', message: /stripeSize is 0/ })
  t.throws(() => checkLayout({ ...layout, chains: { kind: 'list', chainIndexes: [1] } }), { code: 'EINVAL', message: /8 positive chain indexes/ })
  t.throws(() => checkLayout({ ...layout, chains: { kind: 'odd' } }), { code: 'EINVAL', message: /chains.kind/ })
  t.throws(() => concretize(layout, { version: 1, chainCount: 4 }, 0, 1), { code: 'EINVAL', message: /4 chains, fewer than the stripe size 8/ })
  const file = concretize(layout, { version: 3, chainCount: 20 }, 25, 0xdeadbeef)
  t.same(file.chains, { kind: 'range', baseIndex: 6, shuffle: true, seed: 0xdeadbeef })
  t.equal(file.tableVersion, 3)
  const list = chainIndexList(file)
  t.same([...list].sort((a, b) => a - b), [6, 7, 8, 9, 10, 11, 12, 13], 'a permutation of the stripe')
  t.same(chainIndexList(file), list, 'the same every time')
  // The permutation is part of the on-disk format: pin it.
  t.same(list, chainIndexList({ ...file }))
  t.same(chainIndexList({ ...file, chains: { kind: 'range', baseIndex: 1, shuffle: true, seed: 1 } }), [2, 7, 8, 1, 5, 3, 6, 4], 'pinned for seed 1')
})

t.test('chunk ids: 16 bytes big-endian, a file\'s chunks in one range', async (t) => {
  const id = chunkId(0x0102030405, 7)
  t.equal(id.toString('hex'), '0000' + '0000000102030405' + '0000' + '00000007')
  const r = fileChunkRange(0x0102030405)
  t.ok(Buffer.compare(r.begin, id) <= 0 && Buffer.compare(id, r.end) < 0)
  t.ok(Buffer.compare(chunkId(0x0102030406, 0), r.end) >= 0)
})

t.test('rendezvous: every server wins some inodes; a server leaving moves only what it owned', async (t) => {
  const servers = [1, 2, 3, 4]
  const owners = Array.from({ length: 4000 }, (_, i) => ownerOf(servers, i * 4096 + 17))
  for (const s of servers) t.ok(owners.filter((o) => o === s).length > 700, `server ${s} owns a fair share`)
  const after = Array.from({ length: 4000 }, (_, i) => ownerOf([1, 2, 4], i * 4096 + 17))
  t.ok(owners.every((o, i) => o === 3 || after[i] === o), 'only server 3\'s inodes moved')
  t.equal(ownerOf([], 5), null)
})

t.test('GC entry names carry the kind, the time in µs and the inode', async (t) => {
  const name = gcEntryName('S', 1234.5678, 0xabc)
  t.equal(name, 'S-00000000000001234567-0000000000000abc')
  t.same(parseGcEntryName(name), { kind: 'S', atMs: 1234, inode: 0xabc })
  t.equal(parseGcEntryName('GC-Node-1'), null)
})

t.test('config: knobs by 3FS name or camelCase; a bad one names itself and what is accepted', async (t) => {
  t.equal(resolveMetaConfig({ gc_file_delay: '1min' }).gcFileDelayMs, 60_000)
  t.equal(resolveMetaConfig({ gcFileDelayMs: 5 }).gcFileDelayMs, 5)
  t.throws(() => resolveMetaConfig({ gc_file_delay: 'soon' }), { code: 'ERR_INVALID_OPTION', message: /meta.gc_file_delay is "soon"; accepted: a number of ms/ })
  t.throws(() => resolveMetaConfig({ no_such: 1 }), { message: /meta.no_such.*accepted: a known meta option/ })
  t.throws(() => resolveMetaConfig({ membership_timeout: 10, membership_heartbeat_interval: 10 }), { message: /at least twice membership_heartbeat_interval/ })
  t.throws(() => resolveMetaConfig({ admin_token: 'short' }), { message: /admin_token is "\(hidden\)"/ })
  t.throws(() => resolveMetaConfig({ root_layout: { tableId: 0 } }), { message: /root_layout/ })
})
