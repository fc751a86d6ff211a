/**
 * Driver: runs a low-level LogicalPlan from the command line. One back-end only: the plan goes
 * through the same planner and scheduler as the DataFrame API. `mode` is optional (default
 * `scheduler`; `ray` is accepted as an alias); executors are task actors, never started by hand.
 */
import { isAbsolute } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { DataSetSpec } from './logical/dataset.ts'
import type { LogicalPlan } from './logical/logical-plan.ts'
import type { ExecutionPlan } from './logical/planner.ts'
import { invalidArgument } from './errors.ts'
import { init, type Session, type SessionDeps } from './session.ts'
import type { InitOptions } from './config.ts'
import { appendStatus, cleanupJob } from './execution/job-layout.ts'
import { taskMetricsCsv } from './execution/scheduler.ts'
import type { TaskSpec } from './logical/task.ts'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/** A task as JSON for config/exec_plan.json (functions and inline data left out). */
function describeTask(t: TaskSpec): Record<string, unknown> {
  const { op } = t
  const opText = op.type === 'sql' ? { type: op.type, queries: op.queries } : op.type === 'sink' || op.type === 'sink-stage' ? { type: op.type, path: op.path } : { type: op.type }
  return { id: t.id, key: t.key, node: t.nodeId, inputs: t.inputIds, partitions: t.partitionInfos, op: opText }
}

type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; help: string }

/** smallpond's driver options that t3fs implements (snake_case as in smallpond; kebab-case also accepted). */
export const DRIVER_OPTIONS: Record<string, OptionSpec> = {
  job_id: { type: 'string', help: 'job UUID' },
  job_time: { type: 'string', help: 'job creation time, epoch seconds' },
  job_name: { type: 'string', help: 'display name' },
  data_root: { type: 'string', help: 'root for runtime files' },
  num_executors: { type: 'string', help: 'task slots running at once (0 = CPUs)' },
  random_seed: { type: 'string', help: 'job random seed (uint32)' },
  max_fail_count: { type: 'string', help: 'failures allowed per task before the job fails (default 3)' },
  fail_fast: { type: 'boolean', help: 'max_fail_count = 0' },
  fault_inject_prob: { type: 'string', help: 'probability of an injected fault per attempt (testing)' },
  output_path: { type: 'string', help: 'copy final and named outputs here' },
  self_contained_final_results: { type: 'boolean', help: 'final results are links instead of a manifest' },
  remove_output_root: { type: 'boolean', help: 'delete output/ and staging/ after the job' },
  memory_limit: { type: 'string', help: 'DuckDB memory per task, bytes' },
  threads_per_task: { type: 'string', help: 'DuckDB threads per task' },
  console_log_level: { type: 'string', help: 'accepted for compatibility' },
  env_variables: { type: 'string', multiple: true, help: 'K=V set in the process environment' },
  speculative_exec: { type: 'string', help: 'disable | enable | aggressive (default enable)' },
  enable_speculative_exec: { type: 'boolean', help: 'speculative_exec = enable' },
  disable_speculative_exec: { type: 'boolean', help: 'speculative_exec = disable' },
  max_retry_count: { type: 'string', help: 'speculative copies per task (default 5)' },
  no_progress: { type: 'boolean', help: 'no progress line on stderr (shown by default, as a command line tool; T3FS_PROGRESS=0 also hides it)' },
}
const ALIASES: Record<string, string> = { max_retry: 'max_retry_count', max_fail: 'max_fail_count', fault_inject: 'fault_inject_prob', fail_fast_on_failure: 'fail_fast' }
export const DRIVER_MODES = ['scheduler', 'ray'] as const

export interface DriverArgs {
  mode: 'scheduler' | 'ray'
  init: InitOptions
  outputPath?: string
  selfContainedFinalResults: boolean
  removeOutputRoot: boolean
}

export interface ExecutionResult {
  readonly plan: ExecutionPlan
  readonly jobRoot: string
  /** The final sink's output dataset and its directory. */
  readonly finalOutput: DataSetSpec
  readonly finalOutputPath: string
  getOutput(name: string): DataSetSpec | undefined
}

export class Driver {
  private readonly userOptions: NonNullable<ParseArgsConfig['options']> = {}
  private parsed: { user: Record<string, unknown>; driver: DriverArgs } | undefined

  constructor(private readonly deps: SessionDeps = {}) {}

  addArgument(name: string, options: { type?: 'string' | 'boolean'; default?: string | boolean; multiple?: boolean } = {}): this {
    const key = name.replace(/^--/, '').replace(/-/g, '_')
    if (key in DRIVER_OPTIONS) throw invalidArgument('argument', name, 'a name not used by the driver')
    this.userOptions[key] = { type: options.type ?? 'string', multiple: options.multiple ?? false, ...(options.default === undefined ? {} : { default: options.default }) } as never
    return this
  }

  parseArguments(argv: readonly string[] = process.argv.slice(2)): { user: Record<string, unknown>; driver: DriverArgs } {
    const normalized = argv.map((a) => {
      if (!a.startsWith('--')) return a
      const [flag, ...rest] = a.slice(2).split('=')
      const key = flag.replace(/-/g, '_')
      return `--${ALIASES[key] ?? key}${rest.length ? `=${rest.join('=')}` : ''}`
    })
    const options = { ...this.userOptions } as NonNullable<ParseArgsConfig['options']>
    for (const [k, v] of Object.entries(DRIVER_OPTIONS)) options[k] = { type: v.type, multiple: v.multiple ?? false } as never
    let values: Record<string, unknown>
    let positionals: string[]
    try {
      ({ values, positionals } = parseArgs({ args: normalized, options, allowPositionals: true, strict: true }))
    } catch (error) {
      throw invalidArgument('command line', argv.join(' '), `[scheduler|ray] ${Object.keys(DRIVER_OPTIONS).map((k) => `--${k}`).join(' ')} (${(error as Error).message})`)
    }
    const mode = positionals[0] ?? 'scheduler'
    if (mode === 'executor') throw invalidArgument('mode', mode, 'scheduler | ray (executors are task actors started by the scheduler)')
    if (!(DRIVER_MODES as readonly string[]).includes(mode)) throw invalidArgument('mode', mode, DRIVER_MODES.join(' | '))
    const num = (k: string): number | undefined => (values[k] === undefined ? undefined : Number(values[k]))
    for (const kv of (values.env_variables as string[] | undefined) ?? []) {
      const i = kv.indexOf('=')
      if (i <= 0) throw invalidArgument('--env_variables', kv, 'K=V pairs')
      process.env[kv.slice(0, i)] = kv.slice(i + 1)
    }
    const outputPath = values.output_path as string | undefined
    if (outputPath !== undefined && !isAbsolute(outputPath)) throw invalidArgument('--output_path', outputPath, 'an absolute path')
    const driver: DriverArgs = {
      mode: mode as DriverArgs['mode'],
      init: {
        jobId: values.job_id as string | undefined,
        jobTime: values.job_time === undefined ? undefined : Number(values.job_time) * 1000,
        jobName: values.job_name as string | undefined,
        dataRoot: values.data_root as string | undefined,
        numExecutors: num('num_executors'),
        randomSeed: num('random_seed'),
        maxFailCount: values.fail_fast ? 0 : num('max_fail_count'),
        faultInjectProb: num('fault_inject_prob'),
        memoryPerTaskBytes: num('memory_limit'),
        threadsPerTask: num('threads_per_task'),
        removeOutputRoot: false,
        speculativeExec: values.disable_speculative_exec ? 'disable' : values.enable_speculative_exec ? 'enable'
          : values.speculative_exec as InitOptions['speculativeExec'],
        maxRetryCount: num('max_retry_count'),
        progress: values.no_progress !== true,
      },
      outputPath,
      selfContainedFinalResults: Boolean(values.self_contained_final_results),
      removeOutputRoot: Boolean(values.remove_output_root),
    }
    const user = Object.fromEntries(Object.keys(this.userOptions).map((k) => [k, values[k]]))
    this.parsed = { user, driver }
    return this.parsed
  }

  getUserArguments(): Record<string, unknown> {
    return (this.parsed ?? this.parseArguments()).user
  }

  getDriverArguments(): DriverArgs {
    return (this.parsed ?? this.parseArguments()).driver
  }

  /**
   * Plans (adding sinks for named nodes and FinalResults) and runs `plan`. Returns the result, or
   * exits the process with 0 / 70 (EX_SOFTWARE) when `stopProcessOnDone` is true.
   */
  async run(plan: LogicalPlan, options: { stopProcessOnDone?: boolean } = {}): Promise<ExecutionResult | null> {
    const args = this.getDriverArguments()
    const sp: Session = await init(args.init, this.deps)
    let result: ExecutionResult | null = null
    try {
      const exec = sp.planner.createExecPlan(plan, sp.outputRoot, { outputPath: args.outputPath, selfContained: args.selfContainedFinalResults })
      await writeFile(join(sp.jobRoot, 'config', 'logical_plan.txt'), `${plan.explainStr()}\n`)
      await writeFile(join(sp.jobRoot, 'config', 'exec_plan.json'), `${JSON.stringify(exec.tasks.map(describeTask), null, 1)}\n`)
      try {
        await sp.scheduler.run(exec.tasks, [exec.rootTask])
      } finally {
        await writeFile(join(sp.jobRoot, 'log', 'task_metrics.csv'), taskMetricsCsv(sp.scheduler.attempts))
      }
      const results = sp.scheduler.results
      const finalOp = exec.finalSinkTask.op
      result = {
        plan: exec, jobRoot: sp.jobRoot,
        finalOutput: results.get(exec.finalSinkTask.id)!,
        finalOutputPath: finalOp.type === 'sink' ? finalOp.path : sp.outputRoot,
        getOutput: (name) => {
          const task = exec.namedSinkTasks.get(name)
          return task ? results.get(task.id) : undefined
        },
      }
      await appendStatus(sp.jobRoot, 'success', sp.clock.now())
      if (args.removeOutputRoot) await cleanupJob(sp.jobRoot, true)
    } catch (error) {
      await appendStatus(sp.jobRoot, 'failure', sp.clock.now())
      if (!options.stopProcessOnDone) throw error
      process.stderr.write(`${(error as Error).message}\n`)
    }
    await sp.close()
    if (options.stopProcessOnDone) process.exit(result ? 0 : 70)
    return result
  }
}
