/**
 * Progress of a running job on the terminal: tasks done/total, failures, output bytes and throughput.
 * Redraws one line on a TTY; prints plain lines (at most one per interval) otherwise.
 */
import type { Clock } from '../../../runtime/clock.ts'

export interface ProgressSnapshot {
  readonly done: number
  readonly total: number
  readonly running: number
  readonly failed: number
  readonly rows: number
  readonly outputBytes: number
  readonly elapsedMs: number
}

export interface ProgressReporter {
  update(snapshot: ProgressSnapshot): void
  finish(snapshot: ProgressSnapshot): void
}

export function formatProgress(s: ProgressSnapshot): string {
  const secs = s.elapsedMs / 1000
  const mib = s.outputBytes / (1 << 20)
  const rate = secs > 0 ? mib / secs : 0
  const rowRate = secs > 0 ? s.rows / secs : 0
  return `smallpond: tasks ${s.done}/${s.total} (${s.running} running, ${s.failed} failed), ` +
    `${s.rows} rows (${Math.round(rowRate)} rows/s), ${mib.toFixed(1)} MiB written (${rate.toFixed(1)} MiB/s), ${secs.toFixed(1)} s`
}

export class TerminalProgress implements ProgressReporter {
  private lastPrintMs = -Infinity
  constructor(private readonly stream: NodeJS.WriteStream, private readonly clock: Clock, private readonly intervalMs = 1000) {}

  update(s: ProgressSnapshot): void {
    const now = this.clock.now()
    if (now - this.lastPrintMs < this.intervalMs) return
    this.lastPrintMs = now
    if (this.stream.isTTY) this.stream.write(`\r${formatProgress(s)}\x1b[K`)
    else this.stream.write(`${formatProgress(s)}\n`)
  }

  finish(s: ProgressSnapshot): void {
    this.stream.write(this.stream.isTTY ? `\r${formatProgress(s)}\x1b[K\n` : `${formatProgress(s)}\n`)
  }
}
