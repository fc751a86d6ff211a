/**
 * The default time and randomness sources of the engine when it runs outside an actor. They are
 * injected everywhere (sessions, schedulers), so tests and the actor version substitute their own:
 * the scheduler actor passes ctx.clock / ctx.random.
 */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
export const systemRandom = (): number => Math.random()

/** Timers for speculative execution outside an actor (the scheduler actor uses ctx.clock). */
export const systemTimers = {
  setTimer(delayMs: number, callback: () => void): { cancel(): void } {
    const timer = setTimeout(callback, Math.max(0, delayMs))
    return { cancel: () => clearTimeout(timer) }
  },
}

/** A small deterministic PRNG (mulberry32) for seeded runs. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
