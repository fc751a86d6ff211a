/**
 * Randomness as an injected service: production uses Math.random, tests and the simulator use a
 * seeded generator so that every run replays from its seed.
 */

export interface Random {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, bound). */
  int(bound: number): number
}

export class SystemRandom implements Random {
  next(): number {
    return Math.random()
  }

  int(bound: number): number {
    return Math.floor(Math.random() * bound)
  }
}

/** sfc32 seeded through splitmix32: small, fast and good enough for scheduling decisions. */
export class SeededRandom implements Random {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(readonly seed: number) {
    let state = seed >>> 0
    const splitmix = (): number => {
      state = (state + 0x9e3779b9) | 0
      let z = state
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = splitmix()
    this.b = splitmix()
    this.c = splitmix()
    this.d = splitmix()
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return (t >>> 0) / 4294967296
  }

  int(bound: number): number {
    return Math.floor(this.next() * bound)
  }

  /** A derived, independent generator (e.g. one per simulated node). */
  fork(): SeededRandom {
    return new SeededRandom(this.int(0x7fffffff))
  }
}

export const systemRandom: Random = new SystemRandom()
