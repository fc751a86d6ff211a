import { Context, Node } from './node.ts'

/** The virtual node that assembles several outputs of a plan. */
export class RootNode extends Node {
  readonly kind = 'root'
  constructor(ctx: Context, inputDeps: readonly Node[]) {
    super(ctx, inputDeps)
  }
}
