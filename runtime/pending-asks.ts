/**
 * The asks a host waits on, by correlation id: a ring of slots indexed by the id's low bits, and a
 * Map for the few asks still waiting when their slot is wanted again (a ring's worth of younger asks
 * came and went meanwhile).
 *
 * Not one Map for all: ids only grow and each lives for one round trip, so a Map of them rehashes
 * into a new table every few dozen asks, and V8 keeps each retired table linked to its successor.
 * Once one table reaches the old generation, that link keeps every later table — and each ask and
 * reply it held — alive through the young-generation collections until a full collection: at
 * bench:meta's stat rates a quarter of the client thread's young allocations survived, were
 * promoted, and its heap grew by ~4 MB every 50 ms. A slot cleared on settling holds nothing.
 */

/** Slots in the ring (a power of two): asks older than this many younger ones move to the Map. */
export const PENDING_RING_SLOTS = 4096

export class PendingAsks<T extends { readonly corr: number }> {
  private readonly slots: (T | undefined)[] = new Array<T | undefined>(PENDING_RING_SLOTS).fill(undefined)
  private readonly mask = PENDING_RING_SLOTS - 1
  private readonly old = new Map<number, T>()
  private count = 0

  get size(): number {
    return this.count
  }

  add(entry: T): void {
    const slot = entry.corr & this.mask
    const waiting = this.slots[slot]
    if (waiting !== undefined) this.old.set(waiting.corr, waiting)
    this.slots[slot] = entry
    this.count++
  }

  /** Removes and returns the ask of `corr` (undefined when it was settled already). */
  take(corr: number): T | undefined {
    const slot = corr & this.mask
    const entry = this.slots[slot]
    if (entry !== undefined && entry.corr === corr) {
      this.slots[slot] = undefined
      this.count--
      return entry
    }
    const old = this.old.get(corr)
    if (old === undefined) return undefined
    this.old.delete(corr)
    this.count--
    return old
  }

  /** Removes and returns every ask `which` selects, oldest first. */
  takeWhere(which: (entry: T) => boolean): T[] {
    const taken: T[] = []
    for (const entry of this.old.values()) if (which(entry)) taken.push(entry)
    for (const entry of this.slots) if (entry !== undefined && which(entry)) taken.push(entry)
    taken.sort((a, b) => a.corr - b.corr)
    for (const entry of taken) this.take(entry.corr)
    return taken
  }
}
