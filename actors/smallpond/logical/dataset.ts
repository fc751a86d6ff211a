/**
 * DataSets: immutable, serializable descriptors of data (file lists with optional row ranges).
 * Tasks exchange descriptors, never data. The classes are the user-facing constructors of the
 * low-level API; `spec` is the plain object that crosses threads.
 */
import { tableToIPC, type Table } from 'apache-arrow'
import { invalidArgument } from '../errors.ts'

/** One file, or rows [begin, end) of one Parquet file. */
export interface FileEntry {
  readonly path: string
  readonly begin?: number
  readonly end?: number
}

export type GeneratedColumn = 'filename' | 'file_row_number'
export const GENERATED_COLUMNS: readonly GeneratedColumn[] = ['filename', 'file_row_number']

export interface ParquetSpec {
  readonly kind: 'parquet'
  /** Patterns (globs allowed) until `resolved`, absolute sorted paths after. */
  readonly files: readonly FileEntry[]
  readonly resolved: boolean
  readonly recursive: boolean
  readonly columns?: readonly string[]
  readonly unionByName: boolean
  readonly generatedColumns: readonly GeneratedColumn[]
}
export interface CsvSpec {
  readonly kind: 'csv'
  readonly files: readonly FileEntry[]
  readonly resolved: boolean
  readonly schema: readonly (readonly [string, string])[]
  readonly delim: string
  readonly header: boolean
}
export interface JsonSpec {
  readonly kind: 'json'
  readonly files: readonly FileEntry[]
  readonly resolved: boolean
  readonly schema: readonly (readonly [string, string])[]
  readonly maxObjectSize?: number
}
export interface ArrowSpec { readonly kind: 'arrow'; readonly ipc: Uint8Array }
export interface SqlQuerySpec { readonly kind: 'sql'; readonly sql: string }
export interface FileSetSpec { readonly kind: 'fileset'; readonly files: readonly FileEntry[] }
export interface PartitionedSpec { readonly kind: 'partitioned'; readonly datasets: readonly DataSetSpec[] }

export type FileDataSetSpec = ParquetSpec | CsvSpec | JsonSpec | FileSetSpec
export type DataSetSpec = FileDataSetSpec | ArrowSpec | SqlQuerySpec | PartitionedSpec

export class DataSet {
  constructor(readonly spec: DataSetSpec) {}
}

export interface ParquetOptions {
  recursive?: boolean
  columns?: string[]
  unionByName?: boolean
  generatedColumns?: GeneratedColumn[]
}

function toPathList(name: string, paths: string | readonly string[]): string[] {
  const list = typeof paths === 'string' ? [paths] : [...paths]
  if (list.length === 0 || list.some((p) => typeof p !== 'string' || p.length === 0)) {
    throw invalidArgument(name, paths, 'a non-empty path or list of non-empty paths (globs *, ?, [..] allowed)')
  }
  return list
}

export class ParquetDataSet extends DataSet {
  declare readonly spec: ParquetSpec
  constructor(paths: string | readonly string[], options: ParquetOptions = {}) {
    const generated = options.generatedColumns ?? []
    for (const g of generated) {
      if (!GENERATED_COLUMNS.includes(g)) throw invalidArgument('generatedColumns', g, GENERATED_COLUMNS.join(' | '))
    }
    super({
      kind: 'parquet',
      files: toPathList('paths', paths).map((path) => ({ path })),
      resolved: false,
      recursive: options.recursive ?? false,
      columns: options.columns,
      // smallpond: union_by_name is on when asked or when columns are given.
      unionByName: (options.unionByName ?? false) || options.columns !== undefined,
      generatedColumns: generated,
    })
  }
}

function schemaEntries(schema: Record<string, string>): [string, string][] {
  const entries = Object.entries(schema ?? {})
  if (entries.length === 0 || entries.some(([, t]) => typeof t !== 'string' || t.length === 0)) {
    throw invalidArgument('schema', schema, 'a non-empty object of column name -> DuckDB type, e.g. { url: "varchar" }')
  }
  return entries
}

export class CsvDataSet extends DataSet {
  declare readonly spec: CsvSpec
  constructor(paths: string | readonly string[], schema: Record<string, string>, options: { delim?: string; header?: boolean } = {}) {
    super({
      kind: 'csv', files: toPathList('paths', paths).map((path) => ({ path })), resolved: false,
      schema: schemaEntries(schema), delim: options.delim ?? ',', header: options.header ?? false,
    })
  }
}

export class JsonDataSet extends DataSet {
  declare readonly spec: JsonSpec
  constructor(paths: string | readonly string[], schema: Record<string, string>, options: { maxObjectSize?: number } = {}) {
    const max = options.maxObjectSize
    if (max !== undefined && (!Number.isInteger(max) || max < 1024 || max > 1 << 30)) {
      throw invalidArgument('maxObjectSize', max, 'an integer number of bytes in 1024..1073741824')
    }
    super({ kind: 'json', files: toPathList('paths', paths).map((path) => ({ path })), resolved: false, schema: schemaEntries(schema), maxObjectSize: max })
  }
}

export class ArrowTableDataSet extends DataSet {
  declare readonly spec: ArrowSpec
  constructor(table: Table) {
    super({ kind: 'arrow', ipc: tableToIPC(table, 'stream') })
  }
}

export class SqlQueryDataSet extends DataSet {
  declare readonly spec: SqlQuerySpec
  constructor(sql: string) {
    if (typeof sql !== 'string' || sql.trim() === '') throw invalidArgument('sql', sql, 'a non-empty SQL query')
    super({ kind: 'sql', sql })
  }
}

export class FileSet extends DataSet {
  declare readonly spec: FileSetSpec
  constructor(paths: readonly string[]) {
    super({ kind: 'fileset', files: paths.map((path) => ({ path })) })
  }
}

export class PartitionedDataSet extends DataSet {
  declare readonly spec: PartitionedSpec
  constructor(datasets: readonly DataSet[]) {
    super({ kind: 'partitioned', datasets: datasets.map((d) => d.spec) })
  }
}

export function isFileSpec(spec: DataSetSpec): spec is FileDataSetSpec {
  return spec.kind === 'parquet' || spec.kind === 'csv' || spec.kind === 'json' || spec.kind === 'fileset'
}

/** A copy of `spec` holding other files (same format, options and columns). */
export function withFiles<S extends FileDataSetSpec>(spec: S, files: readonly FileEntry[]): S {
  return { ...spec, files }
}

/** Concatenates datasets of one format; an empty list gives an empty Parquet dataset. */
export function mergeDataSets(specs: readonly DataSetSpec[]): DataSetSpec {
  if (specs.length === 0) return emptyParquet()
  const first = specs[0]
  if (!isFileSpec(first)) {
    if (specs.length === 1) return first
    throw invalidArgument('datasets', specs.map((s) => s.kind), 'file datasets of one format to merge')
  }
  const files: FileEntry[] = []
  for (const s of specs) {
    if (!isFileSpec(s) || s.kind !== first.kind) {
      throw invalidArgument('datasets', specs.map((x) => x.kind), `datasets of one format (${first.kind}) to merge`)
    }
    files.push(...s.files)
  }
  return withFiles(first, files)
}

export function emptyParquet(): ParquetSpec {
  return { kind: 'parquet', files: [], resolved: true, recursive: false, unionByName: false, generatedColumns: [] }
}

export function parquetOf(paths: readonly string[]): ParquetSpec {
  return { ...emptyParquet(), files: paths.map((path) => ({ path })) }
}

/** numpy array_split semantics: contiguous chunks, the first len % n chunks get one extra item. */
export function splitIntoRows<T>(items: readonly T[], n: number): T[][] {
  const base = Math.floor(items.length / n)
  const extra = items.length % n
  const out: T[][] = []
  let at = 0
  for (let i = 0; i < n; i++) {
    const size = base + (i < extra ? 1 : 0)
    out.push(items.slice(at, at + size))
    at += size
  }
  return out
}

/** Round-robin split. */
export function splitIntoCols<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: n }, () => [])
  items.forEach((item, i) => out[i % n].push(item))
  return out
}

export function getNthPartition<T>(items: readonly T[], k: number, n: number): T[] {
  return splitIntoRows(items, n)[k]
}

/** Splits a file dataset into n contiguous file groups (optionally shuffled with `random`). */
export function partitionByFiles(spec: FileDataSetSpec, n: number, random?: () => number): FileDataSetSpec[] {
  const files = [...spec.files]
  if (random) shuffleInPlace(files, random)
  return splitIntoRows(files, n).map((group) => withFiles(spec, group))
}

export interface CountedFile { readonly path: string; readonly begin: number; readonly end: number }

/**
 * Exact row split: partition k takes ceil(remaining rows / remaining partitions) rows, cutting files
 * mid-way. Input entries carry their row ranges already resolved (begin/end known).
 */
export function partitionByRows(spec: ParquetSpec, counted: readonly CountedFile[], n: number): ParquetSpec[] {
  let remaining = counted.reduce((s, f) => s + (f.end - f.begin), 0)
  const out: ParquetSpec[] = []
  let fileIndex = 0
  let offset = counted.length > 0 ? counted[0].begin : 0
  for (let k = 0; k < n; k++) {
    let want = Math.ceil(remaining / (n - k))
    remaining -= want
    const entries: FileEntry[] = []
    while (want > 0 && fileIndex < counted.length) {
      const f = counted[fileIndex]
      const take = Math.min(want, f.end - offset)
      if (take > 0) entries.push({ path: f.path, begin: offset, end: offset + take })
      offset += take
      want -= take
      if (offset >= f.end) {
        fileIndex++
        offset = fileIndex < counted.length ? counted[fileIndex].begin : 0
      }
    }
    out.push(withFiles(spec, entries))
  }
  return out
}

export function shuffleInPlace<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = items[i]
    items[i] = items[j]
    items[j] = t
  }
}
