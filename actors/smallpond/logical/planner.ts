/**
 * Planner: logical nodes → a DAG of tasks. Pure and deterministic (no I/O); memoized per node so
 * a session can plan DataFrames incrementally and reuse results.
 */
import { join } from 'node:path'
import { invalidArgument, smallpondError, SmallpondErrorCode } from '../errors.ts'
import { splitIntoRows } from './dataset.ts'
import {
  TOPLEVEL_INFO, dimensionsOf, infosKey, restrictInfos, sortInfos, TOPLEVEL_DIMENSION, type PartitionInfo,
} from './partition-info.ts'
import type { Node } from './nodes/node.ts'
import { DataSourceNode, UserPartitionedDataSourceNode } from './nodes/data-source-node.ts'
import { SqlEngineNode } from './nodes/sql-engine-node.ts'
import { LimitNode } from './nodes/limit-node.ts'
import { ProjectionNode } from './nodes/projection-node.ts'
import { ConsolidateNode } from './nodes/consolidate-node.ts'
import { UnionNode } from './nodes/union-node.ts'
import { RootNode } from './nodes/root-node.ts'
import { DataSinkNode, type DataSinkType } from './nodes/data-sink-node.ts'
import {
  EvenlyDistributedPartitionNode, HashPartitionNode, RangePartitionNode, MAX_CARD_OF_PRODUCERS_X_CONSUMERS, PartitionNode,
  LoadPartitionedDataSetNode, RepeatPartitionNode, UserDefinedPartitionNode,
} from './nodes/partition-nodes.ts'
import { ArrowBatchNode, ArrowComputeNode, ArrowStreamNode } from './nodes/arrow-nodes.ts'
import { ScriptNode } from './nodes/script-node.ts'
import type { TaskOp, TaskSpec } from './task.ts'
import { LogicalPlan } from './logical-plan.ts'

export interface PlannerOptions {
  /** Upper bound of producer tasks per partition node (smallpond: 2 × executors × cpus / cpu_limit). */
  maxProducers?: number
}

const ON_SCHEDULER = new Set(['merge', 'split', 'evenly-producer', 'consumer', 'projection', 'root', 'repeat-producer'])

const TASK_CLASS: Record<TaskOp['type'], string> = {
  source: 'DataSourceTask', merge: 'MergeDataSetsTask', split: 'SplitDataSetTask',
  'evenly-producer': 'EvenlyDistributedPartitionProducerTask', 'hash-producer': 'HashPartitionDuckDbTask',
  consumer: 'PartitionConsumerTask', sql: 'SqlEngineTask', 'arrow-compute': 'ArrowComputeTask',
  'arrow-batch': 'ArrowBatchTask', 'arrow-stream': 'ArrowStreamTask', projection: 'ProjectionTask',
  'sink-stage': 'DataSinkTask', sink: 'DataSinkTask', root: 'RootTask',
  'repeat-producer': 'RepeatPartitionProducerTask', 'user-producer': 'UserDefinedPartitionProducerTask',
  'load-partitioned-producer': 'LoadPartitionedDataSetProducerTask', script: 'PythonScriptTask',
}

export function planError(message: string, details: Record<string, unknown> = {}): Error {
  return smallpondError(SmallpondErrorCode.plan, message, details)
}

export class Planner {
  readonly tasks = new Map<number, TaskSpec>()
  private readonly memo = new Map<number, TaskSpec[]>()
  private nextTaskId = 1
  private readonly maxProducers: number

  constructor(options: PlannerOptions = {}) {
    const p = options.maxProducers ?? 2
    if (!Number.isInteger(p) || p < 1 || p > 1000) throw invalidArgument('maxProducers', p, 'an integer in 1..1000')
    this.maxProducers = p
  }

  /** The output tasks of `node`, one per output partition, in partition order. */
  plan(node: Node): TaskSpec[] {
    const cached = this.memo.get(node.id)
    if (cached) return cached
    const tasks = this.visit(node)
    this.memo.set(node.id, tasks)
    return tasks
  }

  /** Every task reachable from `roots` (dependencies first). */
  closure(roots: readonly TaskSpec[]): TaskSpec[] {
    const seen = new Set<number>()
    const order: TaskSpec[] = []
    const stack: { task: TaskSpec; expanded: boolean }[] = roots.map((task) => ({ task, expanded: false })).reverse()
    while (stack.length > 0) {
      const top = stack.pop()!
      if (top.expanded) {
        order.push(top.task)
        continue
      }
      if (seen.has(top.task.id)) continue
      seen.add(top.task.id)
      stack.push({ task: top.task, expanded: true })
      for (const id of [...top.task.inputIds].reverse()) {
        if (!seen.has(id)) stack.push({ task: this.tasks.get(id)!, expanded: false })
      }
    }
    return order
  }

  private add(node: Node, op: TaskOp, inputIds: readonly number[], infos: readonly PartitionInfo[], named = true): TaskSpec {
    const id = this.nextTaskId++
    const taskClass = TASK_CLASS[op.type]
    const task: TaskSpec = {
      id, key: `${taskClass}-${id}`, taskClass, nodeId: node.id, op, inputIds,
      partitionInfos: sortInfos(infos),
      outputName: named ? node.outputName : undefined,
      outputPath: named ? node.outputPath : undefined,
      cpuLimit: node.cpuLimit, memoryLimitBytes: node.memoryLimitBytes,
      onScheduler: ON_SCHEDULER.has(op.type),
    }
    this.tasks.set(id, task)
    return task
  }

  private visit(node: Node): TaskSpec[] {
    if (node instanceof DataSourceNode) return [this.add(node, { type: 'source', dataset: node.dataset.spec }, [], [TOPLEVEL_INFO])]
    if (node instanceof UserPartitionedDataSourceNode) {
      const n = node.datasets.length
      return node.datasets.map((d, i) => this.add(node, { type: 'source', dataset: d.spec }, [],
        [TOPLEVEL_INFO, { index: i, npartitions: n, dimension: node.dimension }]))
    }
    if (node instanceof DataSinkNode) return this.visitSink(node)
    if (node instanceof RootNode) {
      const inputs = node.inputDeps.flatMap((d) => this.plan(d))
      return [this.add(node, { type: 'root' }, inputs.map((t) => t.id), [TOPLEVEL_INFO])]
    }
    if (node instanceof UnionNode) return this.visitUnion(node)
    if (node instanceof ConsolidateNode) return this.visitConsolidate(node)
    if (node instanceof PartitionNode) return node.nested ? this.visitNestedPartition(node) : this.visitPartition(node)
    if (node instanceof LimitNode) return this.visitLimit(node)
    if (node instanceof SqlEngineNode) {
      const o = node.options
      return this.visitCompute(node, {
        type: 'sql', queries: node.sqlQueries, materialize: o.materializeOutput ?? true,
        rowGroupSize: o.parquetRowGroupSize, compression: o.parquetCompression ?? 'zstd', compressionLevel: o.parquetCompressionLevel,
        udfs: o.udfs,
      })
    }
    if (node instanceof ArrowComputeNode) return this.visitCompute(node, { type: 'arrow-compute', fn: node.processFunc, schema: node.schema })
    if (node instanceof ArrowBatchNode) {
      return this.visitCompute(node, { type: 'arrow-batch', fn: node.processFunc, rowMode: node.rowMode, batchSize: node.batchSize, schema: node.schema })
    }
    if (node instanceof ArrowStreamNode) return this.visitCompute(node, { type: 'arrow-stream', fn: node.processFunc, batchSize: node.batchSize, schema: node.schema })
    if (node instanceof ScriptNode) return this.visitCompute(node, { type: 'script', fn: node.processFunc })
    if (node instanceof ProjectionNode) {
      return this.visitCompute(node, { type: 'projection', columns: node.columns, generatedColumns: node.generatedColumns, unionByName: node.unionByName })
    }
    throw planError(`planner: unsupported node type ${node.className}`, { node: node.className })
  }

  /**
   * smallpond's broadcast rule: the input with the most dimensions leads; each other input is matched
   * by the lead task's infos restricted to that input's dimensions (an input with only the top-level
   * dimension is broadcast to every partition).
   */
  private visitCompute(node: Node, op: TaskOp): TaskSpec[] {
    if (node.inputDeps.length === 0) return [this.add(node, op, [], [TOPLEVEL_INFO])]
    const groups = node.inputDeps.map((d) => this.plan(d))
    let main = 0
    groups.forEach((g, i) => {
      if (g[0].partitionInfos.length > groups[main][0].partitionInfos.length) main = i
    })
    const indexes = groups.map((g) => {
      const dims = dimensionsOf(g[0].partitionInfos)
      const byKey = new Map<string, TaskSpec>()
      for (const t of g) byKey.set(infosKey(restrictInfos(t.partitionInfos, dims)), t)
      return { dims, byKey }
    })
    return groups[main].map((lead) => {
      const inputIds = groups.map((g, i) => {
        if (i === main) return lead.id
        const key = infosKey(restrictInfos(lead.partitionInfos, indexes[i].dims))
        const match = indexes[i].byKey.get(key)
        if (!match) {
          throw planError(
            `${node.className}-${node.idString}: partition dimensions or npartitions of input ${i} ` +
            `[${describeInfos(g[0].partitionInfos)}] are not compatible with input ${main} [${describeInfos(lead.partitionInfos)}]; ` +
            'accepted: inputs partitioned on the same dimensions with the same npartitions, or unpartitioned inputs (broadcast)',
            { node: node.id, input: i },
          )
        }
        return match.id
      })
      return this.add(node, op, inputIds, lead.partitionInfos)
    })
  }

  private inputTasksSameDims(node: Node): TaskSpec[] {
    const tasks = node.inputDeps.flatMap((d) => this.plan(d))
    const dims = tasks.length > 0 ? dimensionsOf(tasks[0].partitionInfos).join(',') : ''
    for (const t of tasks) {
      if (dimensionsOf(t.partitionInfos).join(',') !== dims) {
        throw planError(`${node.className}-${node.idString}: inputs have different partition dimensions ` +
          `[${dims}] vs [${dimensionsOf(t.partitionInfos).join(',')}]; accepted: inputs with the same dimensions`)
      }
    }
    return tasks
  }

  private producerOp(node: PartitionNode): TaskOp {
    if (node instanceof EvenlyDistributedPartitionNode) {
      return { type: 'evenly-producer', npartitions: node.npartitions, byRows: node.partitionByRows, randomShuffle: node.randomShuffle }
    }
    if (node instanceof HashPartitionNode) {
      return {
        type: 'hash-producer', npartitions: node.npartitions, hashColumns: node.hashColumns, column: node.dataPartitionColumn,
        shuffleOnly: node.shuffleOnly, randomShuffle: node.randomShuffle, dropPartitionColumn: node.dropPartitionColumn,
        rowGroupSize: node.parquetRowGroupSize, compression: node.parquetCompression,
        ...(node instanceof RangePartitionNode ? { range: { splitPoints: node.splitPoints, sampleRows: node.sampleRows } } : {}),
      }
    }
    if (node instanceof RepeatPartitionNode) return { type: 'repeat-producer', npartitions: node.npartitions }
    if (node instanceof UserDefinedPartitionNode) return { type: 'user-producer', npartitions: node.npartitions, fn: node.partitionFunc }
    if (node instanceof LoadPartitionedDataSetNode) {
      return { type: 'load-partitioned-producer', npartitions: node.npartitions, column: node.dataPartitionColumn, hive: node.hivePartitioning }
    }
    throw planError(`planner: unsupported partition node ${node.className}`)
  }

  private visitPartition(node: PartitionNode): TaskSpec[] {
    const inputs = this.inputTasksSameDims(node)
    const n = node.npartitions
    const p = Math.max(1, Math.min(node.maxNumProducerTasks, Math.ceil(MAX_CARD_OF_PRODUCERS_X_CONSUMERS / n), this.maxProducers))
    let splits: TaskSpec[]
    if (inputs.length < p) {
      const merged = this.add(node, { type: 'merge' }, inputs.map((t) => t.id), [TOPLEVEL_INFO], false)
      splits = p === 1 ? [merged] : Array.from({ length: p }, (_, i) => this.add(node, { type: 'split', index: i, n: p }, [merged.id], [TOPLEVEL_INFO], false))
    } else {
      splits = splitIntoRows(inputs, p).map((group) => this.add(node, { type: 'merge' }, group.map((t) => t.id), [TOPLEVEL_INFO], false))
    }
    const producers = splits.map((s) => this.add(node, this.producerOp(node), [s.id], [TOPLEVEL_INFO], false))
    return Array.from({ length: n }, (_, i) => this.add(node, { type: 'consumer', index: i }, producers.map((t) => t.id),
      [TOPLEVEL_INFO, { index: i, npartitions: n, dimension: node.dimension }]))
  }

  private visitNestedPartition(node: PartitionNode): TaskSpec[] {
    const inputs = this.inputTasksSameDims(node)
    const n = node.npartitions
    if (inputs.some((t) => t.partitionInfos.some((p) => p.dimension === node.dimension))) {
      throw planError(`${node.className}-${node.idString}: nested dimension ${JSON.stringify(node.dimension)} already exists in the input; accepted: a new dimension name`)
    }
    if (inputs.length * n > MAX_CARD_OF_PRODUCERS_X_CONSUMERS) {
      throw planError(`${node.className}-${node.idString}: ${inputs.length} inputs × ${n} partitions exceeds ${MAX_CARD_OF_PRODUCERS_X_CONSUMERS}`)
    }
    const out: TaskSpec[] = []
    for (const input of inputs) {
      const producer = this.add(node, this.producerOp(node), [input.id], input.partitionInfos, false)
      for (let i = 0; i < n; i++) {
        out.push(this.add(node, { type: 'consumer', index: i }, [producer.id],
          [...input.partitionInfos, { index: i, npartitions: n, dimension: node.dimension }]))
      }
    }
    return out
  }

  private visitConsolidate(node: ConsolidateNode): TaskSpec[] {
    const inputs = this.plan(node.inputDeps[0])
    const keep = [...node.dimensions, TOPLEVEL_DIMENSION]
    const groups = new Map<string, { infos: PartitionInfo[]; ids: number[] }>()
    for (const t of inputs) {
      const infos = restrictInfos(t.partitionInfos, keep)
      const key = infosKey(infos)
      const g = groups.get(key) ?? { infos, ids: [] }
      g.ids.push(t.id)
      groups.set(key, g)
    }
    return [...groups.values()].map((g) => this.add(node, { type: 'merge' }, g.ids, g.infos))
  }

  private visitUnion(node: UnionNode): TaskSpec[] {
    return this.inputTasksSameDims(node)
  }

  private visitLimit(node: LimitNode): TaskSpec[] {
    const inputs = this.plan(node.inputDeps[0])
    const sql = (): TaskOp => ({ type: 'sql', queries: node.sqlQueries, materialize: true, compression: 'zstd' })
    const partial = inputs.map((t) => this.add(node, sql(), [t.id], t.partitionInfos, false))
    const merged = this.add(node, { type: 'merge' }, partial.map((t) => t.id), [TOPLEVEL_INFO], false)
    return [this.add(node, sql(), [merged.id], [TOPLEVEL_INFO])]
  }

  private visitSink(node: DataSinkNode): TaskSpec[] {
    const inputs = node.inputDeps.flatMap((d) => this.plan(d))
    if (node.type === 'copy' || node.type === 'link_or_copy') {
      const staged = inputs.map((t) => this.add(node, { type: 'sink-stage', path: node.path, sinkType: node.type as 'copy' | 'link_or_copy' }, [t.id], t.partitionInfos))
      return [this.add(node, { type: 'sink', path: node.path, sinkType: node.type, staged: true }, staged.map((t) => t.id), [TOPLEVEL_INFO])]
    }
    return [this.add(node, { type: 'sink', path: node.path, sinkType: node.type, staged: false }, inputs.map((t) => t.id), [TOPLEVEL_INFO])]
  }

  /**
   * The low-level path: every named node gets a sink under `{outputRoot}/{outputName}` and the root
   * a FinalResults sink; everything is wrapped in a RootNode.
   */
  createExecPlan(plan: LogicalPlan, outputRoot: string, options: { outputPath?: string; selfContained?: boolean } = {}): ExecutionPlan {
    const ctx = plan.ctx
    const sinkType: DataSinkType = options.outputPath ? 'copy' : 'manifest'
    const base = options.outputPath ?? outputRoot
    const named = new Map<string, Node[]>()
    for (const n of plan.nodes) if (n.outputName && !(n instanceof DataSinkNode)) named.set(n.outputName, [...(named.get(n.outputName) ?? []), n])
    const sinks: Node[] = [...named.entries()].map(([name, nodes]) => new DataSinkNode(ctx, nodes, join(base, name), { type: sinkType }))
    const finalType: DataSinkType = options.outputPath ? 'copy' : options.selfContained ? 'link' : 'manifest'
    const finalSink = new DataSinkNode(ctx, [plan.rootNode], join(base, 'FinalResults'), { type: finalType, isFinalNode: true })
    const root = new RootNode(ctx, [finalSink, ...sinks])
    const rootTask = this.plan(root)[0]
    return { tasks: this.closure([rootTask]), rootTask, finalSinkTask: this.plan(finalSink)[0], logicalPlan: plan,
      namedSinkTasks: new Map([...named.keys()].map((name, i) => [name, this.plan(sinks[i])[0]])) }
  }
}

export interface ExecutionPlan {
  readonly tasks: readonly TaskSpec[]
  readonly rootTask: TaskSpec
  readonly finalSinkTask: TaskSpec
  readonly namedSinkTasks: ReadonlyMap<string, TaskSpec>
  readonly logicalPlan: LogicalPlan
}

function describeInfos(infos: readonly PartitionInfo[]): string {
  return infos.filter((p) => p.dimension !== TOPLEVEL_DIMENSION).map((p) => `${p.dimension}/${p.npartitions}`).join(', ') || 'unpartitioned'
}
