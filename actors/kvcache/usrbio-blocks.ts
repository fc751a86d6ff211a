/**
 * Block reads through USRBIO (the caller allowed it by passing a UsrbioClient): a shared region of
 * `slots` slots of `slotBytes` and one ring; a get takes a slot, opens the block through the
 * usrbio server, queues one read of the whole block, and copies it out when its completion
 * arrives. One pump reaps the ring for every get in flight (completions are matched by userdata).
 * A block larger than a slot, or a get that finds slotWaitersMax gets already queued, answers
 * 'fallback' (the caller reads it through the FileClient).
 */
import { T3fsError } from '../../runtime/errors.ts'
import type { UsrbioClient, UsrbioRegion, UsrbioRing } from '../client/usrbio/client.ts'
import { isNotFound, KvCacheErrorCode } from './kv-errors.ts'

/** Gets queued for a slot at most; past it a get takes the FileClient path instead of waiting. */
const slotWaitersMax = 1024

/** A block read: its bytes and put time (the opened file's mtime); 'absent' (no file) or 'expired' (the file there is past its TTL). */
export type BlockRead = { readonly bytes: Uint8Array; readonly putAtMs: number } | 'absent' | 'expired'

interface Pending { resolve(bytes: number): void; reject(error: unknown): void }

export class UsrbioBlocks {
  private readonly free: number[]
  private readonly slotWaiters: ((slot: number) => void)[] = []
  private readonly pending = new Map<bigint, Pending>()
  private nextId = 1n
  private pumping = false

  private constructor(private readonly client: UsrbioClient, private readonly region: UsrbioRegion, private readonly ring: UsrbioRing, readonly slotBytes: number, slots: number) {
    this.free = Array.from({ length: slots }, (_, i) => i)
  }

  static async open(client: UsrbioClient, slots: number, slotBytes: number): Promise<UsrbioBlocks> {
    const region = await client.createRegion(slots * slotBytes)
    const ring = await client.createRing(2 ** Math.ceil(Math.log2(slots)))
    return new UsrbioBlocks(client, region, ring, slotBytes, slots)
  }

  /** The block at `path` (a copy, or a view of `into`) unless `live` refuses its mtime; 'fallback' when larger than a slot. */
  async read(path: string, key: string, into: Uint8Array | undefined, live: (mtimeMs: number) => boolean): Promise<BlockRead | 'fallback'> {
    const slot = await this.acquire()
    if (slot === null) return 'fallback'
    try {
      let file
      try {
        file = await this.client.open(path)
      } catch (error) {
        if (isNotFound(error)) return 'absent'
        throw error
      }
      try {
        if (!live(file.mtimeMs)) return 'expired'
        const n = file.sizeBytes
        if (n > this.slotBytes) return 'fallback'
        if (into !== undefined && into.length < n) {
          throw new T3fsError(KvCacheErrorCode.BUFFER_TOO_SMALL, `into has ${into.length} bytes; the block of key ${JSON.stringify(key)} has ${n}; accepted: a buffer of at least ${n} bytes`, { field: 'into', sizeBytes: n })
        }
        const at = slot * this.slotBytes
        const got = n === 0 ? 0 : await this.submit(at, file, n)
        if (got !== n) throw new T3fsError('EIO', `the block of key ${JSON.stringify(key)} read ${got} of its ${n} bytes through USRBIO`, { sizeBytes: n })
        const out = into ?? Buffer.allocUnsafe(n)
        out.set(this.region.bytes.subarray(at, at + n))
        return { bytes: out.subarray(0, n), putAtMs: file.mtimeMs }
      } finally {
        await this.client.closeFile(file).catch(() => {})
      }
    } finally {
      this.release(slot)
    }
  }

  private submit(at: number, file: Parameters<UsrbioRing['prepRead']>[2], n: number): Promise<number> {
    const id = this.nextId++
    const done = new Promise<number>((resolve, reject) => this.pending.set(id, { resolve, reject }))
    this.ring.prepRead(this.region, at, file, 0, n, id)
    this.ring.submit()
    void this.pump()
    return done
  }

  /** Reaps completions while reads are in flight; a ring failure fails every read waiting on it. */
  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.pending.size > 0) {
        for (const c of await this.ring.wait(1)) {
          const p = this.pending.get(c.userdata)
          this.pending.delete(c.userdata)
          if (c.result < 0) p?.reject(c.error)
          else p?.resolve(c.result)
        }
      }
    } catch (error) {
      for (const p of this.pending.values()) p.reject(error)
      this.pending.clear()
    } finally {
      this.pumping = false
    }
  }

  private acquire(): Promise<number | null> {
    const slot = this.free.pop()
    if (slot !== undefined) return Promise.resolve(slot)
    if (this.slotWaiters.length >= slotWaitersMax) return Promise.resolve(null)
    return new Promise((resolve) => this.slotWaiters.push(resolve))
  }

  private release(slot: number): void {
    const next = this.slotWaiters.shift()
    if (next !== undefined) next(slot)
    else this.free.push(slot)
  }
}
