/**
 * Decoded records by key, reused while the stored bytes stay the same: a path walk reads the same
 * few directory entries and inodes (the root's, the top directories') on every request, and
 * decoding them is most of a stat's CPU. A hit needs the bytes just read to equal the bytes the
 * cached record was decoded from, so the cache never answers for the store: it only skips
 * decoding identical bytes again. Cached records are deep-frozen (they are shared by every reader
 * on this thread; a mutation throws instead of corrupting the next answer). Bounded: full, it is
 * emptied and fills again with what is read next.
 */

/** Records kept per cache before it is emptied. */
export const DECODE_CACHE_ENTRIES_MAX = 4096

export class DecodeCache<K, V> {
  private readonly records = new Map<K, { readonly bytes: Buffer; readonly value: V }>()

  constructor(private readonly entriesMax = DECODE_CACHE_ENTRIES_MAX) {}

  get size(): number {
    return this.records.size
  }

  /** The record stored as `bytes` under `key`: the cached one when the bytes are the same, else `decode(key, bytes)` (then cached). */
  decode(key: K, bytes: Buffer, decode: (key: K, bytes: Buffer) => V): V {
    const cached = this.records.get(key)
    if (cached !== undefined && cached.bytes.equals(bytes)) return cached.value
    const value = deepFreeze(decode(key, bytes))
    if (this.records.size >= this.entriesMax) this.records.clear()
    this.records.set(key, { bytes, value })
    return value
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value) || ArrayBuffer.isView(value)) return value
  Object.freeze(value)
  for (const inner of Object.values(value as object)) deepFreeze(inner)
  return value
}
