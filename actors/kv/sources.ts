/**
 * Time, randomness and sleeping come through these tiny interfaces so the simulator can drive the
 * KV deterministically (virtual clock, seeded random, virtual sleep). The defaults below are the
 * only places in actors/kv that touch the real clock, Math.random or timers.
 */
export interface KvClock {
  /** Milliseconds on a monotone-enough clock (wall clock for lmdb, shared across processes). */
  now(): number
}

export interface KvRandom {
  /** A float in [0, 1). */
  next(): number
}

export interface KvSleeper {
  sleep(ms: number): Promise<void>
}

export interface KvSources {
  readonly clock: KvClock
  readonly random: KvRandom
  readonly sleeper: KvSleeper
}

export const systemClock: KvClock = { now: () => Date.now() }
export const systemRandom: KvRandom = { next: () => Math.random() }
export const systemSleeper: KvSleeper = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
}

export interface KvSourceOptions {
  clock?: KvClock
  random?: KvRandom
  sleeper?: KvSleeper
}

export function resolveSources(options: KvSourceOptions): KvSources {
  return {
    clock: options.clock ?? systemClock,
    random: options.random ?? systemRandom,
    sleeper: options.sleeper ?? systemSleeper,
  }
}
