/**
 * The scheduler actor: owns a session's task DAG and results, dispatches runnable tasks to task
 * actors through its TaskRunner, retries within the fail budget. Time and randomness come from
 * the actor context. Runs on the node's main-thread system (it holds the runner capability).
 */
import { defineActor } from '../../../runtime/actor.ts'
import { TaskScheduler, type SchedulerOptions } from '../execution/scheduler.ts'
import type { SchedulerMsg } from './protocol.ts'

export interface SchedulerActorArgs {
  readonly options: Omit<SchedulerOptions, 'clock' | 'random'>
  /** Receives the scheduler so the session can read finished results on the same thread. */
  readonly onReady?: (scheduler: TaskScheduler) => void
}

export const smallpondScheduler = defineActor<{ scheduler: TaskScheduler }, SchedulerMsg, SchedulerActorArgs>({
  kind: 'smallpond-scheduler',
  supervision: { strategy: 'stop' },
  init(ctx, args) {
    const scheduler = new TaskScheduler({ ...args.options, clock: ctx.clock, random: ctx.random })
    args.onReady?.(scheduler)
    return { scheduler }
  },
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'run': {
        // Runs concurrently with later messages: the reply is finished when the tasks are.
        const reply = ctx.deferReply()
        state.scheduler.run(msg.tasks, msg.targets).then((outputs) => reply.resolve(outputs), (error: unknown) => reply.reject(error))
        return
      }
      case 'forget':
        state.scheduler.forget(msg.taskIds)
        return
      case 'stats': {
        const attempts = state.scheduler.attempts
        ctx.reply({ finished: state.scheduler.results.size, attempts: attempts.length, failedAttempts: attempts.filter((a) => !a.ok).length })
        return
      }
    }
  },
})
