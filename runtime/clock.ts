/**
 * Time as an injected service. Actors never call Date.now or setTimeout themselves: the system
 * hands them a Clock, which is the wall clock in production and a virtual one in tests and the
 * simulator (see testkit/virtual-clock.ts).
 */

export interface TimerHandle {
  cancel(): void
}

export interface Clock {
  /**
   * Milliseconds; monotonic within a process. The system clock counts from the Unix epoch (its
   * origin is Date.now() at process start), so two processes of one machine read nearly the same
   * value; a virtual clock counts from wherever its test starts it.
   */
  now(): number
  /** Runs `callback` once after `delayMs`. The handle cancels it; cancelling twice is harmless. */
  setTimer(delayMs: number, callback: () => void): TimerHandle
}

export class SystemClock implements Clock {
  private readonly origin = Date.now() - performance.now()

  now(): number {
    return this.origin + performance.now()
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    // Ref'd on purpose: a pending ask's timeout must keep the process alive until it fires.
    return new SystemTimer(setTimeout(callback, Math.max(0, delayMs)))
  }
}

/** A class, not a `{ cancel: () => … }` per timer: every ask makes one, and under the tsx loader each named closure costs a defineProperty. */
class SystemTimer implements TimerHandle {
  constructor(private readonly timer: ReturnType<typeof setTimeout>) {}

  cancel(): void {
    clearTimeout(this.timer)
  }
}

export const systemClock: Clock = new SystemClock()

/**
 * A promise that resolves after `delayMs` on `clock`'s own timer, so a virtual clock drives it
 * (the simulator's time moves, no wall time passes) and the system clock waits for real.
 */
export function sleep(clock: Clock, delayMs: number): Promise<void> {
  return new Promise((resolve) => {
    clock.setTimer(delayMs, resolve)
  })
}
