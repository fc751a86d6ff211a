/**
 * Per-chunk ordering for a chain replica: one update (or sync copy) per chunk at a time, the rest
 * wait in arrival order. An update holds its chunk from before it pulls its data until its commit
 * (3FS takes the chunk lock first, then pulls: §3.3 step 4), so two updates of one chunk reach the
 * successor — and every replica after it — in the order the head applied them. Different chunks
 * never wait for each other.
 */
import { T3fsError } from '../../../runtime/errors.ts'
import { StorageErrorCode } from '../protocol.ts'

export class ChunkLockTable {
  private readonly waiting = new Map<string, Array<() => void>>()

  constructor(private readonly waitersMax: number) {}

  /** Resolves with a release function once the chunk is this caller's; ERR_STORAGE_BUSY when too many wait. */
  acquire(key: string): Promise<() => void> {
    const queue = this.waiting.get(key)
    if (queue === undefined) {
      this.waiting.set(key, [])
      return Promise.resolve(this.releaser(key))
    }
    if (queue.length >= this.waitersMax) {
      return Promise.reject(new T3fsError(StorageErrorCode.BUSY, `chunk ${key} has ${queue.length} updates waiting already (at most ${this.waitersMax}); retry later`, { chunk: key }))
    }
    return new Promise((resolve) => queue.push(() => resolve(this.releaser(key))))
  }

  /** Whether an operation holds (or waits for) the chunk. */
  isHeld(key: string): boolean {
    return this.waiting.has(key)
  }

  get held(): number {
    return this.waiting.size
  }

  private releaser(key: string): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const queue = this.waiting.get(key)
      const next = queue?.shift()
      if (next === undefined) this.waiting.delete(key)
      else next()
    }
  }
}
