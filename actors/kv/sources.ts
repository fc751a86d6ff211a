/**
 * The KV's time and randomness are the runtime's Clock and Random (runtime/clock.ts,
 * runtime/random.ts), injected so the simulator drives the KV deterministically: a VirtualClock
 * moves the retry backoff's sleeps (`sleep(clock, ms)` waits on the clock's own timer) and a
 * SeededRandom decides the jitter and the memory backend's fault sites. Without them the KV uses
 * the runtime's system clock and Math.random-backed Random.
 *
 * What `clock.now()` must mean:
 * - every backend: milliseconds, monotonic within the process (a transaction's age, the retry
 *   budget);
 * - `lmdb` additionally stamps each commit's conflict-log entry with `now()` and trims entries
 *   older than the 5 s window by comparing its own `now()` with stamps other processes wrote, so
 *   there `now()` must be milliseconds since the Unix epoch, as the runtime's system clock is.
 *   Skew between processes only moves the trimming: an entry trimmed early makes an old reader
 *   retry (ERR_TXN_TOO_OLD), one trimmed late costs space; neither admits a conflicting commit.
 *   A virtual clock is fine for one process but must not share an environment with real ones.
 */
import { systemClock, type Clock } from '../../runtime/clock.ts'
import { systemRandom, type Random } from '../../runtime/random.ts'

export interface KvSources {
  readonly clock: Clock
  readonly random: Random
}

export interface KvSourceOptions {
  clock?: Clock
  random?: Random
}

export function resolveSources(options: KvSourceOptions): KvSources {
  return {
    clock: options.clock ?? systemClock,
    random: options.random ?? systemRandom,
  }
}
