import { Context, Node } from './node.ts'
import { GENERATED_COLUMNS, type GeneratedColumn } from '../dataset.ts'
import { invalidArgument } from '../../errors.ts'

/** Metadata only: sets the columns (SQL expressions allowed) and generated columns of the input datasets. */
export class ProjectionNode extends Node {
  readonly kind = 'projection'
  readonly columns: readonly string[]
  readonly generatedColumns: readonly GeneratedColumn[]
  readonly unionByName: boolean | undefined
  constructor(ctx: Context, inputDep: Node, columns: readonly string[] | null = null,
    generatedColumns: readonly GeneratedColumn[] = [], unionByName?: boolean) {
    super(ctx, [inputDep])
    for (const g of generatedColumns) {
      if (!GENERATED_COLUMNS.includes(g)) throw invalidArgument('generatedColumns', g, GENERATED_COLUMNS.join(' | '))
    }
    this.columns = columns ?? ['*']
    this.generatedColumns = generatedColumns
    this.unionByName = unionByName
  }
}
