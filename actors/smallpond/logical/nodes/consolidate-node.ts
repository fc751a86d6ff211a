import { Context, Node } from './node.ts'
import { invalidArgument } from '../../errors.ts'

/** Reduces partitions without moving data: one merge per group of the kept dimensions. */
export class ConsolidateNode extends Node {
  readonly kind = 'consolidate'
  readonly dimensions: readonly string[]
  constructor(ctx: Context, inputDep: Node, dimensions: readonly string[]) {
    super(ctx, [inputDep])
    if (!Array.isArray(dimensions) || dimensions.some((d) => typeof d !== 'string')) {
      throw invalidArgument('dimensions', dimensions, 'a list of dimension names ([] merges everything)')
    }
    this.dimensions = dimensions
  }
}
