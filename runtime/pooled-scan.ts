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
  let fields = 0
  const walk = (item: unknown, depth: number): void => {
    if (typeof item !== 'object' || item === null) return
    if (item instanceof PooledBuffer) {
      visit(item)
      return
    }
    if (depth >= scanDepthMax || ArrayBuffer.isView(item)) return
    if (Array.isArray(item)) {
      for (const element of item) {
        if (++fields > scanFieldsMax) return
        walk(element, depth + 1)
      }
      return
    }
    const proto = Object.getPrototypeOf(item)
    if (proto !== Object.prototype && proto !== null) return
    for (const key in item) {
      if (++fields > scanFieldsMax) return
      walk((item as Record<string, unknown>)[key], depth + 1)
    }
  }
  walk(value, 0)
}
