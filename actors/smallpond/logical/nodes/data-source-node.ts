import { DataSet, emptyParquet } from '../dataset.ts'
import { Context, Node, type NodeOptions } from './node.ts'
import { invalidArgument } from '../../errors.ts'
import { DATA_PARTITION_COLUMN } from '../partition-info.ts'

/** A leaf with one partition; Arrow and SQL datasets are materialized to Parquet when it runs. */
export class DataSourceNode extends Node {
  readonly kind = 'data-source'
  readonly dataset: DataSet
  constructor(ctx: Context, dataset: DataSet | null, options: NodeOptions = {}) {
    super(ctx, [], options)
    if (dataset !== null && !(dataset instanceof DataSet)) throw invalidArgument('dataset', dataset, 'a DataSet or null')
    this.dataset = dataset ?? new DataSet(emptyParquet())
  }
  protected override describeParams(): string {
    return ` dataset=${this.dataset.spec.kind}`
  }
}

/** A source that is already partitioned: partition i is `datasets[i]` in `dimension`. */
export class UserPartitionedDataSourceNode extends Node {
  readonly kind = 'user-partitioned-source'
  readonly datasets: readonly DataSet[]
  readonly dimension: string
  constructor(ctx: Context, datasets: readonly DataSet[], dimension: string = DATA_PARTITION_COLUMN, options: NodeOptions = {}) {
    super(ctx, [], options)
    if (!Array.isArray(datasets) || datasets.length === 0 || datasets.some((d) => !(d instanceof DataSet))) {
      throw invalidArgument('datasets', datasets, 'a non-empty list of DataSets, one per partition')
    }
    this.datasets = datasets
    this.dimension = dimension
  }
}
