/**
 * DuckDB per task with smallpond's connection settings: thread and memory limits, a deterministic
 * seed, no spilling unless a temp directory is given.
 *
 * smallpond opens a fresh in-memory database per task. Here a task gets a fresh in-memory *catalog*
 * (`ATTACH ':memory:'`, detached afterwards) on an engine instance taken from a small per-thread
 * pool: the catalog is as empty as a new database, but the instance's allocator keeps memory it
 * already touched. On this VM the first touch of fresh memory runs at ~300 MiB/s (limits.md), which
 * made a new instance per task twice as slow as one long-lived DuckDB on a sort. An instance is
 * used by one task at a time, so its global settings (threads, memory_limit) are the task's.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'

export interface DuckDbLimits {
  threads: number
  memoryLimitBytes: number
  /** Enables spilling to this directory; spilling is off otherwise. */
  tempDirectory?: string
  /** In [-1, 1], for setseed(). */
  seed?: number
  preserveInsertionOrder?: boolean
  /** A brand-new instance, never pooled (e.g. tasks that register UDFs in the instance). */
  fresh?: boolean
}

export interface DuckDbSession {
  readonly conn: DuckDBConnection
  /** Another connection on the task's catalog (a streaming result dies when its connection runs a new query). */
  connect(): Promise<DuckDBConnection>
  close(): Promise<void>
}

/** Idle instances kept per thread; more are closed when released. */
export const DUCKDB_POOL_MAX_IDLE = 4

const idle: DuckDBInstance[] = []
let nextCatalog = 1

export async function openDuckDb(limits: DuckDbLimits): Promise<DuckDbSession> {
  const mib = Math.max(1, Math.ceil(limits.memoryLimitBytes / (1 << 20)))
  const pooled = !limits.fresh
  const instance = (pooled ? idle.pop() : undefined) ?? await DuckDBInstance.create(':memory:')
  const catalog = `__task_${process.pid}_${nextCatalog++}`
  const connections: DuckDBConnection[] = []
  const connect = async (): Promise<DuckDBConnection> => {
    const c = await instance.connect()
    connections.push(c)
    await c.run(`USE ${catalog}`)
    return c
  }
  const setup = await instance.connect()
  let conn: DuckDBConnection
  try {
    await setup.run(`SET threads = ${Math.max(1, limits.threads)}; SET memory_limit = '${mib}MiB'; ` +
      `SET preserve_insertion_order = ${limits.preserveInsertionOrder ?? true}; ` +
      `SET temp_directory = '${(limits.tempDirectory ?? '').replace(/'/g, "''")}'; ` +
      `SET enable_object_cache = true; SET max_expression_depth = 10000`)
    await setup.run(`ATTACH ':memory:' AS ${catalog}`)
    conn = await connect()
    if (limits.seed !== undefined) await conn.run(`select setseed(${limits.seed})`)
  } catch (error) {
    setup.closeSync()
    for (const c of connections) c.closeSync()
    instance.closeSync()
    throw error
  }
  let closed = false
  return {
    conn,
    connect,
    async close() {
      if (closed) return
      closed = true
      for (const c of connections) c.closeSync()
      try {
        await setup.run(`DETACH ${catalog}`)
        setup.closeSync()
        if (pooled && idle.length < DUCKDB_POOL_MAX_IDLE) idle.push(instance)
        else instance.closeSync()
      } catch {
        // A catalog that cannot be detached is not reused.
        setup.closeSync()
        instance.closeSync()
      }
    },
  }
}

export async function withDuckDb<T>(limits: DuckDbLimits, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const db = await openDuckDb(limits)
  try {
    return await fn(db.conn)
  } finally {
    await db.close()
  }
}
