import assert from 'node:assert/strict'

/**
 * A FIFO with a fixed capacity: the storage behind every mailbox. `push` refuses when full instead
 * of growing, so backpressure is visible to the sender.
 */
export class BoundedQueue<T> {
  private readonly items: (T | undefined)[]
  private head = 0
  private count = 0

  constructor(readonly capacity: number) {
    assert.ok(Number.isInteger(capacity) && capacity > 0, 'capacity must be a positive integer')
    this.items = new Array<T | undefined>(capacity)
  }

  get length(): number {
    return this.count
  }

  get full(): boolean {
    return this.count === this.capacity
  }

  push(item: T): boolean {
    if (this.count === this.capacity) return false
    this.items[(this.head + this.count) % this.capacity] = item
    this.count++
    return true
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) % this.capacity
    this.count--
    return item
  }

  /** Removes everything, in order (used when an actor stops with messages still queued). */
  drain(): T[] {
    const out: T[] = []
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item)
    return out
  }
}
