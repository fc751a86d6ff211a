import { PooledBuffer } from './buffer-pool.ts'

/** How deep and how wide a message is searched for pooled buffers: messages are small records. */
const scanDepthMax = 4
const scanFieldsMax = 512

/**
 * Calls `visit` for every PooledBuffer in a message's plain objects and arrays, down to
 * `scanDepthMax` levels and `scanFieldsMax` fields (a bound on the cost; a buffer nested deeper
 * is simply not tracked, so its slot is reclaimed only with its host). Used where ownership of
 * a slot changes hands: a message queued for an actor, handled, or undeliverable.
 */
export function forEachPooled(value: unknown, visit: (buffer: PooledBuffer) => void): void {
  if (typeof value !== 'object' || value === null) return
  fieldsLeft = scanFieldsMax
  walk(value, 0, visit)
}

/**
 * Fields the current scan may still look at. A module variable and a plain function rather than
 * a closure per scan: every message handed between actors is scanned, and a closure (with the
 * name tsx gives it) per scan showed in profiles of small reads. No scan runs inside another
 * (`visit` only records a holder).
 */
let fieldsLeft = 0

function walk(item: unknown, depth: number, visit: (buffer: PooledBuffer) => void): void {
  if (typeof item !== 'object' || item === null) return
  if (item instanceof PooledBuffer) {
    visit(item)
    return
  }
  if (depth >= scanDepthMax || ArrayBuffer.isView(item)) return
  if (Array.isArray(item)) {
    for (let i = 0; i < item.length; i++) {
      if (--fieldsLeft < 0) return
      walk(item[i], depth + 1, visit)
    }
    return
  }
  const proto = Object.getPrototypeOf(item)
  if (proto !== Object.prototype && proto !== null) return
  for (const key in item) {
    if (--fieldsLeft < 0) return
    walk((item as Record<string, unknown>)[key], depth + 1, visit)
  }
}
