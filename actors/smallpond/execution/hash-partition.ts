/**
 * Hash / shuffle / random-shuffle producer on DuckDB: one pass that computes the partition key and
 * writes `PARTITION_BY` hive dirs, then flat per-partition files `{name}-{k}.{j}.parquet`. Every
 * partition gets at least a schema-only file so consumers always have input. A key outside 0..n-1
 * fails the task with "partition key K is out of range 0-(n-1)".
 */
import { copyFile, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { type DataSetSpec, type FileDataSetSpec, parquetOf } from '../logical/dataset.ts'
import type { TaskOp } from '../logical/task.ts'
import { smallpondError, SmallpondErrorCode } from '../errors.ts'
import { sqlFragment } from './dataset-io.ts'
import { quoteIdent, quoteLiteral } from './sql-template.ts'
import { copyTo, kvMetadata, type TaskIo } from './task-exec.ts'

const KEY = '__sp_key__'

type HashOp = Extract<TaskOp, { type: 'hash-producer' }>

/** The range partition's boundaries, made by `createRangeBounds` before partitionSelect runs. */
const BOUNDS = '__sp_range_bounds'
const RANGE_VALUE = '__sp_range_value'

export function partitionSelect(op: HashOp, source: string): string {
  const n = op.npartitions
  if (op.range && n === 1) return `select *, 0 as ${KEY} from ${source}`
  if (op.range) {
    // ASOF: the greatest boundary <= the value; its rank is the count of boundaries <= the value,
    // i.e. the partition index (0 below the first boundary and for NULLs).
    return `select * exclude (${RANGE_VALUE}) from (select s.*, coalesce(k.r, 0) as ${KEY} from ` +
      `(select *, (${op.column}) as ${RANGE_VALUE} from ${source}) s asof left join ${BOUNDS} k on s.${RANGE_VALUE} >= k.b)`
  }
  if (op.shuffleOnly) return `select *, (${op.column}) as ${KEY} from ${source}`
  const key = op.randomShuffle
    ? `cast(floor(random() * ${n}) as bigint)`
    : `cast(hash(concat_ws('##', ${op.hashColumns.map((c) => `${quoteIdent(c)}::varchar`).join(', ')})) as ubigint) % ${n}`
  const keyed = `select *, ${key} as ${KEY} from (select columns(c -> c <> ${quoteLiteral(op.column)}) from ${source})`
  return op.dropPartitionColumn ? keyed : `select *, ${KEY} as ${quoteIdent(op.column)} from (${keyed})`
}

export function outOfRange(key: string, n: number, column: string): Error {
  return smallpondError(SmallpondErrorCode.partitionKeyOutOfRange,
    `partition key ${key} is out of range 0-${n - 1} (partition column/expression ${JSON.stringify(column)}); ` +
    `accepted: integer keys in 0..${n - 1}`, { key, npartitions: n, column })
}

function splitPointLiteral(v: number | string): string {
  return typeof v === 'number' ? String(v) : quoteLiteral(v)
}

/**
 * The boundaries table (b, r = boundaries <= b): the given split points, or the 1/n … (n-1)/n
 * quantiles of a reservoir sample of the whole input, seeded by the task (same job seed, same
 * boundaries). Equal quantiles of a skewed input leave the ranges between them empty.
 */
async function createRangeBounds(io: TaskIo, op: HashOp, source: string): Promise<void> {
  const range = op.range!
  const n = op.npartitions
  let points: string
  if (range.splitPoints) {
    points = `[${range.splitPoints.map(splitPointLiteral).join(', ')}]`
  } else {
    const fractions = Array.from({ length: n - 1 }, (_, i) => ((i + 1) / n).toString()).join(', ')
    points = `(select quantile_disc(v, [${fractions}]) from (select (${op.column}) as v from ${source}) ` +
      `using sample reservoir(${range.sampleRows} rows) repeatable (${io.seed % 0x7fffffff}))`
  }
  await io.conn.run(`create or replace temp table ${BOUNDS} as select b, count(*) over (order by b) as r from (select unnest(${points}) as b)`)
}

export async function runHashProducer(io: TaskIo, input: FileDataSetSpec, op: HashOp): Promise<DataSetSpec> {
  const n = op.npartitions
  const files: string[][] = Array.from({ length: n }, () => [])
  const source = '__hash_input'
  if (input.files.length === 0) return { kind: 'partitioned', datasets: files.map(() => parquetOf([])) }
  await io.conn.run(`create view ${source} as (${sqlFragment(input)})`)
  if (op.range && n > 1) {
    try {
      await createRangeBounds(io, op, source)
    } catch (error) {
      const cause = error instanceof Error ? error.message : String(error)
      throw smallpondError(SmallpondErrorCode.sql, `failed to find the range boundaries of ${JSON.stringify(op.column)} for ${io.task.key}: ${cause}`, {}, error)
    }
  }
  const hive = join(io.dir, '.hive')
  const rg = op.rowGroupSize ? `, row_group_size ${op.rowGroupSize}` : ''
  try {
    io.rows.written += (await io.conn.run(`copy (${partitionSelect(op, source)}) to ${quoteLiteral(hive)} (format parquet, partition_by (${KEY}), ` +
      `compression ${op.compression}${rg}, kv_metadata ${kvMetadata(io)}, overwrite_or_ignore true)`)).rowsChanged
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error)
    throw smallpondError(SmallpondErrorCode.sql, `failed to run partition query for ${io.task.key}: ${cause}`, {}, error)
  }
  const dirs = await readdir(hive).catch(() => [] as string[])
  const bad = dirs.map((d) => decodeURIComponent(d.slice(KEY.length + 1)))
    .filter((raw) => { const k = Number(raw); return !Number.isInteger(k) || k < 0 || k >= n })
  if (bad.length > 0) {
    // Report the largest offending key (or a non-integer one): the most telling for `item % 11` style mistakes.
    const numeric = bad.map(Number).filter((k) => Number.isFinite(k))
    throw outOfRange(numeric.length === bad.length ? String(Math.max(...numeric)) : bad.find((b) => !Number.isFinite(Number(b)))!, n, op.column)
  }
  for (const d of dirs) {
    const k = Number(decodeURIComponent(d.slice(KEY.length + 1)))
    const parts = (await readdir(join(hive, d))).sort()
    for (let j = 0; j < parts.length; j++) {
      const dst = join(io.dir, `${io.filename}-${k}.${j}.parquet`)
      await rename(join(hive, d, parts[j]), dst)
      files[k].push(dst)
    }
  }
  await rm(hive, { recursive: true, force: true })
  if (files.some((f) => f.length === 0)) {
    const empty = join(io.dir, `${io.filename}-empty.parquet`)
    await copyTo(io, `select * exclude (${KEY}) from (${partitionSelect(op, source)}) limit 0`, empty, { compression: op.compression })
    for (let k = 0; k < n; k++) {
      if (files[k].length > 0) continue
      const dst = join(io.dir, `${io.filename}-${k}.0.parquet`)
      await copyFile(empty, dst)
      files[k].push(dst)
    }
    await rm(empty, { force: true })
  }
  return { kind: 'partitioned', datasets: files.map((f) => parquetOf(f)) }
}
