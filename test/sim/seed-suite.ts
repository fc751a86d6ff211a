/**
 * What every simulation suite of `npm run sim` does around its scenario: check the mutant's name,
 * run N seeds (exploreSeeds stops at the first failure and prints its seed), add up each seed's
 * counts, and say how it went as one result (the suite's JSON line).
 */
import { exploreSeeds } from '../../runtime/testkit/simulation.ts'

export interface SeedSuiteOptions<M extends string> {
  readonly seeds: number
  readonly firstSeed?: number
  readonly mutant?: M | null
  readonly log?: (line: string) => void
}

export interface SeedSuiteSpec<M extends string, T extends { [K in keyof T]: number }> {
  readonly sim: string
  /** The mutants this suite names (a deliberate bug each, which its seeds must catch). */
  readonly mutants: readonly M[]
  /** Counts of zero, to add each seed's counts to. */
  readonly zero: () => T
  /** One seed's run: throws on a violated property, else returns its counts. */
  readonly scenario: (seed: number, mutants: M[]) => Promise<T>
}

export interface SeedSuiteOutcome<M extends string, T> {
  readonly seeds: number
  readonly failed: number
  readonly failedSeed: number | null
  readonly mutant: M | null
  readonly totals: T
  readonly seconds: number
  readonly error?: string
}

export async function runSeedSuite<M extends string, T extends { [K in keyof T]: number }>(spec: SeedSuiteSpec<M, T>, options: SeedSuiteOptions<M>): Promise<SeedSuiteOutcome<M, T>> {
  const mutant = options.mutant ?? null
  if (mutant !== null && !spec.mutants.includes(mutant)) throw new Error(`unknown ${spec.sim} mutant ${JSON.stringify(mutant)}; accepted: ${spec.mutants.join(', ')}`)
  const started = Date.now()
  const totals = spec.zero()
  let ran = 0
  const failure = await exploreSeeds({ seeds: options.seeds, firstSeed: options.firstSeed, log: options.log }, async (seed) => {
    const counts = await spec.scenario(seed, mutant === null ? [] : [mutant])
    ran++
    for (const k of Object.keys(totals) as (keyof T)[]) (totals[k] as number) += counts[k]
  })
  return {
    seeds: ran + (failure === null ? 0 : 1),
    failed: failure === null ? 0 : 1,
    failedSeed: failure?.seed ?? null,
    mutant,
    totals,
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    ...(failure === null ? {} : { error: failure.error instanceof Error ? failure.error.message : String(failure.error) }),
  }
}
