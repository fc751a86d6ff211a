/**
 * The FileClient's I/O buffers: a fixed set of pool slots, each registered once as a region (3FS
 * registers its I/O buffers with the HCA once, not per request), that write-behind buffers,
 * read-ahead blocks and staging for direct I/O take turns on. The head of a chain pulls a write
 * straight out of one; a replica pushes a read straight into one. Their number bounds the bytes
 * the client has in flight; a caller waits (bounded) for one to come back, and the client is told
 * when someone waits so it can flush idle write-behind buffers that hold them.
 */
import type { ActorContext, Message } from '../../runtime/actor.ts'
import type { PooledBuffer } from '../../runtime/buffer-pool.ts'
import { T3fsError } from '../../runtime/errors.ts'
import type { RegionHandle } from '../../runtime/regions-actor.ts'
import type { ClientBuffer } from '../storage/client/storage-client.ts'

export interface IoBuffer extends ClientBuffer {
  readonly buffer: PooledBuffer
  readonly region: RegionHandle | null
  /** Usable bytes (the buffer may be a larger slot). */
  readonly sizeBytes: number
}

/** Callers waiting for a buffer at once, over the whole client. */
export const ioBufferWaitersMax = 65_536

export class IoBuffers {
  private readonly free: IoBuffer[] = []
  private readonly all: IoBuffer[] = []
  private readonly waiters: { resolve(b: IoBuffer): void; reject(e: Error): void }[] = []
  private closed = false

  private constructor(readonly sizeBytes: number, private readonly onPressure: () => void) {}

  /** `count` slots of `sizeBytes`, registered as regions unless `inline`. */
  static async create(ctx: ActorContext<Message>, count: number, sizeBytes: number, inline: boolean, onPressure: () => void): Promise<IoBuffers> {
    if (ctx.buffers === null) throw new T3fsError('ERR_NO_BUFFER_POOL', 'the FileClient needs a buffer pool on its node (give the node a [[buffer_pool]] with slots of at least 64 KiB)', {})
    if (!inline && ctx.regions === null) throw new T3fsError('ERR_NO_BUFFER_POOL', 'the FileClient in region mode needs a node that serves regions (host 0 of a NodeRuntime or a client node)', {})
    const set = new IoBuffers(sizeBytes, onPressure)
    try {
      for (let i = 0; i < count; i++) {
        const buffer = ctx.buffers.tryAllocate(sizeBytes)
        if (buffer === null) {
          throw new T3fsError('ERR_POOL_EXHAUSTED', `the FileClient needs ${count} pool slots of ${sizeBytes} bytes (ioBuffers); got ${i}: give its node more slots of that size or ask for fewer ioBuffers`, { count, sizeBytes })
        }
        const region = inline ? null : await ctx.regions!.register(buffer)
        const io: IoBuffer = { buffer, region, sizeBytes }
        set.all.push(io)
        set.free.push(io)
      }
    } catch (error) {
      await set.close(ctx)
      throw error
    }
    return set
  }

  get available(): number {
    return this.free.length
  }

  get total(): number {
    return this.all.length
  }

  tryAcquire(): IoBuffer | null {
    return this.free.pop() ?? null
  }

  /** A buffer, waiting for one to be released when none is free. */
  acquire(): Promise<IoBuffer> {
    if (this.closed) return Promise.reject(new T3fsError('ERR_CLIENT_CLOSED', 'the FileClient was shut down', {}))
    const b = this.free.pop()
    if (b !== undefined) return Promise.resolve(b)
    if (this.waiters.length >= ioBufferWaitersMax) {
      return Promise.reject(new T3fsError('ERR_OVERLOADED', `${ioBufferWaitersMax} callers already wait for a FileClient I/O buffer; issue fewer concurrent operations`, {}))
    }
    const wait = new Promise<IoBuffer>((resolve, reject) => this.waiters.push({ resolve, reject }))
    this.onPressure()
    return wait
  }

  release(b: IoBuffer): void {
    // A buffer released twice would be handed to two users at once: a programmer error.
    if (this.free.includes(b) || !this.all.includes(b)) throw new Error('an I/O buffer was released twice (or was never the client\'s)')
    const waiter = this.waiters.shift()
    if (waiter !== undefined) waiter.resolve(b)
    else this.free.push(b)
  }

  /** Unregisters and frees every slot; callers still waiting fail with ERR_CLIENT_CLOSED. */
  async close(ctx: ActorContext<Message>): Promise<void> {
    this.closed = true
    for (const w of this.waiters.splice(0)) w.reject(new T3fsError('ERR_CLIENT_CLOSED', 'the FileClient was shut down', {}))
    for (const io of this.all) {
      if (io.region !== null) await ctx.regions?.unregister(io.region).catch(() => {})
      io.buffer.release()
    }
    this.all.length = 0
    this.free.length = 0
  }
}
