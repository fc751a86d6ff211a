/**
 * Task descriptions: what the planner emits and a TaskRunner executes. A task's output is a DataSet
 * descriptor; inputs are the outputs of `inputIds`, in order.
 */
import type { DataSetSpec, GeneratedColumn } from './dataset.ts'
import type { PartitionInfo } from './partition-info.ts'
import type { UserFunction } from './nodes/node.ts'
import type { ArrowComputeFunction, ArrowStreamFunction, RowMode } from './nodes/arrow-nodes.ts'
import type { DataSinkType } from './nodes/data-sink-node.ts'
import type { PartitionFunction } from './nodes/partition-nodes.ts'
import type { ScriptFunction } from './nodes/script-node.ts'
import type { UserDefinedFunction } from './udf.ts'

export type ParquetCompression = 'zstd' | 'snappy' | 'uncompressed'

export type TaskOp =
  | { readonly type: 'source'; readonly dataset: DataSetSpec }
  | { readonly type: 'merge' }
  | { readonly type: 'split'; readonly index: number; readonly n: number }
  | { readonly type: 'evenly-producer'; readonly npartitions: number; readonly byRows: boolean; readonly randomShuffle: boolean }
  | {
    readonly type: 'hash-producer'; readonly npartitions: number; readonly hashColumns: readonly string[]
    readonly column: string; readonly shuffleOnly: boolean; readonly randomShuffle: boolean
    readonly dropPartitionColumn: boolean; readonly rowGroupSize?: number; readonly compression: ParquetCompression
    /** A range partition: `column` is the value ranged over; boundaries given or sampled. */
    readonly range?: { readonly splitPoints?: readonly (number | string)[]; readonly sampleRows: number }
  }
  | { readonly type: 'consumer'; readonly index: number }
  | { readonly type: 'repeat-producer'; readonly npartitions: number }
  | { readonly type: 'user-producer'; readonly npartitions: number; readonly fn: UserFunction<PartitionFunction> }
  | { readonly type: 'load-partitioned-producer'; readonly npartitions: number; readonly column: string; readonly hive: boolean }
  | {
    readonly type: 'sql'; readonly queries: readonly string[]; readonly materialize: boolean
    readonly rowGroupSize?: number; readonly compression: ParquetCompression; readonly compressionLevel?: number
    readonly udfs?: readonly UserDefinedFunction[]
  }
  | { readonly type: 'arrow-compute'; readonly fn: UserFunction<ArrowComputeFunction>; readonly schema?: Record<string, string> }
  | {
    readonly type: 'arrow-batch'; readonly fn: UserFunction<unknown>; readonly rowMode: RowMode
    readonly batchSize: number; readonly schema?: Record<string, string>
  }
  | { readonly type: 'arrow-stream'; readonly fn: UserFunction<ArrowStreamFunction>; readonly batchSize: number; readonly schema?: Record<string, string> }
  | { readonly type: 'projection'; readonly columns: readonly string[]; readonly generatedColumns: readonly GeneratedColumn[]; readonly unionByName?: boolean }
  | { readonly type: 'sink-stage'; readonly path: string; readonly sinkType: 'copy' | 'link_or_copy' }
  | { readonly type: 'sink'; readonly path: string; readonly sinkType: DataSinkType; readonly staged: boolean }
  | { readonly type: 'script'; readonly fn: UserFunction<ScriptFunction> }
  | { readonly type: 'root' }

export interface TaskSpec {
  readonly id: number
  /** `{TaskClass}-{id}`, smallpond's task key. */
  readonly key: string
  readonly taskClass: string
  readonly nodeId: number
  readonly partitionInfos: readonly PartitionInfo[]
  readonly inputIds: readonly number[]
  readonly op: TaskOp
  readonly outputName?: string
  readonly outputPath?: string
  readonly cpuLimit: number
  readonly memoryLimitBytes?: number
  /** Cheap metadata work that runs on the scheduler itself, not in a task actor. */
  readonly onScheduler: boolean
}

export function formatTaskId(id: number): string {
  return String(id).padStart(6, '0')
}

/** `{TaskClass}.{nodeId}` unless named: the output dir and file prefix of a task. */
export function taskOutputLabel(task: TaskSpec): string {
  return task.outputName ?? `${task.taskClass}.${String(task.nodeId).padStart(6, '0')}`
}
