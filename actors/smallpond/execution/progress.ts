/**
 * A job's progress for the terminal: tasks done of the run's total, the stages under way (the
 * partitions each has done), tasks running and failed, rows and bytes written with their rates.
 * The scheduler hands over snapshots; the runtime's reporter (runtime/progress) decides what
 * reaches stderr and when. One run of the scheduler (one compute) is one phase.
 */
import { formatBytes } from '../../../runtime/progress/format.ts'
import type { ProgressSink } from '../../../runtime/progress/progress.ts'

/** A stage: the tasks of one plan node (its partitions). */
export interface StageProgress {
  readonly name: string
  readonly done: number
  readonly total: number
}

export interface ProgressSnapshot {
  readonly done: number
  readonly total: number
  readonly running: number
  readonly failed: number
  readonly rows: number
  readonly outputBytes: number
  readonly elapsedMs: number
  /** Stages with a task started and some not done yet, in plan order. */
  readonly stages: readonly StageProgress[]
}

export interface ProgressReporter {
  start(snapshot: ProgressSnapshot): void
  update(snapshot: ProgressSnapshot): void
  finish(snapshot: ProgressSnapshot, failed: boolean): void
}

/** Stages shown at most; the rest is `…`. */
const STAGES_SHOWN_MAX = 2

/** The figures after `smallpond: tasks 3/10 (30%)`. */
export function progressDetail(s: ProgressSnapshot): string {
  const secs = s.elapsedMs / 1000
  const perSecond = (n: number): number => (secs > 0 ? n / secs : 0)
  const parts: string[] = []
  if (s.stages.length > 0) {
    const shown = s.stages.slice(0, STAGES_SHOWN_MAX).map((st) => `${st.name} ${st.done}/${st.total}`)
    parts.push(shown.join(', ') + (s.stages.length > STAGES_SHOWN_MAX ? ', …' : ''))
  }
  parts.push(`${s.running} running, ${s.failed} failed`)
  parts.push(`${s.rows} rows (${Math.round(perSecond(s.rows))}/s), ${formatBytes(s.outputBytes)} written (${formatBytes(perSecond(s.outputBytes))}/s)`)
  return parts.join(' · ')
}

export class JobProgress implements ProgressReporter {
  constructor(private readonly sink: ProgressSink) {}

  start(s: ProgressSnapshot): void {
    this.sink.start('tasks', { total: s.total, done: s.done, detail: progressDetail(s) })
  }

  update(s: ProgressSnapshot): void {
    this.sink.update({ done: s.done, total: s.total, detail: progressDetail(s) })
  }

  finish(s: ProgressSnapshot, failed: boolean): void {
    const figures = { done: s.done, total: s.total, detail: progressDetail(s) }
    if (failed) this.sink.fail(figures)
    else this.sink.end(figures)
  }
}
