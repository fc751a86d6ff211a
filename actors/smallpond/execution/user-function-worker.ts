/**
 * Runs in a CpuPool (piscina) thread: applies a user row function, named by module reference, to a
 * batch of rows. Stateless; modules are imported once per worker thread and cached.
 */
type Row = Record<string, unknown>

export interface RowBatchTask {
  readonly module: string
  readonly export: string
  readonly mode: 'map' | 'flatMap' | 'filter'
  readonly rows: Row[]
}

const cache = new Map<string, (row: Row) => unknown>()
let tsRegistered = false

/** Running from source: a TypeScript user module needs tsx's loader inside this worker. */
async function registerTypeScript(): Promise<void> {
  if (tsRegistered) return
  tsRegistered = true
  const api = await import('tsx/esm/api').catch(() => undefined)
  api?.register()
}

async function load(module: string, name: string): Promise<(row: Row) => unknown> {
  const key = `${module}#${name}`
  const hit = cache.get(key)
  if (hit) return hit
  if (/\.[cm]?ts$/.test(new URL(module, 'file:///').pathname)) await registerTypeScript()
  const mod = await import(module) as Record<string, unknown>
  const fn = mod[name]
  if (typeof fn !== 'function') throw new TypeError(`export ${JSON.stringify(name)} of ${module} is not a function; accepted: the name of an exported function`)
  cache.set(key, fn as (row: Row) => unknown)
  return fn as (row: Row) => unknown
}

export async function applyRows(task: RowBatchTask): Promise<Row[]> {
  const fn = await load(task.module, task.export)
  const out: Row[] = []
  for (const row of task.rows) {
    const r = fn(row)
    if (task.mode === 'filter') { if (r) out.push(row) } else if (task.mode === 'map') out.push(r as Row)
    else if (Array.isArray(r)) out.push(...(r as Row[]))
    else throw new TypeError('flatMap function must return an array of row objects')
  }
  return out
}
