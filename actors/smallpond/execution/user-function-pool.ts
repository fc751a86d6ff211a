/**
 * The piscina pool for stateless CPU-bound user code: row functions given as module references run
 * here, off the task's thread. One pool per thread, created on first use, at most
 * USER_FUNCTION_POOL_MAX_THREADS workers; idle workers do not keep the process alive.
 */
import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'
import type { RowBatchTask } from './user-function-worker.ts'

export const USER_FUNCTION_POOL_MAX_THREADS = Math.max(1, Math.min(4, availableParallelism()))
/** Bounded queue: a task beyond this waits (piscina applies backpressure by rejecting; we await). */
export const USER_FUNCTION_POOL_MAX_QUEUE = 64

let pool: Piscina | undefined

function getPool(): Piscina {
  pool ??= new Piscina({
    filename: new URL('./user-function-worker.ts', import.meta.url).href,
    maxThreads: USER_FUNCTION_POOL_MAX_THREADS,
    minThreads: 0,
    idleTimeout: 5_000,
    maxQueue: USER_FUNCTION_POOL_MAX_QUEUE,
  })
  return pool
}

export function applyRowsInPool(task: RowBatchTask): Promise<Record<string, unknown>[]> {
  return getPool().run(task) as Promise<Record<string, unknown>[]>
}

export async function closeUserFunctionPool(): Promise<void> {
  const p = pool
  pool = undefined
  await p?.destroy()
}
