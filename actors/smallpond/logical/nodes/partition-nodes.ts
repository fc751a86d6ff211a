/**
 * Partition nodes: P producer tasks each emit exactly n partitions (empty ones as schema-only files),
 * then n metadata-only consumer tasks each merge partition i of every producer. A nested partition
 * keeps the existing dimensions and adds its own (inputs × n tasks).
 */
import { Context, Node, checkUserFunction, type NodeOptions, type UserFunction } from './node.ts'
import type { DataSetSpec } from '../dataset.ts'
import { ConsolidateNode } from './consolidate-node.ts'
import { DATA_PARTITION_COLUMN, TOPLEVEL_DIMENSION } from '../partition-info.ts'
import { invalidArgument } from '../../errors.ts'

export const MAX_CARD_OF_PRODUCERS_X_CONSUMERS = 4_096_000
export const MAX_NPARTITIONS = 4_096_000

export interface PartitionOptions extends NodeOptions {
  dimension?: string
  nested?: boolean
}

export abstract class PartitionNode extends Node {
  readonly npartitions: number
  readonly dimension: string
  readonly nested: boolean
  abstract readonly maxNumProducerTasks: number

  constructor(ctx: Context, inputDeps: readonly Node[], npartitions: number, options: PartitionOptions = {}) {
    super(ctx, inputDeps, options)
    if (!Number.isInteger(npartitions) || npartitions < 1 || npartitions > MAX_NPARTITIONS) {
      throw invalidArgument('npartitions', npartitions, `an integer in 1..${MAX_NPARTITIONS}`)
    }
    if (options.nested && !options.dimension) {
      throw invalidArgument('dimension', options.dimension, 'a dimension name when nested is true')
    }
    if (options.dimension === TOPLEVEL_DIMENSION) {
      throw invalidArgument('dimension', options.dimension, `any name except ${TOPLEVEL_DIMENSION}`)
    }
    this.npartitions = npartitions
    this.dimension = options.dimension ?? DATA_PARTITION_COLUMN
    this.nested = options.nested ?? false
  }
  protected override describeParams(): string {
    return ` npartitions=${this.npartitions} dimension=${this.dimension}${this.nested ? ' nested' : ''}`
  }
}

export interface EvenlyOptions extends PartitionOptions {
  partitionByRows?: boolean
  randomShuffle?: boolean
}

/** Splits file lists (default) or Parquet row ranges (`partitionByRows`) evenly; one producer. */
export class EvenlyDistributedPartitionNode extends PartitionNode {
  readonly kind = 'evenly-partition'
  readonly maxNumProducerTasks = 1
  readonly partitionByRows: boolean
  readonly randomShuffle: boolean
  constructor(ctx: Context, inputDeps: readonly Node[], npartitions: number, options: EvenlyOptions = {}) {
    super(ctx, inputDeps, npartitions, options)
    this.partitionByRows = options.partitionByRows ?? false
    this.randomShuffle = options.randomShuffle ?? false
  }
}

export interface HashPartitionOptions extends PartitionOptions {
  /** Name of the partition column written into the output (default `__data_partition__`). */
  dataPartitionColumn?: string
  randomShuffle?: boolean
  /** Use the value of `dataPartitionColumn` (a column or SQL expression) as the partition index. */
  shuffleOnly?: boolean
  dropPartitionColumn?: boolean
  engineType?: 'duckdb'
  parquetRowGroupSize?: number
  parquetCompression?: 'zstd' | 'snappy' | 'uncompressed'
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Partition key `CAST(hash(concat_ws('##', cols)) AS UBIGINT) % n`; adds the partition column. */
export class HashPartitionNode extends PartitionNode {
  readonly kind: string = 'hash-partition'
  readonly maxNumProducerTasks: number = 1000
  readonly hashColumns: readonly string[]
  readonly dataPartitionColumn: string
  readonly randomShuffle: boolean
  readonly shuffleOnly: boolean
  readonly dropPartitionColumn: boolean
  readonly parquetRowGroupSize: number | undefined
  readonly parquetCompression: 'zstd' | 'snappy' | 'uncompressed'

  constructor(ctx: Context, inputDeps: readonly Node[], npartitions: number,
    hashColumns: readonly string[] | null, options: HashPartitionOptions = {}) {
    const column = options.dataPartitionColumn ?? DATA_PARTITION_COLUMN
    const dimension = options.dimension ?? (options.nested ? undefined : IDENT.test(column) ? column : DATA_PARTITION_COLUMN)
    super(ctx, inputDeps, npartitions, { ...options, dimension })
    if (options.engineType !== undefined && options.engineType !== 'duckdb') {
      throw invalidArgument('engineType', options.engineType, '"duckdb" (the only engine in t3fs)')
    }
    const shuffleOnly = options.shuffleOnly ?? false
    const random = options.randomShuffle ?? false
    if (!shuffleOnly && !random && (!hashColumns || hashColumns.length === 0)) {
      throw invalidArgument('hashColumns', hashColumns, 'a non-empty list of columns (or randomShuffle / shuffleOnly)')
    }
    this.hashColumns = hashColumns ?? []
    this.dataPartitionColumn = column
    this.randomShuffle = random
    this.shuffleOnly = shuffleOnly
    this.dropPartitionColumn = options.dropPartitionColumn ?? false
    this.parquetRowGroupSize = options.parquetRowGroupSize
    this.parquetCompression = options.parquetCompression ?? 'zstd'
  }
}

/** A HashPartitionNode whose partition index is the value of `dataPartitionColumn` (column or expression). */
export class ShuffleNode extends HashPartitionNode {
  override readonly kind = 'shuffle'
  constructor(ctx: Context, inputDeps: readonly Node[], npartitions: number, dataPartitionColumn: string,
    options: Omit<HashPartitionOptions, 'dataPartitionColumn' | 'shuffleOnly'> = {}) {
    if (typeof dataPartitionColumn !== 'string' || dataPartitionColumn.trim() === '') {
      throw invalidArgument('dataPartitionColumn', dataPartitionColumn, 'a column name or SQL expression giving 0..n-1')
    }
    super(ctx, inputDeps, npartitions, null, { ...options, dataPartitionColumn, shuffleOnly: true })
  }
}

/** A split point of a range partition: numbers or strings, all of one kind. */
export type SplitPoint = number | string

/** Rows sampled (reservoir) to find split points when none are given. */
export const DEFAULT_RANGE_SAMPLE_ROWS = 100_000
export const MAX_RANGE_SAMPLE_ROWS = 100_000_000

export interface RangePartitionOptions extends Omit<HashPartitionOptions, 'dataPartitionColumn' | 'shuffleOnly' | 'randomShuffle' | 'dropPartitionColumn'> {
  /**
   * Ascending, distinct split points: partition k holds values in [splitPoints[k-1], splitPoints[k])
   * (partition 0 everything below the first, and NULLs; the last everything from the last point
   * on). npartitions must then be splitPoints.length + 1. Without them, the producer samples the
   * whole input and takes its 1/n, 2/n, … quantiles (one producer, so every row sees the same
   * boundaries).
   */
  splitPoints?: readonly SplitPoint[]
  /** Rows sampled for quantiles when splitPoints are not given (default 100 000). */
  sampleRows?: number
}

/**
 * smallpond's RangePartitionNode (declared upstream, never implemented): rows land in the partition
 * whose range holds the value of `column` (a column or SQL expression), with boundaries given or
 * from sampled quantiles. Row order inside a partition is not kept; the input columns are kept as
 * they are (no partition column is added).
 */
export class RangePartitionNode extends HashPartitionNode {
  override readonly kind = 'range-partition'
  override readonly maxNumProducerTasks: number
  readonly rangeColumn: string
  readonly splitPoints: readonly SplitPoint[] | undefined
  readonly sampleRows: number

  constructor(ctx: Context, inputDeps: readonly Node[], npartitions: number, column: string, options: RangePartitionOptions = {}) {
    if (typeof column !== 'string' || column.trim() === '') throw invalidArgument('column', column, 'a column name or SQL expression to range over')
    const points = options.splitPoints
    if (points !== undefined) checkSplitPoints(points, npartitions)
    else if (options.nested) throw invalidArgument('splitPoints', points, 'split points when nested is true (sampled boundaries would differ per input partition)')
    const sampleRows = options.sampleRows ?? DEFAULT_RANGE_SAMPLE_ROWS
    if (!Number.isInteger(sampleRows) || sampleRows < 1 || sampleRows > MAX_RANGE_SAMPLE_ROWS) {
      throw invalidArgument('sampleRows', sampleRows, `an integer in 1..${MAX_RANGE_SAMPLE_ROWS}`)
    }
    super(ctx, inputDeps, npartitions, null, { ...options, shuffleOnly: true, dataPartitionColumn: column, dimension: options.dimension ?? (options.nested ? undefined : DATA_PARTITION_COLUMN) })
    this.rangeColumn = column
    this.splitPoints = points === undefined ? undefined : [...points]
    this.sampleRows = sampleRows
    this.maxNumProducerTasks = points === undefined ? 1 : 1000
  }
  protected override describeParams(): string {
    return `${super.describeParams()} by=${this.rangeColumn} ${this.splitPoints ? `splitPoints=${JSON.stringify(this.splitPoints)}` : `sampled(${this.sampleRows})`}`
  }
}

function checkSplitPoints(points: readonly SplitPoint[], npartitions: number): void {
  const accepted = 'a non-empty array of ascending, distinct finite numbers or strings (all one kind)'
  if (!Array.isArray(points) || points.length === 0) throw invalidArgument('splitPoints', points, accepted)
  const kind = typeof points[0]
  for (let i = 0; i < points.length; i++) {
    const v = points[i]
    if ((typeof v !== 'number' && typeof v !== 'string') || typeof v !== kind || (typeof v === 'number' && !Number.isFinite(v))) {
      throw invalidArgument(`splitPoints[${i}]`, v, accepted)
    }
    if (i > 0 && !(points[i - 1] < v)) throw invalidArgument(`splitPoints[${i}]`, v, `${accepted}; it is not above splitPoints[${i - 1}] = ${JSON.stringify(points[i - 1])}`)
  }
  if (npartitions !== points.length + 1) {
    throw invalidArgument('npartitions', npartitions, `splitPoints.length + 1 = ${points.length + 1} (n split points make n + 1 ranges)`)
  }
}

/** smallpond's factory: evenly distributed; npartitions == 1 becomes a consolidation to one partition. */
export function DataSetPartitionNode(ctx: Context, inputDeps: readonly Node[], npartitions: number,
  options: EvenlyOptions & { dataPartitionColumn?: string } = {}): Node {
  if (options.dataPartitionColumn !== undefined) return new LoadPartitionedDataSetNode(ctx, inputDeps, npartitions, options)
  const node = new EvenlyDistributedPartitionNode(ctx, inputDeps, npartitions, options)
  return npartitions === 1 && !options.nested ? new ConsolidateNode(ctx, node, []) : node
}

/** Always nested: `npartitions` copies of each input partition under a new dimension (replication). */
export class RepeatPartitionNode extends PartitionNode {
  readonly kind = 'repeat-partition'
  readonly maxNumProducerTasks = 1
  constructor(ctx: Context, inputDeps: readonly Node[], npartitions: number, dimension: string, options: NodeOptions = {}) {
    if (typeof dimension !== 'string' || dimension === '') throw invalidArgument('dimension', dimension, 'a new dimension name')
    super(ctx, inputDeps, npartitions, { ...options, dimension, nested: true })
  }
}

/** A user function splits each producer's input dataset into exactly `npartitions` datasets. */
export type PartitionFunction = (ctx: { readonly taskId: number; readonly randomSeed: number }, dataset: DataSetSpec, npartitions: number) =>
  DataSetSpec[] | Promise<DataSetSpec[]>

export class UserDefinedPartitionNode extends PartitionNode {
  readonly kind = 'user-partition'
  readonly maxNumProducerTasks = 100
  readonly partitionFunc: UserFunction<PartitionFunction>
  constructor(ctx: Context, inputDeps: readonly Node[], npartitions: number, partitionFunc: UserFunction<PartitionFunction>,
    options: PartitionOptions = {}) {
    super(ctx, inputDeps, npartitions, options)
    checkUserFunction('partitionFunc', partitionFunc)
    this.partitionFunc = partitionFunc
  }
}

export interface LoadPartitionedOptions extends PartitionOptions {
  /** The partition index of each file: from hive path segments `{column}=K`, else from the column's (single) value per file. */
  dataPartitionColumn?: string
  hivePartitioning?: boolean
}

/** Rebuilds partitions from existing Parquet files (hive dirs or a partition column) without moving data. */
export class LoadPartitionedDataSetNode extends PartitionNode {
  readonly kind = 'load-partitioned'
  readonly maxNumProducerTasks = 10
  readonly dataPartitionColumn: string
  readonly hivePartitioning: boolean
  constructor(ctx: Context, inputDeps: readonly Node[], npartitions: number, options: LoadPartitionedOptions = {}) {
    const column = options.dataPartitionColumn ?? DATA_PARTITION_COLUMN
    super(ctx, inputDeps, npartitions, { ...options, dimension: options.dimension ?? (options.nested ? undefined : column) })
    this.dataPartitionColumn = column
    this.hivePartitioning = options.hivePartitioning ?? false
  }
}
