/**
 * Fault sites in component code that only the simulator turns on (FoundationDB's BUGGIFY):
 * `if (ctx.buggify('chunk-engine:slow-commit')) ...` takes an unusual but legal path — a delay, a
 * spurious retry, a smaller batch — so the simulator explores what production rarely does.
 * Production's sites never fire.
 */
import type { Random } from './random.ts'

export interface Buggify {
  /** Whether the named site fires this time. */
  fire(site: string): boolean
}

export const neverBuggify: Buggify = { fire: () => false }

/**
 * The simulator's sites: the first time a run meets a site, the seed decides whether the site is
 * enabled for the whole run (`enableRate`); an enabled site fires each time with `fireRate`. Runs
 * thus differ in which code paths misbehave, and each replays exactly from its seed.
 */
export class SeededBuggify implements Buggify {
  private readonly enabled = new Map<string, boolean>()
  /** Sites met so far and how often each fired (for test output). */
  readonly fired = new Map<string, number>()

  constructor(
    private readonly random: Random,
    private readonly enableRate = 0.25,
    private readonly fireRate = 0.05,
    /** Only these sites may fire (all others never do); undefined: every site. */
    private readonly only?: readonly string[],
  ) {}

  fire(site: string): boolean {
    let on = this.enabled.get(site)
    if (on === undefined) {
      on = (this.only === undefined || this.only.includes(site)) && this.random.next() < this.enableRate
      this.enabled.set(site, on)
      this.fired.set(site, 0)
    }
    if (!on || this.random.next() >= this.fireRate) return false
    this.fired.set(site, (this.fired.get(site) ?? 0) + 1)
    return true
  }
}
