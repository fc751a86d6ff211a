/**
 * Arrow nodes: user code over apache-arrow Tables, per partition. Functions are closures (run in the
 * task's thread) or module references `{ module, export }` (can ship to any worker host).
 */
import type { Table } from 'apache-arrow'
import { Context, Node, checkUserFunction, type NodeOptions, type UserFunction } from './node.ts'
import { invalidArgument } from '../../errors.ts'
import type { PartitionInfo } from '../partition-info.ts'

export const DEFAULT_BATCH_SIZE = 122_880

/** What a user function sees about the task it runs in. */
export interface TaskRuntimeContext {
  readonly taskId: number
  readonly partitionInfos: readonly PartitionInfo[]
  /** A uint32 seed derived from the job seed and the task id. */
  readonly randomSeed: number
  readonly tempDir: string
}

export type ArrowComputeFunction = (ctx: TaskRuntimeContext, inputs: Table[]) => Table | null | Promise<Table | null>
export type ArrowBatchFunction = ArrowComputeFunction
export type ArrowStreamFunction = (ctx: TaskRuntimeContext, inputs: AsyncIterable<Table>[]) => AsyncIterable<Table>

/** Row-level modes used by DataFrame map/flatMap/filter over an ArrowBatchNode. */
export type RowMode = 'batch' | 'map' | 'flatMap' | 'filter'

export interface ArrowNodeOptions extends NodeOptions {
  streamingBatchSize?: number
  /** Output column types (DuckDB type names) when values do not allow inference. */
  schema?: Record<string, string>
}

function checkBatchSize(size: number | undefined): number {
  const s = size ?? DEFAULT_BATCH_SIZE
  if (!Number.isInteger(s) || s < 1 || s > 1 << 26) throw invalidArgument('batchSize', s, 'an integer in 1..67108864')
  return s
}

export class ArrowComputeNode extends Node {
  readonly kind: string = 'arrow-compute'
  readonly processFunc: UserFunction<ArrowComputeFunction>
  readonly schema: Record<string, string> | undefined
  constructor(ctx: Context, inputDeps: readonly Node[], processFunc: UserFunction<ArrowComputeFunction>, options: ArrowNodeOptions = {}) {
    super(ctx, inputDeps, options)
    checkUserFunction('processFunc', processFunc)
    this.processFunc = processFunc
    this.schema = options.schema
  }
}

export class ArrowBatchNode extends Node {
  readonly kind = 'arrow-batch'
  readonly processFunc: UserFunction<ArrowBatchFunction> | UserFunction<(row: Record<string, unknown>) => unknown>
  readonly batchSize: number
  readonly rowMode: RowMode
  readonly schema: Record<string, string> | undefined
  constructor(ctx: Context, inputDeps: readonly Node[],
    processFunc: UserFunction<ArrowBatchFunction> | UserFunction<(row: Record<string, unknown>) => unknown>,
    options: ArrowNodeOptions & { rowMode?: RowMode } = {}) {
    super(ctx, inputDeps, options)
    checkUserFunction('processFunc', processFunc)
    this.processFunc = processFunc
    this.batchSize = checkBatchSize(options.streamingBatchSize)
    this.rowMode = options.rowMode ?? 'batch'
    this.schema = options.schema
  }
}

export class ArrowStreamNode extends Node {
  readonly kind = 'arrow-stream'
  readonly processFunc: UserFunction<ArrowStreamFunction>
  readonly batchSize: number
  readonly schema: Record<string, string> | undefined
  constructor(ctx: Context, inputDeps: readonly Node[], processFunc: UserFunction<ArrowStreamFunction>, options: ArrowNodeOptions = {}) {
    super(ctx, inputDeps, options)
    checkUserFunction('processFunc', processFunc)
    this.processFunc = processFunc
    this.batchSize = checkBatchSize(options.streamingBatchSize)
    this.schema = options.schema
  }
}
