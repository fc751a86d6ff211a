/**
 * A runtime Clock for KV tests. Its time moves only when a test sets `ms` (forwards or, to probe
 * the conflict-history horizon, backwards) or when a timer fires; a timer fires once the process
 * is otherwise idle, earliest deadline first, moving time to its deadline. So the retry backoff
 * (which sleeps on the clock's timer) costs no wall time, and a seeded run replays exactly.
 */
import type { Clock, TimerHandle } from '../../../runtime/clock.ts'

interface Timer {
  readonly atMs: number
  readonly seq: number
  readonly callback: () => void
  cancelled: boolean
}

export class IdleClock implements Clock {
  /** Every delay a timer was set for, in order (the retry driver's backoffs). */
  readonly delaysMs: number[] = []
  private readonly timers: Timer[] = []
  private seq = 0
  private pumping = false

  constructor(public ms = 1_000_000) {}

  now(): number {
    return this.ms
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    this.delaysMs.push(delayMs)
    const timer: Timer = { atMs: this.ms + Math.max(0, delayMs), seq: this.seq++, callback, cancelled: false }
    const at = this.timers.findIndex((t) => t.atMs > timer.atMs)
    this.timers.splice(at < 0 ? this.timers.length : at, 0, timer)
    this.schedulePump()
    return { cancel: () => { timer.cancelled = true } }
  }

  private schedulePump(): void {
    if (this.pumping) return
    this.pumping = true
    // setImmediate runs after every queued microtask: the in-memory work has gone idle.
    setImmediate(() => {
      this.pumping = false
      const timer = this.timers.shift()
      if (timer === undefined) return
      if (this.timers.length > 0) this.schedulePump()
      if (timer.cancelled) return
      this.ms = Math.max(this.ms, timer.atMs)
      timer.callback()
    })
  }
}
