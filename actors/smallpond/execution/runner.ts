/**
 * The executor seam: how one task attempt runs. The scheduler only talks to a TaskRunner, so the
 * same scheduling logic drives in-process execution (tests, standalone) and task actors on worker
 * hosts (see actors/smallpond/actors/).
 */
import type { DataSetSpec } from '../logical/dataset.ts'
import type { TaskSpec } from '../logical/task.ts'
import { executeTask, type TaskOutcome } from './task-exec.ts'
export type { TaskOutcome }
import type { TaskEnv } from './task-env.ts'

export interface TaskRunRequest {
  readonly task: TaskSpec
  readonly inputs: readonly DataSetSpec[]
  readonly env: TaskEnv
}

export interface TaskRunner {
  /** True when tasks leave this thread: user functions must then be module references. */
  readonly shipsTasks?: boolean
  run(request: TaskRunRequest): Promise<TaskOutcome>
  close?(): Promise<void>
}

/** Runs tasks on this thread (DuckDB does its work on its own threads). */
export class InProcessTaskRunner implements TaskRunner {
  run(request: TaskRunRequest): Promise<TaskOutcome> {
    return executeTask(request.task, request.inputs, request.env)
  }
}
