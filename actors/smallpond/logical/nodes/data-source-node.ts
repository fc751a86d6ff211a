import { DataSet, emptyParquet } from '../dataset.ts'
import { Context, Node, type NodeOptions } from './node.ts'
import { invalidArgument } from '../../errors.ts'

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
