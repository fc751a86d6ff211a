import { Context, Node } from './node.ts'
import { invalidArgument } from '../../errors.ts'

/** Concatenates the partitions of its inputs; the inputs must share their partition dimensions. */
export class UnionNode extends Node {
  readonly kind = 'union'
  constructor(ctx: Context, inputDeps: readonly Node[]) {
    if (inputDeps.length === 0) throw invalidArgument('inputDeps', inputDeps, 'at least one input node')
    super(ctx, inputDeps)
  }
}
