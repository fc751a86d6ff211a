/**
 * `t3fs/kvcache`: blocks by key (e.g. the hash of a token prefix) stored as files on t3fs through a
 * FileClient, with a capacity (LRU eviction), a TTL and a background GC. See kv-cache.ts.
 *
 *   const fs = await connectFileClient({ mgmtd: '127.0.0.1:9000' })
 *   const cache = await openKvCache(fs, { root: '/kvcache', capacityBytes: 64 << 30, ttlMs: 600_000 })
 *   await cache.put(key, block)
 *   const back = await cache.get(key)   // null when missing or expired
 */
export { KvCache, openKvCache, type KvCacheStats } from './kv-cache.ts'
export { KvCacheErrorCode, keyPattern } from './kv-errors.ts'
export { kvLimits, type KvCacheOptions } from './kv-options.ts'
