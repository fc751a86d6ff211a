/** Test data generated on the spot (no network): smallpond's mock_urls in TSV and Parquet. */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import * as smallpond from '../../../actors/smallpond/index.ts'

/** 10 files × 100 lines/rows: urls{i}.tsv (urlstr, valstr) and urls{i}.parquet (host, url). */
export async function makeMockUrls(dir: string): Promise<string> {
  const root = join(dir, 'mock_urls')
  await mkdir(root, { recursive: true })
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  for (let f = 0; f < 10; f++) {
    const lines: string[] = []
    for (let i = 0; i < 100; i++) lines.push(`com.${10000 + f * 100 + i}.${100 + i}/page${f}_${i}.html\tdmFsdWU${f}${i}`)
    await writeFile(join(root, `urls${f}.tsv`), lines.join('\n') + '\n')
    await conn.run(`copy (select 'com.' || (${f} * 100 + i) || '.' || (i % 7) as host, 'com.' || i || '/p' || ${f} || '_' || i || '.html' as url ` +
      `from range(100) t(i)) to '${join(root, `urls${f}.parquet`)}' (format parquet)`)
  }
  conn.closeSync()
  db.closeSync()
  return root
}

export async function session(dir: string, options: smallpond.InitOptions = {}, deps: smallpond.SessionDeps = {}): Promise<smallpond.Session> {
  return smallpond.init({ dataRoot: join(dir, 'data'), numExecutors: 2, threadsPerTask: 1, memoryPerTaskBytes: 256 << 20, progress: false, ...options }, deps)
}

export function num(v: unknown): number {
  return Number(v)
}

/** Rows of a dataset descriptor, read with a private DuckDB. */
export async function readSpec(spec: smallpond.DataSetSpec, query = 'select * from ({0})'): Promise<Record<string, unknown>[]> {
  const { sqlFragment } = await import('../../../actors/smallpond/execution/dataset-io.ts')
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  try {
    const reader = await conn.runAndReadAll(query.replace('{0}', sqlFragment(spec)))
    return reader.getRowObjectsJS() as Record<string, unknown>[]
  } finally {
    conn.closeSync()
    db.closeSync()
  }
}

export function driver(dir: string, extra: string[] = []): smallpond.Driver {
  const d = new smallpond.Driver()
  d.parseArguments(['scheduler', `--data_root=${join(dir, 'data')}`, '--num_executors=2', '--threads_per_task=1', '--no_progress', ...extra])
  return d
}
