import type { BufferPool, PooledBuffer, SlotHolder } from './buffer-pool.ts'
import type { Clock } from './clock.ts'
import { invalidOption, T3fsError } from './errors.ts'

/** What an actor sees of the node's buffer pool (`ctx.buffers`): slots it allocates are its own. */
export interface ActorBuffers {
  /** The largest buffer one slot holds. */
  readonly largestBytes: number
  /** A buffer of `length` bytes, or null when every fitting slot is taken. */
  tryAllocate(length: number): PooledBuffer | null
  /**
   * A buffer of `length` bytes, waiting up to `timeoutMs` (default 1000, at most 60000) for a slot
   * to be released; then ERR_POOL_EXHAUSTED. Waiting is a poll on the actor's clock, so the
   * simulator drives it like any other timer.
   */
  allocate(length: number, options?: { readonly timeoutMs?: number }): Promise<PooledBuffer>
}

export const allocateTimeoutMsDefault = 1_000
export const allocateTimeoutMsMax = 60_000
/** How often a waiting allocation looks again. */
const allocatePollMs = 1

export function actorBuffers(pool: BufferPool, holder: SlotHolder, clock: Clock, checkLive: (operation: string) => void): ActorBuffers {
  const tryAllocate = (length: number): PooledBuffer | null => {
    checkLive('allocate pool buffers')
    return pool.tryAllocate(length, holder)
  }
  return {
    largestBytes: pool.largestBytes,
    tryAllocate,
    allocate(length, options = {}) {
      const timeoutMs = options.timeoutMs ?? allocateTimeoutMsDefault
      if (!Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > allocateTimeoutMsMax) {
        return Promise.reject(invalidOption('timeoutMs', timeoutMs, `a number of milliseconds from 0 to ${allocateTimeoutMsMax}`))
      }
      try {
        const buffer = tryAllocate(length)
        if (buffer !== null) return Promise.resolve(buffer)
      } catch (error) {
        return Promise.reject(error)
      }
      const deadline = clock.now() + timeoutMs
      return new Promise((resolve, reject) => {
        const poll = (): void => {
          try {
            const buffer = tryAllocate(length)
            if (buffer !== null) return resolve(buffer)
          } catch (error) {
            return reject(error)
          }
          if (clock.now() >= deadline) return reject(poolExhausted(length, timeoutMs, pool))
          clock.setTimer(allocatePollMs, poll)
        }
        clock.setTimer(allocatePollMs, poll)
      })
    },
  }
}

export function poolExhausted(length: number, waitedMs: number, pool: BufferPool): T3fsError {
  const use = pool.memory.classes.map((c, i) => `${pool.inUse()[i]}/${c.slots} × ${c.slotBytes}`).join(', ')
  return new T3fsError('ERR_POOL_EXHAUSTED', `no pool slot of ${length} bytes came free within ${waitedMs} ms (slots in use: ${use}); raise [[buffer_pool]] slots in the profile or hold fewer buffers`, {
    length, waitedMs,
  })
}
