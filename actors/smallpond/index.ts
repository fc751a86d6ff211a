/**
 * t3fs/smallpond: smallpond's DataFrame API and low-level API on DuckDB, with one scheduler.
 *
 *   import * as smallpond from 't3fs/smallpond'
 *   const sp = await smallpond.init({ dataRoot: '/tmp/sp' })
 *   const df = sp.readParquet('prices.parquet').repartition(3, { hashBy: 'ticker' })
 *   const out = sp.partialSql('select ticker, min(price), max(price) from {0} group by ticker', df)
 *   console.log(await out.takeAll())
 *   await sp.shutdown()
 */
export { init, Session, type SessionDeps, type SmallpondRuntime } from './session.ts'
export { DataFrame, type RepartitionOptions, type RowFunction, type BatchFunction } from './dataframe.ts'
export type { InitOptions } from './config.ts'
export { SmallpondErrorCode } from './errors.ts'
export {
  DataSet, ParquetDataSet, CsvDataSet, JsonDataSet, ArrowTableDataSet, SqlQueryDataSet, FileSet, PartitionedDataSet,
  splitIntoRows, splitIntoCols, getNthPartition, type DataSetSpec, type FileEntry,
} from './logical/dataset.ts'
export { Context, Node, type NodeOptions, type UserFunction, type ModuleFunctionRef } from './logical/nodes/node.ts'
export { DataSourceNode, UserPartitionedDataSourceNode } from './logical/nodes/data-source-node.ts'
export { SqlEngineNode, type SqlEngineOptions } from './logical/nodes/sql-engine-node.ts'
export { LimitNode } from './logical/nodes/limit-node.ts'
export { udf, UDF_TYPES, type UserDefinedFunction, type UdfType } from './logical/udf.ts'
export { ScriptNode, PythonScriptNode, type ScriptFunction } from './logical/nodes/script-node.ts'
export { ProjectionNode } from './logical/nodes/projection-node.ts'
export { ConsolidateNode } from './logical/nodes/consolidate-node.ts'
export { UnionNode } from './logical/nodes/union-node.ts'
export { RootNode } from './logical/nodes/root-node.ts'
export { DataSinkNode, type DataSinkType } from './logical/nodes/data-sink-node.ts'
export {
  PartitionNode, EvenlyDistributedPartitionNode, HashPartitionNode, ShuffleNode, DataSetPartitionNode,
  RepeatPartitionNode, UserDefinedPartitionNode, LoadPartitionedDataSetNode, type PartitionFunction,
  RangePartitionNode, type RangePartitionOptions, type SplitPoint,
} from './logical/nodes/partition-nodes.ts'
export {
  ArrowComputeNode, ArrowBatchNode, ArrowStreamNode, type TaskRuntimeContext, type ArrowComputeFunction,
  type ArrowStreamFunction,
} from './logical/nodes/arrow-nodes.ts'
export { LogicalPlan } from './logical/logical-plan.ts'
export { Planner, type ExecutionPlan } from './logical/planner.ts'
export type { TaskSpec, TaskOp } from './logical/task.ts'
export { type PartitionInfo, DATA_PARTITION_COLUMN } from './logical/partition-info.ts'
export { InProcessTaskRunner, type TaskRunner, type TaskRunRequest } from './execution/runner.ts'
export { Driver, DRIVER_OPTIONS, type DriverArgs, type ExecutionResult } from './driver.ts'
export { smallpondTask, TASK_ACTOR_MODULE } from './actors/task-actor.ts'
export { smallpondScheduler } from './actors/scheduler-actor.ts'
export { ActorTaskRunner, type TaskPlacement } from './actors/actor-runner.ts'
export type { TaskActorMsg, SchedulerMsg } from './actors/protocol.ts'
