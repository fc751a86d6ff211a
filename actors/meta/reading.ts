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

/** Yields the keys wanted together; resumed with their values (undefined when absent), in order. */
export type Reading<T> = Generator<readonly Buffer[], T, readonly (Buffer | undefined)[]>

export function* readKey(key: Buffer): Reading<Buffer | undefined> {
  return (yield [key])[0]
}

/** Keys that do not depend on each other: an awaiting run reads them concurrently. */
export function* readKeys(keys: readonly Buffer[]): Reading<readonly (Buffer | undefined)[]> {
  return yield keys
}

export function runSync<T>(reading: Reading<T>, reader: SnapshotReader): T {
  let step = reading.next()
  while (step.done !== true) {
    const keys = step.value
    step = reading.next(keys.length === 1 ? [reader.get(keys[0])] : keys.map((k) => reader.get(k)))
  }
  return step.value
}

export async function runAsync<T>(reading: Reading<T>, reads: ReadView): Promise<T> {
  let step = reading.next()
  while (step.done !== true) {
    const keys = step.value
    step = reading.next(keys.length === 1 ? [await reads.get(keys[0])] : await Promise.all(keys.map((k) => reads.get(k))))
  }
  return step.value
}
