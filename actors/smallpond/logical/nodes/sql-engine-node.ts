import { Context, Node, type NodeOptions } from './node.ts'
import { invalidArgument } from '../../errors.ts'
import type { UserDefinedFunction } from '../udf.ts'

export interface SqlEngineOptions extends NodeOptions {
  /** Persist the last statement's result as Parquet (default true). */
  materializeOutput?: boolean
  perThreadOutput?: boolean
  parquetRowGroupSize?: number
  parquetCompression?: 'zstd' | 'snappy' | 'uncompressed'
  parquetCompressionLevel?: number
  /** Scalar UDFs bound on each task's connection (see udf()). */
  udfs?: readonly UserDefinedFunction[]
}

/**
 * DuckDB SQL run once per partition. `{0}`, `{1}`, … name the inputs; `{__data_partition__}` (any
 * dimension), `{rand_seed}`, `{batch_index}`, `{query_index}`, `{cpu_limit}`, `{memory_limit}`,
 * `{output_filename}` are filled in per task; literal braces are doubled (`{{`, `}}`).
 * Several statements may be given; only the last one is persisted.
 */
export class SqlEngineNode extends Node {
  readonly kind: string = 'sql-engine'
  readonly sqlQueries: readonly string[]
  readonly options: SqlEngineOptions
  constructor(ctx: Context, inputDeps: readonly Node[], sqlQuery: string | readonly string[], options: SqlEngineOptions = {}) {
    super(ctx, inputDeps, options)
    const queries = typeof sqlQuery === 'string' ? [sqlQuery] : [...(sqlQuery ?? [])]
    if (queries.length === 0 || queries.some((q) => typeof q !== 'string' || q.trim() === '')) {
      throw invalidArgument('sqlQuery', sqlQuery, 'a non-empty SQL string or a non-empty list of them')
    }
    this.sqlQueries = queries
    this.options = options
  }
  protected override describeParams(): string {
    return ` sql=${JSON.stringify(this.sqlQueries.join('; ')).slice(0, 120)}`
  }
}
