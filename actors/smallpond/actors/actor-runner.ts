/**
 * TaskRunner over the actor runtime: each attempt gets its own task actor on a worker host
 * (round-robin), is asked to run, and is stopped afterwards. Tasks leave the thread, so user
 * functions must be module references (checked before a job starts).
 */
import type { ActorRef } from '../../../runtime/actor.ts'
import type { TaskOutcome, TaskRunner, TaskRunRequest } from '../execution/runner.ts'
import { invalidArgument } from '../errors.ts'
import { T3fsError, isT3fsError } from '../../../runtime/errors.ts'
import type { TaskActorMsg } from './protocol.ts'
import { TASK_ACTOR_MODULE } from './task-actor.ts'

/** The part of NodeRuntime this runner needs (so tests can pass a fake). */
export interface TaskPlacement {
  readonly hostIds: readonly number[]
  spawn<M extends TaskActorMsg>(definition: { module: string; export: string }, args: unknown, options: { host?: number; name?: string }): Promise<ActorRef<M>>
  stop(ref: ActorRef<TaskActorMsg>): Promise<void>
}

export interface ActorTaskRunnerOptions {
  /** Longest a task may run before its ask times out (default 1 hour). */
  taskTimeoutMs?: number
}

export class ActorTaskRunner implements TaskRunner {
  readonly shipsTasks = true
  private next = 0
  private readonly taskTimeoutMs: number

  constructor(private readonly placement: TaskPlacement, options: ActorTaskRunnerOptions = {}) {
    const t = options.taskTimeoutMs ?? 3_600_000
    if (!Number.isInteger(t) || t < 1 || t > 86_400_000) throw invalidArgument('taskTimeoutMs', t, 'an integer in 1..86400000')
    this.taskTimeoutMs = t
    if (placement.hostIds.length === 0) throw invalidArgument('runtime', placement.hostIds, 'a runtime with at least one worker host')
  }

  /** Hosts that died are left out of the rotation; the scheduler retries their tasks elsewhere. */
  private readonly deadHosts = new Set<number>()

  async run(request: TaskRunRequest): Promise<TaskOutcome> {
    const hosts = this.placement.hostIds.filter((h) => !this.deadHosts.has(h))
    if (hosts.length === 0) throw new T3fsError('ERR_HOST_DIED', 'smallpond: every worker host died; accepted: a runtime with a live worker host')
    const host = hosts[this.next++ % hosts.length]
    try {
      const ref = await this.placement.spawn<TaskActorMsg>({ module: TASK_ACTOR_MODULE, export: 'smallpondTask' }, undefined, { host })
      try {
        return await ref.ask({ type: 'run', task: request.task, inputs: request.inputs, env: request.env }, { timeoutMs: this.taskTimeoutMs }) as TaskOutcome
      } finally {
        await this.placement.stop(ref).catch(() => undefined)
      }
    } catch (error) {
      if (isT3fsError(error, 'ERR_HOST_DIED')) this.deadHosts.add(host)
      throw error
    }
  }
}
