import { Context, Node } from './node.ts'
import { SqlEngineNode } from './sql-engine-node.ts'
import { invalidArgument } from '../../errors.ts'

/** Per-partition `limit N`, then a merge of all partitions, then a global `limit N`: 1 partition. */
export class LimitNode extends SqlEngineNode {
  override readonly kind = 'limit'
  readonly limit: number
  constructor(ctx: Context, inputDep: Node, limit: number) {
    if (!Number.isInteger(limit) || limit < 0) throw invalidArgument('limit', limit, 'an integer >= 0')
    super(ctx, [inputDep], `select * from {0} limit ${limit}`)
    this.limit = limit
  }
}
