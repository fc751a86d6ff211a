/**
 * The chunk engine's API on a SimDisk: pending and committed versions, copy-on-write, the version
 * rules of an update, chain-version fencing, truncate/extend/remove, queries, pending lists, space,
 * group commit, reopen, and every coded error.
 */
import t, { type Test } from 'tap'
import { crc32c } from '../../../runtime/checksum.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { fileChunkRange, makeChunkId, type ChunkId } from '../../../actors/storage/chunk-id.ts'
import { ChunkEngineErrorCode as Code, isTargetFault, type ChunkUpdate } from '../../../actors/storage/chunk-engine/index.ts'
import type { Engine } from '../../../actors/storage/chunk-engine/chunk-engine.ts'
import { reserveStepBytes } from '../../../actors/storage/chunk-engine/index-log.ts'
import { Harness, KiB, randomBytes, sameBytes, takeBytes } from './chunk-engine-fixture.ts'

let requestSeq = 0
const random = new SeededRandom(42)
const A = makeChunkId(7n, 0)
const B = makeChunkId(7n, 1)

function writeOf(chunkId: ChunkId, offset: number, bytes: Uint8Array, extra: Partial<ChunkUpdate> = {}): ChunkUpdate {
  return { chainId: 1, chunkId, kind: 'write', offset, data: bytes, checksum: crc32c(bytes), chainVersion: 1, tag: { clientId: 'client-a', requestId: ++requestSeq }, ...extra }
}

async function readAll(e: Engine, chunkId: ChunkId, options: { uncommitted?: boolean; chainId?: number } = {}): Promise<Uint8Array> {
  return takeBytes(await e.read({ chainId: options.chainId ?? 1, chunkId, offset: 0, length: 1024 * KiB, uncommitted: options.uncommitted }))
}

async function rejects(t: Test, promise: Promise<unknown>, code: string, what: string, match?: RegExp): Promise<T3fsError | null> {
  try {
    await promise
    t.fail(`${what}: resolved, expected ${code}`)
    return null
  } catch (error) {
    t.equal((error as T3fsError).code, code, `${what}: ${code}`)
    if (match !== undefined) t.match((error as Error).message, match, `${what}: the message says why`)
    return error as T3fsError
  }
}

async function fresh(seed = 1): Promise<{ h: Harness; e: Engine }> {
  const h = new Harness(seed)
  return { h, e: await h.open() }
}

t.test('an update is pending until its commit; reads see the committed version, the pending one on request', async (t) => {
  const { e } = await fresh()
  const v1 = randomBytes(random, 100 * KiB)
  const r1 = await e.update(writeOf(A, 0, v1))
  t.same({ version: r1.version, committedVersion: r1.committedVersion, lengthBytes: r1.lengthBytes, crc32c: r1.crc32c, replacedPending: r1.replacedPending },
    { version: 1, committedVersion: 0, lengthBytes: v1.length, crc32c: crc32c(v1), replacedPending: false }, 'head update: version committed + 1, the chunk CRC')
  await rejects(t, e.read({ chainId: 1, chunkId: A, offset: 0, length: 10 }), Code.chunkNotFound, 'a committed read of a pending creation')
  t.ok(sameBytes(await readAll(e, A, { uncommitted: true }), v1), 'the pending version reads back on request')
  const c1 = await e.commit({ chainId: 1, chunkId: A, version: 1 })
  t.same(c1, { chainId: 1, chunkId: A, version: 1, chainVersion: 1, lengthBytes: v1.length, crc32c: crc32c(v1), removed: false }, 'commit result')
  t.ok(sameBytes(await readAll(e, A), v1), 'committed: reads see it')

  const patch = randomBytes(random, 5000)
  const r2 = await e.update(writeOf(A, 50_000, patch))
  const v2 = v1.slice()
  v2.set(patch, 50_000)
  t.equal(r2.version, 2, 'next head version')
  t.ok(sameBytes(await readAll(e, A), v1), 'an overwrite in the middle is invisible before its commit (copy-on-write)')
  t.ok(sameBytes(await readAll(e, A, { uncommitted: true }), v2), 'the pending version has the patch over the old bytes')
  const meta = e.getChunk(1, A)!
  t.same([meta.committed?.version, meta.pending?.version], [1, 2], 'meta: committed 1, pending 2')
  t.equal((await e.space()).usedBytes, 2 * 128 * KiB, 'two blocks: the committed and the pending one')
  await e.commit({ chainId: 1, chunkId: A, version: 2 })
  t.ok(sameBytes(await readAll(e, A), v2), 'after the commit reads see the patch')
  await e.sync()
  t.equal((await e.space()).usedBytes, 128 * KiB, 'the old block was freed once the commit was durable')
  const piece = takeBytes(await e.read({ chainId: 1, chunkId: A, offset: 49_990, length: 30 }))
  t.ok(sameBytes(piece, v2.subarray(49_990, 50_020)), 'a range read across the patch')
  const tail = await e.read({ chainId: 1, chunkId: A, offset: 100 * KiB - 10, length: 100 })
  t.equal(tail.lengthBytes, 10, 'a read past the end returns what there is')
  t.ok(tail.dataOffset > 0 && tail.buffer!.length >= tail.dataOffset + 10, 'the slot starts at the checksum segment, the data at dataOffset')
  takeBytes(tail)
  const past = await e.read({ chainId: 1, chunkId: A, offset: 200 * KiB, length: 100 })
  t.same([past.buffer, past.lengthBytes], [null, 0], 'a read wholly past the end returns no slot')
  t.same(e.stats().commits, 2, 'stats count commits')
})

t.test('version rules of an update (3FS §3.3 step 6) and chain-version fencing', async (t) => {
  const { e } = await fresh()
  const bytes = randomBytes(random, 3000)
  await e.update(writeOf(A, 0, bytes, { chainVersion: 5 }))
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  const committed = await rejects(t, e.update(writeOf(A, 0, bytes, { updateVersion: 1, chainVersion: 5 })), Code.committedUpdate, 'a replica given v ≤ committed', /already committed/)
  t.same([committed?.details.committedVersion, committed?.details.crc32c], [1, crc32c(bytes)], 'the error carries the committed version and checksum')
  await rejects(t, e.update(writeOf(A, 0, bytes, { updateVersion: 3, chainVersion: 5 })), Code.missingUpdate, 'a replica given v > committed + 1', /skips/)
  const replica = writeOf(A, 0, bytes, { updateVersion: 2, chainVersion: 5 })
  t.equal((await e.update(replica)).version, 2, 'a replica given committed + 1 applies it')
  const stale = await rejects(t, e.update(replica), Code.staleUpdate, 'the same request again at the same version', /already pending/)
  t.equal(stale?.details.pendingVersion, 2, 'the stale error names the pending version')
  const other = await e.update(writeOf(A, 0, randomBytes(random, 10), { updateVersion: 2, chainVersion: 5 }))
  t.same([other.version, other.replacedPending], [2, true], 'another request at the pending version replaces the pending one')
  const head = await e.update(writeOf(A, 0, randomBytes(random, 10), { chainVersion: 5 }))
  t.same([head.version, head.replacedPending], [2, true], 'the head re-deciding: committed + 1 again, replacing the pending version')
  await rejects(t, e.update(writeOf(A, 0, bytes, { chainVersion: 4 })), Code.chainVersionMismatch, 'an older chain version than the committed one', /older/)
  const sync = await e.update(writeOf(A, 0, bytes, { syncing: true, updateVersion: 9, chainVersion: 6 }))
  t.equal(sync.version, 9, 'a syncing write takes the given version')
  await e.commit({ chainId: 1, chunkId: A, version: 9 })
  t.same(e.getChunk(1, A)!.committed!.version, 9, 'committed at the synced version')
  const down = await e.update(writeOf(A, 0, bytes, { syncing: true, updateVersion: 4, chainVersion: 6 }))
  t.equal(down.version, 4, 'syncing is unconditional, even below the committed version')
  t.ok(sameBytes(await readAll(e, A, { uncommitted: true }), bytes), 'a syncing write is the whole chunk (no old bytes kept)')
  const removeAnywhere = await e.update({ chainId: 1, chunkId: B, kind: 'remove', chainVersion: 6, updateVersion: 17, tag: { clientId: 'c', requestId: 1 } })
  t.equal(removeAnywhere.version, 17, 'a remove of a chunk not held here takes any given version')
  t.same((await e.commit({ chainId: 1, chunkId: B, version: 17 })).removed, true, 'its commit removes nothing, durably')
  t.equal(e.getChunk(1, B), null, 'no chunk B')
})

t.test('commit refusals, drop, and commits of removals', async (t) => {
  const { e } = await fresh()
  await rejects(t, e.commit({ chainId: 1, chunkId: A, version: 1 }), Code.noPending, 'a commit of a chunk with nothing pending', /no pending version 1/)
  await e.update(writeOf(A, 0, randomBytes(random, 100)))
  await rejects(t, e.commit({ chainId: 1, chunkId: A, version: 2 }), Code.noPending, 'a commit of another version than the pending one')
  await e.commit({ chainId: 1, chunkId: A, version: 1, chainVersion: 3 })
  t.equal(e.getChunk(1, A)!.committed!.chainVersion, 3, 'the commit recorded the given chain version')
  await rejects(t, e.commit({ chainId: 1, chunkId: A, version: 1 }), Code.staleCommit, 'a commit again (already committed)', /already committed/)
  await e.update(writeOf(A, 0, randomBytes(random, 100), { chainVersion: 3 }))
  t.equal(await e.dropPending(1, A), true, 'drop: there was a pending version')
  t.equal(await e.dropPending(1, A), false, 'drop again: none')
  t.equal(e.getChunk(1, A)!.pending, null, 'no pending version left')
  await e.update({ chainId: 1, chunkId: A, kind: 'remove', chainVersion: 3, tag: { clientId: 'c', requestId: 9 } })
  t.ok((await e.read({ chainId: 1, chunkId: A, offset: 0, length: 10 })).lengthBytes === 10, 'a pending removal: committed reads still see the chunk')
  await rejects(t, e.read({ chainId: 1, chunkId: A, offset: 0, length: 10, uncommitted: true }), Code.chunkNotFound, 'an uncommitted read of a pending removal')
  t.same(e.listPending(1).map((m) => m.pending!.removed), [true], 'listed as a pending removal')
  await e.commit({ chainId: 1, chunkId: A, version: 2 })
  t.equal(e.getChunk(1, A), null, 'the committed removal left nothing')
  await e.sync()
  t.equal((await e.space()).usedBytes, 0, 'and no block in use')
})

t.test('truncate and extend', async (t) => {
  const { e } = await fresh()
  const bytes = randomBytes(random, 70 * KiB)
  await e.update(writeOf(A, 0, bytes))
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  const cut = await e.update({ chainId: 1, chunkId: A, kind: 'truncate', lengthBytes: 10_001, chainVersion: 1, tag: { clientId: 'c', requestId: 1 } })
  t.same([cut.lengthBytes, cut.crc32c], [10_001, crc32c(bytes.subarray(0, 10_001))], 'truncate: the length and the CRC of the prefix')
  await e.commit({ chainId: 1, chunkId: A, version: 2 })
  t.ok(sameBytes(await readAll(e, A), bytes.subarray(0, 10_001)), 'the truncated chunk reads back')
  t.equal(e.getChunk(1, A)!.committed!.blockBytes, 64 * KiB, 'a shorter chunk moved to a smaller block')
  const longer = await e.update({ chainId: 1, chunkId: A, kind: 'extend', lengthBytes: 20_000, chainVersion: 1, tag: { clientId: 'c', requestId: 2 } })
  await e.commit({ chainId: 1, chunkId: A, version: longer.version })
  const expected = new Uint8Array(20_000)
  expected.set(bytes.subarray(0, 10_001))
  t.ok(sameBytes(await readAll(e, A), expected), 'extend zero-fills')
  const noop = await e.update({ chainId: 1, chunkId: A, kind: 'extend', lengthBytes: 5, chainVersion: 1, tag: { clientId: 'c', requestId: 3 } })
  t.equal(noop.lengthBytes, 20_000, 'extend never shortens')
  const grow = await e.update({ chainId: 1, chunkId: A, kind: 'truncate', lengthBytes: 30_000, chainVersion: 1, tag: { clientId: 'c', requestId: 4 } })
  t.equal(grow.lengthBytes, 30_000, 'truncate to a longer length zero-fills too')
  const gap = randomBytes(random, 100)
  await e.update(writeOf(B, 200 * KiB, gap))
  await e.commit({ chainId: 1, chunkId: B, version: 1 })
  const withGap = await readAll(e, B)
  t.equal(withGap.length, 200 * KiB + 100, 'a write past the end makes the chunk that long')
  t.ok(withGap.subarray(0, 200 * KiB).every((b) => b === 0) && sameBytes(withGap.subarray(200 * KiB), gap), 'the gap reads as zeros')
  t.equal(e.getChunk(1, B)!.committed!.blockBytes, 256 * KiB, 'in a 256 KiB block')
  const empty = await e.update({ chainId: 1, chunkId: makeChunkId(8n, 0), kind: 'truncate', lengthBytes: 0, chainVersion: 1, tag: { clientId: 'c', requestId: 5 } })
  await e.commit({ chainId: 1, chunkId: makeChunkId(8n, 0), version: empty.version })
  t.same([e.getChunk(1, makeChunkId(8n, 0))!.committed!.lengthBytes, e.getChunk(1, makeChunkId(8n, 0))!.committed!.blockBytes], [0, 0], 'an empty chunk holds no block')
})

t.test('data from pool slots (written without a copy), several buffers, and a checksum mismatch', async (t) => {
  const { h, e } = await fresh()
  const one = randomBytes(random, 128 * KiB)
  const two = randomBytes(random, 40 * KiB + 123)
  const slots = [h.pooled(one), h.pooled(two)]
  const both = new Uint8Array(one.length + two.length)
  both.set(one)
  both.set(two, one.length)
  const r = await e.update({ chainId: 1, chunkId: A, kind: 'write', offset: 0, data: slots, checksum: crc32c(both), chainVersion: 1, tag: { clientId: 'c', requestId: 1 } })
  for (const slot of slots) slot.release()
  t.equal(r.crc32c, crc32c(both), 'the chunk CRC of two buffers read as one')
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  t.ok(sameBytes(await readAll(e, A), both), 'the bytes of both buffers, in order')
  const bad = randomBytes(random, 100)
  const mismatch = await rejects(t, e.update({ ...writeOf(A, 0, bad), checksum: crc32c(bad) ^ 1 }), Code.checksumMismatch, 'data whose CRC32C differs from the given checksum', /nothing was written/)
  t.equal(mismatch?.details.actual, crc32c(bad), 'the error names the actual CRC')
  t.equal(e.getChunk(1, A)!.pending, null, 'no pending version came of it')
  t.same(h.pool.inUse(), [0, 0], 'every pool slot went back')
})

t.test('queries: ranges, paging, the last chunk of a file, chains, pending lists', async (t) => {
  const { e } = await fresh()
  const ids = [makeChunkId(9n, 0), makeChunkId(9n, 1), makeChunkId(9n, 2), makeChunkId(9n, 300), makeChunkId(10n, 0)]
  for (const id of ids) {
    await e.update(writeOf(id, 0, randomBytes(random, 10)))
    await e.commit({ chainId: 1, chunkId: id, version: 1 })
  }
  await e.update(writeOf(makeChunkId(9n, 301), 0, randomBytes(random, 10)))
  await e.update({ ...writeOf(makeChunkId(9n, 5), 0, randomBytes(random, 10)), chainId: 2 })
  const file9 = fileChunkRange(9n)
  t.same(e.queryChunks(1, file9).map((m) => m.chunkId), [...ids.slice(0, 4), makeChunkId(9n, 301)], 'all chunks of file 9, in order, the pending creation too')
  t.same(e.queryChunks(1, { ...file9, limit: 2 }).map((m) => m.chunkId), ids.slice(0, 2), 'limit')
  t.same(e.queryChunks(1, { ...file9, after: ids[1], limit: 2 }).map((m) => m.chunkId), ids.slice(2, 4), 'paging with after')
  t.same(e.queryChunks(1).length, 6, 'the whole chain')
  t.equal(e.lastChunk(1, file9.begin, file9.end)?.chunkId, ids[3], 'the last chunk of file 9 is the last committed one (a pending creation does not count)')
  t.equal(e.lastChunk(1, fileChunkRange(11n).begin, fileChunkRange(11n).end), null, 'a file with no chunk')
  t.same(e.chainIds(), [1, 2], 'chains holding chunks')
  t.same(e.listPending().map((m) => [m.chainId, m.chunkId]), [[1, makeChunkId(9n, 301)], [2, makeChunkId(9n, 5)]], 'pending chunks of all chains')
  t.equal(await e.commitAllPending(2, 7), 1, 'commit every pending version of chain 2 (a LASTSRV return)')
  t.equal(e.getChunk(2, makeChunkId(9n, 5))!.committed!.chainVersion, 7, 'at the given chain version')
  t.same(e.listPending(2), [], 'none left in chain 2')
  const space = await e.space()
  t.same(space.chains.map((c) => [c.chainId, c.chunks, c.usedBytes]), [[1, 6, 6 * 64 * KiB], [2, 1, 64 * KiB]], 'space per chain')
  t.same(e.usage(), { usedBytes: space.usedBytes, reservedBytes: space.reservedBytes, chains: space.chains }, 'usage() is space() without the disk\'s figures')
  t.equal(await e.removeChain(1), 6, 'remove a whole chain here')
  t.same(e.chainIds(), [2], 'chain 1 is gone')
  await e.settle()
  t.equal((await e.space()).usedBytes, 64 * KiB, 'its blocks are free')
  t.ok(e.stats().groupsPunched >= 1, 'and groups emptied by it were punched')
})

t.test('group commit: a batch of commits shares index syncs', async (t) => {
  const { e } = await fresh()
  const ids = Array.from({ length: 40 }, (_, i) => makeChunkId(12n, i))
  for (const id of ids) await e.update(writeOf(id, 0, randomBytes(random, 1000)))
  const before = e.stats().indexSyncs
  const results = await e.commitBatch([...ids.map((chunkId) => ({ chainId: 1, chunkId, version: 1 })), { chainId: 1, chunkId: makeChunkId(99n, 0), version: 1 }])
  t.equal(results.filter((r) => !(r instanceof Error)).length, 40, 'every commit of the batch succeeded')
  t.equal((results[40] as T3fsError).code, Code.noPending, 'and the bad one failed alone')
  t.ok(e.stats().indexSyncs - before <= 2, `40 commits took ${e.stats().indexSyncs - before} index syncs`)
})

t.test('everything survives a close and reopen; a crash keeps what was committed', async (t) => {
  const h = new Harness(3)
  let e = await h.open()
  const bytes = randomBytes(random, 90 * KiB)
  await e.update(writeOf(A, 0, bytes))
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  const pending = randomBytes(random, 1000)
  await e.update(writeOf(B, 0, pending))
  await e.close()
  await rejects(t, e.read({ chainId: 1, chunkId: A, offset: 0, length: 1 }), Code.engineClosed, 'a closed engine')
  e = await h.open()
  t.ok(sameBytes(await readAll(e, A), bytes), 'committed bytes after reopen')
  t.ok(sameBytes(await readAll(e, B, { uncommitted: true }), pending), 'a pending version written before a clean close is still pending')
  await e.commit({ chainId: 1, chunkId: B, version: 1 })
  await h.crash()
  e = await h.open()
  t.ok(sameBytes(await readAll(e, B), pending), 'a commit that resolved survives a power loss')
  await rejects(t, h.open({ create: false, root: 'targets/2' }), Code.engineNotFound, 'no engine where none was created', /create: true/)
  await rejects(t, h.open({ format: { checksumSegmentBytes: 8 * KiB, groupBytesMax: 256 * KiB, filesPerClass: 2 } }), Code.formatMismatch, 'another format than the stored one', /checksumSegmentBytes = 4096/)
})

t.test('a sync that fails fails the engine: updates refused, reads still served and checked', async (t) => {
  const { h, e } = await fresh(5)
  const bytes = randomBytes(random, 5000)
  await e.update(writeOf(A, 0, bytes))
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  await e.update(writeOf(B, 0, bytes))
  h.disk.failNext('sync', { pathPrefix: 'targets/1/index' })
  const failed = await rejects(t, e.commit({ chainId: 1, chunkId: B, version: 1 }), Code.engineFailed, 'the commit whose index sync failed')
  t.ok(isTargetFault(failed), 'a target fault: the replica reports itself bad')
  t.equal(e.state, 'failed', 'the engine is failed')
  await rejects(t, e.update(writeOf(A, 0, bytes)), Code.engineFailed, 'updates afterwards', /reopen/)
  t.ok(sameBytes(await readAll(e, A), bytes), 'reads still work')
  t.equal(e.getChunk(1, B)!.committed, null, 'the failed commit was not applied')
})

t.test('stored bytes that fail their CRC32C are ERR_CHUNK_CORRUPT, never data', async (t) => {
  const { h, e } = await fresh(6)
  const bytes = randomBytes(random, 20 * KiB)
  await e.update(writeOf(A, 0, bytes))
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  await e.close()
  const group = h.disk.image('durable').find((entry) => entry.path.startsWith('targets/1/blocks/64KiB/') && entry.allocatedBytes > 0)!
  h.disk.corruptSector(group.path, 8 * KiB + 100)
  const e2 = await h.open()
  t.ok(sameBytes(takeBytes(await e2.read({ chainId: 1, chunkId: A, offset: 0, length: 8 * KiB })), bytes.subarray(0, 8 * KiB)), 'segments before the damage read fine')
  const error = await rejects(t, e2.read({ chainId: 1, chunkId: A, offset: 0, length: 20 * KiB }), Code.chunkCorrupt, 'a read covering the decayed sector', /segment 2 is corrupt/)
  t.ok(isTargetFault(error), 'a target fault')
  t.same(h.pool.inUse(), [0, 0], 'the slot of the failed read went back')
  await rejects(t, e2.update(writeOf(A, 0, randomBytes(random, 10))), Code.chunkCorrupt, 'an update copying the corrupt segment into a new version')
  const retries = e2.stats().readRetries
  h.disk.flipNextRead({ pathPrefix: 'targets/1/blocks' })
  t.ok(sameBytes(takeBytes(await e2.read({ chainId: 1, chunkId: A, offset: 0, length: 4 * KiB })), bytes.subarray(0, 4 * KiB)), 'a bit flipped on the way is read again and served right')
  t.equal(e2.stats().readRetries, retries + 1, 'counted as a retry')
})

t.test('a damaged index is ERR_CHUNK_INDEX_CORRUPT; a torn tail is cut', async (t) => {
  const { h, e } = await fresh(7)
  for (let i = 0; i < 150; i++) {
    await e.update(writeOf(makeChunkId(20n, i), 0, randomBytes(random, 100)))
    await e.commit({ chainId: 1, chunkId: makeChunkId(20n, i), version: 1 })
  }
  await e.settle()
  await e.close()
  const snapshot = h.disk.image('durable').find((entry) => entry.path.includes('/index/snapshot-'))
  t.ok(snapshot !== undefined, 'the log was folded into a snapshot')
  h.disk.corruptSector(snapshot!.path, 40)
  await rejects(t, h.open(), Code.indexCorrupt, 'a damaged snapshot', /damaged/)
})

t.test('a torn tail of the last log segment is cut durably; damage in an earlier segment is ERR_CHUNK_INDEX_CORRUPT', async (t) => {
  const h = new Harness(10)
  let e = await h.open({ logSegmentBytes: 1024 * KiB })
  const bytes = randomBytes(random, 3000)
  await e.update(writeOf(A, 0, bytes))
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  await e.close()
  const segments = () => h.disk.image('durable').filter((entry) => entry.path.includes('/index/log-'))
  const last = segments().at(-1)!
  const file = await h.disk.open(last.path, { write: true })
  await file.write(randomBytes(random, 700), last.sizeBytes)
  await file.sync()
  await file.close()
  e = await h.open({ logSegmentBytes: 1024 * KiB })
  t.ok(sameBytes(await readAll(e, A), bytes), 'the records before the torn tail were replayed')
  // The segment ended in its zero-filled reserve (index-log.ts): the cut is where the records end.
  const cutBytes = segments().find((entry) => entry.path === last.path)!.sizeBytes
  t.ok(cutBytes > 0 && cutBytes < last.sizeBytes, `the tail was cut durably, at the end of the records (${cutBytes} of ${last.sizeBytes} bytes)`)
  await e.close()
  e = await h.open({ logSegmentBytes: 1024 * KiB })
  t.ok(sameBytes(await readAll(e, A), bytes), 'a later open finds a clean earlier segment')
  await e.close()
  h.disk.corruptSector(last.path, 20)
  await rejects(t, h.open(), Code.indexCorrupt, 'a damaged record in a segment that later ones follow', /later segments follow/)
})

t.test('log segments are zero-filled ahead of their records; the zeros end a segment, last or not', async (t) => {
  const h = new Harness(11)
  let e = await h.open()
  const first = randomBytes(random, 5000)
  await e.update(writeOf(A, 0, first))
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  await e.close()
  const segments = () => h.disk.image('durable').filter((entry) => entry.path.includes('/index/log-'))
  t.equal(segments().at(-1)!.sizeBytes, reserveStepBytes, 'the segment holds its records and the zeros after them')
  e = await h.open()
  const second = randomBytes(random, 5000)
  await e.update({ ...writeOf(A, 0, second), updateVersion: 2 })
  await e.commit({ chainId: 1, chunkId: A, version: 2 })
  await e.close()
  t.ok(segments().length >= 2, 'a new segment per open')
  e = await h.open()
  t.ok(sameBytes(await readAll(e, A), second), 'replay read past the first segment\'s zeros into the next one')
  await e.close()
})

t.test('bad input: every field named with what is accepted', async (t) => {
  const { e } = await fresh()
  const ok = writeOf(A, 0, randomBytes(random, 10))
  const cases: Array<[string, Partial<ChunkUpdate> | Record<string, unknown>, string, RegExp]> = [
    ['chainId', { chainId: -1 }, 'ERR_INVALID_OPTION', /chainId/],
    ['chunkId', { chunkId: 'nope' }, 'ERR_INVALID_CHUNK_ID', /chunkId/],
    ['kind', { kind: 'append' }, 'ERR_INVALID_OPTION', /'write', 'truncate', 'extend', 'remove'/],
    ['chainVersion', { chainVersion: 2 ** 32 }, 'ERR_INVALID_OPTION', /chainVersion/],
    ['offset', { offset: -5 }, 'ERR_INVALID_OPTION', /offset/],
    ['data', { data: 'bytes' }, 'ERR_INVALID_OPTION', /PooledBuffer/],
    ['checksum', { checksum: undefined }, 'ERR_INVALID_OPTION', /checksum/],
    ['tag', { tag: { clientId: 'x'.repeat(65), requestId: 1 } }, 'ERR_INVALID_OPTION', /tag.clientId/],
    ['syncing without a version', { syncing: true }, 'ERR_INVALID_OPTION', /updateVersion/],
    ['too large', { offset: 64 * 1024 * KiB - 5 }, Code.chunkTooLarge, /64 MiB|67108864/],
  ]
  for (const [what, change, code, match] of cases) await rejects(t, e.update({ ...ok, ...change } as ChunkUpdate), code, what, match)
  await rejects(t, e.update({ chainId: 1, chunkId: A, kind: 'truncate', chainVersion: 1, tag: { clientId: 'c', requestId: 1 } } as ChunkUpdate), 'ERR_INVALID_OPTION', 'truncate without lengthBytes', /lengthBytes/)
  await rejects(t, e.read({ chainId: 1, chunkId: A, offset: 0, length: -1 }), 'ERR_INVALID_OPTION', 'read length', /length/)
  await rejects(t, e.commit({ chainId: 1, chunkId: A, version: 1.5 }), 'ERR_INVALID_OPTION', 'commit version', /version/)
  t.throws(() => e.queryChunks(1, { limit: 0 }), { code: 'ERR_INVALID_OPTION', message: /range.limit/ }, 'query limit')
  t.throws(() => e.getChunk(1, 'x' as ChunkId), { code: 'ERR_INVALID_CHUNK_ID' }, 'getChunk id')
  const h = new Harness(8)
  await rejects(t, h.open({ commitBatchMax: 0 }), 'ERR_INVALID_OPTION', 'commitBatchMax', /commitBatchMax/)
  await rejects(t, h.open({ root: '../x' }), 'ERR_INVALID_PATH', 'root outside the disk')
  await rejects(t, h.open({ format: { checksumSegmentBytes: 3000 } }), 'ERR_INVALID_OPTION', 'format.checksumSegmentBytes', /power of two/)
  await rejects(t, h.open({ mutant: 'nope' as never }), 'ERR_INVALID_OPTION', 'mutant', /reuse-block-in-place/)
  t.equal(h.disk.image().filter((entry) => entry.path.startsWith('targets')).length, 0, 'nothing was created by the refused opens')
})

t.test('reads larger than a pool slot are refused with the limit; expectedVersion guards reads in parts', async (t) => {
  const { e } = await fresh()
  const bytes = randomBytes(random, 300 * KiB)
  await e.update(writeOf(A, 0, bytes))
  await e.commit({ chainId: 1, chunkId: A, version: 1 })
  await rejects(t, e.read({ chainId: 1, chunkId: A, offset: 0, length: 300 * KiB }), 'ERR_INVALID_OPTION', 'a read larger than the largest slot', /in parts/)
  const parts: Uint8Array[] = []
  for (let offset = 0; offset < bytes.length; offset += 128 * KiB) parts.push(takeBytes(await e.read({ chainId: 1, chunkId: A, offset, length: 128 * KiB, expectedVersion: 1 })))
  t.ok(sameBytes(Buffer.concat(parts), bytes), 'read in parts of one version')
  await e.update(writeOf(A, 0, randomBytes(random, 10)))
  await e.commit({ chainId: 1, chunkId: A, version: 2 })
  await rejects(t, e.read({ chainId: 1, chunkId: A, offset: 0, length: 10, expectedVersion: 1 }), Code.versionChanged, 'a part after the version changed', /version 2, not 1/)
})

t.test('one chunk at a time, other chunks in parallel; too many waiters is ERR_CHUNK_BUSY', async (t) => {
  const h = new Harness(9, { faults: { minLatencyMs: 1, maxLatencyMs: 3 } })
  const e = await h.open({ lockWaitersMax: 2 })
  const updates = [0, 1, 2].map((i) => e.update(writeOf(A, 0, randomBytes(random, 100), { tag: { clientId: 'c', requestId: 100 + i } })))
  const busy = e.update(writeOf(A, 0, randomBytes(random, 100)))
  const other = e.update(writeOf(B, 0, randomBytes(random, 100)))
  await rejects(t, h.drive(busy), Code.chunkBusy, 'a fourth operation on the chunk with 2 waiting', /lockWaitersMax 2/)
  const results = await h.drive(Promise.all(updates))
  t.same(results.map((r) => [r.version, r.replacedPending]), [[1, false], [1, true], [1, true]], 'updates of one chunk applied one after the other, in order')
  t.equal((await h.drive(other)).version, 1, 'another chunk went its own way')
})
