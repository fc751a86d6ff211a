/**
 * Arrow tasks: user functions over apache-arrow Tables. Inputs are read through DuckDB and re-batched
 * to exactly `batchSize` rows across file boundaries; outputs are appended to a DuckDB table and
 * written as one Parquet file.
 */
import type { Table } from 'apache-arrow'
import type { DataSetSpec } from '../logical/dataset.ts'
import { parquetOf } from '../logical/dataset.ts'
import type { TaskOp } from '../logical/task.ts'
import { isModuleRef, type UserFunction } from '../logical/nodes/node.ts'
import type { TaskRuntimeContext } from '../logical/nodes/arrow-nodes.ts'
import { invalidArgument, smallpondError, SmallpondErrorCode } from '../errors.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import { arrowToRows, isArrowTable, RowTableWriter, rowsToArrow, type ColumnTypes, type Row } from './values.ts'
import { createInputViews, copyTo, type TaskIo } from './task-exec.ts'
import { applyRowsInPool } from './user-function-pool.ts'

/** Resolves a closure or a `{ module, export }` reference to a callable. */
export async function resolveUserFunction<F>(fn: UserFunction<F>): Promise<F> {
  if (!isModuleRef(fn)) return fn
  let mod: Record<string, unknown>
  try {
    mod = await import(fn.module) as Record<string, unknown>
  } catch (error) {
    throw invalidArgument('function module', fn.module, 'an importable module URL (file:// or package name)')
  }
  const f = mod[fn.export]
  if (typeof f !== 'function') throw invalidArgument('function export', `${fn.module}#${fn.export}`, 'the name of an exported function')
  return f as F
}

function runtimeContext(io: TaskIo): TaskRuntimeContext {
  return { taskId: io.task.id, partitionInfos: io.task.partitionInfos, randomSeed: io.seed, tempDir: io.tempDir }
}

function userFailure(io: TaskIo, error: unknown): Error {
  if (error instanceof T3fsError) return error
  // Errors from pool workers come from another realm: read name/message, not instanceof.
  const e = error as { name?: unknown; message?: unknown }
  const cause = typeof e?.message === 'string' ? `${typeof e.name === 'string' ? e.name : 'Error'}: ${e.message}` : String(error)
  return smallpondError(SmallpondErrorCode.userFunction, `user function failed in ${io.task.key}: ${cause}`, { task: io.task.key }, error)
}

/** Streams one input view as row batches of exactly `size` rows (the last one shorter). */
async function* batches(io: TaskIo, view: string, size: number): AsyncGenerator<{ rows: Row[]; types: ColumnTypes }> {
  const result = await io.conn.stream(`select * from ${view}`)
  const names = result.columnNames()
  const types: ColumnTypes = result.columnTypes().map((t, i) => [names[i], String(t)] as const)
  let pending: Row[] = []
  let any = false
  for await (const chunk of result.yieldRowObjectJs()) {
    for (const row of chunk) pending.push(row as Row)
    while (pending.length >= size) {
      any = true
      yield { rows: pending.slice(0, size), types }
      pending = pending.slice(size)
    }
  }
  if (pending.length > 0 || !any) yield { rows: pending, types }
}

async function writeOutput(io: TaskIo, writer: RowTableWriter): Promise<DataSetSpec> {
  if (!(await writer.finish())) return parquetOf([])
  const file = `${io.dir}/${io.filename}-0.0.0.parquet`
  await copyTo(io, `select * from ${writer.table}`, file)
  return parquetOf([file])
}

async function tableRows(result: unknown, what: string): Promise<Row[]> {
  if (result === null || result === undefined) return []
  if (!isArrowTable(result)) throw invalidArgument(`${what} result`, typeof result, 'an apache-arrow Table or null')
  return arrowToRows(result)
}

type BatchOp = Extract<TaskOp, { type: 'arrow-batch' }>

export async function runArrowBatch(io: TaskIo, inputs: readonly DataSetSpec[], op: BatchOp): Promise<DataSetSpec> {
  const views = await createInputViews(io, inputs)
  const writer = new RowTableWriter(await io.connect(), '__arrow_out', op.schema)
  const ctx = runtimeContext(io)
  if (op.rowMode !== 'batch' && isModuleRef(op.fn)) {
    // A module reference is stateless CPU work: it runs in the piscina pool, off this thread.
    const ref = op.fn
    const mode = op.rowMode
    for await (const { rows, types } of batches(io, views[0], op.batchSize)) {
      if (mode === 'filter' && !writer.types) writer.types = types
      let out: Row[]
      try {
        out = await applyRowsInPool({ module: ref.module, export: ref.export, mode, rows })
      } catch (error) {
        throw userFailure(io, error)
      }
      if (mode === 'map') for (const r of out) if (typeof r !== 'object' || r === null) throw invalidArgument('map function result', r, 'a row object')
      await writer.write(out)
    }
    return writeOutput(io, writer)
  }
  if (op.rowMode !== 'batch') {
    const fn = await resolveUserFunction(op.fn as UserFunction<(row: Row) => unknown>)
    for await (const { rows, types } of batches(io, views[0], op.batchSize)) {
      if (op.rowMode === 'filter' && !writer.types) writer.types = types
      const out: Row[] = []
      try {
        for (const row of rows) {
          const r = fn(row)
          if (op.rowMode === 'filter') { if (r) out.push(row) } else if (op.rowMode === 'map') out.push(r as Row)
          else {
            if (!Array.isArray(r)) throw invalidArgument('flatMap function result', r, 'an array of row objects')
            out.push(...(r as Row[]))
          }
        }
      } catch (error) {
        throw userFailure(io, error)
      }
      if (op.rowMode === 'map') for (const r of out) if (typeof r !== 'object' || r === null) throw invalidArgument('map function result', r, 'a row object')
      await writer.write(out)
    }
    return writeOutput(io, writer)
  }
  const fn = await resolveUserFunction(op.fn as UserFunction<(c: TaskRuntimeContext, t: Table[]) => unknown>)
  const iters = views.map((v) => batches(io, v, op.batchSize))
  for (;;) {
    const steps = await Promise.all(iters.map((it) => it.next()))
    if (steps.every((s) => s.done)) break
    const tables = steps.map((s) => (s.done ? rowsToArrow([], []) : rowsToArrow(s.value.rows, s.value.types)))
    let result: unknown
    try {
      result = await fn(ctx, tables)
    } catch (error) {
      throw userFailure(io, error)
    }
    await writer.write(await tableRows(result, 'mapBatches'))
  }
  return writeOutput(io, writer)
}

export async function runArrowCompute(io: TaskIo, inputs: readonly DataSetSpec[], op: Extract<TaskOp, { type: 'arrow-compute' }>): Promise<DataSetSpec> {
  const views = await createInputViews(io, inputs)
  const tables: Table[] = []
  for (const v of views) {
    const reader = await io.conn.runAndReadAll(`select * from ${v}`)
    const names = reader.columnNames()
    tables.push(rowsToArrow(reader.getRowObjectsJS() as Row[], reader.columnTypes().map((t, i) => [names[i], String(t)] as const)))
  }
  const fn = await resolveUserFunction(op.fn)
  let result: unknown
  try {
    result = await fn(runtimeContext(io), tables)
  } catch (error) {
    throw userFailure(io, error)
  }
  const writer = new RowTableWriter(io.conn, '__arrow_out', op.schema)
  await writer.write(await tableRows(result, 'ArrowCompute'))
  return writeOutput(io, writer)
}

export async function runArrowStream(io: TaskIo, inputs: readonly DataSetSpec[], op: Extract<TaskOp, { type: 'arrow-stream' }>): Promise<DataSetSpec> {
  const views = await createInputViews(io, inputs)
  const streams = views.map((v) => (async function* () {
    for await (const b of batches(io, v, op.batchSize)) yield rowsToArrow(b.rows, b.types)
  })())
  const fn = await resolveUserFunction(op.fn)
  const writer = new RowTableWriter(await io.connect(), '__arrow_out', op.schema)
  try {
    for await (const table of fn(runtimeContext(io), streams)) await writer.write(await tableRows(table, 'ArrowStream'))
  } catch (error) {
    throw userFailure(io, error)
  }
  return writeOutput(io, writer)
}
