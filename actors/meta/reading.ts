/**
 * A read-only computation over the KV written once as a generator that yields the keys it needs
 * and receives their values, run either synchronously over a local snapshot (Kv.readSnapshot: no
 * promise, no microtask per read — a stat's path walk) or by awaiting each read on a transaction's
 * ReadView (with or without conflicts, as the caller's view decides; any backend).
 *
 *   function* nameOf(id): Reading<string> { const bytes = yield* readKey(inodeKey(id)); ... }
 *   runSync(nameOf(7), reader)   or   await runAsync(nameOf(7), tx.snapshot)
 */
import type { ReadView, SnapshotReader } from '../kv/index.ts'

/**
 * Yields a key (resumed with its value, undefined when absent) or several keys wanted together
 * (resumed with their values, in order). A single key goes bare: no array either way.
 */
export type Reading<T> = Generator<Buffer | readonly Buffer[], T, Buffer | undefined | readonly (Buffer | undefined)[]>

/** One value, as `yield key` is resumed with it (`(yield key) as Buffer | undefined` inline saves a generator per read). */
export function* readKey(key: Buffer): Reading<Buffer | undefined> {
  return (yield key) as Buffer | undefined
}

/** Keys that do not depend on each other: an awaiting run reads them concurrently. */
export function* readKeys(keys: readonly Buffer[]): Reading<readonly (Buffer | undefined)[]> {
  return (yield keys) as readonly (Buffer | undefined)[]
}

export function runSync<T>(reading: Reading<T>, reader: SnapshotReader): T {
  let step = reading.next()
  while (step.done !== true) {
    const want = step.value
    step = reading.next(Buffer.isBuffer(want) ? reader.get(want) : (want as readonly Buffer[]).map((k) => reader.get(k)))
  }
  return step.value
}

export async function runAsync<T>(reading: Reading<T>, reads: ReadView): Promise<T> {
  let step = reading.next()
  while (step.done !== true) {
    const want = step.value
    step = reading.next(Buffer.isBuffer(want) ? await reads.get(want) : await Promise.all((want as readonly Buffer[]).map((k) => reads.get(k))))
  }
  return step.value
}
