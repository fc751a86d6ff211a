/**
 * One lock per chunk (3FS's lockChunk): updates, commits and drops of one chunk run one at a time,
 * in arrival order; other chunks are not held up. Reads take no lock (they read an immutable
 * version). At most `waitersMax` operations wait per chunk: past it ERR_CHUNK_BUSY, not a growing queue.
 */
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'

interface Entry {
  readonly waiters: Array<() => void>
}

export class LockTable {
  private readonly held = new Map<string, Entry>()

  constructor(private readonly waitersMax: number) {}

  /** Resolves with the release function once the lock on `key` is ours. */
  acquire(key: string, describe: () => Record<string, unknown>): Promise<() => void> {
    const entry = this.held.get(key)
    if (entry === undefined) {
      this.held.set(key, { waiters: [] })
      return Promise.resolve(this.releaser(key))
    }
    if (entry.waiters.length >= this.waitersMax) {
      return Promise.reject(chunkEngineError(ChunkEngineErrorCode.chunkBusy, `${entry.waiters.length} operations already wait for this chunk (lockWaitersMax ${this.waitersMax}); retry later`, {
        ...describe(), waiters: entry.waiters.length, lockWaitersMax: this.waitersMax,
      }))
    }
    return new Promise((resolve) => entry.waiters.push(() => resolve(this.releaser(key))))
  }

  /** Locks held or awaited (for close and for tests). */
  get size(): number {
    return this.held.size
  }

  private releaser(key: string): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const entry = this.held.get(key)!
      const next = entry.waiters.shift()
      if (next === undefined) this.held.delete(key)
      else next()
    }
  }
}
