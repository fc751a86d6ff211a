/**
 * One actor per task attempt, placed on a worker host: it opens its own DuckDB with the task's
 * limits, runs the task and replies with the output dataset descriptor (never data). Exported by
 * name so worker hosts import it as { module: this file's URL, export: 'smallpondTask' }.
 */
import { defineActor } from '../../../runtime/actor.ts'
import { executeTask } from '../execution/task-exec.ts'
import { validateTaskMsg, type TaskActorMsg } from './protocol.ts'
import { taskStarted } from './task-metrics.ts'

export const TASK_ACTOR_MODULE = import.meta.url

export const smallpondTask = defineActor<{ runs: number }, TaskActorMsg, void>({
  kind: 'smallpond-task',
  mailboxMax: 4,
  supervision: { strategy: 'stop' },
  validate: validateTaskMsg,
  init: () => ({ runs: 0 }),
  async handle(state, msg, ctx) {
    switch (msg.type) {
      case 'run': {
        const reply = ctx.deferReply()
        const done = taskStarted(ctx.metrics, ctx.clock)
        try {
          reply.resolve(await executeTask(msg.task, msg.inputs, msg.env))
          done('succeeded')
        } catch (error) {
          done('failed')
          reply.reject(error)
        }
        return { runs: state.runs + 1 }
      }
    }
  },
})
