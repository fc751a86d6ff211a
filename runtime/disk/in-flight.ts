/**
 * The operations under way on a file or disk handle. Closing waits for them before releasing the
 * descriptor: an operation still queued in the ring looks its fd up when it runs, and the kernel
 * may by then have handed the same number to another open.
 *
 * A count, not a set of the promises: every read of a 4 KiB block passes through here, and a set
 * entry with two closures per operation was a measurable part of such a read.
 */
export class InFlight {
  #count = 0
  #idle: (() => void)[] = []
  readonly #done = (): void => {
    if (--this.#count > 0) return
    const idle = this.#idle
    this.#idle = []
    for (const wake of idle) wake()
  }

  track<T>(op: Promise<T>): Promise<T> {
    this.#count++
    op.then(this.#done, this.#done)
    return op
  }

  /**
   * Counts one operation whose caller calls end() exactly once when it settles (from a reaction
   * it chains anyway): a 4 KiB read then costs no promise and reaction of track()'s own.
   */
  begin(): void {
    this.#count++
  }

  end(): void {
    this.#done()
  }

  /**
   * Resolves once nothing tracked is in flight (whatever the outcomes). Callers stop starting
   * operations first (a closing handle refuses new ones), so this comes.
   */
  settled(): Promise<void> {
    if (this.#count === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }
}
