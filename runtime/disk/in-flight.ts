/**
 * The operations under way on a file or disk handle. Closing waits for them before releasing the
 * descriptor: an operation still queued in the ring looks its fd up when it runs, and the kernel
 * may by then have handed the same number to another open.
 */
export class InFlight {
  readonly #pending = new Set<Promise<unknown>>()

  track<T>(op: Promise<T>): Promise<T> {
    this.#pending.add(op)
    const forget = (): void => { this.#pending.delete(op) }
    op.then(forget, forget)
    return op
  }

  /** Resolves once everything tracked so far has settled (whatever the outcome). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#pending])
  }
}
