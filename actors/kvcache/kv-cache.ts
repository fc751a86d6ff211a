/**
 * KVCache on t3fs (3FS's fourth workload: inference KV blocks kept off the GPU, read back at disk
 * speed). Blocks are files under a fan-out tree (kv-layout.ts) written through a FileClient.
 *
 * Where LRU and TTL state lives: in the files' own attributes, so it survives a client restart
 * with no index file to keep consistent. A put sets the file's mtime and atime to the cache clock
 * before the rename (mtime = put time, the TTL's origin); a get moves atime (at most every
 * accessPersistIntervalMs per block, relatime-style, so hot reads do not become meta writes). A
 * KVCache rebuilds its LRU order at open by listing the tree with attributes (lru-index.ts) and
 * keeps it current with its own calls. Several instances may share one root: each evicts from
 * what it knows; a get finds any instance's block by path and judges its TTL by the mtime of the
 * file it opened (what this instance knows may be stale: another instance put the key again, or
 * a slow put landed an older block last); a GC pass without rescan asks meta (one stat per key)
 * before deleting what it thinks expired; every unlink tolerates ENOENT; one instance with
 * `gcRescan` (its GC lists the tree each pass) collects what all of them put, and the temporary
 * files of puts whose writer died before renaming (a name it keeps seeing for orphanTempAgeMs).
 * There is no conditional unlink: a block put again while a GC pass runs may still be taken by
 * that pass when it saw the key expired (a miss later, never a wrong block).
 *
 * Torn blocks: a put writes a temporary name and renames it over the key (one meta transaction);
 * a reader opens the old inode or the new one, whole. Reads open `direct` (no read-ahead, no
 * buffering) and fetch every chunk of the block in parallel with one FileClient read. A caller
 * that passes `usrbio` (a client of the node's usrbio server) gets blocks through its shared
 * region and ring instead (usrbio-blocks.ts); blocks larger than a slot still take the FileClient.
 */
import type { TimerHandle } from '../../runtime/clock.ts'
import type { CounterMetric } from '../../runtime/metrics/metrics.ts'
import { T3fsError } from '../../runtime/errors.ts'
import type { FileClient, FileHandle, FileStat } from '../client/file-client.ts'
import { checkBlock, checkKey, closedError, isExists, isNotFound, KvCacheErrorCode } from './kv-errors.ts'
import { blockPath, tempPath } from './kv-layout.ts'
import { resolveKvOptions, type KvCacheOptions, type ResolvedKvOptions } from './kv-options.ts'
import { listTree } from './kv-listing.ts'
import { LruIndex, type BlockEntry } from './lru-index.ts'
import { runLimited } from './run-limited.ts'
import { UsrbioBlocks, type BlockRead } from './usrbio-blocks.ts'

/** Access-time updates in flight at once; past it a get skips its update (best effort by design). */
const accessUpdatesInFlightMax = 64
/** Temporary names a put tries when earlier ones are taken (by orphans of this writer's earlier lives). */
const tempNameAttemptsMax = 64
/** Temporary files a rescanning GC remembers having seen (beyond it, the newest are not tracked until a later pass). */
const tempsTrackedMax = 100_000

export interface KvCacheStats {
  readonly blocks: number
  readonly usedBytes: number
  readonly capacityBytes: number
  readonly puts: number
  readonly hits: number
  readonly misses: number
  readonly evictions: number
  readonly gcDeletes: number
  readonly gcRuns: number
  /** Temporary files of puts whose writer died before the rename, deleted by rescanning GC passes. */
  readonly orphanDeletes: number
  /** Blocks read through USRBIO (the rest of the hits went through the FileClient). */
  readonly usrbioReads: number
}

export class KvCache {
  private closed = false
  private timer: TimerHandle | null = null
  private seq = 0
  private gcRunning: Promise<number> | null = null
  /** atime updates sent to meta and not answered yet (close waits for them). */
  private readonly accessUpdates = new Set<Promise<void>>()
  private readonly counters = { puts: 0, hits: 0, misses: 0, evictions: 0, gcDeletes: 0, gcRuns: 0, orphanDeletes: 0, usrbioReads: 0 }
  /**
   * Temporary files seen by rescans, with the cache-clock time each was first seen. Their own
   * times come from meta's clock, not this one, so age is judged by how long a name stays: a put
   * renames its temporary file within seconds, a dead writer's stays forever.
   */
  private tempsSeen = new Map<string, number>()
  private readonly gcMetric: CounterMetric | null
  private readonly evictMetric: CounterMetric | null
  private readonly orphanMetric: CounterMetric | null

  constructor(readonly client: FileClient, readonly options: ResolvedKvOptions, private index: LruIndex, private readonly usrbio: UsrbioBlocks | null = null) {
    const m = options.metrics
    this.gcMetric = m?.counter('t3fs_kvcache_gc_deletes_total', { help: 'KVCache blocks the GC deleted because their TTL ran out' }) ?? null
    this.evictMetric = m?.counter('t3fs_kvcache_evictions_total', { help: 'KVCache blocks deleted to stay under the capacity (LRU)' }) ?? null
    this.orphanMetric = m?.counter('t3fs_kvcache_orphans_deleted_total', { help: 'Temporary files of puts whose writer died before the rename, deleted by the GC' }) ?? null
    if (options.gcIntervalMs > 0) this.schedule()
  }

  /** Stores `block` under `key` (replacing any earlier block whole), then evicts LRU blocks past the capacity. */
  async put(key: string, block: Uint8Array): Promise<void> {
    this.checkOpen()
    checkKey('key', key)
    checkBlock(block, this.options.maxBlockBytes)
    const { root } = this.options
    const nowMs = this.now()
    if (this.options.mutants.has('put-in-place')) return this.putInPlace(key, block, nowMs)
    const { tmp, h } = await this.createTemp(key)
    try {
      try {
        await this.client.write(h, block, 0)
      } finally {
        await this.client.close(h)
      }
      await this.client.setattr(tmp, { atimeMs: nowMs, mtimeMs: nowMs })
      await this.client.rename(tmp, blockPath(root, key))
    } catch (error) {
      // Nothing half-done stays behind: the key keeps its previous block (or none).
      await this.client.unlink(tmp).catch(() => {})
      throw error
    }
    this.index.set(key, { sizeBytes: block.length, putAtMs: nowMs, accessAtMs: nowMs, persistedAccessMs: nowMs })
    this.counters.puts++
    await this.evictToCapacity(key)
  }

  /**
   * The block of `key`, or null when there is none or its TTL ran out. With `into`, the bytes land
   * there (the answer is a view of it); a block larger than `into` fails with ERR_KVCACHE_BUFFER_TOO_SMALL.
   */
  async get(key: string, into?: Uint8Array): Promise<Uint8Array | null> {
    this.checkOpen()
    checkKey('key', key)
    if (into !== undefined && !(into instanceof Uint8Array)) throw new T3fsError(KvCacheErrorCode.BAD_BLOCK, `into is a ${typeof into}; accepted: a Uint8Array (or Buffer), or nothing`, { field: 'into' })
    const nowMs = this.now()
    const r = await this.readBlock(key, into, nowMs)
    if (r === 'absent') this.index.delete(key)
    if (typeof r === 'string') return this.miss()
    this.remember(key, r.bytes.length, r.putAtMs)
    this.counters.hits++
    this.touch(key, nowMs)
    return r.bytes
  }

  /** get of every key, up to getConcurrency at once; answers in the order of `keys`. */
  async batchGet(keys: readonly string[]): Promise<(Uint8Array | null)[]> {
    this.checkOpen()
    if (!Array.isArray(keys)) throw new T3fsError(KvCacheErrorCode.BAD_KEY, `keys is a ${typeof keys}; accepted: an array of keys`, { field: 'keys' })
    keys.forEach((k, i) => checkKey(`keys[${i}]`, k))
    return runLimited(keys, this.options.getConcurrency, (k) => this.get(k))
  }

  /** True when a live (unexpired) block of `key` is stored, by any instance. */
  async exists(key: string): Promise<boolean> {
    this.checkOpen()
    checkKey('key', key)
    try {
      const st = await this.client.stat(blockPath(this.options.root, key))
      return !this.expired(st.mtimeMs, this.now())
    } catch (error) {
      if (isNotFound(error)) return false
      throw error
    }
  }

  /** Removes the block of `key`; false when there was none. */
  async delete(key: string): Promise<boolean> {
    this.checkOpen()
    checkKey('key', key)
    this.index.delete(key)
    return this.unlink(key)
  }

  /**
   * One GC pass now: deletes every block whose TTL ran out (and evicts past the capacity); resolves
   * with the number deleted. `rescan` first rebuilds the picture from the tree, so blocks other
   * instances put since this one opened are collected too (a dedicated GC process does this).
   */
  gc(options: { readonly rescan?: boolean } = {}): Promise<number> {
    this.checkOpen()
    if (this.gcRunning === null) this.gcRunning = this.gcPass(options.rescan === true).finally(() => { this.gcRunning = null })
    return this.gcRunning
  }

  /** Rebuilds the LRU/TTL picture from the files' attributes (a listing of the whole tree). */
  async rescan(): Promise<void> {
    this.checkOpen()
    await this.rescanTree()
  }

  stats(): KvCacheStats {
    return { blocks: this.index.size, usedBytes: this.index.usedBytes, capacityBytes: this.options.capacityBytes, ...this.counters }
  }

  /** Stops the GC timer, waits for a running pass and for access times sent to meta. The FileClient stays the caller's. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.timer?.cancel()
    await this.gcRunning?.catch(() => 0)
    await Promise.all([...this.accessUpdates])
  }

  // ---- internals -------------------------------------------------------------------------------

  private async gcPass(rescan: boolean): Promise<number> {
    this.counters.gcRuns++
    if (rescan) await this.collectOrphans(await this.rescanTree())
    const ttlMs = this.options.mutants.has('gc-deletes-unexpired') ? Math.ceil(this.options.ttlMs / 2) : this.options.ttlMs
    const nowMs = this.now()
    // Without a rescan, what this instance knows may be stale (another instance put the key again): meta decides.
    const expired = rescan ? this.index.expired(nowMs, ttlMs) : await this.stillExpired(this.index.expired(nowMs, ttlMs), nowMs, ttlMs)
    for (const k of expired) this.index.delete(k)
    const deleted = await runLimited(expired, this.options.gcConcurrency, (k) => this.unlink(k))
    const n = deleted.filter(Boolean).length
    this.counters.gcDeletes += n
    this.gcMetric?.inc(undefined, n)
    await this.evictToCapacity(null)
    return n
  }

  /** The keys among `keys` whose file is still expired; the others' entries take the file's put time and size. */
  private async stillExpired(keys: readonly string[], nowMs: number, ttlMs: number): Promise<string[]> {
    const stats = await runLimited(keys, this.options.gcConcurrency, (k) => this.statBlock(k))
    return keys.filter((k, i) => {
      const st = stats[i]
      if (st === null) this.index.delete(k)
      else if (st.mtimeMs + ttlMs > nowMs) this.index.set(k, entryOf(st))
      return st !== null && st.mtimeMs + ttlMs <= nowMs
    })
  }

  private async rescanTree(): Promise<string[]> {
    const listing = await listTree(this.client, this.options.root)
    this.index = LruIndex.fromListing(listing.blocks)
    return listing.temps
  }

  /** Deletes the temporary files seen for orphanTempAgeMs or longer (their writer died); remembers the rest. */
  private async collectOrphans(temps: readonly string[]): Promise<void> {
    const now = this.now()
    const ageMs = this.options.mutants.has('orphan-age-zero') ? 0 : this.options.orphanTempAgeMs
    const seen = new Map<string, number>()
    const orphans: string[] = []
    for (const path of temps) {
      const first = this.tempsSeen.get(path) ?? now
      if (now - first >= ageMs) orphans.push(path)
      else if (seen.size < tempsTrackedMax) seen.set(path, first)
    }
    this.tempsSeen = seen
    const done = await runLimited(orphans, this.options.gcConcurrency, async (path) => {
      try {
        await this.client.unlink(path)
        return true
      } catch (error) {
        if (isNotFound(error)) return false
        throw error
      }
    })
    const n = done.filter(Boolean).length
    this.counters.orphanDeletes += n
    this.orphanMetric?.inc(undefined, n)
  }

  private schedule(): void {
    this.timer = this.options.clock.setTimer(this.options.gcIntervalMs, () => {
      if (this.closed) return
      // A failed pass (meta unreachable for a while) is retried at the next tick.
      void this.gc({ rescan: this.options.gcRescan }).catch(() => 0).finally(() => { if (!this.closed) this.schedule() })
    })
  }

  private async evictToCapacity(keep: string | null): Promise<void> {
    const victims: string[] = []
    let used = this.index.usedBytes
    for (const k of this.index.keysByAge()) {
      if (used <= this.options.capacityBytes) break
      if (k === keep) continue
      victims.push(k)
      used -= this.index.get(k)?.sizeBytes ?? 0
    }
    for (const k of victims) this.index.delete(k)
    const done = await runLimited(victims, this.options.gcConcurrency, (k) => this.unlink(k))
    const n = done.filter(Boolean).length
    this.counters.evictions += n
    this.evictMetric?.inc(undefined, n)
  }

  private async unlink(key: string): Promise<boolean> {
    try {
      await this.client.unlink(blockPath(this.options.root, key))
      return true
    } catch (error) {
      if (isNotFound(error)) return false
      throw error
    }
  }

  /**
   * A new temporary file for a put of `key`. Its name is taken when an earlier life of this writer
   * (the same writerId, its sequence restarted) left an orphan under it: the next number is tried.
   */
  private async createTemp(key: string): Promise<{ tmp: string; h: FileHandle }> {
    for (let attempt = 1; ; attempt++) {
      const tmp = tempPath(this.options.root, key, this.options.writerId, this.seq++)
      try {
        return { tmp, h: await this.createExclusive(tmp) }
      } catch (error) {
        if (!isExists(error) || attempt >= tempNameAttemptsMax) throw error
      }
    }
  }

  private async createExclusive(tmp: string): Promise<FileHandle> {
    try {
      return await this.client.create(tmp, 0o644, { excl: true })
    } catch (error) {
      if (!isNotFound(error)) throw error
      await this.client.mkdir(tmp.slice(0, tmp.lastIndexOf('/')), { recursive: true })
      return this.client.create(tmp, 0o644, { excl: true })
    }
  }

  /**
   * The block through USRBIO when the caller gave a client (and it fits a slot), else through the
   * FileClient. Its TTL is judged by the mtime of the file opened, not by what this instance knows:
   * another instance may have replaced the block since, and a slow put may land an older block
   * over a newer one.
   */
  private async readBlock(key: string, into: Uint8Array | undefined, nowMs: number): Promise<BlockRead> {
    const live = (mtimeMs: number): boolean => !this.expiredForGet(mtimeMs, nowMs)
    if (this.usrbio !== null) {
      const r = await this.usrbio.read(blockPath(this.options.root, key), key, into, live)
      if (r !== 'fallback') {
        if (typeof r !== 'string') this.counters.usrbioReads++
        return r
      }
    }
    const h = await this.openBlock(key)
    if (h === null) return 'absent'
    try {
      if (!live(h.mtimeMs)) return 'expired'
      return { bytes: await this.readWhole(h, key, into), putAtMs: h.mtimeMs }
    } finally {
      await this.client.close(h).catch(() => {})
    }
  }

  private async openBlock(key: string): Promise<FileHandle | null> {
    try {
      return await this.client.open(blockPath(this.options.root, key), { direct: true })
    } catch (error) {
      if (isNotFound(error)) return null
      throw error
    }
  }

  /** Every chunk of the block in one FileClient read (its pieces go to storage in parallel). */
  private async readWhole(h: FileHandle, key: string, into: Uint8Array | undefined): Promise<Uint8Array> {
    const n = h.sizeBytes
    if (into !== undefined && into.length < n) {
      throw new T3fsError(KvCacheErrorCode.BUFFER_TOO_SMALL, `into has ${into.length} bytes; the block of key ${JSON.stringify(key)} has ${n}; accepted: a buffer of at least ${n} bytes`, { field: 'into', sizeBytes: n })
    }
    const buf = into ?? Buffer.allocUnsafe(n)
    const got = n === 0 ? 0 : await this.client.read(h, buf, 0, n)
    if (got !== n) throw new T3fsError('EIO', `the block of key ${JSON.stringify(key)} read ${got} of its ${n} bytes`, { sizeBytes: n })
    return buf.subarray(0, n)
  }

  private async statBlock(key: string): Promise<FileStat | null> {
    try {
      return await this.client.stat(blockPath(this.options.root, key))
    } catch (error) {
      if (isNotFound(error)) return null
      throw error
    }
  }

  /** The size and put time of a block just read (another instance may have put it, or replaced the one this instance knew). */
  private remember(key: string, sizeBytes: number, putAtMs: number): void {
    const known = this.index.get(key)
    // Its atime is not known here: the put time stands in (the next touch may tell meta a little early).
    if (known === undefined) this.index.set(key, { sizeBytes, putAtMs, accessAtMs: putAtMs, persistedAccessMs: putAtMs })
    else if (known.sizeBytes !== sizeBytes || known.putAtMs !== putAtMs) this.index.set(key, { ...known, sizeBytes, putAtMs })
  }

  private touch(key: string, nowMs: number): void {
    const entry = this.index.touch(key, nowMs)
    if (entry === undefined || nowMs - entry.persistedAccessMs < this.options.accessPersistIntervalMs) return
    // Best effort: a skipped or lost atime update only makes the block look older after a restart.
    if (this.accessUpdates.size >= accessUpdatesInFlightMax) return
    entry.persistedAccessMs = nowMs
    const update = this.client.setattr(blockPath(this.options.root, key), { atimeMs: nowMs }).then(() => {}, () => {})
    this.accessUpdates.add(update)
    void update.finally(() => this.accessUpdates.delete(update))
  }

  private expired(putAtMs: number, nowMs: number): boolean {
    return putAtMs + this.options.ttlMs <= nowMs
  }

  private expiredForGet(putAtMs: number, nowMs: number): boolean {
    return !this.options.mutants.has('ttl-ignored-on-get') && this.expired(putAtMs, nowMs)
  }

  /** The mutant `put-in-place`: the block written straight into the key's file (a reader or a crash sees it half-written). */
  private async putInPlace(key: string, block: Uint8Array, nowMs: number): Promise<void> {
    const path = blockPath(this.options.root, key)
    const open = () => this.client.open(path, { create: true, access: 'readwrite', trunc: true })
    const h = await open().catch(async (error: unknown) => {
      if (!isNotFound(error)) throw error
      await this.client.mkdir(path.slice(0, path.lastIndexOf('/')), { recursive: true })
      return open()
    })
    try {
      await this.client.write(h, block, 0)
    } finally {
      await this.client.close(h)
    }
    await this.client.setattr(path, { atimeMs: nowMs, mtimeMs: nowMs })
    this.index.set(key, { sizeBytes: block.length, putAtMs: nowMs, accessAtMs: nowMs, persistedAccessMs: nowMs })
    this.counters.puts++
    await this.evictToCapacity(key)
  }

  /** Whole milliseconds: meta keeps integer times (the system clock has fractions). */
  private now(): number {
    return Math.floor(this.options.clock.now())
  }

  private miss(): null {
    this.counters.misses++
    return null
  }

  private checkOpen(): void {
    if (this.closed) throw closedError()
  }
}

/** An index entry from a block file's attributes (mtime = put time, atime = last access told to meta). */
function entryOf(st: FileStat): BlockEntry {
  return { sizeBytes: st.sizeBytes, putAtMs: st.mtimeMs, accessAtMs: Math.max(st.atimeMs, st.mtimeMs), persistedAccessMs: st.atimeMs }
}

/** Opens (creating its root) a KVCache on `client`, rebuilding its LRU picture from the tree's attributes. */
export async function openKvCache(client: FileClient, options: KvCacheOptions = {}): Promise<KvCache> {
  const resolved = resolveKvOptions(options, client.clientId)
  if (resolved.root !== '') await client.mkdir(resolved.root, { recursive: true })
  const index = LruIndex.fromListing((await listTree(client, resolved.root)).blocks)
  const u = resolved.usrbio
  return new KvCache(client, resolved, index, u === null ? null : await UsrbioBlocks.open(u.client, u.slots, u.slotBytes))
}
