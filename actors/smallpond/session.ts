/**
 * Session: the entry point of the DataFrame API. It owns the job directory, the planner, the
 * optimizer and the scheduler, so results are reused across DataFrames of one session.
 */
import { join } from 'node:path'
import type { Table } from 'apache-arrow'
import {
  ArrowTableDataSet, CsvDataSet, JsonDataSet, ParquetDataSet, type DataSetSpec, type ParquetOptions,
} from './logical/dataset.ts'
import { Context, isModuleRef, type Node } from './logical/nodes/node.ts'
import { DataSourceNode } from './logical/nodes/data-source-node.ts'
import { SqlEngineNode, type SqlEngineOptions } from './logical/nodes/sql-engine-node.ts'
import { RootNode } from './logical/nodes/root-node.ts'
import { Planner } from './logical/planner.ts'
import { Optimizer } from './logical/optimizer.ts'
import { LogicalPlan } from './logical/logical-plan.ts'
import type { TaskSpec } from './logical/task.ts'
import { TaskScheduler, taskMetricsCsv } from './execution/scheduler.ts'
import { mkdir, writeFile } from 'node:fs/promises'
import { InProcessTaskRunner, type TaskRunner } from './execution/runner.ts'
import { appendStatus, cleanupJob, createJobDirs, jobRootOf } from './execution/job-layout.ts'
import { JobProgress } from './execution/progress.ts'
import { TaskCheckpoints } from './execution/checkpoints.ts'
import { openDuckDb, type DuckDbSession } from './execution/duckdb.ts'
import { inferColumnTypes, rowsToArrow, type Row } from './execution/values.ts'
import { resolveConfig, type InitOptions, type ResolvedConfig } from './config.ts'
import { invalidArgument, smallpondError, SmallpondErrorCode } from './errors.ts'
import { DataFrame } from './dataframe.ts'
import { currentT3fsMounts, isT3fsUrl, resolveT3fsPath } from './t3fs-path.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import { systemClock, type Clock } from '../../runtime/clock.ts'
import { systemRandom, type Random } from '../../runtime/random.ts'
import type { ActorSystem } from '../../runtime/actor-system.ts'
import { NodeRuntime } from '../../runtime/node-runtime.ts'
import { Progress, type ProgressSink, type ProgressStream } from '../../runtime/progress/progress.ts'
import { ActorTaskRunner, type TaskPlacement } from './actors/actor-runner.ts'
import { smallpondScheduler } from './actors/scheduler-actor.ts'
import type { SchedulerMsg } from './actors/protocol.ts'

/** What a session needs from NodeRuntime: worker hosts for task actors, the main-thread system for the scheduler. */
export interface SmallpondRuntime extends TaskPlacement {
  readonly system: ActorSystem
}

/** A whole job may take long (the runtime caps an ask at 24 h); tasks have their own timeout in the runner. */
const RUN_TIMEOUT_MS = 86_400_000

export interface SessionDeps {
  /** Where tasks run; default in-process (ignored when `runtime` is given). */
  runner?: TaskRunner
  /**
   * Run on the actor runtime: a scheduler actor on the main-thread system and one task actor per
   * task attempt on the worker hosts. User functions must then be module references.
   */
  runtime?: SmallpondRuntime
  /**
   * Time of the in-process scheduler (task timings, speculative execution's timer) and the job's
   * start (default: the runtime's system clock, epoch milliseconds). The scheduler actor uses
   * its ctx.clock instead.
   */
  clock?: Clock
  /** Job id, job seed and injected faults (default: the runtime's system random). */
  random?: Random
  env?: Readonly<Record<string, string | undefined>>
  /** Where the job's progress goes when it is on (`progress: true` or T3FS_PROGRESS=1); default stderr. */
  progressStream?: ProgressStream
}

/** How a session runs its tasks: on an actor system (and a runtime it owns), with progress shown or not. */
export interface SessionExecution {
  readonly system?: ActorSystem
  readonly owned?: NodeRuntime
  readonly progress?: ProgressSink
}

/** `const sp = await smallpond.init({...})`. */
export async function init(options: InitOptions = {}, deps: SessionDeps = {}): Promise<Session> {
  const clock = deps.clock ?? systemClock
  const random = deps.random ?? systemRandom
  const env = deps.env ?? process.env
  const config = resolveConfig({ ...options, dataRoot: localDataRoot(options.dataRoot ?? env.SP_DATA_ROOT) }, env, clock.now(), random)
  const owned = !deps.runtime && config.executor === 'actors' ? await NodeRuntime.start({ hostsPerDomain: config.hostsPerDomain }) : undefined
  const runtime = deps.runtime ?? owned
  // T3FS_PROGRESS in `env` already decided config.progress; TERM (a dumb terminal gets plain lines) comes along.
  const progress = config.progress ? new Progress({ label: 'smallpond', clock, stream: deps.progressStream, env: { TERM: env.TERM } }) : undefined
  const session = runtime
    ? new Session(config, new ActorTaskRunner(runtime), clock, random, { system: runtime.system, owned, progress })
    : new Session(config, deps.runner ?? new InProcessTaskRunner(), clock, random, { progress })
  await session.ready()
  await createJobDirs(session.jobRoot)
  openSessions.add(session)
  if (openSessions.size === 1) process.once('beforeExit', shutdownOpenSessions)
  await appendStatus(session.jobRoot, 'running', clock.now())
  for (const w of config.warnings) process.emitWarning(w, { code: 'SMALLPOND_CONFIG' })
  return session
}

/** smallpond registers atexit(shutdown): a session the program forgot still records its status. */
const openSessions = new Set<Session>()

function shutdownOpenSessions(): void {
  // Exit-time best effort: a job dir removed meanwhile must not crash the exit.
  for (const s of openSessions) void s.shutdown().catch(() => undefined)
}

export class Session {
  readonly ctx = new Context()
  readonly jobRoot: string
  readonly planner: Planner
  scheduler!: TaskScheduler
  private readonly schedulerRef: ActorRef<SchedulerMsg> | undefined
  /** Every node created through this session, for graph(). */
  readonly nodes: Node[] = []
  private readonly optimizer: Optimizer
  private reader: DuckDbSession | undefined
  private failed = false
  private closed = false
  private readonly system: ActorSystem | undefined
  private readonly ownedRuntime: NodeRuntime | undefined

  constructor(readonly config: ResolvedConfig, readonly runner: TaskRunner, readonly clock: Clock, readonly random: Random,
    execution: SessionExecution = {}) {
    this.system = execution.system
    this.ownedRuntime = execution.owned
    this.jobRoot = jobRootOf(config.dataRoot, config.jobTimeMs, config.jobId)
    this.planner = new Planner({ maxProducers: Math.max(1, Math.min(config.numExecutors, 8)) })
    this.optimizer = new Optimizer((node) => this.isNodeComputed(node))
    const options = {
      runner,
      env: { jobId: config.jobId, jobRoot: this.jobRoot, jobSeed: config.randomSeed, threads: config.threadsPerTask, memoryLimitBytes: config.memoryPerTaskBytes },
      maxConcurrentTasks: config.numExecutors,
      maxFailCount: config.maxFailCount,
      faultInjectProb: config.faultInjectProb,
      speculativeExec: config.speculativeExec,
      speculativeMinMs: config.speculativeMinMs,
      maxRetryCount: config.maxRetryCount,
      checkpoints: config.checkpoints ? new TaskCheckpoints(this.jobRoot) : undefined,
      progress: execution.progress === undefined ? undefined : new JobProgress(execution.progress),
    }
    if (this.system) {
      this.schedulerRef = this.system.spawn(smallpondScheduler, { options, onReady: (s) => { this.scheduler = s } }, { name: `smallpond-scheduler-${config.jobId}` })
    } else {
      this.scheduler = new TaskScheduler({ ...options, random, clock })
    }
  }

  /** @internal resolves once the scheduler (actor) is up. */
  async ready(): Promise<void> {
    if (this.schedulerRef) await this.schedulerRef.ask({ type: 'stats' })
  }

  /** @internal wraps a node created for this session. */
  frame(node: Node, needRecompute = false): DataFrame {
    this.nodes.push(node)
    return new DataFrame(this, node, needRecompute)
  }

  /** @internal a `t3fs://` path as DuckDB opens it: under this machine's mount of that cluster. */
  localPath(path: string, field: string): string {
    return isT3fsUrl(path) ? resolveT3fsPath(path, currentT3fsMounts(), field) : path
  }

  private localPaths(paths: string | readonly string[]): string | readonly string[] {
    return typeof paths === 'string' ? this.localPath(paths, 'paths') : Array.isArray(paths) ? paths.map((p, i) => this.localPath(p, `paths[${i}]`)) : paths
  }

  readParquet(paths: string | readonly string[], options: ParquetOptions = {}): DataFrame {
    return this.frame(new DataSourceNode(this.ctx, new ParquetDataSet(this.localPaths(paths), options)))
  }

  /** CSV without a header; `schema` maps column names to DuckDB types, in column order. */
  readCsv(paths: string | readonly string[], schema: Record<string, string>, options: { delim?: string; header?: boolean } = {}): DataFrame {
    return this.frame(new DataSourceNode(this.ctx, new CsvDataSet(this.localPaths(paths), schema, { delim: unescapeDelim(options.delim ?? ','), header: options.header })))
  }

  readJson(paths: string | readonly string[], schema: Record<string, string>): DataFrame {
    return this.frame(new DataSourceNode(this.ctx, new JsonDataSet(this.localPaths(paths), schema)))
  }

  fromArrow(table: Table): DataFrame {
    if (!table || typeof (table as Table).schema !== 'object') throw invalidArgument('table', table, 'an apache-arrow Table')
    return this.frame(new DataSourceNode(this.ctx, new ArrowTableDataSet(table)))
  }

  /** Rows as plain objects; `schema` (DuckDB types) fixes columns whose values do not tell. */
  fromRecords(rows: readonly Row[], options: { schema?: Record<string, string> } = {}): DataFrame {
    if (!Array.isArray(rows)) throw invalidArgument('rows', rows, 'an array of plain objects')
    return this.fromArrow(rowsToArrow(rows, inferColumnTypes(rows, options.schema)))
  }

  /** A non-empty list: objects become rows; anything else a single column named `item`. */
  fromItems(items: readonly unknown[]): DataFrame {
    if (!Array.isArray(items) || items.length === 0) throw invalidArgument('items', items, 'a non-empty array')
    const first = items[0]
    if (typeof first === 'object' && first !== null && !(first instanceof Uint8Array)) return this.fromRecords(items as Row[])
    return this.fromRecords(items.map((item) => ({ item })))
  }

  /** Runs `query` once per partition; `{0}`, `{1}`, … are the inputs' partitions. */
  partialSql(query: string, ...inputs: DataFrame[]): DataFrame
  /** The last argument may carry SqlEngineNode options (materializeOutput, cpuLimit, …). */
  partialSql(query: string, ...args: [...DataFrame[], SqlEngineOptions]): DataFrame
  partialSql(query: string, ...args: (DataFrame | SqlEngineOptions)[]): DataFrame {
    const last = args[args.length - 1]
    const options = last !== undefined && !(last instanceof DataFrame) ? (args.pop() as SqlEngineOptions) : {}
    const inputs = args as DataFrame[]
    for (const df of inputs) if (!(df instanceof DataFrame) || df.session !== this) throw invalidArgument('inputs', df, 'DataFrames of this session')
    const node = new SqlEngineNode(this.ctx, inputs.map((d) => d.plan), query, options)
    return this.frame(node, inputs.some((d) => d.needRecompute))
  }

  /** Computes several DataFrames together (their tasks share one schedule). */
  async wait(...dfs: DataFrame[]): Promise<void> {
    if (dfs.length === 0) return
    const root = new RootNode(this.ctx, dfs.map((d) => d.plan))
    await this.computeNode(root, dfs.some((d) => d.needRecompute))
  }

  /** Every node created in this session, as an explain tree per final node. */
  graph(): string {
    const used = new Set(this.nodes.flatMap((n) => n.inputDeps.map((d) => d.id)))
    return this.nodes.filter((n) => !used.has(n.id)).map((n) => new LogicalPlan(this.ctx, n).explainStr()).join('\n')
  }

  /** @internal plans (with SQL fusion) and runs `node`; returns one dataset per output partition. */
  async computeNode(node: Node, recompute = false): Promise<DataSetSpec[]> {
    if (this.closed) throw smallpondError(SmallpondErrorCode.sessionClosed, 'smallpond: the session was shut down; accepted: calls before sp.shutdown()')
    const { tasks, targets } = this.planNode(node)
    // smallpond's recompute drops the completed tasks of the node itself (all of them: producers too).
    const nodeIds = new Set(targets.map((t) => t.nodeId))
    const forget = recompute ? tasks.filter((t) => nodeIds.has(t.nodeId)).map((t) => t.id) : []
    if (this.runner.shipsTasks) checkShippable(tasks)
    try {
      if (this.schedulerRef) {
        if (forget.length > 0) this.schedulerRef.tell({ type: 'forget', taskIds: forget })
        return await this.schedulerRef.ask({ type: 'run', tasks, targets }, { timeoutMs: RUN_TIMEOUT_MS })
      }
      this.scheduler.forget(forget)
      return await this.scheduler.run(tasks, targets)
    } catch (error) {
      this.failed = true
      throw error
    }
  }

  /** @internal */
  planNode(node: Node): { tasks: TaskSpec[]; targets: TaskSpec[] } {
    const optimized = this.optimizer.optimize(node)
    const targets = this.planner.plan(optimized)
    return { tasks: this.planner.closure(targets), targets }
  }

  /** @internal */
  isNodeComputed(node: Node): boolean {
    const cached = this.plannedTargets(node)
    return cached !== undefined && cached.every((t) => this.scheduler.results.has(t.id))
  }

  private plannedTargets(node: Node): TaskSpec[] | undefined {
    try {
      return [...this.planner.tasks.values()].some((t) => t.nodeId === node.id) ? this.planner.plan(node) : undefined
    } catch {
      return undefined
    }
  }

  /** @internal a DuckDB connection for reading results on this thread. */
  async readerConnection(): Promise<DuckDbSession> {
    this.reader ??= await openDuckDb({ threads: Math.min(2, this.config.threadsPerTask + 1), memoryLimitBytes: this.config.memoryPerTaskBytes })
    return this.reader
  }

  /** @internal releases the session without touching .STATUS (the Driver records its own). */
  async close(): Promise<void> {
    if (this.closed) return
    await this.releaseReader()
    await this.releaseExecution()
  }

  /** Idempotent: appends success/failure to log/.STATUS; on success removes queue/, temp/, staging/. */
  async shutdown(): Promise<void> {
    if (this.closed) return
    await this.releaseReader()
    await mkdir(join(this.jobRoot, 'log'), { recursive: true })
    await writeFile(join(this.jobRoot, 'log', 'task_metrics.csv'), taskMetricsCsv(this.scheduler.attempts))
    await appendStatus(this.jobRoot, this.failed ? 'failure' : 'success', this.clock.now())
    if (!this.failed) await cleanupJob(this.jobRoot, this.config.removeOutputRoot)
    await this.releaseExecution()
  }

  /** First step of close and shutdown: mark closed, leave the exit hook, close the reader. */
  private async releaseReader(): Promise<void> {
    this.closed = true
    openSessions.delete(this)
    if (openSessions.size === 0) process.off('beforeExit', shutdownOpenSessions)
    await this.reader?.close()
    this.reader = undefined
  }

  /** Last step of close and shutdown: the runner, the scheduler actor, an owned runtime. */
  private async releaseExecution(): Promise<void> {
    await this.runner.close?.()
    if (this.schedulerRef) this.system?.stop(this.schedulerRef)
    await this.ownedRuntime?.shutdown()
  }

  get outputRoot(): string {
    return join(this.jobRoot, 'output')
  }
}

/** A `t3fs://` data root becomes its path under the mount (t3fs-path.ts says why). */
function localDataRoot(dataRoot: string | undefined): string | undefined {
  return isT3fsUrl(dataRoot) ? resolveT3fsPath(dataRoot, currentT3fsMounts(), 'dataRoot (SP_DATA_ROOT)') : dataRoot
}

function unescapeDelim(delim: string): string {
  return delim === '\\t' ? '\t' : delim
}

function checkShippable(tasks: readonly TaskSpec[]): void {
  for (const t of tasks) {
    const op = t.op
    if (op.type === 'sql' && op.udfs?.some((u) => !isModuleRef(u.fn))) {
      throw smallpondError(SmallpondErrorCode.unshippableFunction,
        `smallpond: task ${t.key} (node ${t.nodeId}) has a UDF whose fn is a closure, which cannot be shipped to a worker host; ` +
        'accepted: fn as a module reference { module: import.meta.url, export: "myFunction" }', { task: t.key })
    }
    if ((op.type === 'arrow-batch' || op.type === 'arrow-compute' || op.type === 'arrow-stream' || op.type === 'user-producer' || op.type === 'script') && !isModuleRef(op.fn)) {
      throw smallpondError(SmallpondErrorCode.unshippableFunction,
        `smallpond: task ${t.key} (node ${t.nodeId}) has a closure, which cannot be shipped to a worker host; ` +
        'accepted: a module reference { module: import.meta.url, export: "myFunction" } naming an exported function',
        { task: t.key })
    }
  }
}
