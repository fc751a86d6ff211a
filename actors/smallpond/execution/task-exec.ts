/**
 * Runs one task attempt: a pure async function from (task, input datasets, env) to the output
 * dataset. Each attempt opens its own DuckDB with the task's limits, writes under its own output
 * dir (`….incomplete` while running) and publishes it by rename.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { tableFromIPC } from 'apache-arrow'
import {
  type DataSetSpec, type FileDataSetSpec, isFileSpec, mergeDataSets, parquetOf, partitionByFiles, partitionByRows, withFiles,
} from '../logical/dataset.ts'
import type { TaskOp, TaskSpec } from '../logical/task.ts'
import { invalidArgument, smallpondError, SmallpondErrorCode } from '../errors.ts'
import { openDuckDb } from './duckdb.ts'
import { countedFiles, resolveFiles, sqlFragment } from './dataset-io.ts'
import { formatSql, quoteIdent, quoteLiteral } from './sql-template.ts'
import { attemptMemoryBytes, taskOutputDir, taskOutputFilename, taskSeed, taskTempDir, type TaskEnv } from './task-env.ts'
import { outOfRange, runHashProducer } from './hash-partition.ts'
import { resolveUserFunction } from './arrow-tasks.ts'
import { bindUdfs } from './udf-binding.ts'
import { runArrowBatch, runArrowCompute, runArrowStream } from './arrow-tasks.ts'
import { finishSink, stageSink } from './sink.ts'
import { duckTypesOfArrow, arrowToRows, RowTableWriter } from './values.ts'
import { T3fsError } from '../../../runtime/errors.ts'

/** Everything a task body gets: its connection, output dir, seeds and names. */
export interface TaskIo {
  readonly conn: DuckDBConnection
  readonly task: TaskSpec
  readonly env: TaskEnv
  /** The dir this attempt writes into (renamed to its final name on success). */
  readonly dir: string
  readonly filename: string
  readonly seed: number
  readonly tempDir: string
  /** A second connection for writing while `conn` streams input. */
  connect(): Promise<DuckDBConnection>
  /** Rows this attempt wrote (for progress). */
  readonly rows: { written: number }
}

/** What an attempt produces: the output descriptor and how many rows it wrote. */
export interface TaskOutcome {
  readonly output: DataSetSpec
  readonly rowsWritten: number
}

const NEEDS_DIR = new Set<TaskOp['type']>(['hash-producer', 'sql', 'arrow-compute', 'arrow-batch', 'arrow-stream', 'script'])

export async function executeTask(task: TaskSpec, inputs: readonly DataSetSpec[], env: TaskEnv): Promise<TaskOutcome> {
  const seed = taskSeed(task.id, env.jobSeed)
  const finalDir = taskOutputDir(task, env)
  const dir = `${finalDir}.incomplete`
  const needsDir = NEEDS_DIR.has(task.op.type) || (task.op.type === 'source' && !isFileSpec(task.op.dataset))
  if (METADATA_ONLY.has(task.op.type)) return { output: runMetadataOp(task, inputs), rowsWritten: 0 }
  const db = await openDuckDb({
    threads: Math.max(1, Math.min(task.cpuLimit, env.threads)),
    memoryLimitBytes: attemptMemoryBytes(task.memoryLimitBytes, env),
    seed: seed / 0x1_0000_0000,
    // A shuffle has no order to keep; everything else keeps file order (take/takeAll rely on it).
    preserveInsertionOrder: task.op.type !== 'hash-producer',
    fresh: task.op.type === 'sql' && (task.op.udfs?.length ?? 0) > 0,
  })
  try {
    if (needsDir) {
      await rm(dir, { recursive: true, force: true })
      await mkdir(dir, { recursive: true })
    }
    const io: TaskIo = { conn: db.conn, task, env, dir, filename: taskOutputFilename(task, env), seed, tempDir: taskTempDir(task, env), connect: () => db.connect(), rows: { written: 0 } }
    const output = await runOp(io, inputs)
    if (!needsDir) return { output, rowsWritten: io.rows.written }
    await rm(finalDir, { recursive: true, force: true })
    await rename(dir, finalDir)
    return { output: relocate(output, dir, finalDir), rowsWritten: io.rows.written }
  } catch (error) {
    if (needsDir) await rm(dir, { recursive: true, force: true }).catch(() => undefined)
    throw error
  } finally {
    await db.close()
  }
}

function relocate(spec: DataSetSpec, from: string, to: string): DataSetSpec {
  const move = (p: string): string => (p.startsWith(from) ? to + p.slice(from.length) : p)
  if (spec.kind === 'partitioned') return { ...spec, datasets: spec.datasets.map((d) => relocate(d, from, to)) }
  if (isFileSpec(spec)) return { ...spec, files: spec.files.map((f) => ({ ...f, path: move(f.path) })) } as FileDataSetSpec
  return spec
}

function fileInput(inputs: readonly DataSetSpec[], what: string): FileDataSetSpec {
  const merged = mergeDataSets(inputs)
  if (!isFileSpec(merged)) throw invalidArgument(what, merged.kind, 'a file dataset')
  return merged
}

const METADATA_ONLY = new Set<TaskOp['type']>(['merge', 'split', 'consumer', 'projection', 'root', 'repeat-producer'])

/** Metadata-only tasks: no DuckDB, no files; they only rearrange descriptors. */
function runMetadataOp(task: TaskSpec, inputs: readonly DataSetSpec[]): DataSetSpec {
  const op = task.op
  switch (op.type) {
    case 'merge': return mergeDataSets(inputs)
    case 'split': return partitionByFiles(fileInput(inputs, 'split input'), op.n)[op.index]
    case 'consumer': {
      const parts = inputs.map((p) => {
        if (p.kind !== 'partitioned') throw invalidArgument('consumer input', p.kind, 'partitioned producer outputs')
        return p.datasets[op.index]
      })
      return mergeDataSets(parts)
    }
    case 'projection': {
      const input = fileInput(inputs, 'projection input')
      if (input.kind !== 'parquet') throw invalidArgument('projection input', input.kind, 'a Parquet dataset')
      return { ...input, columns: op.columns, generatedColumns: op.generatedColumns, unionByName: op.unionByName ?? input.unionByName }
    }
    case 'repeat-producer': {
      const input = mergeDataSets(inputs)
      return { kind: 'partitioned', datasets: Array.from({ length: op.npartitions }, () => input) }
    }
    case 'root': return { kind: 'fileset', files: [] }
    default: throw invalidArgument('task op', op.type, [...METADATA_ONLY].join(' | '))
  }
}

const SKIP_ON_EMPTY_INPUT = new Set<TaskOp['type']>(['sql', 'arrow-compute', 'arrow-batch', 'arrow-stream'])

/** smallpond's skip_task_with_empty_input: a partition without files has no rows and no schema to run on. */
function hasEmptyInput(inputs: readonly DataSetSpec[]): boolean {
  return inputs.some((d) => isFileSpec(d) && d.files.length === 0)
}

async function runOp(io: TaskIo, inputs: readonly DataSetSpec[]): Promise<DataSetSpec> {
  const { task, conn } = io
  const op = task.op
  if (SKIP_ON_EMPTY_INPUT.has(op.type) && hasEmptyInput(inputs)) return parquetOf([])
  switch (op.type) {
    case 'source': return runSource(io, op.dataset)
    case 'evenly-producer': return runEvenly(io, fileInput(inputs, 'partition input'), op)
    case 'user-producer': return runUserPartition(io, mergeDataSets(inputs), op)
    case 'load-partitioned-producer': return runLoadPartitioned(io, fileInput(inputs, 'partitioned input'), op)
    case 'hash-producer': return runHashProducer(io, fileInput(inputs, 'hash partition input'), op)
    case 'sql': return runSql(io, inputs, op)
    case 'arrow-compute': return runArrowCompute(io, inputs, op)
    case 'arrow-batch': return runArrowBatch(io, inputs, op)
    case 'arrow-stream': return runArrowStream(io, inputs, op)
    case 'script': return runScript(io, inputs, op)
    case 'sink-stage': return stageSink(conn, inputs, op.path, op.sinkType, `${task.id}.${io.env.attempt}`)
    case 'sink': return finishSink(conn, inputs, op.path, op.sinkType, op.staged)
    default: return runMetadataOp(task, inputs)
  }
}

async function runSource(io: TaskIo, spec: DataSetSpec): Promise<DataSetSpec> {
  if (isFileSpec(spec)) return resolveFiles(io.conn, spec)
  const file = `${io.dir}/data-0.parquet`
  if (spec.kind === 'sql') {
    await copyTo(io, spec.sql, file)
    return parquetOf([file])
  }
  if (spec.kind === 'arrow') {
    const table = tableFromIPC(spec.ipc)
    const writer = new RowTableWriter(io.conn, '__arrow_source', undefined, duckTypesOfArrow(table.schema))
    await writer.write(arrowToRows(table))
    await writer.finish()
    await copyTo(io, 'select * from __arrow_source', file)
    return parquetOf([file])
  }
  throw invalidArgument('dataset', spec.kind, 'a file, Arrow or SQL dataset')
}

async function runEvenly(io: TaskIo, input: FileDataSetSpec, op: Extract<TaskOp, { type: 'evenly-producer' }>): Promise<DataSetSpec> {
  let parts: DataSetSpec[]
  if (op.byRows && op.npartitions > 1) {
    if (input.kind !== 'parquet') throw invalidArgument('partitionByRows input', input.kind, 'a Parquet dataset')
    parts = partitionByRows(input, await countedFiles(io.conn, input), op.npartitions)
  } else {
    let state = io.seed || 1
    const random = (): number => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0
      return state / 0x1_0000_0000
    }
    parts = partitionByFiles(input, op.npartitions, op.randomShuffle ? random : undefined)
  }
  return { kind: 'partitioned', datasets: parts }
}

async function runUserPartition(io: TaskIo, input: DataSetSpec, op: Extract<TaskOp, { type: 'user-producer' }>): Promise<DataSetSpec> {
  const fn = await resolveUserFunction(op.fn)
  const parts = await fn({ taskId: io.task.id, randomSeed: io.seed }, input, op.npartitions)
  if (!Array.isArray(parts) || parts.length !== op.npartitions) {
    throw invalidArgument('partition function result', Array.isArray(parts) ? `${parts.length} datasets` : parts, `exactly ${op.npartitions} dataset descriptors`)
  }
  return { kind: 'partitioned', datasets: parts }
}

/** Each file's partition index from a hive segment `{column}=K`, else from its single value of `column`. */
async function runLoadPartitioned(io: TaskIo, input: FileDataSetSpec, op: Extract<TaskOp, { type: 'load-partitioned-producer' }>): Promise<DataSetSpec> {
  const groups: FileDataSetSpec['files'][number][][] = Array.from({ length: op.npartitions }, () => [])
  const segment = new RegExp(`(?:^|/)${op.column.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^/]+)/`)
  for (const f of input.files) {
    let key: string | undefined
    if (op.hive) key = segment.exec(f.path)?.[1]
    else {
      const reader = await io.conn.runAndReadAll(`select distinct ${quoteIdent(op.column)}::VARCHAR from read_parquet(${quoteLiteral(f.path)})`)
      const values = reader.getRowsJS().map((r) => String(r[0]))
      if (values.length > 1) throw invalidArgument(`values of ${op.column} in ${f.path}`, values.slice(0, 5), 'one partition key per file')
      if (values.length === 0) continue
      key = values[0]
    }
    const k = Number(key)
    if (key === undefined || !Number.isInteger(k) || k < 0 || k >= op.npartitions) throw outOfRange(String(key), op.npartitions, op.column)
    groups[k].push(f)
  }
  return { kind: 'partitioned', datasets: groups.map((files) => withFiles(input, files)) }
}

async function runScript(io: TaskIo, inputs: readonly DataSetSpec[], op: Extract<TaskOp, { type: 'script' }>): Promise<DataSetSpec> {
  const fn = await resolveUserFunction(op.fn)
  let ok: boolean | void
  try {
    ok = await fn({ taskId: io.task.id, partitionInfos: io.task.partitionInfos, randomSeed: io.seed, tempDir: io.tempDir }, [...inputs], io.dir)
  } catch (error) {
    const cause = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    throw smallpondError(SmallpondErrorCode.userFunction, `script failed in ${io.task.key}: ${cause}`, { task: io.task.key }, error)
  }
  if (ok === false) throw smallpondError(SmallpondErrorCode.userFunction, `script in ${io.task.key} returned false`, { task: io.task.key })
  const files = (await readdir(io.dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name)).sort()
  return files.length > 0 && files.every((f) => f.endsWith('.parquet')) ? parquetOf(files) : { kind: 'fileset', files: files.map((path) => ({ path })) }
}

/** Views for the inputs, `__input_{task}_{seq:06}`, as in smallpond. */
export async function createInputViews(io: TaskIo, inputs: readonly DataSetSpec[]): Promise<string[]> {
  const names: string[] = []
  for (let i = 0; i < inputs.length; i++) {
    const name = `__input_${io.task.id}_${String(i).padStart(6, '0')}`
    await io.conn.run(`create view ${name} as (${sqlFragment(inputs[i])})`)
    names.push(name)
  }
  return names
}

export function kvMetadata(io: TaskIo): string {
  const entries: [string, string][] = [
    ...io.task.partitionInfos.map((p) => [p.dimension, String(p.index)] as [string, string]),
    ['__task_key__', io.task.key], ['__task_id__', String(io.task.id)], ['__node_id__', String(io.task.nodeId)],
    ['__job_id__', io.env.jobId], ['__job_root__', io.env.jobRoot],
  ]
  return `{${entries.map(([k, v]) => `${quoteLiteral(`SMALLPOND:${k}`)}: ${quoteLiteral(v)}`).join(', ')}}`
}

export async function copyTo(io: TaskIo, query: string, file: string,
  options: { rowGroupSize?: number; compression?: string; compressionLevel?: number } = {}): Promise<void> {
  const compression = options.compression ?? 'zstd'
  const level = compression === 'zstd' ? `, compression_level ${options.compressionLevel ?? 3}` : ''
  const rg = options.rowGroupSize ? `, row_group_size ${options.rowGroupSize}` : ''
  const result = await io.conn.run(`copy (${query}) to ${quoteLiteral(file)} (format parquet, compression ${compression}${level}${rg}, kv_metadata ${kvMetadata(io)})`)
  io.rows.written += result.rowsChanged
}

function stripSemicolon(q: string): string {
  return q.trim().replace(/;+\s*$/, '')
}

async function runSql(io: TaskIo, inputs: readonly DataSetSpec[], op: Extract<TaskOp, { type: 'sql' }>): Promise<DataSetSpec> {
  if (op.udfs && op.udfs.length > 0) await bindUdfs(io.conn, op.udfs)
  const views = await createInputViews(io, inputs)
  const named: Record<string, string | number> = {
    rand_seed: io.seed, batch_index: 0, cpu_limit: io.task.cpuLimit,
    memory_limit: attemptMemoryBytes(io.task.memoryLimitBytes, io.env), output_filename: io.filename,
  }
  for (const p of io.task.partitionInfos) named[p.dimension] = p.index
  const file = `${io.dir}/${io.filename}-0.0.0.parquet`
  for (let q = 0; q < op.queries.length; q++) {
    const sql = stripSemicolon(formatSql(op.queries[q], views, { ...named, query_index: q }))
    const last = q === op.queries.length - 1
    try {
      if (last && op.materialize) await copyTo(io, sql, file, op)
      else if (last) io.rows.written += (await io.conn.run(sql)).rowsChanged
      else await io.conn.run(sql)
    } catch (error) {
      if (error instanceof T3fsError) throw error
      const cause = error instanceof Error ? error.message : String(error)
      const code = /Out of Memory Error/i.test(cause) ? SmallpondErrorCode.outOfMemory : SmallpondErrorCode.sql
      throw smallpondError(code, `failed to run query: ${sql}\n  cause: ${cause}`, { query: sql }, error)
    }
  }
  return op.materialize ? parquetOf([file]) : { kind: 'fileset', files: [] }
}
