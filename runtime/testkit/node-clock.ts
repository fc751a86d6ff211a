import type { Clock, TimerHandle } from '../clock.ts'
import type { VirtualClock } from './virtual-clock.ts'

/**
 * One simulated process's view of the simulation's virtual time: skewed by a fixed offset (clocks
 * of different machines disagree; code must not compare them), and owning every timer set through
 * it, so that a node crash cancels them all: a dead process runs nothing, not even a timer callback
 * an actor set directly on its clock.
 */
export class NodeClock implements Clock {
  private readonly timers = new Set<TimerHandle>()
  private dead = false

  constructor(
    private readonly base: VirtualClock,
    readonly skewMs: number,
  ) {}

  now(): number {
    return this.base.now() + this.skewMs
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    if (this.dead) return { cancel() {} }
    const handle: TimerHandle = this.base.setTimer(delayMs, () => {
      this.timers.delete(handle)
      callback()
    })
    this.timers.add(handle)
    return {
      cancel: () => {
        handle.cancel()
        this.timers.delete(handle)
      },
    }
  }

  /** The process died: every timer it set is cancelled and new ones never fire. */
  kill(): void {
    this.dead = true
    for (const timer of this.timers) timer.cancel()
    this.timers.clear()
  }

  get pendingTimers(): number {
    return this.timers.size
  }
}
