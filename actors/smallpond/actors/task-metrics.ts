/**
 * smallpond task attempts as metrics (ctx.metrics of the task actors): attempts started, succeeded
 * and failed, attempts running now, and how long each took. The dashboard shows them beside the
 * cluster's state.
 */
import type { Clock, Metrics } from '../../../runtime/index.ts'

/** Counts an attempt as started; call the returned function once with how it ended. */
export function taskStarted(metrics: Metrics, clock: Clock): (outcome: 'succeeded' | 'failed') => void {
  const tasks = metrics.counter('t3fs_smallpond_tasks_total', { help: 'smallpond task attempts, per state (started, succeeded, failed)', labels: ['state'] })
  const running = metrics.gauge('t3fs_smallpond_tasks_running', { help: 'smallpond task attempts running now' })
  const duration = metrics.histogram('t3fs_smallpond_task_duration_seconds', { help: 'time a smallpond task attempt ran, seconds', buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800] })
  const startMs = clock.now()
  tasks.inc({ state: 'started' })
  running.inc()
  return (outcome) => {
    running.dec()
    tasks.inc({ state: outcome })
    duration.observe(undefined, (clock.now() - startMs) / 1000)
  }
}
