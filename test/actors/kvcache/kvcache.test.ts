/**
 * KVCache against a real file system of launched processes (mgmtd, two meta servers, three storage
 * nodes; test/actors/client/process-fs.ts), joined with connectFileClient: round trips byte for
 * byte, LRU eviction order under the capacity, TTL expiry with the GC deleting on a VirtualClock
 * (time moves only when the test says), LRU order surviving a restart, readers racing overwrites
 * never seeing a mixed block, bad keys, blocks and options refused with codes.
 */
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import type { FileClient } from '../../../actors/client/file-client.ts'
import { openKvCache, type KvCacheOptions } from '../../../actors/kvcache/index.ts'
import { blockPath, leafDir, tempPath } from '../../../actors/kvcache/kv-layout.ts'
import { MetricsRegistry } from '../../../runtime/metrics/registry.ts'
import { VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'
import { startProcessFs, type ProcessFs } from '../client/process-fs.ts'
import { untilMetaReady } from './meta-ready.ts'

const MiB = 1024 * 1024
let fsCluster: ProcessFs
let fs: FileClient
let rootSeq = 0

t.before(async () => {
  fsCluster = await startProcessFs()
  fs = await fsCluster.connect({ description: 'kvcache test' })
  await untilMetaReady(fs)
})
t.teardown(async () => {
  await fs?.shutdown()
  await fsCluster?.close()
})

/** A cache on a fresh root with a VirtualClock and no background timer unless asked. */
async function cacheOn(options: KvCacheOptions = {}) {
  const clock = new VirtualClock(1_000_000)
  const cache = await openKvCache(fs, { root: `/kv${rootSeq++}`, clock, gcIntervalMs: 0, accessPersistIntervalMs: 0, ...options })
  return { cache, clock }
}

t.test('put, get, batchGet, exists, delete round trip byte for byte', async (t) => {
  const { cache, clock } = await cacheOn()
  t.teardown(() => cache.close())
  const blocks = new Map<string, Buffer>([['a1', randomBytes(1)], ['b2', randomBytes(MiB)], ['c3', randomBytes(2 * MiB + 12_345)], ['d4', randomBytes(4096)]])
  for (const [k, v] of blocks) await cache.put(k, v)
  for (const [k, v] of blocks) t.ok(Buffer.from((await cache.get(k))!).equals(v), `get ${k} (${v.length} bytes)`)
  const batch = await cache.batchGet(['c3', 'zz', 'a1', 'b2'])
  t.ok(Buffer.from(batch[0]!).equals(blocks.get('c3')!) && batch[1] === null && Buffer.from(batch[2]!).equals(blocks.get('a1')!) && Buffer.from(batch[3]!).equals(blocks.get('b2')!), 'batchGet answers in key order, null for a missing key')
  const into = Buffer.alloc(3 * MiB)
  const view = await cache.get('b2', into)
  t.ok(view !== null && view.buffer === into.buffer && Buffer.from(view).equals(blocks.get('b2')!), 'get into a caller buffer')
  await t.rejects(cache.get('c3', Buffer.alloc(10)), { code: 'ERR_KVCACHE_BUFFER_TOO_SMALL', message: /into has 10 bytes.*at least 2109497/ })
  t.equal(await cache.exists('b2'), true)
  t.equal(await cache.exists('nope'), false)
  const replaced = randomBytes(777)
  await cache.put('b2', replaced)
  t.ok(Buffer.from((await cache.get('b2'))!).equals(replaced), 'a put replaces the block whole (shorter)')
  t.equal(await cache.delete('b2'), true)
  t.equal(await cache.delete('b2'), false, 'a second delete finds nothing')
  t.equal(await cache.get('b2'), null)
  t.equal(await cache.exists('b2'), false)
  const other = await openKvCache(fs, { root: cache.options.root, clock, gcIntervalMs: 0 })
  t.ok(Buffer.from((await other.get('c3'))!).equals(blocks.get('c3')!), 'another instance on the same root reads the block')
  t.same(other.stats().blocks, 3, 'and rebuilt its picture from the listing')
  const shorter = randomBytes(100)
  await other.put('c3', shorter)
  t.ok(Buffer.from((await cache.get('c3'))!).equals(shorter), 'the first instance reads the block the other one replaced')
  t.equal(cache.stats().usedBytes, 1 + 100 + 4096, 'and accounts its new size')
  await other.close()
})

t.test('capacity: least recently used blocks go first, and LRU order survives a restart', async (t) => {
  const { cache, clock } = await cacheOn({ capacityBytes: 4 * 64 * 1024 })
  const block = (i: number) => Buffer.alloc(64 * 1024, i)
  for (const k of ['k0', 'k1', 'k2', 'k3']) { await cache.put(k, block(Number(k[1]))); clock.advanceTo(clock.now() + 1_000) }
  await cache.get('k0') // k1 is now the least recently used
  clock.advanceTo(clock.now() + 1_000)
  await cache.put('k4', block(4))
  t.same([await cache.exists('k0'), await cache.exists('k1'), await cache.exists('k2')], [true, false, true], 'k1 (LRU) evicted, k0 kept by its get')
  t.equal(cache.stats().evictions, 1)
  t.equal(cache.stats().usedBytes, 4 * 64 * 1024)
  clock.advanceTo(clock.now() + 1_000)
  const readAtMs = clock.now()
  await cache.get('k2')
  await cache.close()
  const st = await fs.stat(blockPath(cache.options.root, 'k2'))
  t.same([st.atimeMs, st.mtimeMs], [readAtMs, readAtMs - 4_000], 'the get moved k2\'s atime on t3fs to the cache clock; mtime stays its put time')
  // A new instance (a client restart) takes the order from the files' atimes.
  const again = await openKvCache(fs, { root: cache.options.root, clock, gcIntervalMs: 0, capacityBytes: 4 * 64 * 1024 })
  t.teardown(() => again.close())
  clock.advanceTo(clock.now() + 1_000)
  await again.put('k5', block(5))
  t.same(await Promise.all(['k0', 'k2', 'k3', 'k4', 'k5'].map((k) => again.exists(k))), [true, true, false, true, true], 'after the restart k3 (LRU by atime) goes, not k2 (read before the restart)')
  clock.advanceTo(clock.now() + 1_000)
  await again.put('k6', block(6))
  t.same(await Promise.all(['k0', 'k2', 'k4'].map((k) => again.exists(k))), [false, true, true], 'then k0')
})

t.test('TTL: expired blocks are not returned and the background GC deletes them on the cache clock', async (t) => {
  const metrics = new MetricsRegistry()
  const { cache, clock } = await cacheOn({ ttlMs: 10_000, gcIntervalMs: 1_000, metrics })
  t.teardown(() => cache.close())
  await cache.put('old1', randomBytes(1000))
  await cache.put('old2', randomBytes(1000))
  clock.advanceTo(clock.now() + 6_000)
  await cache.put('young', randomBytes(1000))
  clock.advanceTo(clock.now() + 4_000) // old ones at exactly their TTL, young at 4 s
  t.equal(await cache.get('old1'), null, 'an expired block is a miss before the GC ran')
  t.equal(await cache.exists('old2'), false)
  t.not(await cache.get('young'), null)
  t.equal(cache.stats().gcDeletes, 0, 'nothing deleted while the GC timer has not fired')
  t.ok(clock.fireNext(), 'the GC timer is set on the cache clock')
  await waitFor(() => cache.stats().gcDeletes === 2)
  t.match(await metrics.text(), /^t3fs_kvcache_gc_deletes_total 2$/m, 'the GC deletes are a Prometheus counter')
  const names = (await fs.readdirAll(cache.options.root)).length
  t.ok(names > 0)
  const still = await openKvCache(fs, { root: cache.options.root, clock, gcIntervalMs: 0 })
  t.same(still.stats().blocks, 1, 'the files of old1 and old2 are gone from t3fs')
  await still.close()
  const elsewhere = await openKvCache(fs, { root: cache.options.root, clock, gcIntervalMs: 0, ttlMs: 10_000 })
  await elsewhere.put('other', randomBytes(10)) // put by another instance after this one opened
  await elsewhere.close()
  clock.advanceTo(clock.now() + 6_000)
  t.equal(await cache.gc(), 1, 'an explicit pass deletes young at its TTL')
  t.equal(cache.stats().gcDeletes, 3)
  t.equal(await cache.exists('other'), true, 'a pass without rescan does not know the block another instance put')
  clock.advanceTo(clock.now() + 10_000)
  t.equal(await cache.gc({ rescan: true }), 1, 'a pass with rescan collects it')
  t.equal(await cache.exists('other'), false)
})

t.test('a key another instance put again after this one\'s put: its GC without rescan keeps it and its get finds it past this instance\'s TTL', async (t) => {
  // Found by the simulation suite (test/sim/kvcache.test.ts, seed 1): an instance trusted the put time it knew.
  const { cache: a, clock } = await cacheOn({ ttlMs: 10_000 })
  t.teardown(() => a.close())
  const b = await openKvCache(fs, { root: a.options.root, clock, gcIntervalMs: 0, ttlMs: 10_000 })
  t.teardown(() => b.close())
  await a.put('k', randomBytes(100))
  clock.advanceTo(clock.now() + 6_000)
  const newer = randomBytes(200)
  await b.put('k', newer)
  clock.advanceTo(clock.now() + 5_000) // a's own put expired 1 s ago; b's has 5 s left
  t.equal(await a.gc(), 0, 'a GC pass without rescan deletes nothing')
  t.ok(Buffer.from((await b.get('k'))!).equals(newer), 'b\'s block is still there')
  const c = await openKvCache(fs, { root: a.options.root, clock, gcIntervalMs: 0, ttlMs: 10_000 })
  t.teardown(() => c.close())
  await c.put('j', randomBytes(10))
  clock.advanceTo(clock.now() + 6_000)
  const again = randomBytes(300)
  await b.put('j', again)
  clock.advanceTo(clock.now() + 5_000) // c's put of j expired, b's not
  t.ok(Buffer.from((await c.get('j'))!).equals(again), 'a get past this instance\'s own put time finds the newer block')
  t.equal(c.stats().usedBytes, 200 + 300, 'and takes its size (beside b\'s k, listed when c opened)')
  clock.advanceTo(clock.now() + 5_000)
  t.equal(await c.get('j'), null, 'then it expires by its own put time')
  t.equal(await c.gc(), 2, 'and the GC deletes it (and k)')
})

t.test('a slow put that lands an older block over this instance\'s newer one: a get judges the TTL by the file it opens', async (t) => {
  // Found by the simulation suite (test/sim/kvcache.test.ts, seed 23): a get judged the TTL by the put time it knew.
  const { cache, clock } = await cacheOn({ ttlMs: 10_000 })
  t.teardown(() => cache.close())
  const root = cache.options.root
  const slowAtMs = clock.now()
  // What a slow put of another writer does: its block, stamped with the time it started, renamed over the key last.
  const slow = tempPath(root, 'k', 'slow', 0)
  await fs.mkdir(leafDir(root, 'k'), { recursive: true })
  const h = await fs.create(slow, 0o644, { excl: true })
  const older = randomBytes(50)
  await fs.write(h, older, 0)
  await fs.close(h)
  await fs.setattr(slow, { atimeMs: slowAtMs, mtimeMs: slowAtMs })
  clock.advanceTo(slowAtMs + 4_000)
  await cache.put('k', randomBytes(100))
  await fs.rename(slow, blockPath(root, 'k'))
  clock.advanceTo(slowAtMs + 10_000) // the block there expired; the one this instance put would not have
  t.equal(await cache.get('k'), null, 'an expired block is not returned')
  t.equal(await cache.exists('k'), false)
  t.equal(cache.stats().misses, 1)
})

t.test('a dead writer\'s temporary files: a restarted writer skips their names, a rescanning GC deletes them once seen long enough', async (t) => {
  const metrics = new MetricsRegistry()
  const { cache, clock } = await cacheOn({ orphanTempAgeMs: 60_000, metrics })
  t.teardown(() => cache.close())
  const root = cache.options.root
  await cache.put('live', randomBytes(2000))
  // What writer w1 leaves when it dies between create and rename: its first temporary file, written.
  const orphan = tempPath(root, 'k1', 'w1', 0)
  await fs.mkdir(leafDir(root, 'k1'), { recursive: true })
  const h = await fs.create(orphan, 0o644, { excl: true })
  await fs.write(h, randomBytes(100), 0)
  await fs.close(h)
  const restarted = await openKvCache(fs, { root, clock, writerId: 'w1', gcIntervalMs: 0 })
  const block = randomBytes(3000)
  await restarted.put('k1', block)
  await restarted.close()
  t.ok(Buffer.from((await cache.get('k1'))!).equals(block), 'the restarted writer\'s put went under another temporary name')
  t.equal((await fs.stat(orphan)).sizeBytes, 100, 'the orphan is still there')
  t.equal(await cache.gc({ rescan: true }), 0)
  clock.advanceTo(clock.now() + 59_999)
  await cache.gc({ rescan: true })
  t.equal(cache.stats().orphanDeletes, 0, 'not deleted before it was seen for orphanTempAgeMs')
  t.equal((await fs.stat(orphan)).sizeBytes, 100)
  clock.advanceTo(clock.now() + 1)
  await cache.gc({ rescan: true })
  t.equal(cache.stats().orphanDeletes, 1, 'deleted once seen for orphanTempAgeMs')
  await t.rejects(fs.stat(orphan), { code: 'ENOENT' })
  t.match(await metrics.text(), /^t3fs_kvcache_orphans_deleted_total 1$/m)
  t.equal(cache.stats().gcDeletes, 0, 'no block was taken for an orphan')
  t.ok(await cache.exists('live') && Buffer.from((await cache.get('k1'))!).equals(block), 'the blocks stay')
  const listing = (await fs.readdirAll(leafDir(root, 'k1'))).map((e) => e.name)
  t.same(listing, ['k1'], 'only the block is left in its directory')
})

t.test('concurrent readers during overwrites never see a mixed block', async (t) => {
  const { cache, clock } = await cacheOn()
  t.teardown(() => cache.close())
  const versions = Array.from({ length: 6 }, (_, i) => Buffer.alloc(MiB + 4096 * i, i + 1)) // uniform fill: a mix shows as two values
  const digests = new Set(versions.map((v) => createHash('sha256').update(v).digest('hex')))
  await cache.put('hot', versions[0])
  const readerFs = await fsCluster.connect({ description: 'racing reader' })
  t.teardown(() => readerFs.shutdown())
  const reader = await openKvCache(readerFs, { root: cache.options.root, clock, gcIntervalMs: 0 })
  let stop = false
  let reads = 0
  const readers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const got = await reader.get('hot')
      const whole = got !== null && digests.has(createHash('sha256').update(got).digest('hex'))
      if (!whole) {
        t.fail(`read ${reads} is not one whole version: ${got === null ? 'null' : `${got.length} bytes, first ${got[0]}, last ${got[got.length - 1]}`}`)
        stop = true
      }
      reads++
    }
  })
  for (let round = 0; round < 3; round++) for (const v of versions) await cache.put('hot', v)
  stop = true
  await Promise.all(readers)
  await reader.close()
  t.ok(reads > 0, `${reads} reads raced 18 overwrites, each one whole version`)
})

t.test('bad keys, blocks and options are refused with codes, nothing written', async (t) => {
  const { cache } = await cacheOn({ maxBlockBytes: 1024, capacityBytes: 4096 })
  t.teardown(() => cache.close())
  for (const bad of ['', '.hidden', 'a/b', 'x'.repeat(201), 'sp ace', 42, null]) {
    await t.rejects(cache.put(bad as string, Buffer.alloc(1)), { code: 'ERR_KVCACHE_BAD_KEY', message: /accepted: a string of 1 to 200 characters/ }, `put key ${JSON.stringify(bad)}`)
  }
  await t.rejects(cache.get('../etc'), { code: 'ERR_KVCACHE_BAD_KEY' })
  await t.rejects(cache.batchGet(['ok', 'b/ad']), { code: 'ERR_KVCACHE_BAD_KEY', message: /keys\[1\]/ })
  await t.rejects(cache.put('k', Buffer.alloc(0)), { code: 'ERR_KVCACHE_BAD_BLOCK', message: /0 bytes; accepted: 1 to 1024/ })
  await t.rejects(cache.put('k', Buffer.alloc(1025)), { code: 'ERR_KVCACHE_BAD_BLOCK', message: /1025 bytes/ })
  await t.rejects(cache.put('k', 'text' as unknown as Buffer), { code: 'ERR_KVCACHE_BAD_BLOCK', message: /Uint8Array/ })
  t.equal(await cache.exists('k'), false, 'nothing stored by refused puts')
  t.same(await fs.readdirAll(cache.options.root), [], 'not even a directory')
  await t.rejects(openKvCache(fs, { capacityBytes: -1 }), { code: 'ERR_INVALID_OPTION', message: /capacityBytes/ })
  await t.rejects(openKvCache(fs, { root: 'relative' }), { code: 'ERR_INVALID_OPTION', message: /root.*absolute/ })
  await t.rejects(openKvCache(fs, { capacityBytes: 100, maxBlockBytes: 200 }), { code: 'ERR_INVALID_OPTION', message: /maxBlockBytes/ })
  await t.rejects(openKvCache(fs, { ttlMs: 0 }), { code: 'ERR_INVALID_OPTION', message: /ttlMs/ })
  await t.rejects(openKvCache(fs, { gcRescan: 'yes' as unknown as boolean }), { code: 'ERR_INVALID_OPTION', message: /gcRescan.*true or false/ })
  await t.rejects(openKvCache(fs, { mutants: ['no-such-bug'] as unknown as [] }), { code: 'ERR_INVALID_OPTION', message: /mutants.*put-in-place.*test-only/ })
  await cache.close()
  await t.rejects(cache.get('k'), { code: 'ERR_KVCACHE_CLOSED' })
})

async function waitFor(condition: () => boolean, limit = 600): Promise<void> {
  for (let i = 0; i < limit && !condition(); i++) await new Promise((r) => setTimeout(r, 50))
  if (!condition()) throw new Error('condition not reached')
}
