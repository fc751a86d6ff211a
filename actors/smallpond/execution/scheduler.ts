/**
 * Dependency-driven task scheduling with a fail budget. A task becomes runnable when all its inputs
 * succeeded; up to `maxConcurrentTasks` run at once (metadata tasks do not count); a failed attempt
 * is retried with attempt+1 (a fresh output dir) while its fail count stays within `maxFailCount`.
 * Deterministic errors (bad SQL, bad keys, user-function exceptions, missing files) fail at once.
 * Results are kept, so later computations reuse finished tasks.
 */
import { stat } from 'node:fs/promises'
import type { DataSetSpec } from '../logical/dataset.ts'
import { isFileSpec } from '../logical/dataset.ts'
import type { TaskSpec } from '../logical/task.ts'
import { TOPLEVEL_DIMENSION } from '../logical/partition-info.ts'
import { invalidArgument, smallpondError, SmallpondErrorCode } from '../errors.ts'
import { T3fsError, toT3fsError } from '../../../runtime/errors.ts'
import type { TaskOutcome, TaskRunner } from './runner.ts'
import type { TaskEnv } from './task-env.ts'
import type { Clock, TimerHandle } from '../../../runtime/clock.ts'
import type { Random } from '../../../runtime/random.ts'
import type { ProgressReporter, ProgressSnapshot, StageProgress } from './progress.ts'
import type { TaskCheckpoints } from './checkpoints.ts'

export const DEFAULT_MAX_FAIL_COUNT = 3
/** An out-of-memory task's limit doubles per failure, up to this factor. */
export const MAX_MEMORY_BOOST = 1024

const NOT_RETRYABLE = new Set<string>([
  SmallpondErrorCode.sql, SmallpondErrorCode.invalidArgument, SmallpondErrorCode.partitionKeyOutOfRange,
  SmallpondErrorCode.fileNotFound, SmallpondErrorCode.userFunction, SmallpondErrorCode.unsupportedType,
  SmallpondErrorCode.unshippableFunction,
])

export interface SchedulerOptions {
  readonly runner: TaskRunner
  readonly env: Omit<TaskEnv, 'attempt'>
  readonly maxConcurrentTasks: number
  /** Failures allowed per task before the job is aborted (smallpond's --max_fail, default 3). */
  readonly maxFailCount?: number
  /** Probability of an injected fault per attempt while the task has failed at most once. */
  readonly faultInjectProb?: number
  /** Decides injected faults (ctx.random in the scheduler actor). */
  readonly random: Random
  /** Task timings, and the timer of speculative execution (ctx.clock in the scheduler actor). */
  readonly clock: Clock
  readonly progress?: ProgressReporter
  /** smallpond's --speculative_exec (default enable, which with the 180 s minimum rarely fires). */
  readonly speculativeExec?: 'disable' | 'enable' | 'aggressive'
  /** The least time beyond the node's p50 before a task gets a copy (smallpond: the probe timeout, 180 s). */
  readonly speculativeMinMs?: number
  /** Copies speculative execution may start per task (smallpond's --max_retry, default 5). */
  readonly maxRetryCount?: number
  /**
   * Task-level resume: a task that runs in a slot saves its output here on success, and a task
   * whose checkpoint holds (same job dir, same task) is loaded instead of run.
   */
  readonly checkpoints?: TaskCheckpoints
}

export const DEFAULT_SPECULATIVE_MIN_MS = 180_000
export const DEFAULT_MAX_RETRY_COUNT = 5
const SPECULATION_MIN_SAMPLES = 20

export interface TaskAttemptRecord {
  readonly taskId: number
  readonly key: string
  readonly nodeId: number
  readonly attempt: number
  readonly ok: boolean
  readonly elapsedMs: number
  readonly rows: number
  readonly error?: string
}

export class TaskScheduler {
  readonly results = new Map<number, DataSetSpec>()
  readonly attempts: TaskAttemptRecord[] = []
  private readonly failCounts = new Map<number, number>()
  private readonly attemptSeq = new Map<number, number>()
  private readonly samples = new Map<number, number[]>()
  private readonly speculative: 'disable' | 'enable' | 'aggressive'
  private readonly speculativeMinMs: number
  private readonly speculativeCheckMs: number
  private readonly maxRetryCount: number
  /** Copies started by speculative execution, and attempts whose result lost the race. */
  speculativeAttempts = 0
  abandonedAttempts = 0
  /** Memory multipliers of tasks that ran out of memory (smallpond's OOM relaxation). */
  private readonly memoryBoosts = new Map<number, number>()
  private readonly maxFailCount: number

  constructor(private readonly options: SchedulerOptions) {
    const c = options.maxConcurrentTasks
    if (!Number.isInteger(c) || c < 1 || c > 1024) throw invalidArgument('maxConcurrentTasks', c, 'an integer in 1..1024')
    const f = options.maxFailCount ?? DEFAULT_MAX_FAIL_COUNT
    if (!Number.isInteger(f) || f < 0 || f > 100) throw invalidArgument('maxFailCount', f, 'an integer in 0..100')
    const p = options.faultInjectProb ?? 0
    if (!(p >= 0 && p < 1)) throw invalidArgument('faultInjectProb', p, 'a number in [0, 1)')
    this.maxFailCount = f
    const spec = options.speculativeExec ?? 'enable'
    if (!['disable', 'enable', 'aggressive'].includes(spec)) throw invalidArgument('speculativeExec', spec, 'disable | enable | aggressive')
    this.speculative = spec
    const min = options.speculativeMinMs ?? DEFAULT_SPECULATIVE_MIN_MS
    if (!Number.isInteger(min) || min < 1 || min > 86_400_000) throw invalidArgument('speculativeMinMs', min, 'an integer in 1..86400000')
    this.speculativeMinMs = min
    this.speculativeCheckMs = Math.max(10, Math.min(30_000, Math.floor(min / 4)))
    const r = options.maxRetryCount ?? DEFAULT_MAX_RETRY_COUNT
    if (!Number.isInteger(r) || r < 0 || r > 100) throw invalidArgument('maxRetryCount', r, 'an integer in 0..100')
    this.maxRetryCount = r
  }

  /** The job's task checkpoints, when on (`resumed` says which tasks were loaded from them). */
  get checkpoints(): TaskCheckpoints | undefined {
    return this.options.checkpoints
  }

  /** Tasks whose checkpoints must not be loaded (recomputed); cleared once saved again. */
  private readonly forgotten = new Set<number>()

  /** Forgets results so the tasks run again (DataFrame.recompute), checkpoints included. */
  forget(taskIds: Iterable<number>): void {
    for (const id of taskIds) {
      this.results.delete(id)
      this.forgotten.add(id)
    }
  }

  /**
   * Runs `tasks` (a dependency-closed set, dependencies first) and returns the outputs of `targets`.
   * Runs are serialized, so two computations sharing tasks never run a task twice.
   */
  run(tasks: readonly TaskSpec[], targets: readonly TaskSpec[]): Promise<DataSetSpec[]> {
    const result = this.queue.then(async () => {
      const pending = tasks.filter((t) => !this.results.has(t.id))
      if (pending.length > 0) await this.runPending(pending)
      return targets.map((t) => this.results.get(t.id)!)
    })
    this.queue = result.then(() => undefined, () => undefined)
    return result
  }

  private queue: Promise<void> = Promise.resolve()

  private async runPending(pending: readonly TaskSpec[]): Promise<void> {
    const { clock, progress } = this.options
    const startMs = clock.now()
    const waitingOn = new Map<number, number>()
    const dependents = new Map<number, TaskSpec[]>()
    const ready: TaskSpec[] = []
    for (const t of pending) {
      const missing = t.inputIds.filter((id) => !this.results.has(id))
      waitingOn.set(t.id, missing.length)
      for (const id of missing) dependents.set(id, [...(dependents.get(id) ?? []), t])
      if (missing.length === 0) ready.push(t)
    }
    const finished = new Set<number>()
    /** Attempts in flight per task (more than one while a speculative copy runs). */
    const inFlight = new Map<number, { copies: number; startMs: number; speculated: number }>()
    let running = 0
    let slotsUsed = 0
    let lastNodeId = -1
    let failed = 0
    let outputBytes = 0
    let rows = 0
    let abort: Error | undefined
    let timer: TimerHandle | undefined
    const stages = stagesOf(pending)
    const snapshot = (): ProgressSnapshot => ({
      done: finished.size, total: pending.length, running, failed, rows, outputBytes, elapsedMs: clock.now() - startMs, stages: stagesUnderWay(stages),
    })
    progress?.start(snapshot())

    await new Promise<void>((resolve) => {
      const finish = (): void => {
        timer?.cancel()
        resolve()
      }
      const launch = (task: TaskSpec): void => {
        const slot = !task.onScheduler
        if (slot) {
          slotsUsed++
          lastNodeId = task.nodeId
        }
        running++
        const flight = inFlight.get(task.id) ?? { copies: 0, startMs: clock.now(), speculated: 0 }
        flight.copies++
        inFlight.set(task.id, flight)
        const stage = stages.get(task.nodeId)
        if (stage !== undefined) stage.launched++
        progress?.update(snapshot())
        void this.attempt(task).then((output) => {
          running--
          if (slot) slotsUsed--
          flight.copies--
          if (flight.copies === 0) inFlight.delete(task.id)
          if (finished.has(task.id)) {
            // The losing copy of a speculated task: its output dir is left to job cleanup.
            this.abandonedAttempts++
          } else if (output instanceof Error) {
            failed++
            if (flight.copies > 0) {
              // Another copy is still running; it decides the task.
            } else if (!abort && output instanceof T3fsError && output.details.retry === true) ready.push(task)
            else abort ??= output
          } else {
            finished.add(task.id)
            const stage = stages.get(task.nodeId)
            if (stage !== undefined) stage.done++
            rows += output.rowsWritten
            this.results.set(task.id, output.output)
            this.recordSample(task, clock.now() - flight.startMs)
            if (!task.onScheduler) void sizeOf(output.output).then((b) => { outputBytes += b })
            for (const d of dependents.get(task.id) ?? []) {
              const left = waitingOn.get(d.id)! - 1
              waitingOn.set(d.id, left)
              if (left === 0) ready.push(d)
            }
          }
          progress?.update(snapshot())
          pump()
        })
      }
      const speculate = (): void => {
        timer = undefined
        if (abort || finished.size === pending.length) return
        for (const [taskId, flight] of inFlight) {
          if (slotsUsed >= this.options.maxConcurrentTasks) break
          const task = pending.find((t) => t.id === taskId)
          if (!task || flight.copies !== 1 || !this.shouldSpeculate(task, flight, clock.now(), ready.length)) continue
          flight.speculated++
          this.speculativeAttempts++
          launch(task)
        }
        armTimer()
      }
      const armTimer = (): void => {
        if (this.speculative === 'disable' || timer) return
        timer = clock.setTimer(this.speculativeCheckMs, speculate)
      }
      const pump = (): void => {
        if (abort && running === 0) return finish()
        if (!abort && finished.size === pending.length) return finish()
        while (!abort && ready.length > 0) {
          // Metadata tasks run at once; the others take a slot, round-robin across nodes.
          const metadata = ready.findIndex((t) => t.onScheduler)
          const index = metadata >= 0 ? metadata : slotsUsed < this.options.maxConcurrentTasks ? pickFair(ready, lastNodeId, this.failCounts) : -1
          if (index < 0) break
          launch(ready.splice(index, 1)[0])
        }
        if (!abort && running === 0 && ready.length === 0 && finished.size < pending.length) {
          abort = smallpondError(SmallpondErrorCode.plan, 'scheduler: tasks wait on inputs that are not part of the plan')
          return finish()
        }
        armTimer()
      }
      pump()
    })
    progress?.finish(snapshot(), abort !== undefined)
    if (abort) throw abort
  }

  private recordSample(task: TaskSpec, elapsedMs: number): void {
    if (task.onScheduler) return
    const samples = this.samples.get(task.nodeId) ?? []
    samples.push(elapsedMs)
    this.samples.set(task.nodeId, samples)
  }

  /**
   * smallpond's rule: with at least 20 finished samples of the node, a running task gets a copy when
   * `elapsed - p50 >= threshold`; the threshold is max(min, p95 - p50) while slots are free, else
   * max(min, p99 - p50), times (2 + copies so far) unless aggressive. Sinks are never speculated.
   */
  private shouldSpeculate(task: TaskSpec, flight: { startMs: number; speculated: number }, nowMs: number, queued: number): boolean {
    if (task.onScheduler || task.op.type === 'sink' || task.op.type === 'sink-stage') return false
    if (flight.speculated >= this.maxRetryCount) return false
    const samples = this.samples.get(task.nodeId)
    if (!samples || samples.length < SPECULATION_MIN_SAMPLES) return false
    const sorted = [...samples].sort((a, b) => a - b)
    const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
    const p50 = pct(0.5)
    const min = this.speculativeMinMs
    const threshold = queued < this.options.maxConcurrentTasks
      ? Math.max(min, pct(0.95) - p50)
      : this.speculative === 'aggressive' ? Math.max(min, pct(0.99) - p50) : Math.max(min, pct(0.99) - p50) * (2 + flight.speculated)
    return nowMs - flight.startMs - p50 >= threshold
  }

  /** One attempt; resolves to the output, or to an Error marked `retry` when the budget allows. */
  private async attempt(task: TaskSpec): Promise<TaskOutcome | Error> {
    const checkpoints = task.onScheduler ? undefined : this.options.checkpoints
    if (checkpoints && !this.forgotten.has(task.id)) {
      const saved = await checkpoints.load(task)
      if (saved) return saved
    }
    const outcome = await this.runAttempt(task)
    if (checkpoints && !(outcome instanceof Error)) {
      // Saved before dependents start: after a crash, a task is either checkpointed or run again.
      // A checkpoint that cannot be written only costs a rerun after a crash: warn, go on.
      try {
        await checkpoints.save(task, outcome)
        this.forgotten.delete(task.id)
      } catch (error) {
        process.emitWarning(`smallpond: checkpoint of ${task.key} not saved: ${error instanceof Error ? error.message : String(error)}`, { code: 'SMALLPOND_CHECKPOINT' })
      }
    }
    return outcome
  }

  private async runAttempt(task: TaskSpec): Promise<TaskOutcome | Error> {
    const fails = this.failCounts.get(task.id) ?? 0
    const attempt = this.attemptSeq.get(task.id) ?? 0
    this.attemptSeq.set(task.id, attempt + 1)
    const startMs = this.options.clock.now()
    const record = (ok: boolean, rows: number, error?: string): void => {
      this.attempts.push({ taskId: task.id, key: task.key, nodeId: task.nodeId, attempt, ok, elapsedMs: this.options.clock.now() - startMs, rows, error })
    }
    try {
      const p = this.options.faultInjectProb ?? 0
      if (p > 0 && fails <= 1 && this.options.random.next() < p) {
        throw smallpondError(SmallpondErrorCode.injectedFault, `injected fault in ${task.key} attempt ${attempt}`)
      }
      const inputs = task.inputIds.map((id) => this.results.get(id)!)
      const memoryBoost = this.memoryBoosts.get(task.id) ?? 1
      const output = await this.options.runner.run({ task, inputs, env: { ...this.options.env, attempt, memoryBoost } })
      record(true, output.rowsWritten)
      return output
    } catch (error) {
      const err = toT3fsError(error, SmallpondErrorCode.taskFailed)
      record(false, 0, err.message)
      const count = fails + 1
      this.failCounts.set(task.id, count)
      if (err.code === SmallpondErrorCode.outOfMemory) {
        this.memoryBoosts.set(task.id, Math.min(MAX_MEMORY_BOOST, (this.memoryBoosts.get(task.id) ?? 1) * 2))
      }
      const retryable = !NOT_RETRYABLE.has(err.code) && count <= this.maxFailCount
      if (retryable) return smallpondError(err.code, err.message, { ...err.details, retry: true }, error)
      return taskFailure(task, count, err, error)
    }
  }
}

/**
 * smallpond's fair dispatch: stages progress together. The next task comes from the first node
 * after the last one served (cyclic by node id); within a node, fewest failures first, then id.
 */
export function pickFair(ready: readonly TaskSpec[], lastNodeId: number, failCounts: ReadonlyMap<number, number>): number {
  let best = -1
  const rank = (t: TaskSpec): [number, number, number] =>
    [t.nodeId > lastNodeId ? 0 : 1, t.nodeId, (failCounts.get(t.id) ?? 0) * 1e9 + t.id]
  for (let i = 0; i < ready.length; i++) {
    if (best < 0) { best = i; continue }
    const a = rank(ready[i])
    const b = rank(ready[best])
    if (a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2])))) best = i
  }
  return best
}

/** `log/task_metrics.csv`: one line per attempt. */
export function taskMetricsCsv(attempts: readonly TaskAttemptRecord[]): string {
  const quote = (s: string) => `"${s.replace(/"/g, '""').replace(/\n/g, ' ')}"`
  const lines = attempts.map((a) => [a.taskId, a.key, a.nodeId, a.attempt, a.ok ? 'success' : 'failure', a.elapsedMs.toFixed(1), a.rows, quote(a.error ?? '')].join(','))
  return ['task_id,task_key,node_id,attempt,status,elapsed_ms,rows_written,error', ...lines].join('\n') + '\n'
}

function describePartition(task: TaskSpec): string {
  const parts = task.partitionInfos.filter((p) => p.dimension !== TOPLEVEL_DIMENSION)
  return parts.length === 0 ? 'the only partition' : parts.map((p) => `${p.dimension}=${p.index}/${p.npartitions}`).join(', ')
}

function describeTask(task: TaskSpec): string {
  const op = task.op
  if (op.type === 'sql') return ` running SQL ${JSON.stringify(op.queries.join('; '))}`
  return ''
}

/** The error a user sees: which task, which partition, the SQL when there is one, and the cause. */
export function taskFailure(task: TaskSpec, failCount: number, err: T3fsError, cause: unknown): T3fsError {
  const message = `task ${task.key} (node ${task.nodeId}, ${describePartition(task)})${describeTask(task)} failed ` +
    `after ${failCount} attempt(s): ${err.message}`
  return new T3fsError(err.code, message, { ...err.details, task: task.key, node: task.nodeId, failCount }, { cause })
}

async function sizeOf(spec: DataSetSpec): Promise<number> {
  if (!isFileSpec(spec) || spec.files.length > 64) return 0
  let total = 0
  for (const f of spec.files) total += (await stat(f.path).catch(() => ({ size: 0 }))).size
  return total
}

interface StageCount {
  readonly name: string
  readonly total: number
  done: number
  launched: number
}

/** The run's tasks that take a slot, counted per plan node (a stage: one task per partition). */
function stagesOf(pending: readonly TaskSpec[]): Map<number, StageCount> {
  const stages = new Map<number, StageCount>()
  for (const t of pending) {
    if (t.onScheduler) continue
    const stage = stages.get(t.nodeId)
    stages.set(t.nodeId, { name: t.taskClass.replace(/Task$/, ''), total: (stage?.total ?? 0) + 1, done: 0, launched: 0 })
  }
  return stages
}

/** Stages begun and not finished, in plan order (node ids grow with the plan). */
function stagesUnderWay(stages: ReadonlyMap<number, StageCount>): StageProgress[] {
  return [...stages.entries()]
    .filter(([, s]) => s.launched > 0 && s.done < s.total)
    .sort(([a], [b]) => a - b)
    .map(([, s]) => ({ name: s.name, done: s.done, total: s.total }))
}
