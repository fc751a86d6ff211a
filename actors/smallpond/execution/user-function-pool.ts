/**
 * Stateless CPU-bound user code: row functions given as module references run in the runtime's
 * piscina pool (CpuPool), off the task's thread. One pool per thread, created on first use, at most
 * USER_FUNCTION_POOL_MAX_THREADS workers; idle workers do not keep the process alive.
 */
import { availableParallelism } from 'node:os'
import { CpuPool } from '../../../runtime/cpu-pool.ts'
import { siblingModule } from '../../../runtime/module-url.ts'
import type { RowBatchTask } from './user-function-worker.ts'

export const USER_FUNCTION_POOL_MAX_THREADS = Math.max(1, Math.min(4, availableParallelism()))
/** Bounded queue: a batch beyond this is refused with ERR_POOL_FULL. */
export const USER_FUNCTION_POOL_MAX_QUEUE = 64

const applyRows = { module: siblingModule('./user-function-worker.ts', import.meta.url).href, export: 'applyRows' }
let pool: CpuPool | undefined

function getPool(): CpuPool {
  pool ??= new CpuPool({
    maxThreads: USER_FUNCTION_POOL_MAX_THREADS,
    minThreads: 0,
    idleTimeoutMs: 5_000,
    maxQueue: USER_FUNCTION_POOL_MAX_QUEUE,
  })
  return pool
}

export function applyRowsInPool(task: RowBatchTask): Promise<Record<string, unknown>[]> {
  return getPool().run<RowBatchTask, Record<string, unknown>[]>(applyRows, task)
}

export async function closeUserFunctionPool(): Promise<void> {
  const p = pool
  pool = undefined
  await p?.close()
}
