/**
 * One fresh in-memory DuckDB per task, with smallpond's connection settings: thread and memory limits,
 * a deterministic seed, no spilling unless a temp directory is given.
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
}

export interface DuckDbSession {
  readonly conn: DuckDBConnection
  /** Another connection to the same database (a streaming result dies when its connection runs a new query). */
  connect(): Promise<DuckDBConnection>
  close(): void
}

export async function openDuckDb(limits: DuckDbLimits): Promise<DuckDbSession> {
  const mib = Math.max(1, Math.ceil(limits.memoryLimitBytes / (1 << 20)))
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(Math.max(1, limits.threads)),
    memory_limit: `${mib}MiB`,
    preserve_insertion_order: String(limits.preserveInsertionOrder ?? true),
    ...(limits.tempDirectory ? { temp_directory: limits.tempDirectory } : {}),
  })
  const conn = await instance.connect()
  if (limits.seed !== undefined) await conn.run(`select setseed(${limits.seed})`)
  await conn.run('SET enable_object_cache=true; SET max_expression_depth=10000')
  let closed = false
  const extra: DuckDBConnection[] = []
  return {
    conn,
    async connect() {
      const c = await instance.connect()
      extra.push(c)
      return c
    },
    close() {
      if (closed) return
      closed = true
      for (const c of extra) c.closeSync()
      conn.closeSync()
      instance.closeSync()
    },
  }
}

export async function withDuckDb<T>(limits: DuckDbLimits, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const db = await openDuckDb(limits)
  try {
    return await fn(db.conn)
  } finally {
    db.close()
  }
}
