import os from 'node:os'
import { Piscina } from 'piscina'
import { invalidOption, T3fsError, toT3fsError } from './errors.ts'
import type { DefinitionRef } from './host-control.ts'

/**
 * A stateless, elastic pool of threads for CPU-bound work that actors hand off (user functions of
 * smallpond's map/filter, checksums of large buffers, sorting runs): piscina grows and shrinks it
 * between `minThreads` and `maxThreads`. Actors stay on their pinned hosts; this pool is for work
 * that holds no state between calls. The queue is bounded: a full queue is ERR_POOL_FULL.
 */
export interface CpuPoolOptions {
  minThreads?: number
  maxThreads?: number
  /** Tasks waiting for a thread before `run` refuses. Default 256. */
  maxQueue?: number
  idleTimeoutMs?: number
}

export class CpuPool {
  private readonly piscina: Piscina

  constructor(options: CpuPoolOptions = {}) {
    const cpus = os.availableParallelism()
    const maxThreads = options.maxThreads ?? cpus
    const minThreads = options.minThreads ?? 0
    const maxQueue = options.maxQueue ?? 256
    if (!Number.isInteger(maxThreads) || maxThreads < 1 || maxThreads > 256) throw invalidOption('maxThreads', maxThreads, 'an integer from 1 to 256')
    if (!Number.isInteger(minThreads) || minThreads < 0 || minThreads > maxThreads) throw invalidOption('minThreads', minThreads, `an integer from 0 to maxThreads (${maxThreads})`)
    if (!Number.isInteger(maxQueue) || maxQueue < 1 || maxQueue > 1_000_000) throw invalidOption('maxQueue', maxQueue, 'an integer from 1 to 1000000')
    this.piscina = new Piscina({
      filename: new URL('./cpu-pool-worker.mjs', import.meta.url).href,
      minThreads,
      maxThreads,
      maxQueue,
      idleTimeout: options.idleTimeoutMs ?? 30_000,
    })
  }

  /** Runs `fn.export` of `fn.module` on `input` in a pool thread. Input and result are structured-cloned. */
  async run<I, O>(fn: DefinitionRef, input: I, options: { signal?: AbortSignal } = {}): Promise<O> {
    if (this.piscina.queueSize >= this.piscina.options.maxQueue) {
      throw new T3fsError('ERR_POOL_FULL', `the CPU pool queue is full (${this.piscina.options.maxQueue} tasks); retry later`, { maxQueue: this.piscina.options.maxQueue })
    }
    let outcome: { ok: true; value: O } | { ok: false; code: string; message: string }
    try {
      outcome = await this.piscina.run({ module: fn.module, export: fn.export, input }, { signal: options.signal })
    } catch (error) {
      throw toT3fsError(error, 'ERR_POOL_TASK_FAILED')
    }
    if (outcome.ok) return outcome.value
    throw new T3fsError(outcome.code, `${fn.module}#${fn.export} failed: ${outcome.message}`, { module: fn.module, export: fn.export })
  }

  get stats(): { threads: number; queued: number; completed: number } {
    return { threads: this.piscina.threads.length, queued: this.piscina.queueSize, completed: this.piscina.completed }
  }

  async close(): Promise<void> {
    await this.piscina.destroy()
  }
}
