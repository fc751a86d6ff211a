/**
 * Messages of smallpond's actors. A task actor runs one task attempt; the scheduler actor owns the
 * task DAG of a session and hands runnable tasks to task actors placed on worker hosts.
 */
import type { Returns } from '../../../runtime/actor.ts'
import type { DataSetSpec } from '../logical/dataset.ts'
import type { TaskSpec } from '../logical/task.ts'
import type { TaskEnv } from '../execution/task-env.ts'
import type { TaskOutcome } from '../execution/task-exec.ts'

/** To a task actor: run this attempt and reply with its output dataset. */
export type TaskActorMsg = { readonly type: 'run'; readonly task: TaskSpec; readonly inputs: readonly DataSetSpec[]; readonly env: TaskEnv } & Returns<TaskOutcome>

/** To the scheduler actor. */
export type SchedulerMsg =
  | ({ readonly type: 'run'; readonly tasks: readonly TaskSpec[]; readonly targets: readonly TaskSpec[] } & Returns<DataSetSpec[]>)
  | { readonly type: 'forget'; readonly taskIds: readonly number[] }
  | ({ readonly type: 'stats' } & Returns<{ readonly finished: number; readonly attempts: number; readonly failedAttempts: number }>)

export function validateTaskMsg(message: unknown): string | null {
  const m = message as Partial<{ type: string; task: { id?: unknown; op?: unknown }; inputs: unknown; env: { jobRoot?: unknown } }>
  if (m?.type !== 'run') return 'type must be "run"'
  if (typeof m.task?.id !== 'number' || typeof m.task.op !== 'object') return 'task must be a task description with id and op'
  if (!Array.isArray(m.inputs)) return 'inputs must be an array of dataset descriptors'
  if (typeof m.env?.jobRoot !== 'string') return 'env.jobRoot must be a path'
  return null
}
