/**
 * Engine side of DataSets: path resolution (globs through DuckDB's glob()), the SQL fragment a
 * dataset reads as, and row counts from Parquet footers. Needs a DuckDB connection; no other I/O
 * than stat() on user paths.
 */
import { stat } from 'node:fs/promises'
import { isAbsolute, resolve } from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import {
  type CountedFile, type DataSetSpec, type FileDataSetSpec, type FileEntry, type ParquetSpec, withFiles,
} from '../logical/dataset.ts'
import { invalidArgument, smallpondError, SmallpondErrorCode } from '../errors.ts'
import { quoteIdent, quoteLiteral } from './sql-template.ts'

/** smallpond uses 1 GB; DuckDB reserves twice this per reader, which breaks small memory limits. */
export const DEFAULT_MAX_JSON_OBJECT_BYTES = 16 << 20

const GLOB_CHARS = /[*?[]/
const EXTENSION: Record<FileDataSetSpec['kind'], string> = { parquet: 'parquet', csv: 'csv', json: 'json', fileset: '*' }

async function globFiles(conn: DuckDBConnection, pattern: string): Promise<string[]> {
  const reader = await conn.runAndReadAll(`select file from glob(${quoteLiteral(pattern)}) order by file`)
  return reader.getRowsJS().map((r) => String(r[0]))
}

function fileNotFound(kind: string, pattern: string, why: string): Error {
  return smallpondError(SmallpondErrorCode.fileNotFound,
    `smallpond: ${kind} input ${JSON.stringify(pattern)} ${why}; accepted: existing files, directories, or globs (*, ?, [..], ** with recursive) that match at least one file`,
    { path: pattern })
}

/** Expands globs and directories into sorted absolute paths; a path matching nothing is an error. */
export async function resolveFiles(conn: DuckDBConnection, spec: FileDataSetSpec): Promise<FileDataSetSpec> {
  if (spec.kind === 'fileset' || ('resolved' in spec && spec.resolved)) return spec
  const out: FileEntry[] = []
  for (const entry of spec.files) {
    const pattern = isAbsolute(entry.path) ? entry.path : resolve(entry.path)
    if (GLOB_CHARS.test(pattern)) {
      if (pattern.includes('**') && spec.kind === 'parquet' && !spec.recursive) {
        throw invalidArgument('paths', entry.path, 'globs with ** only when recursive: true')
      }
      const files = await globFiles(conn, pattern)
      if (files.length === 0) throw fileNotFound(spec.kind, entry.path, 'matches no file')
      out.push(...files.map((path) => ({ path })))
      continue
    }
    const info = await stat(pattern).catch(() => null)
    if (!info) throw fileNotFound(spec.kind, entry.path, 'does not exist')
    if (info.isDirectory()) {
      const files = await globFiles(conn, `${pattern}/**/*.${EXTENSION[spec.kind]}`)
      if (files.length === 0) throw fileNotFound(spec.kind, entry.path, `is a directory without *.${EXTENSION[spec.kind]} files`)
      out.push(...files.map((path) => ({ path })))
    } else {
      out.push({ path: pattern })
    }
  }
  return { ...withFiles(spec, out), resolved: true } as FileDataSetSpec
}

function list(paths: readonly string[]): string {
  return `[${paths.map(quoteLiteral).join(', ')}]`
}

function columnsStruct(schema: readonly (readonly [string, string])[]): string {
  return `{${schema.map(([n, t]) => `${quoteLiteral(n)}: ${quoteLiteral(t)}`).join(', ')}}`
}

function parquetFragment(spec: ParquetSpec): string {
  const gen = spec.generatedColumns.map((g) => `, ${g}=true`).join('')
  const ubn = spec.unionByName ? ', union_by_name=true' : ''
  const parts: string[] = []
  let whole: string[] = []
  const flush = (): void => {
    if (whole.length > 0) parts.push(`select * from read_parquet(${list(whole)}${ubn}${gen})`)
    whole = []
  }
  for (const f of spec.files) {
    if (f.begin === undefined && f.end === undefined) {
      whole.push(f.path)
      continue
    }
    flush()
    const keepRowNumber = spec.generatedColumns.includes('file_row_number')
    const genRange = spec.generatedColumns.filter((g) => g !== 'file_row_number').map((g) => `, ${g}=true`).join('')
    const cols = keepRowNumber ? '*' : '* exclude (file_row_number)'
    const end = f.end === undefined ? '' : ` and file_row_number < ${f.end}`
    parts.push(`select ${cols} from read_parquet(${quoteLiteral(f.path)}, file_row_number=true${genRange}) where file_row_number >= ${f.begin ?? 0}${end}`)
  }
  flush()
  if (parts.length === 0) throw emptyDataSet()
  const body = parts.length === 1 ? parts[0] : parts.map((p) => `(${p})`).join(spec.unionByName ? ' union all by name ' : ' union all ')
  const cols = spec.columns && spec.columns.length > 0 ? spec.columns.join(', ') : '*'
  return cols === '*' ? body : `select ${cols} from (${body})`
}

export function emptyDataSet(): Error {
  return smallpondError(SmallpondErrorCode.invalidArgument,
    'smallpond: cannot read an empty dataset (no files); accepted: a dataset with at least one file')
}

/** The SQL sub-select a dataset reads as (used in `CREATE VIEW v AS (...)`). */
export function sqlFragment(spec: DataSetSpec): string {
  switch (spec.kind) {
    case 'parquet':
      return parquetFragment(spec)
    case 'csv':
      if (spec.files.length === 0) throw emptyDataSet()
      return `select * from read_csv(${list(spec.files.map((f) => f.path))}, delim=${quoteLiteral(spec.delim)}, ` +
        `columns=${columnsStruct(spec.schema)}, header=${spec.header}, auto_detect=false)`
    case 'json':
      if (spec.files.length === 0) throw emptyDataSet()
      return `select * from read_json(${list(spec.files.map((f) => f.path))}, format='newline_delimited', ` +
        `columns=${columnsStruct(spec.schema)}, maximum_object_size=${spec.maxObjectSize ?? DEFAULT_MAX_JSON_OBJECT_BYTES})`
    case 'fileset':
      return `select unnest(${list(spec.files.map((f) => f.path))}) as resolved_paths`
    case 'sql':
      return spec.sql
    case 'arrow':
    case 'partitioned':
      throw invalidArgument('dataset', spec.kind, 'a file dataset or SQL query (Arrow and partitioned datasets are materialized first)')
  }
}

/** Per-file row ranges [begin, end) with footers read for whole files. */
export async function countedFiles(conn: DuckDBConnection, spec: ParquetSpec): Promise<CountedFile[]> {
  const whole = [...new Set(spec.files.filter((f) => f.end === undefined).map((f) => f.path))]
  const rows = new Map<string, number>()
  if (whole.length > 0) {
    const reader = await conn.runAndReadAll(`select file_name, num_rows from parquet_file_metadata(${list(whole)})`)
    for (const [name, n] of reader.getRowsJS()) rows.set(String(name), Number(n))
  }
  return spec.files.map((f) => ({ path: f.path, begin: f.begin ?? 0, end: f.end ?? rows.get(f.path) ?? 0 }))
}

export async function countRows(conn: DuckDBConnection, spec: DataSetSpec): Promise<number> {
  if (spec.kind === 'parquet') {
    if (spec.files.length === 0) return 0
    return (await countedFiles(conn, spec)).reduce((s, f) => s + (f.end - f.begin), 0)
  }
  if (spec.kind === 'partitioned') {
    let total = 0
    for (const d of spec.datasets) total += await countRows(conn, d)
    return total
  }
  if (spec.kind === 'fileset') return spec.files.length
  const reader = await conn.runAndReadAll(`select count(*) from (${sqlFragment(spec)})`)
  return Number(reader.getRowsJS()[0][0])
}

export { quoteIdent }
