/**
 * A counting semaphore: at most `max` operations run at once; the rest wait in arrival order, at
 * most `waitersMax` of them (beyond: ERR_OVERLOADED, so a runaway caller cannot grow a queue).
 */
import { T3fsError } from '../../runtime/errors.ts'

export class Limiter {
  private running = 0
  private readonly waiting: (() => void)[] = []

  constructor(readonly max: number, private readonly waitersMax: number, private readonly what: string) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.max) {
      if (this.waiting.length >= this.waitersMax) {
        throw new T3fsError('ERR_OVERLOADED', `${this.waitersMax} ${this.what} already wait for one of ${this.max} slots; issue fewer at once`, { max: this.max })
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve))
    } else {
      this.running++
    }
    try {
      return await work()
    } finally {
      const next = this.waiting.shift()
      if (next !== undefined) next() // the slot passes on: running stays the same
      else this.running--
    }
  }

  get inFlight(): number {
    return this.running
  }
}
