/**
 * The in-memory picture of the cache one KVCache holds: every block's size, put time and last
 * access, in least-recently-used order (a Map keeps insertion order: a touch moves the key to the
 * end). It is rebuilt from a listing of the tree at open (sizes, mtime = put time, atime = last
 * access, as the files carry them) and kept current by this instance's own calls.
 */
export interface BlockEntry {
  sizeBytes: number
  /** When the block was put (the file's mtime): its TTL counts from here. */
  putAtMs: number
  /** The last get or put through any instance that told meta (the file's atime), or this instance's own later one. */
  accessAtMs: number
  /** The access time meta holds for the file (persisted at most every accessPersistIntervalMs). */
  persistedAccessMs: number
}

export class LruIndex {
  private readonly entries = new Map<string, BlockEntry>()
  private used = 0

  get usedBytes(): number {
    return this.used
  }

  get size(): number {
    return this.entries.size
  }

  get(key: string): BlockEntry | undefined {
    return this.entries.get(key)
  }

  /** Inserts or replaces `key` as the most recently used. */
  set(key: string, entry: BlockEntry): void {
    this.delete(key)
    this.entries.set(key, entry)
    this.used += entry.sizeBytes
  }

  touch(key: string, nowMs: number): BlockEntry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    entry.accessAtMs = Math.max(entry.accessAtMs, nowMs)
    this.entries.set(key, entry)
    return entry
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key)
    if (entry === undefined) return false
    this.entries.delete(key)
    this.used -= entry.sizeBytes
    return true
  }

  /** Keys from least to most recently used. */
  keysByAge(): IterableIterator<string> {
    return this.entries.keys()
  }

  /** Keys whose TTL ran out at `nowMs`. */
  expired(nowMs: number, ttlMs: number): string[] {
    const out: string[] = []
    for (const [key, entry] of this.entries) if (entry.putAtMs + ttlMs <= nowMs) out.push(key)
    return out
  }

  /** Loads a listing (any order): entries sorted by access time, oldest first. */
  static fromListing(listed: readonly (readonly [string, BlockEntry])[]): LruIndex {
    const index = new LruIndex()
    for (const [key, entry] of [...listed].sort((a, b) => a[1].accessAtMs - b[1].accessAtMs)) index.set(key, entry)
    return index
  }
}
