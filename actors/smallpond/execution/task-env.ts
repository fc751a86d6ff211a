/** What a task attempt needs from its surroundings: job identity, limits, and where to write. */
import { join } from 'node:path'
import { formatTaskId, taskOutputLabel, type TaskSpec } from '../logical/task.ts'

export interface TaskEnv {
  readonly jobId: string
  readonly jobRoot: string
  /** 0 for the first attempt, +1 per retry; part of the output dir so attempts never collide. */
  readonly attempt: number
  /** The job's random seed (uint32); task seeds derive from it and the task id. */
  readonly jobSeed: number
  readonly threads: number
  readonly memoryLimitBytes: number
  /** Multiplies the task's memory limit; the scheduler doubles it after an out-of-memory failure. */
  readonly memoryBoost?: number
}

/** The memory limit an attempt runs with. */
export function attemptMemoryBytes(taskLimit: number | undefined, env: TaskEnv): number {
  return Math.round((taskLimit ?? env.memoryLimitBytes) * (env.memoryBoost ?? 1))
}

/** A deterministic uint32 from (task id, job seed). */
export function taskSeed(taskId: number, jobSeed: number): number {
  let h = (jobSeed ^ 0x9e3779b9) >>> 0
  h = Math.imul(h ^ taskId, 0x85ebca6b) >>> 0
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

export function runtimeId(task: TaskSpec, env: TaskEnv): string {
  return `${formatTaskId(task.id)}.0.${env.attempt}`
}

/** `{root}/{label}/{jobId}.{taskId}.{epoch}.{retry}`; unnamed outputs live under staging/. */
export function taskOutputDir(task: TaskSpec, env: TaskEnv): string {
  const root = task.outputPath ?? join(env.jobRoot, 'staging')
  return join(root, taskOutputLabel(task), `${env.jobId}.${runtimeId(task, env)}`)
}

export function taskTempDir(task: TaskSpec, env: TaskEnv): string {
  return join(env.jobRoot, 'temp', taskOutputLabel(task), `${env.jobId}.${runtimeId(task, env)}`)
}

export function taskOutputFilename(task: TaskSpec, env: TaskEnv): string {
  return `${taskOutputLabel(task)}-${env.jobId}.${runtimeId(task, env)}`
}
