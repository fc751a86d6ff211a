/**
 * Time as an injected service. Actors never call Date.now or setTimeout themselves: the system
 * hands them a Clock, which is the wall clock in production and a virtual one in tests and the
 * simulator (see testkit/virtual-clock.ts).
 */

export interface TimerHandle {
  cancel(): void
}

export interface Clock {
  /** Milliseconds; monotonic within a process. */
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
    const timer = setTimeout(callback, Math.max(0, delayMs))
    return { cancel: () => clearTimeout(timer) }
  }
}

export const systemClock: Clock = new SystemClock()
