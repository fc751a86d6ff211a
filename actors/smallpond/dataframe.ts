/**
 * DataFrame: a lazy plan node. Transformations return new DataFrames; actions (compute, count,
 * take, takeAll, toArrow, toRecords, writeParquet) run the plan through the session's scheduler.
 */
import { resolve } from 'node:path'
import type { Table } from 'apache-arrow'
import type { DataSetSpec } from './logical/dataset.ts'
import { type Node, type UserFunction, checkUserFunction } from './logical/nodes/node.ts'
import { DataSourceNode } from './logical/nodes/data-source-node.ts'
import { SqlEngineNode, type SqlEngineOptions } from './logical/nodes/sql-engine-node.ts'
import { LimitNode } from './logical/nodes/limit-node.ts'
import { DataSinkNode } from './logical/nodes/data-sink-node.ts'
import { ArrowBatchNode, DEFAULT_BATCH_SIZE, type TaskRuntimeContext } from './logical/nodes/arrow-nodes.ts'
import {
  EvenlyDistributedPartitionNode, HashPartitionNode, RangePartitionNode, ShuffleNode, type HashPartitionOptions,
  type RangePartitionOptions,
} from './logical/nodes/partition-nodes.ts'
import { LogicalPlan } from './logical/logical-plan.ts'
import { invalidArgument } from './errors.ts'
import { sqlFragment, countRows } from './execution/dataset-io.ts'
import { rowsToArrow, type ColumnTypes, type Row } from './execution/values.ts'
import type { Session } from './session.ts'

export interface RepartitionOptions extends Omit<HashPartitionOptions, 'dataPartitionColumn' | 'shuffleOnly'> {
  /** Hash partition by these columns (adds a `__data_partition__` column). */
  hashBy?: string | string[]
  /** The value of this column or SQL expression is the target partition (0..n-1). */
  by?: string
  /** Split rows evenly (Parquet input) instead of files. */
  byRows?: boolean
}

export type RowFunction<R> = UserFunction<(row: Row) => R>
export type BatchFunction = UserFunction<(batch: Table) => Table | null | Promise<Table | null>>

export class DataFrame {
  constructor(readonly session: Session, readonly plan: Node, public needRecompute = false) {}

  private derive(node: Node): DataFrame {
    return this.session.frame(node, this.needRecompute)
  }

  private sql(query: string, options: SqlEngineOptions = {}): DataFrame {
    return this.derive(new SqlEngineNode(this.session.ctx, [this.plan], query, options))
  }

  repartition(npartitions: number, options: RepartitionOptions = {}): DataFrame {
    const { hashBy, by, byRows, ...rest } = options
    const ctx = this.session.ctx
    if (by !== undefined && hashBy !== undefined) throw invalidArgument('repartition options', { by, hashBy }, 'either by or hashBy, not both')
    if (by !== undefined) return this.derive(new ShuffleNode(ctx, [this.plan], npartitions, by, rest))
    if (hashBy !== undefined) {
      const cols = typeof hashBy === 'string' ? [hashBy] : hashBy
      if (!Array.isArray(cols) || cols.length === 0 || cols.some((c) => typeof c !== 'string' || c === '')) {
        throw invalidArgument('hashBy', hashBy, 'a column name or a non-empty list of column names')
      }
      return this.derive(new HashPartitionNode(ctx, [this.plan], npartitions, cols, rest))
    }
    return this.derive(new EvenlyDistributedPartitionNode(ctx, [this.plan], npartitions,
      { partitionByRows: byRows ?? false, dimension: rest.dimension, nested: rest.nested, cpuLimit: rest.cpuLimit }))
  }

  /**
   * Range partitioning (smallpond declares RangePartitionNode but never implemented it): partition
   * k gets the rows whose `by` (a column or SQL expression) lies in [splitPoints[k-1],
   * splitPoints[k]); NULLs go to partition 0. Without `splitPoints` the boundaries are the
   * quantiles of a sample of the whole input (`sampleRows`), so partitions come out about equal.
   * Partitions are ordered: a sort within each one (`partialSort(by)`) sorts the whole.
   */
  rangePartition(npartitions: number, options: { by: string } & RangePartitionOptions): DataFrame {
    if (typeof options !== 'object' || options === null) throw invalidArgument('rangePartition options', options, '{ by: column or expression, splitPoints?, sampleRows? }')
    const { by, ...rest } = options
    return this.derive(new RangePartitionNode(this.session.ctx, [this.plan], npartitions, by, rest))
  }

  /** `sp.partialSql(query, this, ...others)`: `{0}` is this DataFrame, `{1}`… the others. */
  partialSql(query: string, ...others: DataFrame[]): DataFrame {
    return this.session.partialSql(query, this, ...others)
  }

  /** Sends each row to a random partition (same partition count), then shuffles within partitions. */
  randomShuffle(options: SqlEngineOptions = {}): DataFrame {
    const n = this.session.planNode(this.plan).targets.length
    const hashed = new HashPartitionNode(this.session.ctx, [this.plan], n, null, { randomShuffle: true })
    return this.derive(hashed).sql('select * from {0} order by random()', options)
  }

  /** Sorts each partition only. Entries may carry ` desc`. */
  partialSort(by: string | string[], options: SqlEngineOptions = {}): DataFrame {
    const cols = typeof by === 'string' ? [by] : by
    if (!Array.isArray(cols) || cols.length === 0) throw invalidArgument('by', by, 'a column or a non-empty list of columns')
    return this.sql(`select * from {0} order by ${cols.join(', ')}`, options)
  }

  /** A SQL condition, or a function of a row (closure or module reference). */
  filter(sqlOrFunc: string | RowFunction<unknown>, options: SqlEngineOptions = {}): DataFrame {
    if (typeof sqlOrFunc === 'string') return this.sql(`select * from {0} where (${sqlOrFunc})`, options)
    return this.rows(sqlOrFunc, 'filter', undefined)
  }

  /** A SQL projection list (aggregates work per partition), or a row → row function. */
  map(sqlOrFunc: string | RowFunction<Row>, options: { schema?: Record<string, string> } & SqlEngineOptions = {}): DataFrame {
    if (typeof sqlOrFunc === 'string') return this.sql(`select ${sqlOrFunc} from {0}`, options)
    return this.rows(sqlOrFunc, 'map', options.schema)
  }

  /** A SQL projection (e.g. `unnest(array[a, b]) as c`), or a row → rows function. */
  flatMap(sqlOrFunc: string | RowFunction<Row[]>, options: { schema?: Record<string, string> } & SqlEngineOptions = {}): DataFrame {
    if (typeof sqlOrFunc === 'string') return this.sql(`select ${sqlOrFunc} from {0}`, options)
    return this.rows(sqlOrFunc, 'flatMap', options.schema)
  }

  /** `func` gets exactly `batchSize` rows per call (the last call the remainder), across files. */
  mapBatches(func: BatchFunction, options: { batchSize?: number; schema?: Record<string, string> } = {}): DataFrame {
    checkUserFunction('func', func)
    const wrapped = typeof func === 'function'
      ? (_ctx: TaskRuntimeContext, tables: Table[]) => func(tables[0])
      : func
    return this.derive(new ArrowBatchNode(this.session.ctx, [this.plan], wrapped,
      { streamingBatchSize: options.batchSize ?? DEFAULT_BATCH_SIZE, schema: options.schema, rowMode: 'batch' }))
  }

  private rows(fn: RowFunction<unknown>, rowMode: 'map' | 'flatMap' | 'filter', schema: Record<string, string> | undefined): DataFrame {
    checkUserFunction('function', fn)
    return this.derive(new ArrowBatchNode(this.session.ctx, [this.plan], fn, { rowMode, schema, streamingBatchSize: 16_384 }))
  }

  /** At most `limit` rows, in one partition. */
  limit(limit: number): DataFrame {
    return this.derive(new LimitNode(this.session.ctx, this.plan, limit))
  }

  /** Marks this DataFrame so its tasks run again on the next action (in place). */
  recompute(): this {
    this.needRecompute = true
    return this
  }

  writeParquetLazy(path: string): DataFrame {
    if (typeof path !== 'string' || path === '') throw invalidArgument('path', path, 'a directory path')
    return this.derive(new DataSinkNode(this.session.ctx, [this.plan], resolve(this.session.localPath(path, 'path')), { type: 'link_or_copy' }))
  }

  async writeParquet(path: string): Promise<void> {
    await this.writeParquetLazy(path).compute()
  }

  /** Runs the plan; one dataset descriptor per output partition, in partition order. */
  async compute(): Promise<DataSetSpec[]> {
    const out = await this.session.computeNode(this.plan, this.needRecompute)
    this.needRecompute = false
    return out
  }

  isComputed(): boolean {
    const { targets } = this.session.planNode(this.plan)
    return !this.needRecompute && targets.every((t) => this.session.scheduler.results.has(t.id))
  }

  async count(): Promise<number> {
    const parts = await this.compute()
    const { conn } = await this.session.readerConnection()
    let total = 0
    for (const p of parts) total += await countRows(conn, p)
    return total
  }

  async take(limit: number): Promise<Row[]> {
    if (!Number.isInteger(limit) || limit < 0) throw invalidArgument('limit', limit, 'an integer >= 0')
    const source = this.isComputed() || this.plan instanceof DataSourceNode ? this : this.limit(limit)
    return (await source.readRows(limit)).rows
  }

  async takeAll(): Promise<Row[]> {
    return (await this.readRows(Infinity)).rows
  }

  async toRecords(): Promise<Row[]> {
    return this.takeAll()
  }

  /** All rows as one apache-arrow Table (BIGINT columns are Int64 with bigint values). */
  async toArrow(): Promise<Table> {
    const { rows, types } = await this.readRows(Infinity)
    return rowsToArrow(rows, types)
  }

  explain(): string {
    return new LogicalPlan(this.session.ctx, this.plan).explainStr()
  }

  private async readRows(limit: number): Promise<{ rows: Row[]; types: ColumnTypes }> {
    const parts = await this.compute()
    const { conn } = await this.session.readerConnection()
    const rows: Row[] = []
    let types: ColumnTypes = []
    for (const p of parts) {
      if (rows.length >= limit) break
      if ('files' in p && p.files.length === 0) continue
      const left = limit - rows.length
      const reader = await conn.runAndReadAll(`select * from (${sqlFragment(p)})${Number.isFinite(left) ? ` limit ${left}` : ''}`)
      const names = reader.columnNames()
      if (types.length === 0) types = reader.columnTypes().map((t, i) => [names[i], String(t)] as const)
      for (const r of reader.getRowObjectsJS()) rows.push(r as Row)
    }
    return { rows, types }
  }
}
